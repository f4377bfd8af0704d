/**
 * Seed 002's selection syntax and `next` (pure). `63, 65-67, 88` means numbers and inclusive ranges, deduplicated;
 * besides numbers a token may be a task id (`bd-a3f8`, `T012`, `tm-3.2`), a source id (`3.2`), a glob over task ids
 * (`todo-6*`) or `tag:<glob>` over the tasks' project tags (`tag:vtm:risk:high`, `tag:parallel-group:*`, as Nx's own
 * `--projects=tag:...`). A number matches every source task whose own id is that number (`todo-63`, `tm-63`).
 */
import { minimatch } from 'minimatch';
import { err, ok, type Result } from '../manifest/problems';
import type { LoadedManifest } from '../manifest/read';
import type { Task } from '../manifest/schema';
import type { SourceStatus } from './types';
import { buildTaskTags } from '../graph/build-graph';

export type SelectionToken =
  | { kind: 'number'; n: number; text: string }
  | { kind: 'id'; text: string }
  | { kind: 'glob'; text: string }
  /** `tag:<glob>`: `text` is the whole token, `pattern` the glob after `tag:`. */
  | { kind: 'tag'; text: string; pattern: string };

export function parseSelection(text: string): Result<SelectionToken[], string> {
  const tokens: SelectionToken[] = [];
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) return err('empty selection; write task numbers, ranges or ids, e.g. "63, 65-67, 88"');
  for (const p of parts) {
    if (p.startsWith('tag:')) {
      const pattern = p.slice('tag:'.length);
      if (pattern === '') return err(`"${p}" names no tag; write tag:<tag or glob>, e.g. tag:vtm:risk:high`);
      tokens.push({ kind: 'tag', text: p, pattern });
      continue;
    }
    const range = /^(\d+)-(\d+)$/.exec(p);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (b < a) return err(`range "${p}" runs backwards; write ${b}-${a}`);
      if (b - a > 10_000) return err(`range "${p}" is too long (more than 10,000 tasks)`);
      for (let n = a; n <= b; n++) tokens.push({ kind: 'number', n, text: p });
    } else if (/^\d+$/.test(p)) tokens.push({ kind: 'number', n: Number(p), text: p });
    else if (/[*?[\]{}]/.test(p)) tokens.push({ kind: 'glob', text: p });
    else tokens.push({ kind: 'id', text: p });
  }
  return ok(tokens);
}

export interface SelectableTask {
  id: string;
  sourceId?: string;
  /** Source status; undefined for manifest tasks. */
  sourceStatus?: SourceStatus;
  /** In the project graph (false: done in the source, or a container). */
  inGraph: boolean;
  /** Its project's tags (`vtm:risk:high`, `source:beads`, labels); a task outside the graph has its source tags only. */
  tags: string[];
}

export function listSelectableTasks(manifests: readonly LoadedManifest[]): SelectableTask[] {
  const out: SelectableTask[] = [];
  for (const m of manifests) {
    const tagsOf = new Map(m.manifest.tasks.map((t) => [t.task_id, buildTaskTags({ task: t, manifestStatus: m.manifest.status })]));
    if (m.source) {
      for (const [id, info] of m.source.tasks) {
        const tags = tagsOf.get(id);
        out.push({ id, sourceId: info.sourceId, sourceStatus: info.status, inGraph: tags !== undefined, tags: tags ?? info.tags ?? [] });
      }
    } else for (const t of m.manifest.tasks) out.push({ id: t.task_id, inGraph: true, tags: tagsOf.get(t.task_id)! });
  }
  return out;
}

export interface ResolvedSelection {
  /** Task ids to run, in selection order. */
  run: string[];
  /** Tokens that matched nothing. */
  unknown: string[];
  /** Selected but already done (in the source or in the task store), with a one-line reason each. */
  skipped: { id: string; why: string }[];
}

