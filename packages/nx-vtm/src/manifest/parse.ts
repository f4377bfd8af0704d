/**
 * Parsing a manifest's text into a validated `Manifest` (pure): JSON syntax, then the zod shape, then the
 * cross-field rules. Problems are collected, not thrown, and every one names the file, task id and field path.
 */
import { z } from 'zod';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { manifestSchema, PATH_FIELDS, taskSchema, type Manifest, type Task } from './schema';
import { normaliseManifestPath } from './paths';
import { readTaskFast } from './fast-task';
import { err, formatFieldPath, ok, type ManifestProblem, type Result } from './problems';
import { getManifestRuleProblems, type PathProbe } from './rules';

export function parseManifestText({
  text,
  file,
  probe,
  externalIds,
}: {
  text: string;
  file: string;
  probe?: PathProbe;
  /** Task ids defined in the workspace's other manifests: dependencies on them are valid. */
  externalIds?: readonly string[];
}): Result<Manifest, ManifestProblem[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return err([{ file, path: '(root)', message: describeJsonError(text, e as Error) }]);
  }
  return parseManifestValue({ raw, file, probe, externalIds });
}

export function parseManifestValue({
  raw,
  file,
  probe,
  externalIds = [],
}: {
  raw: unknown;
  file: string;
  probe?: PathProbe;
  externalIds?: readonly string[];
}): Result<Manifest, ManifestProblem[]> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return err([{ file, path: '(root)', message: 'must be a JSON object with a "tasks" array' }]);
  }
  // Tasks are parsed one by one so that a shape error in one task does not hide the rule problems of the others:
  // a user fixing a manifest sees everything wrong with it in one run.
  const rawTasks = (raw as { tasks?: unknown }).tasks;
  const top = manifestSchema.safeParse({ ...raw, tasks: [] });
  const problems: ManifestProblem[] = top.success ? [] : top.error.issues.map((issue) => describeIssue(issue, raw, file));
  if (!Array.isArray(rawTasks)) {
    problems.push({
      file,
      path: 'tasks',
      message: rawTasks === undefined ? 'is required (expected array)' : `must be an array, got ${describeValue(rawTasks)}`,
    });
    return err(problems);
  }
  const indexed: { index: number; task: Task }[] = [];
  const otherIds: string[] = [...externalIds];
  rawTasks.forEach((rawTask, index) => {
    // Almost every task is valid: a hand-written check builds zod's result without zod's per-field machinery; zod
    // runs only on what that check does not accept, and reports the problems (fast-task.ts).
    const fast = readTaskFast(rawTask);
    if (fast !== undefined) {
      indexed.push({ index, task: normaliseTaskPaths(fast) });
      return;
    }
    const r = taskSchema.safeParse(rawTask);
    if (r.success) {
      indexed.push({ index, task: normaliseTaskPaths(r.data) });
      return;
    }
    for (const issue of r.error.issues) problems.push(describeIssue({ ...issue, path: ['tasks', index, ...issue.path] }, raw, file));
    const id = (rawTask as { task_id?: unknown } | null)?.task_id;
    if (typeof id === 'string') otherIds.push(id);
  });
  if (!top.success) return err(problems);
  const manifest: Manifest = { ...top.data, tasks: indexed.map((x) => x.task) };
  problems.push(...getManifestRuleProblems({ manifest, file, probe, indexed, otherIds }));
  problems.sort((a, b) => comparePaths(a.path, b.path));
  return problems.length > 0 ? err(problems) : ok(manifest);
}

/**
 * The task with every path of its path fields in one spelling (`./tests/x.spec.ts` -> `tests/x.spec.ts`), so the
 * rules, the conflict footprint, the audit, the cache inputs and the task hash all see the same path however a
 * planner wrote it. Field positions are kept (problems name `file_scope[2]` as written). Pure.
 */
function normaliseTaskPaths(task: Task): Task {
  // The task object is this parse's own, but its lists may be the caller's input (fast-task.ts takes them over):
  // a list is copied only when one of its paths changes. Most paths are already in their one spelling, so copying
  // every list (10,000 tasks) would only feed the garbage collector.
  for (const field of PATH_FIELDS) {
    const list = task[field];
    let out: string[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const normalised = normaliseManifestPath(list[i]);
      if (normalised !== list[i]) (out ??= list.slice())[i] = normalised;
    }
    if (out) task[field] = out;
  }
  return task;
}

/** Order problems by task position, so a long list reads top to bottom like the file. */
function comparePaths(a: string, b: string): number {
  const ia = /^tasks\[(\d+)\]/.exec(a);
  const ib = /^tasks\[(\d+)\]/.exec(b);
  if (ia && ib && ia[1] !== ib[1]) return Number(ia[1]) - Number(ib[1]);
  if (!ia !== !ib) return ia ? 1 : -1;
  return 0;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key as string];
  }
  return cur;
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown, file: string): ManifestProblem {
  const path = issue.path;
  let taskId: string | undefined;
  if (path[0] === 'tasks' && typeof path[1] === 'number') {
    const id = valueAt(raw, ['tasks', path[1], 'task_id']);
    if (typeof id === 'string' && id !== '') taskId = id;
  }
  const actual = valueAt(raw, path);
  let message: string;
  if (issue.code === 'invalid_type' && actual === undefined) {
    message = `is required (expected ${issue.expected})`;
  } else if (issue.code === 'invalid_type') {
    message = `must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}, got ${describeValue(actual)}`;
  } else if (issue.code === 'invalid_value') {
    message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(actual)}`;
  } else if (issue.code === 'too_small' && issue.origin === 'string') {
    message = 'must not be empty';
  } else if (issue.code === 'too_small' && issue.origin === 'number') {
    message = `must be ${issue.inclusive ? 'at least' : 'greater than'} ${String(issue.minimum)}, got ${describeValue(actual)}`;
  } else if (issue.code === 'invalid_format' && issue.format === 'regex') {
    message = `${JSON.stringify(actual)} ${issue.message}`;
  } else {
    message = issue.message;
  }
  return { file, taskId, path: formatFieldPath(path), message };
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

/**
 * JSON.parse on Node 20 does not say where the error is; jsonc-parser (strict mode) gives the offset, which we turn
 * into a line and column the user can jump to.
 */
function describeJsonError(text: string, e: Error): string {
  const errors: ParseError[] = [];
  parseJsonc(text, errors, { allowTrailingComma: false, disallowComments: true });
  const first = errors[0];
  if (!first) return `invalid JSON: ${e.message}`;
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  return `invalid JSON at line ${line}, column ${column}: ${printParseErrorCode(first.error)}`;
}
