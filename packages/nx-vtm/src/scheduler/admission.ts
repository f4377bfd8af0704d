/**
 * Admission: may this ready task start now, beside what is running?
 *
 * One pure function decides, and both the driver (as a local pre-check over its own tasks) and the cross-process task
 * store (inside its write transaction, over the claims of every process) call it, so the rules cannot drift apart.
 * `createAdmissionCheck` is the same rules with what does not depend on the candidate worked out once, for the
 * simulation's passes over thousands of candidates; admission.spec.ts compares the two on random states, so a change
 * to one rule that is not made in both fails there.
 *
 * Rules are checked in this order, so the reason shown is the one that will still hold when the others clear:
 *  1. an exclusive task is running: nothing else starts (`exclusive-running`);
 *  2. another task holds a reservation: nothing else starts, except an exclusive task whose own reservation is older
 *     (`reserved`);
 *  3. an exclusive candidate starts only when nothing runs (`needs-exclusive`);
 *  4. at most `wipLimit` tasks run (`wip`);
 *  5. no overlapping file scope (`scope`) and no declared conflict (`declared-conflict`) with a running task.
 *
 * Reservations are what keeps exclusive tasks from starving: without one, a High-risk task needs a moment when nothing
 * runs, which a steady stream of small tasks may never leave. Reserving at once costs throughput (holding back all
 * starts whenever a High-risk task was top priority cost about 6 points on the backlog simulation), so a task reserves
 * only after waiting past a threshold (`shouldReserve`). While the running tasks drain, a task may still start if, by
 * the estimates, it ends before the last of them (backfilling, as in EASY backfilling on batch clusters): it cannot
 * delay the reserved task unless estimates are wrong. Backfilling needs `now` and estimates; without them a reservation
 * simply holds everything back.
 */
import { findFootprintConflict } from './conflicts';
import type { AdmissionDecision, ExclusiveReservation, RunningTask, TaskFootprint, WaitReason } from './types';

/**
 * Default time an exclusive task waits before it reserves the workspace. With backfilling, thresholds from 0 to 30 min
 * gave the same backlog makespans in simulation (1.06 with exact estimates, 1.14 with sigma 0.5); 10 min keeps the
 * worst-case extra wait of a High-risk task short without holding back starts for every briefly blocked one.
 */
export const DEFAULT_STARVATION_THRESHOLD_MS = 10 * 60_000;

const refuse = (reason: WaitReason): AdmissionDecision => ({ admit: false, reason });

/** Oldest first; ties broken by task id so every process agrees on the order. */
function compareReservations(a: ExclusiveReservation, b: ExclusiveReservation): number {
  return a.since - b.since || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0);
}

/**
 * Decide whether `candidate` may start now. `running` are the tasks claimed in every process (an entry for the
 * candidate itself is ignored); `reservations` are the current exclusive reservations. With `now` (same clock as
 * `startedAt`) and `estimatesMs` (estimated duration per task id), a non-exclusive candidate may backfill around a
 * reservation: it is admitted when it is estimated to end no later than the last running task. Pure.
 */
export function decideAdmission({
  candidate,
  running,
  reservations = [],
  wipLimit,
  now,
  estimatesMs,
}: {
  candidate: TaskFootprint;
  running: readonly RunningTask[];
  reservations?: readonly ExclusiveReservation[];
  wipLimit: number;
  now?: number;
  estimatesMs?: ReadonlyMap<string, number>;
}): AdmissionDecision {
  const others = running.filter((r) => r.taskId !== candidate.taskId);

  const exclusiveHolder = others.find((r) => r.exclusive);
  if (exclusiveHolder) return refuse({ kind: 'exclusive-running', heldBy: exclusiveHolder.taskId });

  const blocking = findBlockingReservation(candidate, reservations);
  if (blocking && !(now !== undefined && estimatesMs && canBackfill({ candidate, running: others, now, estimatesMs }))) {
    return refuse({ kind: 'reserved', by: blocking.taskId });
  }

  if (candidate.exclusive && others.length > 0) {
    return refuse({ kind: 'needs-exclusive', running: others.map((r) => r.taskId) });
  }

  // Tasks parked in the merge queue hold their files (below) but no slot: the WIP limit bounds agents at work.
  const busy = others.filter((r) => !r.parked).length;
  if (busy >= wipLimit) return refuse({ kind: 'wip', running: busy, limit: wipLimit });

  for (const holder of others) {
    const conflict = findFootprintConflict(candidate, holder);
    if (conflict?.kind === 'scope') {
      return refuse({ kind: 'scope', entry: conflict.entry, heldBy: holder.taskId, heldEntry: conflict.otherEntry });
    }
    if (conflict?.kind === 'declared') return refuse({ kind: 'declared-conflict', heldBy: holder.taskId });
  }
  return { admit: true };
}

