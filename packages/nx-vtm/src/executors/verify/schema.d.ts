/** Inferred by the plugin; the task is the project (its name is the manifest task_id). */
export interface VerifyExecutorOptions {
  /** The first 16 hex digits of the hash of the task's manifest entry (part of the cache key). */
  taskHash?: string;
}
