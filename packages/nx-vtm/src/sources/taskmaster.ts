/**
 * Task Master `.taskmaster/tasks/tasks.json`: tagged (`{"master": {"tasks": [...]}}`) or flat legacy
 * (`{"tasks": [...]}`) shape; ids are ints or strings (`task-master set-status` writes strings); subtasks are
 * addressed `P.S`, and a bare number in a subtask's dependencies is a sibling. Pure.
 */
import type { ParsedSource, SourceProblem, SourceStatus, SourceTask } from './types';
import { lineAt } from './types';

export const tmTaskId = (id: string): string => `tm-${id}`;

export function mapTaskmasterStatus(raw: string): SourceStatus | undefined {
  switch (raw) {
    case '':
    case 'pending':
    case 'review':
      return 'open';
    case 'in-progress':
      return 'in_progress';
    case 'done':
      return 'done';
    case 'blocked':
    case 'deferred':
      return 'blocked';
    case 'cancelled':
      return 'cancelled';
    default:
      return undefined;
  }
}

/**
 * Task Master's parent roll-up (tm-core `updateSubtaskStatusInFile`, 0.43.1): whenever a subtask's status changes,
 * the parent's status follows its subtasks: all done -> `done`; else any `in-progress` or `done` -> `in-progress`;
 * else all `pending` -> `pending`; otherwise it is left as it is. Returns the parent's new raw status. Pure; used by
 * the parser (to read a parent as Task Master would show it) and by write-back (to write what Task Master writes).
 */
export function rollUpTaskmasterParent({ parent, subtasks }: { parent: string; subtasks: readonly string[] }): string {
  if (subtasks.length === 0) return parent;
  const s = subtasks.map((x) => x || 'pending');
  const isDone = (x: string) => x === 'done' || x === 'completed';
  if (s.every(isDone)) return 'done';
  if (s.some((x) => x === 'in-progress' || isDone(x))) return 'in-progress';
  if (s.every((x) => x === 'pending')) return 'pending';
  return parent;
}

const PRIORITY: Record<string, number> = { critical: 0, high: 1, medium: 2, low: 3 };

interface TmTask {
  id?: unknown;
  title?: unknown;
  description?: unknown;
  details?: unknown;
  testStrategy?: unknown;
  status?: unknown;
  priority?: unknown;
  dependencies?: unknown;
  subtasks?: unknown;
  metadata?: unknown;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const idText = (v: unknown): string | undefined =>
  typeof v === 'number' && Number.isInteger(v) ? String(v) : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim()) ? v.trim() : undefined;

/** The tasks array of the chosen tag, or why there is none. */
export function getTaskmasterTasks(raw: unknown, tag: string): { tasks: unknown[] } | { error: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { error: 'expected a JSON object' };
  const o = raw as Record<string, unknown>;
  if (Array.isArray(o.tasks)) return { tasks: o.tasks }; // legacy flat file: its only list
  const t = o[tag] as { tasks?: unknown } | undefined;
  if (t && Array.isArray(t.tasks)) return { tasks: t.tasks };
  const tags = Object.keys(o).filter((k) => Array.isArray((o[k] as { tasks?: unknown } | null)?.tasks));
  return { error: `tag "${tag}" not found; the file has ${tags.length > 0 ? tags.map((x) => `"${x}"`).join(', ') : 'no tags'}; set "tag" in the source entry` };
}

/**
 * A parent's status and its subtasks' as Task Master means them (docs/sources.md, "Parent roll-up"):
 * - a parent marked `done` has its work done: its open subtasks are done too (Task Master's older writer marks them
 *   so when the parent is set done; `next` never offers a subtask of a done parent, and its dependents may start);
 * - otherwise the parent follows its subtasks (`rollUpTaskmasterParent`): all done makes it done (a dependency on it
 *   is satisfied), any started makes an open parent in progress. A blocked or cancelled parent stays so (it stops
 *   its subtasks) unless all of them are done.
 */
function applyParentRollUp(parent: SourceTask, children: SourceTask[]): void {
  if (children.length === 0) return;
  if (parent.status === 'done') {
    for (const c of children) {
      if (c.status === 'done') continue;
      c.rawStatus = `${c.rawStatus} (parent ${parent.sourceId} is done)`;
      c.status = 'done';
    }
    return;
  }
  const rolled = rollUpTaskmasterParent({ parent: parent.rawStatus, subtasks: children.map((c) => c.rawStatus) });
  if (rolled === 'done') {
    parent.rawStatus = `${parent.rawStatus} (all subtasks done)`;
    parent.status = 'done';
  } else if (rolled === 'in-progress' && parent.status === 'open') parent.status = 'in_progress';
}