/**
 * `decideAdmission` for many candidates against one state of the workspace (the same running tasks, reservations and
 * clock): what does not depend on the candidate (the exclusive holder, the oldest reservation, the slots in use, when
 * the running tasks drain) is worked out once, so each candidate costs a few comparisons. A dispatch pass over thousands
 * of ready tasks (the simulation behind `nx-vtm preview`, at 10,000 tasks) decided each from scratch, allocating
 * filtered and sorted copies per candidate. A candidate that is itself running or holds a reservation goes to
 * `decideAdmission` (rare: the rules for it depend on it). The same decisions and reasons as `decideAdmission`
 * (admission.spec.ts compares the two on random states). Pure; build a new check after the state changes.
 */
export function createAdmissionCheck({
  running,
  reservations = [],
  wipLimit,
  now,
  estimatesMs,
}: {
  running: readonly RunningTask[];
  reservations?: readonly ExclusiveReservation[];
  wipLimit: number;
  now?: number;
  estimatesMs?: ReadonlyMap<string, number>;
}): (candidate: TaskFootprint) => AdmissionDecision {
  const exclusiveHolder = running.find((r) => r.exclusive);
  // Every waiting High-risk task past the threshold holds one: hundreds in a large backlog, asked about per candidate.
  const reserved = new Set(reservations.map((r) => r.taskId));
  const runningIds = new Set(running.map((r) => r.taskId));
  let oldest: ExclusiveReservation | undefined;
  for (const r of reservations) if (oldest === undefined || compareReservations(r, oldest) < 0) oldest = r;
  let busy = 0;
  for (const r of running) if (!r.parked) busy++;
  // canBackfill's "last running task's estimated end", or undefined when no candidate can backfill.
  let drainedAt: number | undefined;
  if (now !== undefined && estimatesMs && running.length > 0) {
    drainedAt = -Infinity;
    for (const r of running) {
      const est = estimatesMs.get(r.taskId);
      if (est === undefined) {
        drainedAt = undefined;
        break;
      }
      drainedAt = Math.max(drainedAt, r.startedAt + est);
    }
  }
  return (candidate) => {
    if (runningIds.has(candidate.taskId) || reserved.has(candidate.taskId)) {
      return decideAdmission({ candidate, running, reservations, wipLimit, now, estimatesMs });
    }
    if (exclusiveHolder) return refuse({ kind: 'exclusive-running', heldBy: exclusiveHolder.taskId });
    if (oldest) {
      const own = candidate.exclusive || drainedAt === undefined ? undefined : estimatesMs?.get(candidate.taskId);
      if (!(own !== undefined && (now as number) + own <= (drainedAt as number))) return refuse({ kind: 'reserved', by: oldest.taskId });
    }
    if (candidate.exclusive && running.length > 0) return refuse({ kind: 'needs-exclusive', running: running.map((r) => r.taskId) });
    if (busy >= wipLimit) return refuse({ kind: 'wip', running: busy, limit: wipLimit });
    for (const holder of running) {
      const conflict = findFootprintConflict(candidate, holder);
      if (conflict?.kind === 'scope') {
        return refuse({ kind: 'scope', entry: conflict.entry, heldBy: holder.taskId, heldEntry: conflict.otherEntry });
      }
      if (conflict?.kind === 'declared') return refuse({ kind: 'declared-conflict', heldBy: holder.taskId });
    }
    return { admit: true };
  };
}

/**
 * The reservation that keeps `candidate` waiting, if any: the oldest reservation of another task, except that an
 * exclusive candidate holding its own reservation yields only to older ones.
 */
function findBlockingReservation(
  candidate: TaskFootprint,
  reservations: readonly ExclusiveReservation[],
): ExclusiveReservation | undefined {
  const own = reservations.find((r) => r.taskId === candidate.taskId);
  const ahead = reservations
    .filter((r) => r.taskId !== candidate.taskId)
    .filter((r) => !(candidate.exclusive && own) || compareReservations(r, own) < 0)
    .sort(compareReservations);
  return ahead[0];
}

