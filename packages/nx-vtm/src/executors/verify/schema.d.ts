export interface VerifyExecutorOptions {
  taskId: string;
  manifest: string;
  taskHash?: string;
}
