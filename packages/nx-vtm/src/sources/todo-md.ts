/**
 * TODO.md (seed 002's format, as the ProofChecker repository writes it): a task runs from `### <N>. <Title>` to the
 * next heading of level 2 or 3; metadata are `**Field**: value` lines (`- **Status**: [NOT STARTED]`, and the drifted
 * `*Status**:` spelling); `✅` in the heading means complete. Parsing is lenient (the format drifts) but never guesses
 * in the unsafe direction: a dependency it cannot resolve blocks the task instead of being dropped. Pure.
 */
import type { Risk } from '../manifest/schema';
import type { ParsedSource, SourceProblem, SourceStatus, SourceTask } from './types';

export const todoTaskId = (n: string): string => `todo-${n}`;

const HEADING = /^###\s+(\d+)\.\s+(.*?)\s*$/;
const SECTION = /^#{1,2}\s+(.*?)\s*$/;
// `- **Status**: x`, `**Status**: x`, `*Status**: x`, `* **Status**: x`
const FIELD = /^\s*(?:[-*]\s+)?\*{1,2}([A-Za-z][A-Za-z ]*?)\*\*\s*:\s*(.*)$/;
const LIST_ITEM = /^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(.*)$/;
const DONE_MARK = /\u2705/;
const DONE_MARKS = /\s*\u2705\s*/g;

/** Status markers of the standard and of the live file, mapped onto ours. Unknown words are `open` (runnable). */
export function mapTodoStatus(raw: string, headingDone: boolean): SourceStatus {
  const s = raw.toUpperCase();
  if (headingDone || /\b(COMPLETED?|DONE)\b/.test(s)) return 'done';
  if (/ABANDONED|CANCELL?ED/.test(s)) return 'cancelled';
  if (/BLOCKED/.test(s)) return 'blocked';
  if (/IN PROGRESS/.test(s)) return 'in_progress';
  // [NOT STARTED], [RESEARCHED], [PLANNED], [FAILED] (may be retried), PARTIAL, ...
  return 'open';
}

const PRIORITY: Record<string, number> = { critical: 0, high: 1, medium: 2, low: 3 };

function priorityOf(text: string | undefined): number | undefined {
  const m = /\b(critical|high|medium|low)\b/i.exec(text ?? '');
  return m ? PRIORITY[m[1].toLowerCase()] : undefined;
}

interface Field {
  name: string;
  value: string;
  line: number;
  /** Continuation lines (list items, paragraph) until the next field, with their line numbers. */
  body: { text: string; line: number }[];
}

/** "None", "N/A", "-" and empty mean no list. */
const isNone = (v: string): boolean => /^(none|n\/a|-|)$/i.test(v.trim().replace(/[.*_]/g, ''));

