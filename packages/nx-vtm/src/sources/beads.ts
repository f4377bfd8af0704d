/**
 * Beads `.beads/issues.jsonl` (bd's export format, one issue per line). The JSONL is an export, not bd's database:
 * it may be stale, and readiness must be computed here, as `bd ready` does (shared notes task-sources.md §1). Pure.
 */
import type { ParsedSource, SourceProblem, SourceStatus, SourceTask } from './types';

/** `[P:Group-infra]`, `[P:Group-auth-flow]` anywhere in the text (hyphenated names are whole names here). */
const GROUP_MARKER = /\[P:Group-([A-Za-z0-9_][A-Za-z0-9_-]*)\]/;
/** Issue types that are not work for an agent: `bd ready` never lists them. */
const NOT_WORK = new Set(['gate', 'molecule', 'message', 'agent', 'role', 'convoy', 'event']);
const BLOCKING = new Set(['blocks', 'conditional-blocks', 'waits-for', 'parent-child']);

interface BeadsDependency {
  issue_id?: string;
  depends_on_id?: string;
  type?: string;
}

interface BeadsIssue {
  _type?: string;
  id?: unknown;
  title?: unknown;
  description?: unknown;
  design?: unknown;
  acceptance_criteria?: unknown;
  status?: unknown;
  priority?: unknown;
  issue_type?: unknown;
  labels?: unknown;
  metadata?: unknown;
  defer_until?: unknown;
  close_reason?: unknown;
  dependencies?: unknown;
}

