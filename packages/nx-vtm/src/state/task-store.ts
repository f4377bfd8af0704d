/**
 * The crash-safe, cross-process task store: `<workspaceRoot>/.vtm/state.db` (SQLite, WAL), or one PostgreSQL database
 * shared by several machines (the `coordinator` option). The logic below is the same on both; the database sits behind
 * a small port (db/port.ts), whose write transaction is SQLite's `BEGIN IMMEDIATE` or a PostgreSQL transaction holding
 * the namespace's advisory lock. What follows describes SQLite; on PostgreSQL "process" reads "process on any machine".
 *
 * Every process of a run uses it at once: Nx forks one process per task, a batch executor runs in another, a user may
 * start two `nx` commands. Each read-modify-write runs in `BEGIN IMMEDIATE`, which takes SQLite's write lock before
 * reading, so no update is lost (a JSON file with atomic renames loses most of them; see the state-integrity note).
 * The lock is a kernel fcntl lock, released when a process dies, so a crash never leaves the store locked.
 *
 * Claims are leases: owner identity (host, pid, start time, boot id), a random token, a fencing number, a heartbeat.
 * A crashed owner on this host is detected at once through /proc; a hung or remote one when its lease expires. Every
 * later write of an owner (heartbeat, progress, finish) is conditional on its token, so a process that lost its claim
 * changes nothing. Admission (WIP limit, scope overlap, exclusive tasks) is decided inside the claim transaction over
 * the claims of ALL processes, which is what makes the limits hold across processes.
 *
 * Inside each write transaction the store appends to events.jsonl, so the log's order is the commit order, and keeps
 * task-state.json at most one change behind the committed state (see `write`).
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {
  AdmissionDecision,
  ExclusiveReservation,
  RunningTask,
  TaskFootprint,
  WaitReason,
} from '../scheduler/types';
import { err, ok, type Result } from '../manifest/problems';
import { appendEventLine, buildEventLine, type EventInput } from './event-log';
import { judgeOwner, type OwnerVerdict, type StaleCause } from './lease';
import { isProcessAlive, isSameProcess, readProcessIdentity } from './process-identity';
import { StateProjection } from './projection';
import { buildImportedRecords, parseStateTempFile, readStateFile, writeStateFileBytes } from './state-file';
import {
  isCompletedFor,
  type AttemptProgress,
  type FinalStatus,
  type ProcessIdentity,
  type TaskClaim,
  type TaskOutcome,
  type TaskRecord,
} from './task-record';
import type { StoreDb, StoreStatement } from './db/port';
import { openCoordinatorDb, type CoordinatorConfig } from './db/coordinator';
import {
  pendingRow,
  SCHEMA_VERSION,
  toRecord,
  toWaiting,
  type ClaimJson,
  type TaskRow,
  type WaiterRow,
  type WaitingTask,
} from './store-rows';
import { checkTransition } from './transitions';
import { getWaitKey } from '../scheduler/admission';

export type { WaitingTask } from './store-rows';

const DEFAULT_BUSY_TIMEOUT_MS = 30_000;
/** Runs of one change whose transaction a lost connection rolled back, before its error is the caller's. */
const MAX_LOST_TRANSACTION_RETRIES = 3;
/** Tasks entered per INSERT statement by `registerTasks`. */
const REGISTER_CHUNK = 500;

/** The time source (a port, so tests can move time past a lease). */
export interface Clock {
  /** Called whenever the store stamps or judges something: epoch milliseconds. */
  now(): number;
}

/** Who this process is and whether another process on this host still runs (a port, so tests can fake both). */
export interface IdentityPort {
  /** Called once when the store opens: the identity written into this process's claims and reservations. */
  self(): ProcessIdentity;
  /** Called when judging a claim or reservation owned by a process on this host and boot: is it still running? */
  isAlive(owner: ProcessIdentity): boolean;
  /** Called when an owner reports the agent process it started (`heartbeat`): that process's identity. */
  identify(pid: number): ProcessIdentity;
}

export const systemClock: Clock = { now: () => Date.now() };

export const systemIdentity: IdentityPort = {
  self: () => readProcessIdentity(),
  isAlive: (owner) => isSameProcess(owner),
  identify: (pid) => readProcessIdentity(pid),
};

/** The admission decision, injected (the scheduler's `decideAdmission` in production, simple fakes in tests). */
export type AdmitFn = (input: {
  candidate: TaskFootprint;
  running: RunningTask[];
  reservations: ExclusiveReservation[];
  wipLimit: number;
}) => AdmissionDecision;

/**
 * A claim the store found stale and released. If `onThisHost` and `agent` is still the same process
 * (`isSameProcess(agent)`), the orphaned agent may still be writing: kill its process group.
 */
export interface StaleClaim {
  taskId: string;
  owner: ProcessIdentity;
  /** Pid of the agent process the owner reported through `heartbeat`, if any. */
  agentPid: number | null;
  /** That agent's identity (with start time): check `isSameProcess(agent)` before killing, the pid may be reused. */
  agent: ProcessIdentity | null;
  runId: string;
  fence: number;
  cause: StaleCause;
  /** The owner ran on this host (its orphaned agent, if still running, can be killed from here). */
  onThisHost: boolean;
}

/** An expected refusal, with a one-line message naming the task and what to do. */
export interface StoreRefusal {
  code: 'claim-lost' | 'claim-held' | 'illegal-transition' | 'invalid-outcome';
  taskId: string;
  message: string;
}

/** Result of `tryClaim`. `released` lists stale claims this call released (of any task). */
export type ClaimResult =
  | {
      kind: 'claimed';
      token: string;
      fence: number;
      /** The attempt number this claim is (1 for the first run). */
      attempt: number;
      /** The stale claim on this task that was taken over, if any (also in `released`). */
      previousOwner: StaleClaim | null;
      /**
       * The progress of an interrupted attempt on the same task version, which this claim continues (its stages
       * must not be repeated: an agent that finished is not called again). Null for a fresh start.
       */
      resume: AttemptProgress | null;
      released: StaleClaim[];
    }
  | { kind: 'completed'; record: TaskRecord; released: StaleClaim[] }
  | { kind: 'held'; owner: ProcessIdentity; runId: string; heldSince: number; released: StaleClaim[] }
  | { kind: 'wait'; reason: WaitReason; reserved: boolean; released: StaleClaim[] }
  | { kind: 'refused'; error: StoreRefusal; released: StaleClaim[] };

/** A claim as seen by readers (status commands, the driver), with the store's current verdict on it. */
export interface RunningClaim extends TaskClaim {
  taskId: string;
  verdict: OwnerVerdict;
  /**
   * Stale claims only: whether the agent its dead owner started still runs on this host (the next attempt adopts its
   * work instead of paying for it again). Absent when the claim is live, names no agent, or the agent is another host's.
   */
  agentAlive?: boolean;
}

export type ManifestHashCheck =
  | { ok: true; stored: string; current: string }
  | { ok: false; stored: string; current: string; message: string };

