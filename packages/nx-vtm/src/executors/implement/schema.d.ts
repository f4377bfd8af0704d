/** Inferred by the plugin; the task is the project (its name is the manifest task_id). */
export interface ImplementExecutorOptions {
  /** Hash of the task's manifest entry (part of the cache key). */
  taskHash?: string;
  /** Hash of the agent/verification settings (part of the cache key). */
  runConfigHash?: string;
}
