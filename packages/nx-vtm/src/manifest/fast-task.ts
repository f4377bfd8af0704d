/**
 * The happy path of task parsing (pure): a hand-written check of one task entry that returns exactly what
 * `taskSchema.safeParse(raw).data` would (same keys, same order, same defaults), or `undefined` when it is not certain
 * that zod would accept the entry. The caller then runs zod, which reports the problems as before; so this check may
 * refuse more than zod does (it does, for odd inputs such as a `__proto__` key), never less.
 *
 * Why: zod builds a copy of every task, list and object with a result object per field, and at 10,000 tasks that
 * was most of the parse time and of its garbage collection. Lists are taken over from the input instead of copied
 * (JSON.parse's fresh output, owned by the parse); the task object is built anew because its key order is part of
 * `hashTask`'s input, and zod's order is the schema's, then unknown keys in input order.
 *
 * Kept in step with `schema.ts` by `fast-task.spec.ts`, which compares the two on valid and invalid variants of
 * every field.
 */
import { RISK_LEVELS, SIZES, TASK_ID_PATTERN, type Task } from './schema';

type Raw = Record<string, unknown>;

const hasOwn = Object.prototype.hasOwnProperty;
const RISKS: ReadonlySet<unknown> = new Set(RISK_LEVELS);
const SIZE_SET: ReadonlySet<unknown> = new Set(SIZES);
const TAG_PATTERN = /^[^\s,]+$/;

/** The schema's keys in its order: the order zod writes them into its output (the spec checks it is the schema's). */
export const TASK_KEYS = [
  'task_id',
  'capability_id',
  'phase',
  'slice',
  'title',
  'description',
  'acceptance_criteria',
  'risk',
  'est',
  'depends_on_tasks',
  'related_specs',
  'related_adrs',
  'related_guides',
  'test_verification',
  'file_scope',
  'conflicts_with',
  'parallel',
  'provisional',
  'gap_codes',
  'tags',
  'verification_command',
  'agent',
] as const;
const TASK_KEY_SET: ReadonlySet<string> = new Set(TASK_KEYS);

/** A plain JSON object zod copies key for key (no array, no `__proto__` own key, which zod drops). */
const isPlainObject = (v: unknown): v is Raw =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !hasOwn.call(v, '__proto__');

const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const optionalNonEmpty = (v: unknown): boolean => v === undefined || isNonEmptyString(v);

/** A list of strings each of which passes `ok`; `undefined` stands for a defaulted `[]`. */
function isStringList(v: unknown, ok: (s: string) => boolean): v is string[] {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) {
    const s = v[i];
    if (typeof s !== 'string' || !ok(s)) return false;
  }
  return true;
}
const nonEmpty = (s: string): boolean => s.length > 0;
const anyString = (): boolean => true;
const isTag = (s: string): boolean => TAG_PATTERN.test(s);

/** `.default([])` of a list of strings: the input list itself, a fresh `[]`, or `undefined` when invalid. */
function defaultedList(v: unknown, ok: (s: string) => boolean): string[] | undefined {
  if (v === undefined) return [];
  return isStringList(v, ok) ? v : undefined;
}

/**
 * Whether `obj`'s own keys are `known` keys in `known`'s order followed by any other keys: then a copy in zod's
 * order would be equal to `obj` key for key, so `obj` can stand for it.
 */
function inSchemaOrder(obj: Raw, known: readonly string[]): boolean {
  let k = 0;
  let extras = false;
  for (const key in obj) {
    const at = known.indexOf(key);
    if (at === -1) {
      extras = true;
      continue;
    }
    if (extras || at < k) return false;
    k = at + 1;
  }
  return true;
}

const AC_KEYS = ['id', 'text'];
const EST_KEYS = ['size', 'minutes'];

function acceptanceCriteria(v: unknown): unknown[] | undefined {
  if (!Array.isArray(v)) return undefined;
  let out: unknown[] | undefined;
  for (let i = 0; i < v.length; i++) {
    const ac = v[i] as unknown;
    if (!isPlainObject(ac) || !isNonEmptyString(ac.id) || !isNonEmptyString(ac.text)) return undefined;
    if (!inSchemaOrder(ac, AC_KEYS)) {
      out ??= v.slice();
      out[i] = reorder(ac, AC_KEYS);
    }
  }
  return out ?? v;
}

function estimate(v: unknown): Raw | undefined | false {
  if (v === undefined) return undefined;
  if (!isPlainObject(v)) return false;
  const { size, minutes } = v;
  if (size !== undefined && !SIZE_SET.has(size)) return false;
  if (minutes !== undefined && !(typeof minutes === 'number' && Number.isFinite(minutes) && minutes > 0)) return false;
  return inSchemaOrder(v, EST_KEYS) ? v : reorder(v, EST_KEYS);
}