/**
 * Whether `candidate` is estimated to end no later than the last running task is estimated to end, i.e. before the
 * workspace could be empty for a reserved task anyway. Unknown estimates never backfill. Exclusive candidates never
 * backfill: they need the empty workspace themselves.
 */
function canBackfill({
  candidate,
  running,
  now,
  estimatesMs,
}: {
  candidate: TaskFootprint;
  running: readonly RunningTask[];
  now: number;
  estimatesMs: ReadonlyMap<string, number>;
}): boolean {
  const own = estimatesMs.get(candidate.taskId);
  if (candidate.exclusive || own === undefined || running.length === 0) return false;
  let drainedAt = -Infinity;
  for (const r of running) {
    const est = estimatesMs.get(r.taskId);
    if (est === undefined) return false;
    drainedAt = Math.max(drainedAt, r.startedAt + est);
  }
  return now + own <= drainedAt;
}

/**
 * The order in which one dispatch pass offers ready tasks to admission: exclusive tasks first, then the rest, each in
 * the given (priority) order. Exclusive tasks can only start in an empty workspace, and an empty workspace otherwise
 * costs a drain with idle slots; so when one occurs, it goes to an exclusive task (about 4 points of makespan / LB on
 * the backlog simulation). While anything runs, exclusive tasks are refused and the pass moves on, so this changes
 * nothing else. Pure.
 */
export function orderForDispatch<T extends { exclusive: boolean }>(readyByPriority: readonly T[]): T[] {
  return [...readyByPriority.filter((t) => t.exclusive), ...readyByPriority.filter((t) => !t.exclusive)];
}

/**
 * Whether an exclusive candidate that has been ready since `waitingSinceMs` should now reserve the workspace (the store
 * persists the reservation so every process honours it). Non-exclusive tasks never reserve. Pure.
 */
export function shouldReserve({
  candidate,
  waitingSinceMs,
  now,
  thresholdMs,
}: {
  candidate: TaskFootprint;
  waitingSinceMs: number;
  now: number;
  thresholdMs: number;
}): boolean {
  return candidate.exclusive && now - waitingSinceMs >= thresholdMs;
}

/** The one-line, user-facing rendering of a wait reason, e.g. `waiting: 3 of 3 slots busy`. Pure. */
/**
 * What makes two waits of a task the same wait, for logging: the reason without its volatile parts. "runs alone; 2
 * running (A, B)" changes with every start and finish while the task keeps waiting for the same thing; and a task
 * waiting for a slot goes back and forth between "3 of 3 slots busy" and "High-risk task X running" with every
 * High-risk task, while it waits for the same thing: a slot. Logging each change for each
 * waiting task grew the event log with (tasks waiting x tasks started): 60 wait events per task at 1,000 tasks, and
 * millions at 10,000. So a wait is logged when it starts and when what the task waits for changes (a slot, to run
 * alone, a scope, a declared conflict, a reservation, the rate limit); the live view (watch, the reservation row)
 * shows the current reason. A reservation is a wait for a slot too (the slots are held back until the reserving
 * High-risk task has run): the reservation itself is logged once, as the store's `reserve` event, not once per
 * waiting task (with thousands of tasks ready, each reservation logged thousands of wait events twice).
 */
export function getWaitKey(reason: WaitReason): string {
  switch (reason.kind) {
    case 'needs-exclusive':
      return 'waiting: runs alone';
    case 'wip':
    case 'exclusive-running':
    case 'reserved':
      return 'waiting: a slot';
    default:
      return formatWaitReason(reason);
  }
}

export function formatWaitReason(reason: WaitReason): string {
  switch (reason.kind) {
    case 'scope':
      return `waiting: ${reason.heldEntry} held by ${reason.heldBy}`;
    case 'wip':
      return `waiting: ${reason.running} of ${reason.limit} slots busy`;
    case 'exclusive-running':
      return `waiting: High-risk task ${reason.heldBy} running`;
    case 'declared-conflict':
      return `waiting: conflicts_with ${reason.heldBy} (running)`;
    case 'needs-exclusive':
      return `waiting: runs alone; ${reason.running.length} running (${reason.running.join(', ')})`;
    case 'reserved':
      return `waiting: High-risk task ${reason.by} is waiting to run alone`;
    case 'rate-limited':
      return `waiting: agent rate limit until ${reason.until}`;
  }
}