export interface OpenTaskStoreOptions {
  workspaceRoot: string;
  /** task-state.json (relative paths are resolved against the workspace root). Default `.vtm/task-state.json`. */
  stateFile?: string;
  /** Event log. Default `.vtm/events.jsonl`. */
  eventsFile?: string;
  /** Database file. Default `.vtm/state.db`. */
  dbFile?: string;
  /** Default: the database's clock when it is shared (PostgreSQL), else this machine's. */
  clock?: Clock;
  identity?: IdentityPort;
  /** Which database coordinates the runs (the plugin's `coordinator` option). Default: SQLite at `dbFile`. */
  coordinator?: CoordinatorConfig;
  /** An already open database (tests); overrides `coordinator`. */
  db?: StoreDb;
  /** How long a write waits for another process's (or machine's) transaction before failing. Default 30 s. */
  busyTimeoutMs?: number;
}

const FINAL_STATUSES: readonly FinalStatus[] = ['pending', 'blocked', 'completed', 'abandoned'];

/** Checks an outcome's shape; `blocked` must say why. */
function validateOutcome(taskId: string, outcome: TaskOutcome): StoreRefusal | undefined {
  if (!FINAL_STATUSES.includes(outcome.status)) {
    return {
      code: 'invalid-outcome',
      taskId,
      message: `task ${taskId}: outcome status "${String(outcome.status)}" is not one of ${FINAL_STATUSES.join(', ')}`,
    };
  }
  if (outcome.status === 'blocked' && !outcome.reason) {
    return {
      code: 'invalid-outcome',
      taskId,
      message:
        `task ${taskId}: a blocked outcome needs a reason code ` +
        `(e.g. agent_failed, verification_failed, dependency_failed:<id>)`,
    };
  }
  return undefined;
}

/** Outcome fields as stored: everything except the status and reason, which are columns. */
function outcomeFields(outcome: TaskOutcome): Record<string, unknown> {
  const { status: _status, reason: _reason, ...fields } = outcome;
  return fields;
}

/**
 * Opens (creating when needed) the task store of a workspace. On an empty store, an existing task-state.json is
 * imported first, so progress recorded by earlier tooling is kept.
 */
/** The store's database, relative to the workspace root (unless `dbFile` says otherwise). */
export const TASK_STORE_DB = '.vtm/state.db';

/** Meta keys holding each task's reset generation (`reset_generation:<task_id>`). */
const RESET_GENERATION_PREFIX = 'reset_generation:';

export function openTaskStore(options: OpenTaskStoreOptions): TaskStore {
  return new TaskStore(options);
}

/** See the module comment. Create with `openTaskStore`; every method is synchronous. */
export class TaskStore {
  /** The SQLite file (unused when another database was given). */
  readonly dbFile: string;
  /** Where the store lives, for messages: the SQLite file or the shared database and namespace. */
  readonly location: string;
  readonly stateFile: string;
  readonly eventsFile: string;
  private readonly db: StoreDb;
  private readonly clock: Clock;
  /** Suffix of this checkout's projection bookkeeping keys in meta ('' when the database is this checkout's own). */
  private readonly projectionKey: string;
  private readonly identity: IdentityPort;
  private readonly me: ProcessIdentity;
  /** This process's serialised task-state.json lines, loaded on the first projection write. */
  private readonly projection = new StateProjection();
  private scheduledFlush: NodeJS.Immediate | null = null;
  private closed = false;