/** A copy of `obj` with the `known` keys first (in that order, when present), then the others in input order. */
function reorder(obj: Raw, known: readonly string[]): Raw {
  const out: Raw = {};
  for (const key of known) if (key in obj) out[key] = obj[key];
  for (const key in obj) if (!known.includes(key)) out[key] = obj[key];
  return out;
}

/**
 * The task zod would return for `raw`, or `undefined` when zod might not accept it (then zod decides and reports).
 */
export function readTaskFast(raw: unknown): Task | undefined {
  if (!isPlainObject(raw)) return undefined;
  const { task_id, capability_id, phase, slice, title, description, risk, parallel, provisional, tags, verification_command, agent } = raw;
  if (typeof task_id !== 'string' || !TASK_ID_PATTERN.test(task_id)) return undefined;
  if (!optionalNonEmpty(capability_id) || !optionalNonEmpty(phase) || !optionalNonEmpty(slice)) return undefined;
  if (!isNonEmptyString(title)) return undefined;
  if (description !== undefined && typeof description !== 'string') return undefined;
  const acceptance_criteria = acceptanceCriteria(raw.acceptance_criteria);
  if (acceptance_criteria === undefined) return undefined;
  if (!RISKS.has(risk)) return undefined;
  const est = estimate(raw.est);
  if (est === false) return undefined;
  const depends_on_tasks = defaultedList(raw.depends_on_tasks, nonEmpty);
  const related_specs = defaultedList(raw.related_specs, nonEmpty);
  const related_adrs = defaultedList(raw.related_adrs, nonEmpty);
  const related_guides = defaultedList(raw.related_guides, nonEmpty);
  const test_verification = defaultedList(raw.test_verification, nonEmpty);
  const file_scope = defaultedList(raw.file_scope, nonEmpty);
  const conflicts_with = defaultedList(raw.conflicts_with, nonEmpty);
  const gap_codes = defaultedList(raw.gap_codes, anyString);
  if (
    !depends_on_tasks ||
    !related_specs ||
    !related_adrs ||
    !related_guides ||
    !test_verification ||
    !file_scope ||
    !conflicts_with ||
    !gap_codes
  ) {
    return undefined;
  }
  if (parallel !== undefined && typeof parallel !== 'boolean') return undefined;
  if (provisional !== undefined && typeof provisional !== 'boolean') return undefined;
  if (tags !== undefined && !isStringList(tags, isTag)) return undefined;
  if (verification_command !== undefined && !(isStringList(verification_command, nonEmpty) && verification_command.length > 0)) {
    return undefined;
  }
  if (agent !== undefined && !isPlainObject(agent)) return undefined;

  // Schema order; optional keys only when present (zod leaves absent ones out), defaults filled in.
  let task: Raw;
  if (capability_id !== undefined && phase !== undefined && slice !== undefined && est !== undefined) {
    // The usual planned task has every optional field: one literal allocates the object with all its properties in
    // place. Adding 19 properties one by one grows the object's property store several times, and at 10,000 tasks
    // the discarded stores were a sizeable share of the garbage collector's work on every nx command.
    task = {
      task_id,
      capability_id,
      phase,
      slice,
      title,
      description: description ?? '',
      acceptance_criteria,
      risk,
      est,
      depends_on_tasks,
      related_specs,
      related_adrs,
      related_guides,
      test_verification,
      file_scope,
      conflicts_with,
      parallel: parallel ?? true,
      provisional: provisional ?? false,
      gap_codes,
    };
  } else {
    task = { task_id };
    if (capability_id !== undefined) task.capability_id = capability_id;
    if (phase !== undefined) task.phase = phase;
    if (slice !== undefined) task.slice = slice;
    task.title = title;
    task.description = description ?? '';
    task.acceptance_criteria = acceptance_criteria;
    task.risk = risk;
    if (est !== undefined) task.est = est;
    task.depends_on_tasks = depends_on_tasks;
    task.related_specs = related_specs;
    task.related_adrs = related_adrs;
    task.related_guides = related_guides;
    task.test_verification = test_verification;
    task.file_scope = file_scope;
    task.conflicts_with = conflicts_with;
    task.parallel = parallel ?? true;
    task.provisional = provisional ?? false;
    task.gap_codes = gap_codes;
  }
  if (tags !== undefined) task.tags = tags;
  if (verification_command !== undefined) task.verification_command = verification_command;
  if (agent !== undefined) task.agent = agent;
  for (const key in raw) if (!TASK_KEY_SET.has(key)) task[key] = raw[key];
  return task as Task;
}
