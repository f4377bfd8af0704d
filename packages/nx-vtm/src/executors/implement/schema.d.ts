/** Inferred by the plugin; the task is the project (its name is the manifest task_id). */
export interface ImplementExecutorOptions {
  /** The first 16 hex digits of the hash of the task's manifest entry (part of the cache key). */
  taskHash?: string;
  /** No longer inferred (nx.json, which holds the run settings, is in every task's cache key); accepted from older graphs. */
  runConfigHash?: string;
}