/** `Logos/A.lean (lines 697, 776)` -> `Logos/A.lean`; backticks and list markers removed. */
function cleanPath(item: string): string {
  return item
    .replace(/`/g, '')
    .replace(/\s+[(\u2013\u2014-].*$/, '')
    .replace(/^\.\//, '')
    .trim();
}

export function parseTodoMd({ text }: { text: string }): ParsedSource {
  const lines = text.split(/\r?\n/);
  const problems: SourceProblem[] = [];
  const warnings: string[] = [];
  interface Raw {
    n: string;
    line: number;
    title: string;
    headingDone: boolean;
    section?: string;
    fields: Field[];
  }
  const raws: Raw[] = [];
  let section: string | undefined;
  let current: Raw | undefined;
  let field: Field | undefined;
  lines.forEach((l, i) => {
    const line = i + 1;
    const h = HEADING.exec(l);
    if (h) {
      const headingDone = DONE_MARK.test(h[2]);
      current = { n: h[1], line, title: h[2].replace(DONE_MARKS, ' ').trim(), headingDone, section, fields: [] };
      raws.push(current);
      field = undefined;
      return;
    }
    if (/^#{1,3}\s/.test(l)) {
      // Any other heading ends the task; a level-1/2 heading names the section (e.g. "High Priority").
      const s = SECTION.exec(l);
      if (s) section = s[1];
      current = undefined;
      field = undefined;
      return;
    }
    if (!current) return;
    const f = FIELD.exec(l);
    if (f) {
      field = { name: f[1].trim().toLowerCase(), value: f[2].trim(), line, body: [] };
      current.fields.push(field);
      return;
    }
    if (/^\s*---+\s*$/.test(l)) {
      field = undefined;
      return;
    }
    if (field && l.trim() !== '') field.body.push({ text: l, line });
  });

  const byNumber = new Map(raws.map((r) => [r.n, r]));
  const seen = new Map<string, number>();
  for (const r of raws) {
    if (seen.has(r.n)) problems.push({ line: r.line, taskId: todoTaskId(r.n), message: `task ${r.n} is defined twice (also at line ${seen.get(r.n)}); give one of them a new number` });
    else seen.set(r.n, r.line);
  }
  const normTitle = (s: string) => s.toLowerCase().replace(/\(.*?\)/g, '').replace(/[^a-z0-9]+/g, ' ').trim();
  const byTitle = new Map(raws.map((r) => [normTitle(r.title), r.n]));

  /** Task numbers named in a Dependencies/Blocking value; names are matched to titles. */
  const resolveRefs = (f: Field, selfId: string): { ids: string[]; unresolved: string[] } => {
    const ids: string[] = [];
    const unresolved: string[] = [];
    const items = [f.value, ...f.body.map((b) => b.text.replace(LIST_ITEM, '$1'))].join(',').split(/[,;]| and /);
    for (const rawItem of items) {
      const item = rawItem.trim();
      if (isNone(item)) continue;
      // "63", "#63", "Task 63", "63-65" (a range, as in the selection syntax)
      const range = /^(?:task\s*)?#?(\d+)\s*[-\u2013]\s*#?(\d+)\b/i.exec(item);
      if (range) {
        for (let k = Number(range[1]); k <= Number(range[2]) && k - Number(range[1]) < 1000; k++) ids.push(String(k));
        continue;
      }
      const num = /^(?:task\s*)?#?(\d+)\b/i.exec(item);
      if (num) {
        ids.push(num[1]);
        continue;
      }
      // A name: "Soundness (Complete)" is satisfied; a title of this file resolves; anything else is unresolved.
      if (/\((complete|completed|done)\)/i.test(item)) continue;
      const n = byTitle.get(normTitle(item));
      if (n !== undefined) ids.push(n);
      else unresolved.push(item);
    }
    return { ids: ids.filter((x) => x !== selfId), unresolved };
  };

  const blockingEdges: { from: string; to: string; line: number }[] = [];
  const tasks: SourceTask[] = [];
  for (const r of raws) {
    const id = todoTaskId(r.n);
    const get = (name: string) => r.fields.find((f) => f.name === name);
    const statusField = get('status');
    const rawStatus = r.headingDone && !statusField ? '\u2705' : statusField?.value ?? '';
    let status = mapTodoStatus(rawStatus, r.headingDone);
    const blockReasons: string[] = [];

    const dependsOn: SourceTask['dependsOn'] = [];
    const deps = get('dependencies') ?? get('depends on');
    if (deps) {
      const { ids, unresolved } = resolveRefs(deps, r.n);
      for (const d of ids) {
        if (byNumber.has(d)) dependsOn.push({ id: todoTaskId(d), line: deps.line });
        // /todo archives completed tasks out of TODO.md: a number that is gone was completed.
        else warnings.push(`line ${deps.line}: task ${r.n} depends on task ${d}, which is not in the file (archived as completed?); treated as done`);
      }
      for (const u of unresolved) blockReasons.push(`dependency "${u}" (line ${deps.line}) names no task of this file; write its number`);
    }
    const blocking = get('blocking') ?? get('blocks');
    if (blocking) {
      const { ids } = resolveRefs(blocking, r.n);
      for (const d of ids) if (byNumber.has(d)) blockingEdges.push({ from: todoTaskId(d), to: id, line: blocking.line });
    }

    const description = (() => {
      const f = get('description');
      if (!f) return '';
      return [f.value, ...f.body.map((b) => b.text.trim())].filter(Boolean).join('\n');
    })();
    const acField = get('acceptance criteria');
    const acceptance = acField
      ? [acField.value, ...acField.body.map((b) => b.text.replace(LIST_ITEM, '$1').trim())].filter((s) => s !== '' && !isNone(s))
      : [];
    const filesField = get('files affected') ?? get('files');
    let fileScope: string[] | undefined;
    if (filesField) {
      const items = [
        ...(isNone(filesField.value) ? [] : filesField.value.split(',').map((s) => ({ text: s, line: filesField.line }))),
        ...filesField.body.filter((b) => LIST_ITEM.test(b.text)).map((b) => ({ text: b.text.replace(LIST_ITEM, '$1'), line: b.line })),
      ];
      fileScope = [...new Set(items.map((x) => cleanPath(x.text)).filter((p) => p !== '' && !isNone(p)))];
      if (fileScope.length === 0) fileScope = undefined;
    }
    const riskWord = /\b(high|medium|low)\b/i.exec(get('risk')?.value ?? '')?.[1];
    const risk = riskWord ? ((riskWord[0].toUpperCase() + riskWord.slice(1).toLowerCase()) as Risk) : undefined;
    const priority = priorityOf(get('priority')?.value) ?? priorityOf(r.section) ?? 2;

    if (blockReasons.length > 0 && status !== 'done' && status !== 'cancelled') status = 'blocked';
    tasks.push({
      id,
      sourceId: r.n,
      line: r.line,
      title: r.title || `Task ${r.n}`,
      description,
      acceptance,
      dependsOn,
      fileScope,
      status,
      rawStatus: blockReasons.length > 0 && status === 'blocked' ? blockReasons.join('; ') : rawStatus,
      priority,
      risk,
    });
  }
  // `**Blocking**: 65` on task 63 is the edge 65 -> 63, written on the other side.
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const e of blockingEdges) {
    const t = byId.get(e.from);
    if (t && !t.dependsOn.some((d) => d.id === e.to)) t.dependsOn.push({ id: e.to, line: e.line });
  }
  return { tasks, problems, warnings };
}