export function parseTaskmasterJson({ text, tag }: { text: string; tag: string }): ParsedSource {
  const problems: SourceProblem[] = [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const pos = /position (\d+)/.exec((e as Error).message);
    return { tasks: [], problems: [{ line: pos ? lineAt(text, Number(pos[1])) : 1, message: `not valid JSON: ${(e as Error).message}` }], warnings: [] };
  }
  const found = getTaskmasterTasks(raw, tag);
  if ('error' in found) return { tasks: [], problems: [{ line: 1, message: found.error }], warnings: [] };

  // Lines: each task's `"id"` member, found in file order (a cursor, so equal titles do not collide).
  let cursor = 0;
  const lineOfNext = (id: string): number => {
    const re = new RegExp(`"id"\\s*:\\s*"?${id.replace('.', '\\.')}"?\\s*[,}\\n]`, 'g');
    re.lastIndex = cursor;
    const m = re.exec(text);
    if (!m) return 1;
    cursor = m.index + 1;
    return lineAt(text, m.index);
  };

  const tasks: SourceTask[] = [];
  const toTask = (t: TmTask, id: string, line: number, depIds: string[], parent?: { task: TmTask; id: string }): SourceTask => {
    const parentId = parent?.id;
    const rawStatus = str(t.status) || 'pending';
    let status = mapTaskmasterStatus(rawStatus);
    if (status === undefined) {
      problems.push({ line, taskId: tmTaskId(id), message: `task ${id}: unknown status "${rawStatus}" (Task Master knows pending, in-progress, done, review, deferred, cancelled, blocked)` });
      status = 'blocked';
    }
    const meta = (typeof t.metadata === 'object' && t.metadata !== null ? t.metadata : {}) as Record<string, unknown>;
    const scope = Array.isArray(meta.file_scope) ? meta.file_scope.filter((x): x is string => typeof x === 'string') : [];
    // A subtask without a priority has its parent's (Task Master's loadTask: `subtask.priority || parent.priority`).
    const priority = PRIORITY[str(t.priority).toLowerCase()] ?? (parent ? PRIORITY[str(parent.task.priority).toLowerCase()] : undefined) ?? 2;
    return {
      id: tmTaskId(id),
      sourceId: id,
      line,
      title: str(t.title).trim() || `Task ${id}`,
      description: [str(t.description), str(t.details)].filter(Boolean).join('\n\n'),
      acceptance: str(t.testStrategy).trim() ? [str(t.testStrategy).trim()] : [],
      dependsOn: depIds.map((d) => ({ id: tmTaskId(d), line })),
      fileScope: scope.length > 0 ? scope : undefined,
      status,
      rawStatus,
      priority,
      parentId: parentId ? tmTaskId(parentId) : undefined,
    };
  };

  found.tasks.forEach((value, i) => {
    const t = value as TmTask;
    const id = idText(t?.id);
    if (id === undefined || id.includes('.')) {
      problems.push({ line: 1, message: `tasks[${i}]: "id" must be an integer (or its string), got ${JSON.stringify(t?.id)}` });
      return;
    }
    const line = lineOfNext(id);
    const deps: string[] = [];
    for (const d of Array.isArray(t.dependencies) ? t.dependencies : []) {
      const di = idText(d);
      if (di === undefined) problems.push({ line, taskId: tmTaskId(id), message: `task ${id}: dependency ${JSON.stringify(d)} is not a task id` });
      else deps.push(di);
    }
    const parent = toTask(t, id, line, deps);
    tasks.push(parent);
    const subtasks = Array.isArray(t.subtasks) ? (t.subtasks as TmTask[]) : [];
    const children: SourceTask[] = [];
    subtasks.forEach((s, j) => {
      const sid = idText(s?.id);
      if (sid === undefined) {
        problems.push({ line, taskId: tmTaskId(id), message: `task ${id}: subtasks[${j}].id must be an integer, got ${JSON.stringify(s?.id)}` });
        return;
      }
      // Subtask ids are written either as the bare number or as "P.S".
      const full = sid.includes('.') ? sid : `${id}.${sid}`;
      const sline = lineOfNext(sid);
      const sdeps: string[] = [];
      for (const d of Array.isArray(s.dependencies) ? s.dependencies : []) {
        const di = idText(d);
        if (di === undefined) problems.push({ line: sline, taskId: tmTaskId(full), message: `subtask ${full}: dependency ${JSON.stringify(d)} is not a task id` });
        // A bare number in a subtask's dependencies is a sibling (Task Master's rule); "P.S" is any subtask.
        else sdeps.push(di.includes('.') ? di : `${id}.${di}`);
      }
      const child = toTask(s, full, sline, sdeps, { task: t, id });
      children.push(child);
      tasks.push(child);
    });
    applyParentRollUp(parent, children);
  });
  return { tasks, problems, warnings: [] };
}