export function resolveSelection({
  tokens,
  tasks,
  isCompleted,
}: {
  tokens: readonly SelectionToken[];
  tasks: readonly SelectableTask[];
  /** Whether the task store has the task completed for its current entry. */
  isCompleted: (id: string) => boolean;
}): ResolvedSelection {
  const run: string[] = [];
  const unknown: string[] = [];
  const skipped: ResolvedSelection['skipped'] = [];
  const seen = new Set<string>();
  const unknownSeen = new Set<string>();
  for (const tok of tokens) {
    const matches =
      tok.kind === 'number'
        ? tasks.filter((t) => t.sourceId === String(tok.n))
        : tok.kind === 'id'
          ? tasks.filter((t) => t.id === tok.text || t.sourceId === tok.text)
          : tok.kind === 'tag'
            ? tasks.filter((t) => t.tags.some((tag) => minimatch(tag, tok.pattern)))
            : tasks.filter((t) => minimatch(t.id, tok.text));
    if (matches.length === 0) {
      const label = tok.kind === 'number' ? String(tok.n) : tok.text;
      if (!unknownSeen.has(label)) unknown.push(label);
      unknownSeen.add(label);
      continue;
    }
    for (const t of matches) {
      if (seen.has(t.id)) continue;
      seen.add(t.id);
      if (t.sourceStatus === 'done') skipped.push({ id: t.id, why: 'already complete in its source' });
      else if (!t.inGraph) skipped.push({ id: t.id, why: 'has subtasks or children; select those' });
      else if (isCompleted(t.id)) skipped.push({ id: t.id, why: 'already completed (task store)' });
      else run.push(t.id);
    }
  }
  return { run, unknown, skipped };
}

/** Selected tasks plus the unfinished tasks they depend on (transitively), dependencies first. */
export function buildRunPlan({ selected, tasks, isCompleted }: { selected: readonly string[]; tasks: ReadonlyMap<string, Task>; isCompleted: (id: string) => boolean }): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string) => {
    if (state.has(id)) return;
    state.set(id, 'visiting');
    for (const d of tasks.get(id)?.depends_on_tasks ?? []) if (!isCompleted(d)) visit(d);
    state.set(id, 'done');
    order.push(id);
  };
  for (const id of selected) visit(id);
  return order;
}

export interface ReadyTask {
  id: string;
  title: string;
  risk: string;
  priority: number;
  source?: string;
}

/**
 * Tasks that can start now: not completed, source status open (not blocked, cancelled or in progress, as `bd ready`),
 * not provisional, every dependency completed, and no running task on an overlapping scope. High risk first, then
 * the source's priority, then id.
 */
export function buildReadyTasks({
  manifests,
  isCompleted,
  isRunning,
  conflictsWithRunning,
}: {
  manifests: readonly LoadedManifest[];
  isCompleted: (id: string) => boolean;
  isRunning: (id: string) => boolean;
  conflictsWithRunning: (task: Task) => boolean;
}): ReadyTask[] {
  const ready: ReadyTask[] = [];
  for (const m of manifests) {
    for (const t of m.manifest.tasks) {
      const info = m.source?.tasks.get(t.task_id);
      if (info && info.status !== 'open') continue;
      if (isCompleted(t.task_id) || isRunning(t.task_id) || t.provisional) continue;
      if (!t.depends_on_tasks.every(isCompleted)) continue;
      if (conflictsWithRunning(t)) continue;
      ready.push({ id: t.task_id, title: t.title, risk: t.risk, priority: info?.priority ?? 2, ...(m.source ? { source: `${m.file}:${info!.line}` } : {}) });
    }
  }
  const riskRank: Record<string, number> = { High: 0, Medium: 1, Low: 2 };
  return ready.sort((a, b) => riskRank[a.risk] - riskRank[b.risk] || a.priority - b.priority || a.id.localeCompare(b.id, 'en', { numeric: true }));
}
