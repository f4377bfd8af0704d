/**
 * When a claim (or a waiting reservation) no longer protects anything (pure).
 *
 * On the owner's own host (same boot) the process table is the truth: the claim is stale exactly when the owner
 * process (pid + start time) is gone, never because of its lease. Leases are wall-clock times and heartbeats run on
 * monotonic timers, so after a laptop sleeps longer than the lease every live claim looks expired; judging those by
 * the lease made a process release its own running tasks (and another process start them a second time). Only an
 * owner on another host, whose process we cannot see, is given up on when its lease has expired.
 */
import type { ProcessIdentity } from './task-record';

/** Why a claim was judged stale: its process is gone, the host rebooted since, or it stopped heartbeating. */
export type StaleCause = 'owner-dead' | 'rebooted' | 'lease-expired';

export type OwnerVerdict = { stale: false } | { stale: true; cause: StaleCause };

/**
 * Judges the owner of a claim or reservation.
 * `isAlive` is asked only for an owner on the judging process's host and boot.
 */
export function judgeOwner({
  owner,
  heartbeatAt,
  leaseMs,
  now,
  self,
  isAlive,
  leaseOnThisHost = false,
  sharedAcrossMachines = false,
}: {
  owner: ProcessIdentity;
  heartbeatAt: number;
  leaseMs: number;
  now: number;
  self: Pick<ProcessIdentity, 'host' | 'bootId'>;
  isAlive: (owner: ProcessIdentity) => boolean;
  /**
   * Also give up on a live owner on this host whose lease expired. For waits (reservations), not claims: a live
   * process that stopped asking for a task must not hold a reservation forever, and losing a reservation is harmless.
   */
  leaseOnThisHost?: boolean;
  /**
   * The store is shared by several machines (PostgreSQL): a same-named host with another boot id may be another
   * machine (CI runners and containers often share a name), not this one rebooted, so it is judged by its lease.
   */
  sharedAcrossMachines?: boolean;
}): OwnerVerdict {
  if (owner.host === self.host) {
    const otherBoot = !!owner.bootId && !!self.bootId && owner.bootId !== self.bootId;
    if (otherBoot && !sharedAcrossMachines) return { stale: true, cause: 'rebooted' };
    if (!otherBoot) {
      if (!isAlive(owner)) return { stale: true, cause: 'owner-dead' };
      if (!leaseOnThisHost) return { stale: false };
    }
  }
  // Strictly after the lease: a heartbeat exactly at the boundary still counts.
  if (now > heartbeatAt + leaseMs) return { stale: true, cause: 'lease-expired' };
  return { stale: false };
}