  constructor(options: OpenTaskStoreOptions) {
    const root = path.resolve(options.workspaceRoot);
    const at = (file: string | undefined, fallback: string) => path.resolve(root, file ?? fallback);
    this.dbFile = at(options.dbFile, TASK_STORE_DB);
    this.stateFile = at(options.stateFile, '.vtm/task-state.json');
    this.eventsFile = at(options.eventsFile, '.vtm/events.jsonl');
    this.identity = options.identity ?? systemIdentity;
    this.me = this.identity.self();

    this.db =
      options.db ??
      openCoordinatorDb({
        coordinator: options.coordinator ?? { type: 'sqlite' },
        sqliteFile: this.dbFile,
        busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
      });
    this.location = this.db.location;
    // A shared database judges every machine's leases by its own clock (machines' clocks drift apart).
    const dbNow = this.db.now;
    this.clock = options.clock ?? (dbNow ? { now: () => dbNow() } : systemClock);
    // task-state.json is per checkout: on a shared database, its bookkeeping keys name this checkout.
    this.projectionKey = this.db.shared ? `:${this.me.host}:${this.stateFile}` : '';
    try {
      this.initialise();
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  /**
   * Writes task-state.json up to date when it trails the store, and closes the database connection. Claims stay in
   * the store (they end by `finish` or by going stale).
   */
  close(): void {
    if (this.closed) return;
    try {
      this.flushProjection();
    } finally {
      this.closed = true;
      this.cancelScheduledFlush();
      openStores.delete(this);
      this.db.close();
    }
  }

  /**
   * Brings task-state.json up to date with the store now, when the last change is not written yet (by this or any
   * process). Changes schedule this themselves (see `write`); call it before reading the file in the same tick.
   */
  flushProjection(): void {
    this.cancelScheduledFlush();
    if (!this.projectionDue()) return;
    this.retryLostTransaction(() =>
      this.guardProjection(() =>
        this.db.transaction(() => {
          if (this.projectionDue()) this.writeProjection(this.clock.now());
        }),
      ),
    );
  }

  /** The identity this store writes into claims (this process unless a fake identity was given). */
  get self(): ProcessIdentity {
    return this.me;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Claims

  /**
   * Tries to claim a task for this process, in one write transaction: releases stale claims (reporting their owners),
   * answers `completed` for a task completed against the same task hash, `held` for a task claimed by a live owner,
   * asks `admit` with the running claims of all processes and the exclusive reservations, and then either records a
   * wait (reserving the workspace for an exclusive task that has waited `reserveAfterMs`) or writes the claim.
   */
  tryClaim(args: {
    taskId: string;
    footprint: TaskFootprint;
    /** Hash of the task's manifest entry; a completed record with another hash is run again. */
    taskHash: string | null;
    runId: string;
    leaseMs: number;
    wipLimit: number;
    admit: AdmitFn;
    /** Epoch ms the caller began waiting for this task (for starvation reservations). */
    waitingSinceMs: number;
    /** An exclusive task that has waited this long reserves the workspace (see `ExclusiveReservation`). */
    reserveAfterMs: number;
    /**
     * Record the wait (and the reservation, once due) but never claim: for an exclusive task the caller's own
     * pre-check refused, so that its waiting time still counts towards a reservation every process honours.
     */
    reserveOnly?: boolean;
  }): ClaimResult {
    const { taskId, footprint, taskHash, runId, leaseMs, wipLimit, admit, waitingSinceMs, reserveAfterMs } = args;
    return this.write((now, tx) => {
      const released = this.releaseStale(now, runId, tx);
      let row = this.readRow(taskId) ?? pendingRow(taskId, now);

      if (row.status === 'completed') {
        const record = toRecord(row);
        if (isCompletedFor(record, taskHash)) {
          this.deleteWaiter(taskId);
          return { kind: 'completed', record, released };
        }
        // Completed against an older version of the task: it is due again.
        row = { ...row, status: 'pending', reason: 'task_changed', completed_at: null, updated_at: now };
        this.upsertRow(row);
        tx.changed = true;
        tx.events.push({
          type: 'invalidate',
          runId,
          taskId,
          status: 'pending',
          reason: 'task_changed',
          extra: { previous_task_hash: record.taskHash, task_hash: taskHash },
        });
      }

      const current = toRecord(row);
      if (current.status === 'in-progress' && current.claim) {
        const c = current.claim;
        return { kind: 'held', owner: c.owner, runId: c.runId, heldSince: c.claimedAt, released };
      }
      const transition = checkTransition({ taskId, from: current.status, to: 'in-progress' });
      if (!transition.ok) {
        const error: StoreRefusal = { code: 'illegal-transition', taskId, message: transition.error.message };
        return { kind: 'refused', error, released };
      }

      const running = this.listClaimRows()
        .filter((r) => r.task_id !== taskId)
        .map((r) => toRecord(r).claim)
        .filter((c): c is TaskClaim => c !== null)
        .map((c): RunningTask => ({ ...c.footprint, startedAt: c.claimedAt, ...(c.parked ? { parked: true } : {}) }));
      running.push(...this.orphanAgents(tx).filter((o) => o.taskId !== taskId));
      const reservations = this.listWaiterRows()
        .filter((w) => w.reserved_at !== null)
        .map((w): ExclusiveReservation => ({ taskId: w.task_id, since: w.reserved_at as number }));
      // A reservation falling due now takes part in this very decision (it is persisted below if the task waits on).
      const reserve = footprint.exclusive && now - waitingSinceMs >= reserveAfterMs;
      if (reserve && !reservations.some((r) => r.taskId === taskId)) reservations.push({ taskId, since: now });
      reservations.sort((a, b) => a.since - b.since || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0));
      const decision = admit({ candidate: footprint, running, reservations, wipLimit });

      if (!decision.admit || args.reserveOnly) {
        // Asked only to reserve but admissible (the caller's view is a moment old): still never start it here.
        const reason: WaitReason = decision.admit
          ? { kind: 'needs-exclusive', running: running.map((r) => r.taskId) }
          : decision.reason;
        const reserved = this.recordWait({ taskId, runId, now, reason, leaseMs, since: waitingSinceMs, reserve, tx });
        return { kind: 'wait', reason, reserved, released };
      }

      const fence = this.nextFence();
      const token = randomUUID();
      const attempt = current.attempts + 1;
      const claim: ClaimJson = { runId, owner: this.me, claimedAt: now, leaseMs, footprint, taskHash };
      // An interrupted attempt of the same task version is continued by this claim; of another version, dropped.
      const resume = current.progress && current.progress.taskHash === taskHash ? current.progress : null;
      this.upsertRow({
        ...row,
        status: 'in-progress',
        reason: null,
        attempts: attempt,
        started_at: now,
        completed_at: null,
        updated_at: now,
        // The record shows this attempt; read the previous result (getTask) before claiming if it is needed.
        outcome: '{}',
        claim: JSON.stringify(claim),
        claim_token: token,
        fence,
        heartbeat_at: now,
        agent: null,
        progress: resume ? JSON.stringify({ ...resume, fence, attempt }) : null,
      });
      this.deleteWaiter(taskId);
      tx.changed = true;
      const previousOwner = released.find((s) => s.taskId === taskId) ?? null;
      tx.events.push({
        type: 'claim',
        runId,
        taskId,
        status: 'in-progress',
        extra: {
          attempt,
          fence,
          pid: this.me.pid,
          host: this.me.host,
          lease_ms: leaseMs,
          ...(previousOwner ? { reclaimed_from_pid: previousOwner.owner.pid } : {}),
          ...(resume ? { resumes_stage: resume.stage } : {}),
        },
      });
      return { kind: 'claimed', token, fence, attempt, previousOwner, resume, released };
    });
  }

  /**
   * Renews a claim's lease (call every ~lease/4). Returns false when the claim was lost (reclaimed, reset or
   * finished elsewhere): the caller must stop the agent and write nothing more. `agentPid` records the agent process
   * (with its start time) so that whoever reclaims the task can kill it.
   */
  heartbeat({ taskId, token, agentPid }: { taskId: string; token: string; agentPid?: number }): boolean {
    const now = this.clock.now();
    const agent = agentPid === undefined ? null : JSON.stringify(this.identity.identify(agentPid));
    const changes = this.sql(
      `UPDATE tasks SET heartbeat_at = ?, agent = COALESCE(?, agent)
       WHERE task_id = ? AND claim_token = ? AND status = 'in-progress'`,
    ).run(now, agent, taskId, token).changes;
    if (changes === 1) return true;
    this.appendEvent({ type: 'heartbeat-lost', taskId, extra: { pid: this.me.pid } }, now);
    return false;
  }

  /**
   * Records that the claimed attempt completed `stage`, merging `data` into its progress: a compare-and-set on the
   * claim's token and fence, so a process whose claim was lost (taken over, reset) changes nothing and learns it must
   * stop before its next side effect. Also renews the heartbeat. Returns false when the claim is lost.
   */
  advanceStage({
    taskId,
    token,
    fence,
    stage,
    data = {},
    runId = null,
  }: {
    taskId: string;
    token: string;
    fence: number;
    stage: string;
    data?: Record<string, unknown>;
    runId?: string | null;
  }): boolean {
    return this.write((now, tx) => {
      const row = this.readRow(taskId);
      if (!row || row.claim_token !== token || row.fence !== fence || row.status !== 'in-progress') {
        tx.events.push({ type: 'heartbeat-lost', taskId, extra: { pid: this.me.pid, during: `stage ${stage}` } });
        return false;
      }
      const claim = toRecord(row).claim as TaskClaim;
      const previous = row.progress ? (JSON.parse(row.progress) as AttemptProgress) : null;
      const progress: AttemptProgress = {
        stage,
        fence,
        attempt: row.attempts,
        taskHash: claim.taskHash,
        at: now,
        data: { ...(previous?.data ?? {}), ...data },
      };
      this.sql(`UPDATE tasks SET progress = ?, heartbeat_at = ? WHERE task_id = ? AND claim_token = ? AND fence = ?`).run(
        JSON.stringify(progress),
        now,
        taskId,
        token,
        fence,
      );
      // The projection does not show stages (it is rewritten only on status changes); the event log does.
      tx.events.push({ type: 'stage', runId: runId ?? claim.runId, taskId, status: 'in-progress', extra: { stage, fence, attempt: row.attempts } });
      return true;
    });
  }

  /**
   * Park a claim in the merge queue (it keeps its scope, conflicts and exclusivity but frees its WIP slot), or take a
   * slot back for a repair turn: unparking succeeds only while fewer than `wipLimit` other claims of any process are
   * unparked, so agents at work never exceed the limit. Conditional on token and fence like every stage transition.
   */
  setParked({ taskId, token, fence, parked, wipLimit, runId = null }: { taskId: string; token: string; fence: number; parked: boolean; wipLimit: number; runId?: string | null }): 'ok' | 'wait' | 'lost' {
    return this.write((now, tx) => {
      const row = this.readRow(taskId);
      if (!row || row.claim_token !== token || row.fence !== fence || row.status !== 'in-progress' || !row.claim) {
        tx.events.push({ type: 'heartbeat-lost', taskId, extra: { pid: this.me.pid, during: parked ? 'park' : 'unpark' } });
        return 'lost';
      }
      const claim = JSON.parse(row.claim) as ClaimJson;
      if ((claim.parked === true) === parked) return 'ok';
      if (!parked) {
        const busy =
          this.listClaimRows().filter((r) => r.task_id !== taskId && !toRecord(r).claim?.parked).length +
          this.orphanAgents(tx).filter((o) => o.taskId !== taskId && !o.parked).length;
        if (busy >= wipLimit) return 'wait';
      }
      const next: ClaimJson = { ...claim };
      if (parked) next.parked = true;
      else delete next.parked;
      this.sql(`UPDATE tasks SET claim = ?, heartbeat_at = ? WHERE task_id = ? AND claim_token = ? AND fence = ?`).run(JSON.stringify(next), now, taskId, token, fence);
      tx.events.push({ type: parked ? 'park' : 'unpark', runId: runId ?? claim.runId, taskId, status: 'in-progress', extra: { fence } });
      return 'ok';
    });
  }

  /**
   * Whether this process still holds the claim (token and fence): asked right before a side effect that no stage
   * transition covers (the merge inside the integration lock). A read, no lock.
   */
  holdsClaim({ taskId, token, fence }: { taskId: string; token: string; fence: number }): boolean {
    const row = this.readRow(taskId);
    return !!row && row.status === 'in-progress' && row.claim_token === token && row.fence === fence;
  }

  /**
   * Merges progress fields (e.g. `acs_completed` after each acceptance criterion) into a claimed task's record.
   * Conditional on the token: false (nothing written) when the claim was lost.
   */
  updateProgress({
    taskId,
    token,
    fields,
  }: {
    taskId: string;
    token: string;
    fields: Record<string, unknown>;
  }): boolean {
    return this.write((now, tx) => {
      const row = this.readRow(taskId);
      if (!row || row.claim_token !== token || row.status !== 'in-progress') {
        tx.events.push({ type: 'heartbeat-lost', taskId, extra: { pid: this.me.pid, during: 'progress' } });
        return false;
      }
      const { status: _s, reason: _r, ...rest } = fields;
      const outcome = { ...(JSON.parse(row.outcome) as Record<string, unknown>), ...rest };
      this.upsertRow({ ...row, outcome: JSON.stringify(outcome), updated_at: now, heartbeat_at: now });
      tx.changed = true;
      return true;
    });
  }

  /**
   * Ends a claimed run with its outcome, conditional on the claim token. Writes the final record (status, reason,
   * completed_at, outcome fields; duration computed from the claim when not given), drops the claim and any
   * reservation. A lost claim returns `claim-lost` and writes nothing.
   */
  finish({
    taskId,
    token,
    outcome,
  }: {
    taskId: string;
    token: string;
    outcome: TaskOutcome;
  }): Result<TaskRecord, StoreRefusal> {
    const invalid = validateOutcome(taskId, outcome);
    if (invalid) return err(invalid);
    return this.write((now, tx) => {
      const row = this.readRow(taskId);
      if (!row || row.claim_token !== token || row.status !== 'in-progress') {
        const holder = row ? toRecord(row).claim : null;
        tx.events.push({
          type: 'heartbeat-lost',
          taskId,
          status: row?.status ?? null,
          extra: { pid: this.me.pid, during: 'finish' },
        });
        const state = holder
          ? `now held by pid ${holder.owner.pid} on ${holder.owner.host}, run ${holder.runId}`
          : `status is now "${row?.status ?? 'unknown'}"`;
        return err({
          code: 'claim-lost',
          taskId,
          message: `task ${taskId}: this run's claim was lost (${state}); its result "${outcome.status}" was not recorded`,
        });
      }
      const record = toRecord(row);
      const claim = record.claim as TaskClaim;
      const transition = checkTransition({ taskId, from: 'in-progress', to: outcome.status });
      if (!transition.ok) return err({ code: 'illegal-transition', taskId, message: transition.error.message });
      const fields = outcomeFields(outcome);
      if (fields.duration_minutes === undefined || fields.duration_minutes === null) {
        fields.duration_minutes = Math.round(((now - claim.claimedAt) / 60_000) * 100) / 100;
      }
      const next: TaskRow = {
        ...row,
        status: outcome.status,
        reason: outcome.reason ?? null,
        task_hash: claim.taskHash,
        completed_at: outcome.status === 'completed' ? now : null,
        updated_at: now,
        outcome: JSON.stringify(fields),
        claim: null,
        claim_token: null,
        fence: null,
        heartbeat_at: null,
        agent: null,
        // The attempt is over: nothing of it is continued by a later claim.
        progress: null,
      };
      this.upsertRow(next);
      this.deleteWaiter(taskId);
      tx.changed = true;
      tx.events.push({
        type: 'finish',
        runId: claim.runId,
        taskId,
        status: outcome.status,
        reason: outcome.reason ?? null,
        extra: { attempt: row.attempts, fence: row.fence, duration_minutes: fields.duration_minutes },
      });
      return ok(toRecord(next));
    });
  }

  /**
   * Records an outcome decided without a claim: dependents `blocked` with `dependency_failed:<id>`, a task `blocked`
   * by missing context before any start, `completed` from the Nx cache (`fromCache`, with the task hash the cache
   * entry belongs to), `abandoned` by a user. Goes through the transition rules; refused while a live claim holds
   * the task.
   */
  recordOutcome({
    taskId,
    outcome,
    runId = null,
    fromCache = false,
    taskHash = null,
  }: {
    taskId: string;
    outcome: TaskOutcome;
    runId?: string | null;
    fromCache?: boolean;
    taskHash?: string | null;
  }): Result<TaskRecord, StoreRefusal> {
    const invalid = validateOutcome(taskId, outcome);
    if (invalid) return err(invalid);
    return this.write((now, tx) => {
      this.releaseStale(now, runId, tx);
      const row = this.readRow(taskId) ?? pendingRow(taskId, now);
      const held = this.refuseIfHeld(row);
      if (held) return err(held);
      const transition = checkTransition({ taskId, from: row.status, to: outcome.status, fromCache });
      if (!transition.ok) return err({ code: 'illegal-transition', taskId, message: transition.error.message });
      const fields = outcomeFields(outcome);
      if (fromCache) fields.from_cache = true;
      const next: TaskRow = {
        ...row,
        status: outcome.status,
        reason: outcome.reason ?? null,
        task_hash: taskHash ?? row.task_hash,
        completed_at: outcome.status === 'completed' ? now : null,
        updated_at: now,
        outcome: JSON.stringify(fields),
        // A decision without a claim ends any interrupted attempt; only a pending task keeps it to be continued.
        progress: outcome.status === 'pending' ? row.progress : null,
      };
      this.upsertRow(next);
      this.deleteWaiter(taskId);
      tx.changed = true;
      tx.events.push({
        type: 'outcome',
        runId,
        taskId,
        status: outcome.status,
        reason: outcome.reason ?? null,
        extra: { from: row.status, from_cache: fromCache },
      });
      return ok(toRecord(next));
    });
  }

  /**
   * Resets a task to `pending` (a user re-runs it deliberately): clears its result and task hash, keeps the attempt
   * count, and bumps the task's reset generation (`getResetGenerations`). Refused while a live claim holds the task.
   */
  invalidate({ taskId, runId = null }: { taskId: string; runId?: string | null }): Result<TaskRecord, StoreRefusal> {
    return this.write((now, tx) => {
      this.releaseStale(now, runId, tx);
      const row = this.readRow(taskId) ?? pendingRow(taskId, now);
      const held = this.refuseIfHeld(row);
      if (held) return err(held);
      const transition = checkTransition({ taskId, from: row.status, to: 'pending' });
      if (!transition.ok) return err({ code: 'illegal-transition', taskId, message: transition.error.message });
      const next: TaskRow = { ...pendingRow(taskId, now), attempts: row.attempts };
      this.upsertRow(next);
      this.deleteWaiter(taskId);
      // In the same transaction as the status: a reset that took effect always changes the implement cache key.
      const generation = Number(this.getMeta(`${RESET_GENERATION_PREFIX}${taskId}`) ?? '0') + 1;
      this.setMeta(`${RESET_GENERATION_PREFIX}${taskId}`, String(generation));
      tx.changed = true;
      tx.events.push({ type: 'invalidate', runId, taskId, status: 'pending', extra: { from: row.status, reset_generation: generation } });
      return ok(toRecord(next));
    });
  }

  /** Makes sure every listed task has a record (new ones `pending`), so task-state.json lists the whole manifest. */
  registerTasks({ taskIds }: { taskIds: readonly string[] }): number {
    return this.write((now, tx) => {
      // Many rows per statement: on PostgreSQL each statement is a round trip to the server (1,000 tasks: 1,000 round
      // trips, about 0.5 s, before a run could start; see docs/benchmarks.md). The chunk keeps the parameter count
      // (2 per row) far below both engines' limits and the statement text cacheable (one full-size form).
      let added = 0;
      for (let i = 0; i < taskIds.length; i += REGISTER_CHUNK) {
        const chunk = taskIds.slice(i, i + REGISTER_CHUNK);
        const rows = chunk.map(() => "(?, 'pending', 0, ?, '{}')").join(', ');
        const insert = this.sql(`INSERT INTO tasks (task_id, status, attempts, updated_at, outcome) VALUES ${rows} ON CONFLICT (task_id) DO NOTHING`);
        added += insert.run(...chunk.flatMap((id) => [id, now])).changes;
      }
      if (added > 0) tx.changed = true;
      return added;
    });
  }

  /** Stops waiting for a task (the caller gave up): drops its wait record and any reservation it held. */
  cancelWait({ taskId }: { taskId: string }): void {
    this.write(() => {
      this.deleteWaiter(taskId);
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Manifest hash

  /**
   * Compares the manifest hash with the one the state belongs to. The first check stores it. A mismatch is returned,
   * never silently mixed: the caller refuses or asks the user, then calls `acceptManifestHash`.
   */
  checkManifestHash(current: string): ManifestHashCheck {
    return this.write((now, tx) => {
      const stored = this.getMeta('manifest_hash');
      if (stored === undefined) {
        this.setMeta('manifest_hash', current);
        tx.changed = true;
        tx.events.push({ type: 'manifest-hash', extra: { manifest_hash: current, previous: null } });
        return { ok: true, stored: current, current };
      }
      if (stored === current) return { ok: true, stored, current };
      return {
        ok: false,
        stored,
        current,
        message:
          `the task state in ${this.location} belongs to manifest ${stored.slice(0, 12)}, but the manifest is now ` +
          `${current.slice(0, 12)}: the manifest changed since the last run`,
      };
    });
  }

  /**
   * Adopts a new manifest hash (after the user confirmed). Task records are kept; tasks whose entries changed are
   * re-run through their task hash.
   */
  /**
   * Pause new dispatches of every process of the workspace until `untilMs` (an agent hit a rate or usage limit: every
   * task started before it lifts would fail the same way). Only ever extends an existing pause.
   */
  pauseDispatchUntil({ untilMs, reason, runId = null }: { untilMs: number; reason: string; runId?: string | null }): void {
    this.write((_now, tx) => {
      const current = Number(this.getMeta('dispatch_paused_until') ?? 0);
      if (untilMs <= current) return;
      this.setMeta('dispatch_paused_until', String(untilMs));
      this.setMeta('dispatch_paused_reason', reason);
      tx.events.push({ type: 'pause', runId, extra: { until: new Date(untilMs).toISOString(), reason } });
    });
  }

  /**
   * How many times each task was reset (`invalidate`), for tasks reset at least once. The `preTasksExecution` hook
   * puts these into the environment that is part of each implement target's cache key, so that a reset task misses
   * the Nx cache on the next run instead of being served the result the user just discarded.
   */
  getResetGenerations(): Map<string, number> {
    const rows = this.sql('SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?').all(
      RESET_GENERATION_PREFIX.length,
      RESET_GENERATION_PREFIX,
    ) as { key: string; value: string }[];
    return new Map(rows.map((r) => [r.key.slice(RESET_GENERATION_PREFIX.length), Number(r.value)]));
  }

  /** The end of the current dispatch pause (epoch ms), or undefined when dispatching is allowed. */
  getDispatchPause(): { untilMs: number; reason: string } | undefined {
    const untilMs = Number(this.getMeta('dispatch_paused_until') ?? 0);
    if (!(untilMs > this.clock.now())) return undefined;
    return { untilMs, reason: this.getMeta('dispatch_paused_reason') ?? 'paused' };
  }

  acceptManifestHash(current: string): void {
    this.write((_now, tx) => {
      const previous = this.getMeta('manifest_hash') ?? null;
      if (previous === current) return;
      this.setMeta('manifest_hash', current);
      tx.changed = true;
      tx.events.push({ type: 'manifest-hash', extra: { manifest_hash: current, previous } });
    });
  }

  /** The stored manifest hash, or null before the first check. */
  getManifestHash(): string | null {
    return this.getMeta('manifest_hash') ?? null;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Reads (no lock; WAL readers see the last committed state)

  /** One task's record, or undefined when the store has never seen the task. */
  getTask(taskId: string): TaskRecord | undefined {
    const row = this.readRow(taskId);
    return row && toRecord(row);
  }

  /**
   * A number that changes whenever a task row changes what admission sees (a claim, a finish, a park: every update of
   * a projected column bumps the row's revision, REVISION_SCHEMA), in any process. The scheduler compares it between
   * polls to skip a full dispatch pass when nothing changed. One index lookup.
   */
  getChangeVersion(): number {
    const row = this.sql('SELECT MAX(rev) AS rev FROM tasks').get() as { rev: number | null } | undefined;
    return row?.rev ?? 0;
  }

  /** All task records, in task id order. */
  listTasks(): TaskRecord[] {
    return (this.sql('SELECT * FROM tasks ORDER BY task_id').all() as TaskRow[]).map(toRecord);
  }

  /**
   * Blocked tasks whose record changed at or after `sinceMs`, in task id order. One indexed query: a run asks this for
   * every task it finishes in a shared checkout, and reading all records instead cost ~80 ms per call at 10,000 tasks,
   * growing with the tasks done (their outcomes are the larger rows).
   */
  listBlockedSince(sinceMs: number): TaskRecord[] {
    return (this.sql("SELECT * FROM tasks WHERE status = 'blocked' AND updated_at >= ? ORDER BY task_id").all(sinceMs) as TaskRow[]).map(toRecord);
  }

  /**
   * Tasks given back because their owner died (`owner_lost`) and not claimed again yet: their attempt is unfinished,
   * and its agent may still be working (the task's next attempt adopts it).
   */
  listReleased(): TaskRecord[] {
    return (this.sql("SELECT * FROM tasks WHERE status = 'pending' AND reason = 'owner_lost' ORDER BY task_id").all() as TaskRow[]).map(toRecord);
  }

  /** The claims of all processes, with the current verdict on each (stale ones are released by the next write). */
  getRunningClaims(): RunningClaim[] {
    const now = this.clock.now();
    return this.listClaimRows().flatMap((row) => {
      const claim = toRecord(row).claim;
      if (!claim) return [];
      const verdict = this.judge(claim.owner, claim.heartbeatAt, claim.leaseMs, now);
      // Readers show who is still at work in the window before the next write releases the claim: without this, the
      // only pid on the line is the dead run's, and the agent that holds the slot is not named.
      if (verdict.stale && claim.agent !== null && this.isLocal(claim.agent)) {
        return [{ ...claim, taskId: row.task_id, verdict, agentAlive: this.identity.isAlive(claim.agent) }];
      }
      return [{ ...claim, taskId: row.task_id, verdict }];
    });
  }

  /** Tasks that were refused admission and are still waiting, oldest first. */
  waitingSummary(): WaitingTask[] {
    return this.listWaiterRows()
      .map(toWaiting)
      .sort((a, b) => a.since - b.since);
  }

  /** Appends an event stamped by the store's clock (for events decided outside the store: start, skip). */
  logEvent(event: EventInput): void {
    this.appendEvent(event, this.clock.now());
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Internals

  private initialise(): void {
    this.write((now, tx) => {
      this.db.migrate();
      const version = Number(this.getMeta('schema_version') ?? SCHEMA_VERSION);
      if (version > SCHEMA_VERSION) {
        throw new Error(
          `${this.location} was written by a newer nx-vtm (state schema ${version}, this one knows ` +
            `${SCHEMA_VERSION}); upgrade nx-vtm`,
        );
      }
      this.setMeta('schema_version', String(SCHEMA_VERSION));
      const count = (this.sql('SELECT COUNT(*) AS n FROM tasks').get() as { n: number }).n;
      if (count === 0) this.importStateFile(now, tx);
      // A missing or damaged projection (first open, deleted or edited by the user, cut short by a power loss: it is
      // written without fsync because the store is the truth) is recreated from the store. Its size tells, without
      // reading and validating megabytes at every open.
      if (!this.projectionIntact()) tx.changed = true;
    });
    // Recreated at once, so that an opened store always has its projection on disk.
    this.flushProjection();
    this.removeDeadTempFiles();
    openStores.add(this);
    installExitFlush();
  }

  private projectionIntact(): boolean {
    const size = this.getMeta(`projection_size${this.projectionKey}`);
    if (size === undefined) return false;
    try {
      return fs.statSync(this.stateFile).size === Number(size);
    } catch {
      return false;
    }
  }

  /** Temp files of task-state.json left by processes that died while writing it. */
  private removeDeadTempFiles(): void {
    let names: string[];
    try {
      names = fs.readdirSync(path.dirname(this.stateFile));
    } catch {
      return;
    }
    for (const name of names) {
      const temp = parseStateTempFile(this.stateFile, name);
      if (temp && !isProcessAlive(temp.pid)) fs.rmSync(path.join(path.dirname(this.stateFile), name), { force: true });
    }
  }

  private importStateFile(now: number, tx: Tx): void {
    const read = readStateFile(this.stateFile);
    if (read === undefined) return;
    if (!read.ok) {
      // Keep the unreadable file for the user: the projection about to be written would replace it.
      const backup = `${this.stateFile}.unreadable-${now}`;
      fs.copyFileSync(this.stateFile, backup);
      tx.changed = true;
      tx.events.push({
        type: 'import',
        reason: 'unreadable',
        extra: { file: this.stateFile, error: read.error, backup },
      });
      return;
    }
    const records = buildImportedRecords({ file: read.value, now });
    for (const r of records) {
      this.upsertRow({
        ...pendingRow(r.taskId, now),
        status: r.status,
        reason: r.reason,
        task_hash: r.taskHash,
        attempts: r.attempts,
        started_at: r.startedAt,
        completed_at: r.completedAt,
        outcome: JSON.stringify(r.outcome),
      });
    }
    if (read.value.manifest_hash && this.getMeta('manifest_hash') === undefined) {
      this.setMeta('manifest_hash', read.value.manifest_hash);
    }
    tx.changed = true;
    tx.events.push({ type: 'import', extra: { file: this.stateFile, tasks: records.length } });
  }

  /**
   * Runs `fn` in a `BEGIN IMMEDIATE` transaction, and keeps task-state.json at most one change behind the store.
   *
   * Rewriting the whole projection costs its size (milliseconds at 10,000 tasks), so a change does not write it
   * itself: it is written on the next turn of the event loop (`flushProjection`), by `close`, or at process exit.
   * But a change that finds the previous change still unwritten (by this or any other process: a crash, or changes
   * in quick succession) writes the file itself, inside the write lock and with its own change, before it commits.
   * So after every commit the file shows the committed state or the one before it, never older, whoever crashes; and
   * it is only ever replaced inside the write lock, so a slower process never puts back an older one. A crash before
   * the commit can leave the file showing the change the store rolled back; the next change rewrites it.
   * Transactions that change nothing the projection shows (stages, waits) never write it.
   */
  private write<T>(fn: (now: number, tx: Tx) => T): T {
    // SQLite's own busy handler waits for the lock (up to the busy timeout). Measured against polling with short
    // sleeps (8 processes x 400 transactions): its backoff finished in 2.9-3.9 s vs 5.8-7.9 s, because fast pollers
    // on 2 cores burn the CPU the lock holder needs.
    const run = () => this.db.transaction(() => {
      const now = this.clock.now();
      const tx: Tx = { changed: false, events: [] };
      const result = fn(now, tx);
      let deferred = false;
      if (tx.changed) {
        const behind = this.projectionDue();
        this.setMeta('state_rev', String(this.stateRevision() + 1));
        if (behind) this.writeProjection(now);
        else deferred = true;
      }
      // The database's copies first (statements that may fail with a lost connection, rolling this run back), then
      // the file's, last of all: a run that is rolled back and retried leaves no line of its own in events.jsonl.
      const lines = tx.events.map((event) => buildEventLine(event, now));
      for (const line of lines) this.db.recordEvent?.(line, now);
      for (const line of lines) appendEventLine(this.eventsFile, line);
      return { result, deferred };
    });
    const { result, deferred } = this.retryLostTransaction(() => this.guardProjection(run));
    if (deferred) this.scheduleFlush();
    return result;
  }

  /**
   * Runs a transaction again when the database says it was rolled back by a lost connection (PostgreSQL restarted in
   * the middle of it; the database port reconnects first): nothing of it was committed, and each run reads the rows
   * afresh, so the change is decided again on the state as it is now. Its events.jsonl lines are appended after its
   * last statement before the commit, so a run rolled back by a failed statement left none. (A connection lost during
   * the COMMIT itself is not retried: the caller is told the change may or may not be recorded.) Bounded: a server that
   * keeps dropping connections fails the call.
   */
  private retryLostTransaction<T>(run: () => T): T {
    for (let attempt = 1; ; attempt++) {
      try {
        return run();
      } catch (e) {
        if (attempt >= MAX_LOST_TRANSACTION_RETRIES || !this.db.isRetryable?.(e)) throw e;
      }
    }
  }

  /**
   * Runs a transaction that may have refreshed the projection's lines from uncommitted rows: if it rolls back, those
   * lines (and their revisions) are dropped and reloaded from the committed store next time.
   */
  private guardProjection<T>(run: () => T): T {
    try {
      return run();
    } catch (e) {
      this.projection.reset();
      throw e;
    }
  }

  private stateRevision(): number {
    return Number(this.getMeta('state_rev') ?? '0');
  }

  /** Whether a committed change is not in task-state.json yet. */
  private projectionDue(): boolean {
    return (this.getMeta(`projection_rev${this.projectionKey}`) ?? '0') !== (this.getMeta('state_rev') ?? '0');
  }

  /** Writes task-state.json from the rows as this transaction sees them; call inside the write lock only. */
  private writeProjection(now: number): void {
    if (!this.projection.loaded) {
      this.projection.load(this.sql('SELECT * FROM tasks').all().map((r) => ({ record: toRecord(r as TaskRow), rev: (r as TaskRow).rev ?? null })));
    } else {
      const changed = this.sql('SELECT * FROM tasks WHERE rev > ?').all(this.projection.since) as TaskRow[];
      if (changed.length > 0) this.projection.apply(changed.map((r) => ({ record: toRecord(r), rev: r.rev ?? null })));
    }
    const chunks = this.projection.render({ manifestHash: this.getMeta('manifest_hash') ?? null, now });
    writeStateFileBytes(this.stateFile, chunks);
    this.setMeta(`projection_rev${this.projectionKey}`, String(this.stateRevision()));
    this.setMeta(`projection_size${this.projectionKey}`, String(chunks.reduce((size, c) => size + c.length, 0)));
  }

  /** Writes the deferred projection on the next turn of the event loop (callers reading it at once flush first). */
  private scheduleFlush(): void {
    if (this.scheduledFlush || this.closed) return;
    this.scheduledFlush = setImmediate(() => {
      this.scheduledFlush = null;
      if (this.closed) return;
      try {
        this.flushProjection();
      } catch {
        // Nobody to tell from here; the next change of any process (or close, or the next open) writes it and
        // reports the error to its caller.
      }
    });
    // Never keeps a process alive on its own: the exit hook writes what is left.
    this.scheduledFlush.unref();
  }

  private cancelScheduledFlush(): void {
    if (this.scheduledFlush) clearImmediate(this.scheduledFlush);
    this.scheduledFlush = null;
  }

  private appendEvent(event: EventInput, now: number): void {
    const line = buildEventLine(event, now);
    appendEventLine(this.eventsFile, line);
    this.db.recordEvent?.(line, now);
  }

  private judge(owner: ProcessIdentity, heartbeatAt: number, leaseMs: number, now: number, leaseOnThisHost = false): OwnerVerdict {
    return judgeOwner({
      owner,
      heartbeatAt,
      leaseMs,
      now,
      self: this.me,
      isAlive: (o) => this.identity.isAlive(o),
      leaseOnThisHost,
      sharedAcrossMachines: this.db.shared,
    });
  }

  /**
   * Releases every stale claim (back to `pending`, reason `owner_lost`) and drops stale waits/reservations. The
   * update is a compare-and-set on the old token, so of several processes judging the same claim stale exactly one
   * releases it (the write lock already serialises them; the condition keeps that true for any future caller).
   */
  private releaseStale(now: number, runId: string | null, tx: Tx): StaleClaim[] {
    const released: StaleClaim[] = [];
    for (const row of this.listClaimRows()) {
      const claim = toRecord(row).claim;
      if (!claim) {
        // in-progress without an owner cannot be finished by anyone: give it back.
        this.upsertRow({ ...row, status: 'pending', reason: 'owner_lost', updated_at: now });
        tx.changed = true;
        continue;
      }
      const verdict = this.judge(claim.owner, claim.heartbeatAt, claim.leaseMs, now);
      if (!verdict.stale) continue;
      // An agent still at work keeps the claim's footprint (not its token) until it ends: see orphanAgents.
      const keep = claim.agent !== null && this.isLocalAndAlive(claim.agent);
      const changes = this
        .sql(
          `UPDATE tasks SET status = 'pending', reason = 'owner_lost', updated_at = ?, claim = ${keep ? 'claim' : 'NULL'}, claim_token = NULL,
             fence = NULL, heartbeat_at = NULL, agent = ${keep ? 'agent' : 'NULL'}
           WHERE task_id = ? AND claim_token = ? AND heartbeat_at = ? AND status = 'in-progress'`,
        )
        // The heartbeat judged too: on PostgreSQL a heartbeat is not held back by the write lock, and one that landed
        // since the judgement keeps the claim.
        .run(now, row.task_id, claim.token, claim.heartbeatAt).changes;
      if (changes !== 1) continue;
      const stale: StaleClaim = {
        taskId: row.task_id,
        owner: claim.owner,
        agentPid: claim.agent?.pid ?? null,
        agent: claim.agent,
        runId: claim.runId,
        fence: claim.fence,
        cause: verdict.cause,
        onThisHost: claim.owner.host === this.me.host,
      };
      released.push(stale);
      tx.changed = true;
      tx.events.push({
        type: 'reclaim',
        runId,
        taskId: row.task_id,
        status: 'pending',
        reason: 'owner_lost',
        extra: {
          cause: verdict.cause,
          previous_run_id: claim.runId,
          previous_pid: claim.owner.pid,
          previous_host: claim.owner.host,
          previous_fence: claim.fence,
          agent_pid: claim.agent?.pid ?? null,
        },
      });
    }
    for (const w of this.listWaiterRows()) {
      const owner = JSON.parse(w.owner) as ProcessIdentity;
      if (this.judge(owner, w.refreshed_at, w.lease_ms, now, true).stale) this.deleteWaiter(w.task_id);
    }
    return released;
  }

  /** Records (or refreshes) a refused task's wait; returns whether it now holds an exclusive reservation. */
  private recordWait(args: {
    taskId: string;
    runId: string;
    now: number;
    reason: WaitReason;
    leaseMs: number;
    since: number;
    reserve: boolean;
    tx: Tx;
  }): boolean {
    const { taskId, runId, now, reason, leaseMs, since, reserve, tx } = args;
    const existing = this.sql('SELECT * FROM waiters WHERE task_id = ?').get(taskId) as WaiterRow | undefined;
    const reasonJson = JSON.stringify(reason);
    // A reservation keeps its original time: the oldest reservation goes first.
    const reservedAt = existing?.reserved_at ?? (reserve ? now : null);
    this
      .sql(
        `INSERT INTO waiters (task_id, run_id, since, reason, reserved_at, owner, refreshed_at, lease_ms)
         VALUES (@task_id, @run_id, @since, @reason, @reserved_at, @owner, @refreshed_at, @lease_ms)
         ON CONFLICT(task_id) DO UPDATE SET run_id = excluded.run_id, since = excluded.since, reason = excluded.reason,
           reserved_at = excluded.reserved_at, owner = excluded.owner, refreshed_at = excluded.refreshed_at,
           lease_ms = excluded.lease_ms`,
      )
      .run({
        task_id: taskId,
        run_id: runId,
        since,
        reason: reasonJson,
        reserved_at: reservedAt,
        owner: JSON.stringify(this.me),
        refreshed_at: now,
        lease_ms: leaseMs,
      });
    // Callers poll; log a wait only when it starts or its reason changes (not its volatile parts, see getWaitKey), so
    // the log stays readable and does not grow with waiting tasks x starts.
    if (!existing || (existing.reason !== reasonJson && getWaitKey(JSON.parse(existing.reason) as WaitReason) !== getWaitKey(reason))) {
      tx.events.push({ type: 'wait', runId, taskId, status: 'pending', reason: reason.kind, extra: { wait: reason } });
    }
    if (reservedAt !== null && existing?.reserved_at == null) {
      tx.events.push({ type: 'reserve', runId, taskId, status: 'pending', extra: { waited_ms: now - since } });
    }
    return reservedAt !== null;
  }

  private refuseIfHeld(row: TaskRow): StoreRefusal | undefined {
    const claim = toRecord(row).claim;
    if (row.status !== 'in-progress' || !claim) return undefined;
    return {
      code: 'claim-held',
      taskId: row.task_id,
      message:
        `task ${row.task_id} is being run by pid ${claim.owner.pid} on ${claim.owner.host} (run ${claim.runId}); ` +
        `wait for it to finish or stop that run first`,
    };
  }

  private nextFence(): number {
    const next = Number(this.getMeta('fence') ?? '0') + 1;
    this.setMeta('fence', String(next));
    return next;
  }

  private sql(source: string): StoreStatement {
    return this.db.prepare(source);
  }

  private readRow(taskId: string): TaskRow | undefined {
    return this.sql('SELECT * FROM tasks WHERE task_id = ?').get(taskId) as TaskRow | undefined;
  }

  /** A process of this host and boot: the only kind whose liveness this process can check. */
  private isLocal(p: ProcessIdentity): boolean {
    return p.host === this.me.host && p.bootId === this.me.bootId;
  }

  /** A process of this host and boot that is still the very one (pid and start time). */
  private isLocalAndAlive(p: ProcessIdentity): boolean {
    return this.isLocal(p) && this.identity.isAlive(p);
  }

  /**
   * The agents still at work on this host whose owner died (see `orphanAgents`), for status: read only, nothing is
   * cleared here.
   */
  listOrphanedAgents(): { taskId: string; agent: ProcessIdentity; runId: string; claimedAt: number }[] {
    return this.readOrphanRows().flatMap(({ row, claim, agent }) => (this.isLocalAndAlive(agent) ? [{ taskId: row.task_id, agent, runId: claim.runId, claimedAt: claim.claimedAt }] : []));
  }

  private readOrphanRows(): { row: TaskRow; claim: ClaimJson; agent: ProcessIdentity }[] {
    const rows = this.sql(
      "SELECT * FROM tasks WHERE status = 'pending' AND reason = 'owner_lost' AND claim IS NOT NULL AND agent IS NOT NULL ORDER BY task_id",
    ).all() as TaskRow[];
    return rows.map((row) => ({ row, claim: JSON.parse(row.claim as string) as ClaimJson, agent: JSON.parse(row.agent as string) as ProcessIdentity }));
  }

  /**
   * The agents of attempts released from a dead owner that are still at work on this host: the agent runs on under its
   * keeper until the task's next attempt adopts it (agent-adoption.ts), or until it ends. Each keeps its WIP slot, file
   * scope and exclusivity meanwhile, or a new run would start a full WIP of agents beside them (and on their files).
   * Those found ended give their footprint back here; another machine's (a shared coordinator) are neither counted nor
   * cleared from here, since only their own host can tell whether they still run. Runs inside a write transaction.
   */
  private orphanAgents(tx: Tx): RunningTask[] {
    const out: RunningTask[] = [];
    for (const { row, claim, agent } of this.readOrphanRows()) {
      if (!this.isLocal(agent)) continue;
      if (this.identity.isAlive(agent)) {
        out.push({ ...claim.footprint, startedAt: claim.claimedAt, ...(claim.parked ? { parked: true } : {}) });
        continue;
      }
      this.sql(`UPDATE tasks SET claim = NULL, agent = NULL WHERE task_id = ? AND status = 'pending' AND reason = 'owner_lost'`).run(row.task_id);
      tx.changed = true;
    }
    return out;
  }

  private listClaimRows(): TaskRow[] {
    return this.sql(`SELECT * FROM tasks WHERE status = 'in-progress' ORDER BY task_id`).all() as TaskRow[];
  }

  private listWaiterRows(): WaiterRow[] {
    return this.sql('SELECT * FROM waiters ORDER BY task_id').all() as WaiterRow[];
  }

  private deleteWaiter(taskId: string): void {
    this.sql('DELETE FROM waiters WHERE task_id = ?').run(taskId);
  }

  private upsertRow(row: TaskRow): void {
    this
      .sql(
        `INSERT INTO tasks (task_id, status, reason, task_hash, attempts, started_at, completed_at, updated_at, outcome,
           claim, claim_token, fence, heartbeat_at, agent, progress)
         VALUES (@task_id, @status, @reason, @task_hash, @attempts, @started_at, @completed_at, @updated_at, @outcome,
           @claim, @claim_token, @fence, @heartbeat_at, @agent, @progress)
         ON CONFLICT(task_id) DO UPDATE SET status = excluded.status, reason = excluded.reason,
           task_hash = excluded.task_hash, attempts = excluded.attempts, started_at = excluded.started_at,
           completed_at = excluded.completed_at, updated_at = excluded.updated_at, outcome = excluded.outcome,
           claim = excluded.claim, claim_token = excluded.claim_token, fence = excluded.fence,
           heartbeat_at = excluded.heartbeat_at, agent = excluded.agent, progress = excluded.progress`,
      )
      .run(row);
  }

  private getMeta(key: string): string | undefined {
    return (this.sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  private setMeta(key: string, value: string): void {
    this
      .sql('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }
}

/** Open stores of this process, whose deferred projection is written when the process exits normally. */
const openStores = new Set<TaskStore>();
let exitFlushInstalled = false;

function installExitFlush(): void {
  if (exitFlushInstalled) return;
  exitFlushInstalled = true;
  process.on('exit', () => {
    for (const store of openStores) {
      try {
        store.flushProjection();
      } catch {
        // Exiting: the next open rewrites a projection that is behind.
      }
    }
  });
}

/** What a write transaction accumulates: whether the projection must be rewritten, and the events to append. */
interface Tx {
  changed: boolean;
  events: EventInput[];
}
