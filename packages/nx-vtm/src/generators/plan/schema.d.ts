export interface PlanGeneratorSchema {
  request: string;
  maxRounds?: number;
  manifest?: string;
}
