/**
 * Types shared by the pure scheduler core, the cross-process task store and the executors.
 * Admission is decided by one pure function (`decideAdmission`) over these values; the task store calls it inside
 * its write transaction with the claims of every process, which is what makes the limits hold across processes.
 */

/** What admission needs to know about a task: where it writes and whether it must run alone. */
export interface TaskFootprint {
  taskId: string;
  /**
   * The paths the task may write: normalised manifest `file_scope` entries (directories end with "/"), then its
   * `test_verification` files not inside them.
   */
  fileScope: readonly string[];
  /** Manifest `conflicts_with` ids (admission checks both directions). */
  conflictsWith: readonly string[];
  /** `risk: High` or `parallel: false`: runs with nothing else beside it. */
  exclusive: boolean;
}

/** A task currently claimed and running in some process of this workspace. */
export interface RunningTask extends TaskFootprint {
  /** Epoch ms of the claim. */
  startedAt: number;
  /**
   * Its agent is done and its work waits in the merge queue (or is being tested on the merged result): it keeps its
   * file scope, conflicts and exclusivity until integrated, but not a WIP slot (a repair turn takes one again).
   */
  parked?: boolean;
}

/**
 * An exclusive task that has waited longer than the starvation threshold. While it exists, no other task may start,
 * so the running ones drain and the exclusive task gets the workspace to itself.
 */
export interface ExclusiveReservation {
  taskId: string;
  /** Epoch ms the reservation was made; the oldest reservation goes first. */
  since: number;
}

/** Why a ready task is not started yet. Rendered for users by `formatWaitReason`. */
export type WaitReason =
  | { kind: 'wip'; running: number; limit: number }
  | { kind: 'scope'; entry: string; heldBy: string; heldEntry: string }
  | { kind: 'declared-conflict'; heldBy: string }
  | { kind: 'exclusive-running'; heldBy: string }
  | { kind: 'needs-exclusive'; running: readonly string[] }
  | { kind: 'reserved'; by: string }
  /** An agent hit a rate or usage limit: no new dispatches until it lifts (ISO 8601). */
  | { kind: 'rate-limited'; until: string };

export type AdmissionDecision = { admit: true } | { admit: false; reason: WaitReason };
