export interface InitGeneratorSchema {
  manifest?: string;
  skipExample?: boolean;
  skipFormat?: boolean;
}
