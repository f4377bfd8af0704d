/**
 * Which tasks of a run the source forbids to start (pure): a task its source says is blocked or cancelled is not
 * started, and every task of the run that depends on it (transitively) is not started either, with that task named
 * as the cause. Used by the implement executors before they hand the rest to the runtime.
 */
import type { LoadedManifest } from '../manifest/read';

export interface SourceRefusal {
  taskId: string;
  /** Store reason: `source_blocked`, `source_cancelled`, or `dependency_failed:<id>` for a dependent. */
  reason: string;
  /** One line for the task's output: code, where the source says so, and what to do. */
  message: string;
}

export function buildSourceRefusals({
  manifests,
  taskIds,
}: {
  manifests: readonly LoadedManifest[];
  taskIds: readonly string[];
}): { refused: SourceRefusal[]; runnable: string[] } {
  const refused = new Map<string, SourceRefusal>();
  const deps = new Map<string, readonly string[]>();
  for (const m of manifests) for (const t of m.manifest.tasks) deps.set(t.task_id, t.depends_on_tasks);
  const stoppedBy = new Map<string, string>(); // task id -> root cause (a task its source stops)
  for (const m of manifests) {
    if (!m.source) continue;
    for (const [id, info] of m.source.tasks) {
      if (info.status !== 'blocked' && info.status !== 'cancelled') continue;
      stoppedBy.set(id, id);
      if (!taskIds.includes(id)) continue;
      const word = info.status === 'blocked' ? 'BLOCKED' : 'CANCELLED';
      refused.set(id, {
        taskId: id,
        reason: `source_${info.status}`,
        message:
          `BLOCKED::SOURCE-STATUS::${id}: ${m.file}:${info.line} says ${info.rawStatus || word} (task ${info.sourceId}); ` +
          `not started. Change its status in ${m.file} to run it`,
      });
    }
  }
  // Dependents, transitively (memoised walk over depends_on_tasks).
  const causeOf = (id: string, seen = new Set<string>()): string | undefined => {
    if (stoppedBy.has(id)) return stoppedBy.get(id);
    if (seen.has(id)) return undefined;
    seen.add(id);
    for (const d of deps.get(id) ?? []) {
      const c = causeOf(d, seen);
      if (c) return c;
    }
    return undefined;
  };
  for (const id of taskIds) {
    if (refused.has(id)) continue;
    const cause = causeOf(id);
    if (cause) {
      refused.set(id, { taskId: id, reason: `dependency_failed:${cause}`, message: `nx-vtm: ${id} not started: it depends on ${cause}, which its source marks blocked or cancelled` });
    }
  }
  return { refused: [...refused.values()], runnable: taskIds.filter((id) => !refused.has(id)) };
}
