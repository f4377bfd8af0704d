/**
 * How the task store lays out its SQLite tables, and the mapping between rows and the records the API returns.
 *
 * A claim's token, fence, heartbeat and agent are columns (every conditional update filters or sets them); the
 * rest of the claim, the outcome fields and the wait reasons are JSON, since nothing queries inside them.
 */
import type { WaitReason } from '../scheduler/types';
import type { AttemptProgress, ProcessIdentity, TaskClaim, TaskRecord, TaskStatus } from './task-record';

/** Bump when the tables change incompatibly; a store written by a newer version is refused, not misread. */
export const SCHEMA_VERSION = 2;

/** Columns added after schema 1, with their definitions, for `ALTER TABLE` on stores written by older versions. */
export const ADDED_COLUMNS: ReadonlyArray<{ table: string; column: string; definition: string }> = [
  { table: 'tasks', column: 'progress', definition: 'TEXT' },
  { table: 'tasks', column: 'rev', definition: 'INTEGER' },
];

/**
 * Row revisions for the task-state.json projection: every insert of a task, and every update that sets a column the
 * projection shows, stamps the row with a revision above all others. A process that keeps the projection's lines
 * (`StateProjection`) reads only the rows above the revision it last saw, whichever process changed them. Triggers,
 * not code, so no write path (nor an older nx-vtm sharing the store, which knows nothing of revisions) can miss one.
 * Heartbeats and stage advances set no projected column and leave the revision alone. Run after `ADDED_COLUMNS`.
 */
export const REVISION_SCHEMA = `
CREATE INDEX IF NOT EXISTS tasks_by_rev ON tasks(rev);
CREATE TRIGGER IF NOT EXISTS tasks_rev_on_insert AFTER INSERT ON tasks BEGIN
  UPDATE tasks SET rev = (SELECT IFNULL(MAX(rev), 0) + 1 FROM tasks) WHERE task_id = NEW.task_id;
END;
CREATE TRIGGER IF NOT EXISTS tasks_rev_on_update
AFTER UPDATE OF status, reason, task_hash, attempts, started_at, completed_at, outcome, claim ON tasks BEGIN
  UPDATE tasks SET rev = (SELECT IFNULL(MAX(rev), 0) + 1 FROM tasks) WHERE task_id = NEW.task_id;
END;
`;

/** A task that was refused admission and is still waiting (for `waitingSummary`). */
export interface WaitingTask {
  taskId: string;
  runId: string;
  /** Epoch ms the caller started waiting. */
  since: number;
  reason: WaitReason;
  /** Epoch ms an exclusive reservation was made, or null. */
  reservedAt: number | null;
  owner: ProcessIdentity;
  refreshedAt: number;
}

export interface TaskRow {
  task_id: string;
  status: TaskStatus;
  reason: string | null;
  task_hash: string | null;
  attempts: number;
  started_at: number | null;
  completed_at: number | null;
  updated_at: number;
  outcome: string;
  claim: string | null;
  claim_token: string | null;
  fence: number | null;
  heartbeat_at: number | null;
  agent: string | null;
  /** JSON AttemptProgress of the current or interrupted attempt (schema 2). */
  progress: string | null;
  /** Revision of the row's projected content (see REVISION_SCHEMA); set by triggers, never written by the code. */
  rev?: number | null;
}

export interface WaiterRow {
  task_id: string;
  run_id: string;
  since: number;
  reason: string;
  reserved_at: number | null;
  owner: string;
  refreshed_at: number;
  lease_ms: number;
}

/** The parts of a claim kept as JSON; token, fence, heartbeat and agent are columns for conditional updates. */
export type ClaimJson = Omit<TaskClaim, 'token' | 'fence' | 'heartbeatAt' | 'agent'>;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  task_id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  reason TEXT,
  task_hash TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at INTEGER,
  completed_at INTEGER,
  updated_at INTEGER NOT NULL,
  outcome TEXT NOT NULL DEFAULT '{}',
  claim TEXT,
  claim_token TEXT,
  fence INTEGER,
  heartbeat_at INTEGER,
  agent TEXT,
  progress TEXT,
  rev INTEGER
);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks(status);
-- The released tasks (pending, owner_lost) are looked up on every claim: without it, a scan of every pending task.
CREATE INDEX IF NOT EXISTS tasks_by_status_reason ON tasks(status, reason);
CREATE TABLE IF NOT EXISTS waiters (
  task_id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  since INTEGER NOT NULL,
  reason TEXT NOT NULL,
  reserved_at INTEGER,
  owner TEXT NOT NULL,
  refreshed_at INTEGER NOT NULL,
  lease_ms INTEGER NOT NULL
);
`;

export function toRecord(row: TaskRow): TaskRecord {
  let claim: TaskClaim | null = null;
  if (row.claim && row.claim_token && row.fence !== null && row.heartbeat_at !== null) {
    const json = JSON.parse(row.claim) as ClaimJson;
    claim = {
      ...json,
      token: row.claim_token,
      fence: row.fence,
      heartbeatAt: row.heartbeat_at,
      agent: row.agent ? (JSON.parse(row.agent) as ProcessIdentity) : null,
    };
  }
  return {
    taskId: row.task_id,
    status: row.status,
    reason: row.reason,
    taskHash: row.task_hash,
    attempts: row.attempts,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    updatedAt: row.updated_at,
    outcome: JSON.parse(row.outcome) as Record<string, unknown>,
    claim,
    progress: row.progress ? (JSON.parse(row.progress) as AttemptProgress) : null,
  };
}

export function toWaiting(row: WaiterRow): WaitingTask {
  return {
    taskId: row.task_id,
    runId: row.run_id,
    since: row.since,
    reason: JSON.parse(row.reason) as WaitReason,
    reservedAt: row.reserved_at,
    owner: JSON.parse(row.owner) as ProcessIdentity,
    refreshedAt: row.refreshed_at,
  };
}

export const pendingRow = (taskId: string, now: number): TaskRow => ({
  task_id: taskId,
  status: 'pending',
  reason: null,
  task_hash: null,
  attempts: 0,
  started_at: null,
  completed_at: null,
  updated_at: now,
  outcome: '{}',
  claim: null,
  claim_token: null,
  fence: null,
  heartbeat_at: null,
  agent: null,
  progress: null,
});