export function mapBeadsStatus(raw: string): SourceStatus | undefined {
  switch (raw) {
    case '':
    case 'open':
      return 'open';
    case 'in_progress':
    case 'hooked':
      return 'in_progress';
    case 'blocked':
    case 'deferred':
      return 'blocked';
    // pinned issues satisfy blockers (bd's rule) and are never ready: done for us.
    case 'closed':
    case 'pinned':
      return 'done';
    case 'tombstone':
      return 'cancelled';
    default:
      return undefined;
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** A failed-looking close reason (bd judges `conditional-blocks` by it). */
const FAILED_REASON = /\b(fail|failed|failure|error|abandon|abandoned|won'?t ?fix|cancel|cancelled|canceled|rejected)\b/i;

export function parseBeadsJsonl({ text, now }: { text: string; now: number }): ParsedSource {
  const problems: SourceProblem[] = [];
  const issues: { issue: BeadsIssue; line: number }[] = [];
  text.split(/\r?\n/).forEach((l, i) => {
    if (l.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch (e) {
      problems.push({ line: i + 1, message: `not valid JSON (${(e as Error).message}); re-export with \`bd export -o .beads/issues.jsonl\`` });
      return;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      problems.push({ line: i + 1, message: 'expected one JSON object per line' });
      return;
    }
    const issue = v as BeadsIssue;
    if (issue._type !== undefined && issue._type !== 'issue') return; // memories and other record kinds
    if (typeof issue.id !== 'string' || issue.id === '') {
      problems.push({ line: i + 1, message: '"id" is missing or not a string' });
      return;
    }
    if (typeof issue.title !== 'string' || issue.title.trim() === '') {
      problems.push({ line: i + 1, taskId: issue.id, message: `issue ${issue.id}: "title" is missing or empty` });
      return;
    }
    issues.push({ issue, line: i + 1 });
  });
  const byId = new Map(issues.map((x) => [x.issue.id as string, x]));
  const edgesOf = (issue: BeadsIssue): BeadsDependency[] => (Array.isArray(issue.dependencies) ? (issue.dependencies as BeadsDependency[]) : []);
  const childrenOf = new Map<string, string[]>();
  for (const { issue } of issues) {
    for (const e of edgesOf(issue)) {
      if (e?.type === 'parent-child' && typeof e.depends_on_id === 'string') childrenOf.set(e.depends_on_id, [...(childrenOf.get(e.depends_on_id) ?? []), issue.id as string]);
    }
  }

  const tasks: SourceTask[] = [];
  for (const { issue, line } of issues) {
    const id = issue.id as string;
    const rawStatus = str(issue.status);
    let status = mapBeadsStatus(rawStatus);
    let reason = rawStatus || 'open';
    if (status === undefined) {
      // A custom status says something we cannot read: not started (safe), and said so.
      status = 'blocked';
      reason = `custom status "${rawStatus}"`;
    }
    const type = str(issue.issue_type) || 'task';
    if (NOT_WORK.has(type) && status !== 'done') {
      status = 'blocked';
      reason = `issue_type ${type} is not agent work; close it in bd when its condition holds`;
    }
    const deferUntil = Date.parse(str(issue.defer_until));
    if (!Number.isNaN(deferUntil) && deferUntil > now && (status === 'open' || status === 'in_progress')) {
      status = 'blocked';
      reason = `deferred until ${str(issue.defer_until)}`;
    }

    const dependsOn: SourceTask['dependsOn'] = [];
    let parentId: string | undefined;
    const deps = edgesOf(issue);
    for (const d of deps) {
      const target = str(d?.depends_on_id);
      const kind = str(d?.type) || 'blocks';
      if (!target || !BLOCKING.has(kind)) continue; // related, discovered-from, tracks: not ordering
      if (d.issue_id !== undefined && d.issue_id !== id) continue; // another issue's edge exported here
      if (kind === 'parent-child') {
        parentId = target;
        continue;
      }
      if (kind === 'conditional-blocks') {
        // Runs only if the target failed: a target closed successfully cancels this one.
        const t = byId.get(target)?.issue;
        if (t && str(t.status) === 'closed') {
          if (!FAILED_REASON.test(str(t.close_reason)) && status !== 'done') {
            status = 'cancelled';
            reason = `conditional on ${target} failing, but it was closed: ${str(t.close_reason) || 'no close_reason'}`;
          }
          continue;
        }
      }
      if (kind === 'waits-for') {
        // Waits on the target's children (its whole fan-out); a target without children is waited on itself.
        const kids = childrenOf.get(target) ?? [];
        if (kids.length > 0) {
          for (const c of kids) dependsOn.push({ id: c, line });
          continue;
        }
      }
      dependsOn.push({ id: target, line });
    }

    const text = [str(issue.title), str(issue.description)].join('\n');
    const labels = strings(issue.labels);
    const group = GROUP_MARKER.exec(text)?.[1] ?? labels.map((l) => /^parallel:Group-(.+)$/.exec(l)?.[1]).find(Boolean);
    const meta = (typeof issue.metadata === 'object' && issue.metadata !== null ? issue.metadata : {}) as Record<string, unknown>;
    const scope = [
      ...labels.filter((l) => l.startsWith('scope:')).map((l) => l.slice('scope:'.length)),
      ...strings(meta.file_scope),
      ...strings(meta.relevant_files),
    ];
    const acceptance = str(issue.acceptance_criteria)
      .split(/\r?\n/)
      .map((l) => l.replace(/^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?/, '').trim())
      .filter(Boolean);
    const priority = typeof issue.priority === 'number' && Number.isInteger(issue.priority) ? issue.priority : 2;
    tasks.push({
      id,
      sourceId: id,
      line,
      title: str(issue.title).replace(GROUP_MARKER, '').trim() || str(issue.title),
      description: [str(issue.description).replace(GROUP_MARKER, '').trim(), str(issue.design)].filter(Boolean).join('\n\n'),
      acceptance,
      dependsOn,
      fileScope: scope.length > 0 ? [...new Set(scope)] : undefined,
      status,
      rawStatus: reason,
      priority,
      parallelGroup: group,
      tags: [`bd-type:${type}`, ...labels.filter((l) => !l.startsWith('scope:') && /^[^\s,]+$/.test(l))],
      parentId,
    });
  }
  return { tasks, problems, warnings: [] };
}
