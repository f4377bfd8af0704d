/**
 * `task-state.json`: the human-readable projection of the task store, in the seed format
 * `{ manifest_hash, last_updated, tasks: { <id>: { status, started_at, completed_at, acs_completed, ... } } }`.
 *
 * The store is the truth; this file is rewritten (temp file + rename, never in place) by a process holding the
 * store's write lock, so it is never half-written and never goes back in time; it trails the store by at most one
 * change (see `TaskStore`). Nothing ever read-modify-writes it. Building the snapshot and the file's bytes is pure;
 * only `writeStateFile*`/`readStateFile` touch disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { z } from 'zod';
import { err, ok, type Result } from '../manifest/problems';
import { TASK_STATUSES, type TaskRecord, type TaskStatus } from './task-record';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

const testResultsSchema = z
  .looseObject({
    total: z.number().describe('Number of tests run.'),
    passing: z.number().describe('Number of tests that passed.'),
    failing: z.number().describe('Number of tests that failed.'),
  })
  .describe('Test counts reported for the task.');

/** One task in task-state.json, as this plugin writes it. */
export const taskStateEntrySchema = z
  .looseObject({
    status: z.enum(TASK_STATUSES).describe('pending | in-progress | blocked | completed | abandoned'),
    started_at: z.iso.datetime().nullable().describe('When the last claim started the task.'),
    completed_at: z.iso.datetime().nullable().describe('When the task was completed (null unless completed).'),
    acs_completed: z.array(z.string()).describe('Acceptance criteria ids reported done.'),
    acs_remaining: z.array(z.string()).describe('Acceptance criteria ids reported not done.'),
    files_modified: z.array(z.string()).describe('Files the run changed.'),
    test_results: testResultsSchema.nullable(),
    blockers: z.array(z.string()).describe('What stops the task, in words, as reported.'),
    duration_minutes: z.number().nullable().describe('Duration of the last run in minutes.'),
    attempts: z.number().int().min(0).describe('Number of times the task was claimed.'),
    reason: z.string().nullable().describe('Reason code, e.g. agent_failed or dependency_failed:<id>.'),
    error: z.string().nullable().describe('Error message of the last run.'),
    task_hash: z.string().nullable().describe('Hash of the manifest entry the task last ran against.'),
    run_id: z.string().optional().describe('Run holding the claim (in-progress only).'),
    owner: z.string().optional().describe('host:pid of the process holding the claim (in-progress only).'),
  })
  .describe('State of one task.');

/** task-state.json as this plugin writes it. */
export const taskStateFileSchema = z
  .looseObject({
    manifest_hash: z.string().nullable().describe('Hash of the manifest the state belongs to.'),
    last_updated: z.iso.datetime().describe('When the file was last written.'),
    tasks: z.record(z.string(), taskStateEntrySchema),
  })
  .describe('Execution state of the tasks of one Virtual Task Manifest.');

export type TaskStateEntry = z.infer<typeof taskStateEntrySchema>;
export type TaskStateFile = z.infer<typeof taskStateFileSchema>;

/** Any earlier task-state.json (seed tooling, hand-edited): every task field optional, unknown statuses allowed. */
export const seedTaskStateFileSchema = z.looseObject({
  manifest_hash: z.string().nullish(),
  last_updated: z.string().nullish(),
  tasks: z
    .record(
      z.string(),
      z.looseObject({
        status: z.string(),
        started_at: z.string().nullish(),
        completed_at: z.string().nullish(),
        attempts: z.number().int().min(0).nullish(),
        reason: z.string().nullish(),
        task_hash: z.string().nullish(),
      }),
    )
    .default({}),
});
export type SeedTaskStateFile = z.infer<typeof seedTaskStateFileSchema>;

/** Keys that are columns of the record (or computed), never taken from the free-form outcome. */
const RESERVED_KEYS = new Set([
  'status',
  'started_at',
  'completed_at',
  'attempts',
  'reason',
  'task_hash',
  'run_id',
  'owner',
]);

