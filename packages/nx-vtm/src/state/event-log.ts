/**
 * The append-only event log `.vtm/events.jsonl`: one JSON object per line, written by every process of a run.
 *
 * Each line is written with ONE append (O_APPEND) call. On a local file system the kernel serialises whole write()
 * calls to a regular file, so lines of concurrent processes never interleave, whatever their length (the PIPE_BUF
 * limit applies to pipes, not files). The store appends claim/finish events while it holds its write transaction, so
 * the log's order of those events is the order in which they were committed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TaskStatus } from './task-record';

/** The closed set of event types. */
export const EVENT_TYPES = [
  'run-start', // a run began (logged by the runner)
  'run-end', // a run ended; `status` is the run's status (logged by the runner)
  'claim', // a task was claimed (status in-progress)
  'reclaim', // a stale claim was taken over or released
  'wait', // a ready task was refused admission (logged when the reason changes)
  'reserve', // an exclusive task that waited too long reserved the workspace
  'start', // the agent process started (logged by the executor)
  'heartbeat-lost', // a heartbeat or finish found the claim gone: the run must stop
  'finish', // a claimed run ended (completed / blocked / pending / abandoned)
  'outcome', // an outcome decided without a claim (cache hit, dependency failed, ...)
  'skip', // a task was not run (logged by the driver)
  'invalidate', // a task was reset to pending
  'import', // an existing task-state.json was imported into an empty store
  'manifest-hash', // the stored manifest hash was set or replaced
  'pause', // new dispatches paused for every process until a rate or usage limit lifts
  'park', // a task's work entered the merge queue: it keeps its scope but frees its WIP slot
  'unpark', // a parked task took a WIP slot again (for a repair turn)
  'stage', // a claimed attempt completed a pipeline stage (extra.stage: worktree, agent, saved, audited, verified, integrated)
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One line of events.jsonl. The six fixed keys are always present (null when not applicable). */
export interface VtmEvent {
  /** ISO-8601 with milliseconds. */
  ts: string;
  run_id: string | null;
  type: EventType;
  task_id: string | null;
  /** The task's status after the event; for run events, the run's status. */
  status: TaskStatus | (string & {}) | null;
  reason: string | null;
  [extra: string]: unknown;
}

/** What a caller passes to log an event; `ts` comes from the clock. */
export interface EventInput {
  type: EventType;
  runId?: string | null;
  taskId?: string | null;
  status?: TaskStatus | (string & {}) | null;
  reason?: string | null;
  /** Extra fields (snake_case); they cannot override the fixed keys. */
  extra?: Record<string, unknown>;
}

/** Builds one event line, newline included (pure). */
export function buildEventLine(event: EventInput, now: number): string {
  const line: VtmEvent = {
    ...event.extra,
    ts: new Date(now).toISOString(),
    run_id: event.runId ?? null,
    type: event.type,
    task_id: event.taskId ?? null,
    status: event.status ?? null,
    reason: event.reason ?? null,
  };
  // Fixed keys first, extras after, for people reading the file.
  const { ts, run_id, type, task_id, status, reason, ...rest } = line;
  return JSON.stringify({ ts, run_id, type, task_id, status, reason, ...rest }) + '\n';
}

/** Appends one complete line with a single O_APPEND write; creates the directory when missing. */
export function appendEventLine(file: string, line: string): void {
  try {
    fs.appendFileSync(file, line);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.appendFileSync(file, line);
  }
}

/**
 * Parses an event log. A last line without its newline is ignored (a writer may be mid-append); any other line that
 * is not a JSON object is reported with its line number rather than thrown, so one bad line never hides the rest.
 */
export function parseEventLog(text: string): { events: VtmEvent[]; badLines: number[] } {
  const events: VtmEvent[] = [];
  const badLines: number[] = [];
  const lines = text.split('\n');
  // The element after the last "\n" is "" for a complete file, or a partial line being written.
  lines.pop();
  lines.forEach((line, i) => {
    if (line === '') return;
    try {
      const value: unknown = JSON.parse(line);
      if (value && typeof value === 'object' && !Array.isArray(value) && 'type' in value && 'ts' in value) {
        events.push(value as VtmEvent);
      } else badLines.push(i + 1);
    } catch {
      badLines.push(i + 1);
    }
  });
  return { events, badLines };
}

/** Reads and parses the event log; an absent file is an empty log. */
export function readEventLog(file: string): { events: VtmEvent[]; badLines: number[] } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], badLines: [] };
    throw e;
  }
  return parseEventLog(text);
}
