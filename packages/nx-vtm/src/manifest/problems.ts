/**
 * Manifest problems: what is wrong, where (file, task id, field path), in words a user can act on.
 * Expected failures are values (a list of problems), never thrown exceptions, so that every problem of a manifest is
 * reported at once; only the plugin boundary turns them into one `ManifestError` for Nx to print.
 */

/** One thing wrong with a manifest. `path` is a field path such as `tasks[12].depends_on_tasks[0]`. */
export interface ManifestProblem {
  file: string;
  /** The task the problem is in, when it is inside a task that has a readable id. */
  taskId?: string;
  path: string;
  message: string;
}

/** Result of an operation whose expected failures are returned, not thrown. */
export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const err = <E>(error: E): { ok: false; error: E } => ({ ok: false, error });

/** `["tasks", 12, "depends_on_tasks", 0]` -> `tasks[12].depends_on_tasks[0]` */
export function formatFieldPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out === '' ? String(s) : `.${String(s)}`;
  }
  return out || '(root)';
}

export function formatProblem(p: ManifestProblem): string {
  const where = p.taskId ? `task ${p.taskId} (${p.path})` : p.path;
  return `${p.file}: ${where}: ${p.message}`;
}

/** Several problems as one readable block, capped so a badly broken 10,000-task manifest stays readable. */
export function formatProblems(problems: readonly ManifestProblem[], limit = 50): string {
  const lines = problems.slice(0, limit).map((p) => `  - ${formatProblem(p)}`);
  if (problems.length > limit) lines.push(`  ... and ${problems.length - limit} more`);
  const files = [...new Set(problems.map((p) => p.file))].join(', ');
  return `Invalid Virtual Task Manifest ${files} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`;
}

/**
 * Thrown only at the Nx boundary (createNodes), where Nx expects an exception. The message is the full, formatted
 * list; `stack` is replaced by the message so Nx never prints a JavaScript stack trace for a user's data error.
 */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(readonly problems: readonly ManifestProblem[]) {
    super(formatProblems(problems));
    this.stack = this.message;
  }
}