/** Builds one task's entry (pure). Standard keys always appear, so tools reading the file need no existence checks. */
export function buildStateEntry(record: TaskRecord): TaskStateEntry {
  const o = record.outcome;
  const extras = Object.fromEntries(Object.entries(o).filter(([k]) => !RESERVED_KEYS.has(k)));
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  const entry: TaskStateEntry = {
    ...extras,
    status: record.status,
    started_at: iso(record.startedAt),
    completed_at: iso(record.completedAt),
    acs_completed: strings(o.acs_completed),
    acs_remaining: strings(o.acs_remaining),
    files_modified: strings(o.files_modified),
    test_results: (o.test_results as TaskStateEntry['test_results'] | undefined) ?? null,
    blockers: strings(o.blockers),
    duration_minutes: typeof o.duration_minutes === 'number' ? o.duration_minutes : null,
    attempts: record.attempts,
    reason: record.reason,
    error: typeof o.error === 'string' ? o.error : null,
    task_hash: record.taskHash,
  };
  if (record.claim) {
    entry.run_id = record.claim.runId;
    entry.owner = `${record.claim.owner.host}:${record.claim.owner.pid}`;
  }
  return entry;
}

/** Builds the whole task-state.json document (pure); tasks are keyed in id order so diffs stay small. */
export function buildStateSnapshot({
  records,
  manifestHash,
  now,
}: {
  records: readonly TaskRecord[];
  manifestHash: string | null;
  now: number;
}): TaskStateFile {
  const sorted = [...records].sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0));
  return {
    manifest_hash: manifestHash,
    last_updated: new Date(now).toISOString(),
    tasks: Object.fromEntries(sorted.map((r) => [r.taskId, buildStateEntry(r)])),
  };
}

/** What follows each task's line in the file (the last one's comma is dropped when the file is assembled). */
export const STATE_LINE_SEPARATOR = ',\n';

/** One task's line of task-state.json, without its separator (pure): `    "<id>": {...}` on a single line. */
export function buildStateLine(record: TaskRecord): string {
  return `    ${JSON.stringify(record.taskId)}: ${JSON.stringify(buildStateEntry(record))}`;
}

/**
 * Assembles task-state.json (pure): the JSON value of `buildStateSnapshot`, laid out one task per line so that it
 * stays readable, greppable and diff-friendly at 10,000 tasks while taking about half the bytes of a pretty-printed
 * file. `body` is the encoded `buildStateLine`s, each followed by `STATE_LINE_SEPARATOR`, in task id order. Returns
 * the chunks to write one after the other (the body is not copied).
 */
export function buildStateFileChunks({
  body,
  manifestHash,
  now,
}: {
  body: Buffer;
  manifestHash: string | null;
  now: number;
}): Buffer[] {
  const head = `{\n  "manifest_hash": ${JSON.stringify(manifestHash)},\n  "last_updated": ${JSON.stringify(new Date(now).toISOString())},\n`;
  if (body.length === 0) return [Buffer.from(`${head}  "tasks": {}\n}\n`)];
  // The last line has no comma: the body without its final separator, then the closing lines.
  return [Buffer.from(`${head}  "tasks": {\n`), body.subarray(0, body.length - STATE_LINE_SEPARATOR.length), Buffer.from('\n  }\n}\n')];
}

