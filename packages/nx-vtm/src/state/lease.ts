/**
 * When a claim (or a waiting reservation) no longer protects anything (pure).
 *
 * On the owner's own host we can look at the process table, so a crashed owner is detected at once; a hung owner, or
 * one on another host, is only given up on when its lease (last heartbeat + lease length) has expired.
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
}: {
  owner: ProcessIdentity;
  heartbeatAt: number;
  leaseMs: number;
  now: number;
  self: Pick<ProcessIdentity, 'host' | 'bootId'>;
  isAlive: (owner: ProcessIdentity) => boolean;
}): OwnerVerdict {
  if (owner.host === self.host) {
    if (owner.bootId && self.bootId && owner.bootId !== self.bootId) return { stale: true, cause: 'rebooted' };
    if (!isAlive(owner)) return { stale: true, cause: 'owner-dead' };
  }
  // Strictly after the lease: a heartbeat exactly at the boundary still counts.
  if (now > heartbeatAt + leaseMs) return { stale: true, cause: 'lease-expired' };
  return { stale: false };
}
