export interface ImplementExecutorOptions {
  taskId: string;
  manifest: string;
  taskHash?: string;
  runConfigHash?: string;
}
