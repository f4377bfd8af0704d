/**
 * Status write-back, the pure half: the smallest text edit that records a task's new status in its source, every
 * other byte unchanged. The I/O half (hash check, lock, temp file + rename, `bd`) is write-back-run.ts.
 *
 * What is written (docs/sources.md): completed -> TODO.md `[COMPLETED]` + `**Completed**: <date>` + `✅` heading,
 * Spec Kit `[X]`, Task Master `"done"` (and its parent rolled up), Beads `bd close`; failed -> TODO.md `[FAILED]` (still runnable: the seed's
 * marker for a failed attempt); the other formats have no failed state that would not also stop a retry, so a
 * failure stays in our task store only.
 */
import { applyEdits, modify } from 'jsonc-parser';
import { err, ok, type Result } from '../manifest/problems';
import { getTaskmasterTasks, rollUpTaskmasterParent } from './taskmaster';

export type WriteBackStatus = 'completed' | 'failed';

const FIELD = /^(\s*(?:[-*]\s+)?\*{1,2})([A-Za-z][A-Za-z ]*?)(\*\*\s*:\s*)(.*)$/;

/** Edit task `sourceId` of a TODO.md. `date` is YYYY-MM-DD (passed in: pure). */
export function editTodoMd({ text, sourceId, status, date }: { text: string; sourceId: string; status: WriteBackStatus; date: string }): Result<string, string> {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => new RegExp(`^###\\s+${sourceId}\\.\\s`).test(l));
  if (start < 0) return err(`task ${sourceId} not found (no "### ${sourceId}." heading)`);
  let end = lines.findIndex((l, i) => i > start && /^#{1,3}\s/.test(l));
  if (end < 0) end = lines.length;
  const fieldAt = (name: string) => {
    for (let i = start + 1; i < end; i++) {
      const m = FIELD.exec(lines[i]);
      if (m && m[2].trim().toLowerCase() === name) return { i, m };
    }
    return undefined;
  };
  const marker = status === 'completed' ? '[COMPLETED]' : '[FAILED]';
  const st = fieldAt('status');
  // The style of the task's own metadata lines ("- **", "**", "*"), so inserted lines match their neighbours.
  const prefix = st?.m[1] ?? fieldAt('dependencies')?.m[1] ?? '- **';
  if (st) {
    const value = st.m[4];
    const next = /\[[^\]]*\]/.test(value) ? value.replace(/\[[^\]]*\]/, marker) : marker;
    lines[st.i] = `${st.m[1]}${st.m[2]}${st.m[3]}${next}`;
  } else {
    lines.splice(start + 1, 0, `${prefix}Status**: ${marker}`);
    end++;
  }
  if (status === 'completed') {
    const done = fieldAt('completed');
    if (done) lines[done.i] = `${done.m[1]}${done.m[2]}${done.m[3]}${date}`;
    else {
      const after = fieldAt('started') ?? fieldAt('status')!;
      lines.splice(after.i + 1, 0, `${prefix}Completed**: ${date}`);
    }
    if (!lines[start].includes('\u2705')) lines[start] = `${lines[start].replace(/\s+$/, '')} \u2705`;
  }
  return ok(lines.join(eol));
}

/** Spec Kit: `- [ ] T012 ...` -> `- [X] T012 ...` (completion only: the format has no other state). */
export function editSpeckit({ text, sourceId }: { text: string; sourceId: string }): Result<string, string> {
  const re = new RegExp(`^(\\s*[-*]\\s+)\\[( |x|X)\\](\\s+${sourceId}\\b)`, 'm');
  const m = re.exec(text);
  if (!m) return err(`task ${sourceId} not found (no "- [ ] ${sourceId}" line)`);
  return ok(text.slice(0, m.index) + `${m[1]}[X]${m[3]}` + text.slice(m.index + m[0].length));
}

/**
 * Task Master: the target's `"status"` member only, as a text edit (jsonc-parser `modify`), so ids keep their JSON
 * type and every other member, tag and metadata keeps its bytes.
 */
export function editTaskmaster({ text, sourceId, tag, status }: { text: string; sourceId: string; tag: string; status: string }): Result<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return err(`not valid JSON: ${(e as Error).message}`);
  }
  const found = getTaskmasterTasks(raw, tag);
  if ('error' in found) return err(found.error);
  const base: (string | number)[] = Array.isArray((raw as { tasks?: unknown }).tasks) ? ['tasks'] : [tag, 'tasks'];
  const [parent, sub] = sourceId.split('.');
  const same = (v: unknown, id: string) => String(v).trim() === id;
  const i = found.tasks.findIndex((t) => same((t as { id?: unknown })?.id, parent));
  if (i < 0) return err(`task ${parent} not found in tag "${tag}"`);
  const indent = /\n( +|\t)"/.exec(text)?.[1] ?? '  ';
  const setStatus = (at: string, path: (string | number)[], value: string) =>
    applyEdits(at, modify(at, path, value, { formattingOptions: { insertSpaces: !indent.startsWith('\t'), tabSize: indent.startsWith('\t') ? 1 : indent.length } }));
  if (sub === undefined) return ok(setStatus(text, [...base, i, 'status'], status));
  const parentTask = found.tasks[i] as { status?: unknown; subtasks?: unknown[] };
  const subtasks = (parentTask.subtasks ?? []) as { id?: unknown; status?: unknown }[];
  const j = subtasks.findIndex((s) => same(s?.id, sub) || same(s?.id, sourceId));
  if (j < 0) return err(`subtask ${sourceId} not found in tag "${tag}"`);
  let next = setStatus(text, [...base, i, 'subtasks', j, 'status'], status);
  // The parent follows its subtasks, as Task Master's own set-status makes it (rollUpTaskmasterParent): without
  // this, `task-master next` would still offer the parent whose subtasks we completed.
  const current = typeof parentTask.status === 'string' ? parentTask.status : 'pending';
  const rolled = rollUpTaskmasterParent({ parent: current, subtasks: subtasks.map((s, k) => (k === j ? status : typeof s?.status === 'string' ? s.status : 'pending')) });
  if (rolled !== current) next = setStatus(next, [...base, i, 'status'], rolled);
  return ok(next);
}

/**
 * Beads: the `bd` argv that claims an issue when its task starts: bd's atomic compare-and-set sets the assignee and
 * `in_progress` if the issue is open and unassigned, and fails otherwise ("already claimed").
 */
export function buildBdClaimArgs({ id }: { id: string }): string[] {
  return ['update', id, '--claim', '--json'];
}

/** Beads: the `bd` argv that records a completion (argv only; never a shell string from task text). */
export function buildBdCloseArgs({ id, reason }: { id: string; reason: string }): string[] {
  return ['close', id, '--reason', reason, '--json'];
}