/** The whole file for a snapshot (pure), in the layout of `buildStateFileBytes`. */
export function buildStateFileText(snapshot: TaskStateFile): string {
  const body = Object.entries(snapshot.tasks)
    .map(([taskId, entry]) => `    ${JSON.stringify(taskId)}: ${JSON.stringify(entry)}${STATE_LINE_SEPARATOR}`)
    .join('');
  const chunks = buildStateFileChunks({ body: Buffer.from(body), manifestHash: snapshot.manifest_hash, now: Date.parse(snapshot.last_updated) });
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Replaces task-state.json atomically: the bytes go to a temp file beside it (named by pid and thread, so concurrent
 * writers never share one), which is then renamed over it, so a reader sees the old file or the new one, never a
 * mix. Creates the directory when missing. No fsync: the store is the truth and rewrites a projection lost to a
 * power cut when it next opens, and an fsync per change would cost more than the whole transaction.
 *
 * The file being replaced is held open across the rename and closed on libuv's thread pool: a rename that drops a
 * file's last link frees its page cache on the spot, which at 10,000 tasks (5.8 MB) was 4.9 of the 7.9 ms a write
 * took on the caller's thread (docs/benchmarks.md, "State writes"). Readers see exactly what they saw before.
 */
export function writeStateFileBytes(file: string, chunks: readonly Uint8Array[]): void {
  const temp = `${file}.${process.pid}.${threadId}.tmp`;
  let replaced: number | undefined;
  let fd: number;
  try {
    fd = fs.openSync(temp, 'w');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fd = fs.openSync(temp, 'w');
  }
  try {
    try {
      for (const bytes of chunks) {
        for (let at = 0; at < bytes.length; ) at += fs.writeSync(fd, bytes, at, bytes.length - at);
      }
    } finally {
      fs.closeSync(fd);
    }
    replaced = openReplaced(file);
    fs.renameSync(temp, file);
  } catch (e) {
    fs.rmSync(temp, { force: true });
    throw e;
  } finally {
    // Nothing waits for this close: a failed one (it cannot fail for a read-only descriptor) loses nothing.
    if (replaced !== undefined) fs.close(replaced, () => undefined);
  }
}

/** A read-only descriptor on the file about to be replaced, or undefined when there is none (first write). */
function openReplaced(file: string): number | undefined {
  if (process.platform === 'win32') return undefined; // renaming over an open file is refused there
  try {
    return fs.openSync(file, 'r');
  } catch {
    return undefined; // absent, or unreadable: the rename then frees it inline, as before
  }
}

/** Replaces task-state.json with a snapshot (see `writeStateFileBytes`). */
export function writeStateFile(file: string, snapshot: TaskStateFile): void {
  writeStateFileBytes(file, [Buffer.from(buildStateFileText(snapshot))]);
}

/** Temp files `writeStateFileBytes` leaves behind when its process dies mid-write: `<file>.<pid>.<thread>.tmp`. */
export function parseStateTempFile(stateFile: string, name: string): { pid: number } | undefined {
  const base = path.basename(stateFile);
  if (!name.startsWith(`${base}.`) || !name.endsWith('.tmp')) return undefined;
  const m = /^(\d+)\.\d+$/.exec(name.slice(base.length + 1, -'.tmp'.length));
  return m ? { pid: Number(m[1]) } : undefined;
}

/**
 * Reads an existing task-state.json in any seed-compatible shape. `undefined` when there is none; an error result
 * (with a message naming the file) when it is not valid JSON or not a state file.
 */
export function readStateFile(file: string): Result<SeedTaskStateFile, string> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return err(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = seedTaskStateFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return err(`${file}: not a task-state file: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  return ok(parsed.data);
}

/** How a status from an earlier tool maps onto ours, when it is not one of ours. */
const IMPORTED_STATUS: Record<string, { status: TaskStatus; reason: string | null }> = {
  // Nobody holds a claim on an imported in-progress task any more; it is started again.
  'in-progress': { status: 'pending', reason: 'owner_lost' },
  in_progress: { status: 'pending', reason: 'owner_lost' },
  partial: { status: 'blocked', reason: 'partial' },
  error: { status: 'blocked', reason: 'agent_failed' },
  failed: { status: 'blocked', reason: 'agent_failed' },
};

/**
 * Turns an earlier task-state.json into store records (pure), so a user's progress survives the switch to the store.
 * Statuses that are not ours (or `in-progress`, which nobody holds any more) are mapped and the original kept as
 * `imported_status`; fields we do not know are kept as they are.
 */
export function buildImportedRecords({ file, now }: { file: SeedTaskStateFile; now: number }): TaskRecord[] {
  const time = (v: string | null | undefined): number | null => {
    if (!v) return null;
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? null : ms;
  };
  return Object.entries(file.tasks).map(([taskId, entry]) => {
    const known = (TASK_STATUSES as readonly string[]).includes(entry.status) && entry.status !== 'in-progress';
    const mapped = known
      ? { status: entry.status as TaskStatus, reason: null }
      : (IMPORTED_STATUS[entry.status] ?? { status: 'pending' as const, reason: null });
    const { status, started_at, completed_at, attempts, reason, task_hash, ...rest } = entry;
    const outcome: Record<string, unknown> = { ...rest };
    if (!known) outcome.imported_status = status;
    return {
      taskId,
      status: mapped.status,
      reason: reason ?? mapped.reason,
      taskHash: task_hash ?? null,
      attempts: attempts ?? 0,
      startedAt: time(started_at),
      completedAt: mapped.status === 'completed' ? time(completed_at) : null,
      updatedAt: now,
      outcome,
      claim: null,
      progress: null,
    };
  });
}
