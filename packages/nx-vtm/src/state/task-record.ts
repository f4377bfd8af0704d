/**
 * The values the task store keeps per task, shared by the store, the task-state.json projection and the event log.
 *
 * Outcome fields keep the seed's snake_case names (`acs_completed`, `test_results`, ...) on purpose: an agent's JSON
 * report uses exactly these names, so it can be passed through to `finish` unchanged and lands in task-state.json
 * under the names users already know.
 */
import type { TaskFootprint } from '../scheduler/types';

/** Canonical task statuses (seed: `pending | in-progress | blocked | completed | abandoned`). */
export const TASK_STATUSES = ['pending', 'in-progress', 'blocked', 'completed', 'abandoned'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses a run can end in (`finish`, `recordOutcome`). */
export type FinalStatus = Exclude<TaskStatus, 'in-progress'>;

/**
 * Reason codes for `blocked` (and for other statuses when useful). The list is open: any string is stored, these are
 * the ones the plugin itself produces.
 */
export const KNOWN_REASONS = [
  'agent_failed',
  'timed_out',
  'stalled',
  'rate_limited',
  'verification_failed',
  'scope_violation',
  'merge_conflict',
  'missing_context',
  'empty_ac',
  'provisional',
  'owner_lost',
  'task_changed',
  'no_changes',
  'integration_check_failed',
  'changed_during_verification',
  'wrote_outside_worktree',
] as const;
export type KnownReason = (typeof KNOWN_REASONS)[number];

/** `dependency_failed:<id>`: the task was not started because a task it depends on did not complete. */
export function dependencyFailedReason(dependencyId: string): `dependency_failed:${string}` {
  return `dependency_failed:${dependencyId}`;
}

/** Test counts as reported by the agent or the verification step. */
export interface TestResults {
  total: number;
  passing: number;
  failing: number;
}

/**
 * What a finished (or externally decided) task reports. Unknown extra fields are kept and shown in task-state.json.
 */
export interface TaskOutcome {
  status: FinalStatus;
  /** Required for `blocked`: one of `KNOWN_REASONS`, `dependency_failed:<id>`, or another short code. */
  reason?: string | null;
  acs_completed?: string[];
  acs_remaining?: string[];
  /** Criteria the agent reported neither done nor remaining: never counted as done. */
  acs_not_reported?: string[];
  files_modified?: string[];
  test_results?: TestResults | null;
  blockers?: string[];
  /** When absent, `finish` computes it from the claim's start. */
  duration_minutes?: number | null;
  error?: string | null;
  /** Where the run's logs and reports were written. */
  result_dir?: string | null;
  cost?: unknown;
  [extra: string]: unknown;
}

/** Who holds a claim: enough to tell, on the same host, whether that exact process is still running. */
export interface ProcessIdentity {
  host: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot); null when /proc is not available. */
  startTime: string | null;
  /** /proc/sys/kernel/random/boot_id; null when not available. */
  bootId: string | null;
}

/** A live (or not yet judged) claim on a task. */
export interface TaskClaim {
  token: string;
  /** Strictly increasing across the whole store: a later claim always has a larger fence. */
  fence: number;
  runId: string;
  owner: ProcessIdentity;
  /**
   * The agent process (group leader) the owner started, when it reported one through `heartbeat`. Its start time
   * lets a reclaimer check the pid still names that process before killing its group.
   */
  agent: ProcessIdentity | null;
  claimedAt: number;
  heartbeatAt: number;
  leaseMs: number;
  footprint: TaskFootprint;
  /** Hash of the task's manifest entry the claim runs against; becomes the record's `taskHash` on finish. */
  taskHash: string | null;
  /** In the merge queue: holds its scope but no WIP slot (see `TaskStore.setParked`). */
  parked?: boolean;
}

/** One task as stored. Times are epoch milliseconds. */
export interface TaskRecord {
  taskId: string;
  status: TaskStatus;
  reason: string | null;
  /**
   * Hash of the manifest entry the task last ran (or was completed) against. A `completed` record only counts as
   * completed for a manifest entry with the same hash (see `isCompletedFor`); null means unknown (imported state).
   */
  taskHash: string | null;
  /** Number of claims ever made on the task (each start or reclaim counts one). */
  attempts: number;
  startedAt: number | null;
  completedAt: number | null;
  updatedAt: number;
  /** Outcome fields without `status`/`reason` (snake_case, as in task-state.json), plus any extra fields. */
  outcome: Record<string, unknown>;
  /** Present exactly when `status` is `in-progress`. */
  claim: TaskClaim | null;
  /**
   * How far the current (or an interrupted) attempt got: the last stage it completed and what that stage produced.
   * Kept when a dead owner's claim is released, so the next claim continues from there instead of paying an agent
   * again; cleared when the task reaches a final status.
   */
  progress: AttemptProgress | null;
}

/**
 * The durable progress of one attempt. `stage` names the last completed stage (the runtime defines the stages; the
 * store only stores them), `data` accumulates what each completed stage produced (worktree, agent outcome, commit
 * sha...). `taskHash` ties the progress to one version of the task's manifest entry: a changed entry starts over.
 */
export interface AttemptProgress {
  stage: string;
  /** The fence of the claim that last advanced it. */
  fence: number;
  /** The attempt number (claims of the task) that last advanced it. */
  attempt: number;
  taskHash: string | null;
  /** Epoch ms of the last advance. */
  at: number;
  data: Record<string, unknown>;
}

/**
 * Whether a record counts as completed for the manifest entry whose hash is `taskHash`. A completed record whose
 * stored hash differs was completed for an older version of the task and is re-run; an unknown stored hash
 * (state imported from a seed-format task-state.json) is trusted, so a user's earlier progress is kept.
 */
export function isCompletedFor(record: Pick<TaskRecord, 'status' | 'taskHash'>, taskHash: string | null): boolean {
  if (record.status !== 'completed') return false;
  return record.taskHash === null || taskHash === null || record.taskHash === taskHash;
}

/**
 * The paths a task that ended blocked left uncommitted in a shared checkout (isolation "none"): its `files_modified`
 * and, for a scope violation, its `outside_scope`. Pure.
 */
export function blockedLeftovers(record: Pick<TaskRecord, 'outcome'>): string[] {
  const asPaths = (v: unknown): string[] => (Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string') : []);
  return [...asPaths(record.outcome.files_modified), ...asPaths(record.outcome.outside_scope)];
}
