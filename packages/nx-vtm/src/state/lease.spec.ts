import { judgeOwner } from './lease';
import type { ProcessIdentity } from './task-record';

const owner: ProcessIdentity = { host: 'box', pid: 42, startTime: '100', bootId: 'boot-1' };
const base = { owner, heartbeatAt: 1_000, leaseMs: 500, now: 1_200, self: { host: 'box', bootId: 'boot-1' } };

describe('judgeOwner', () => {
  it('keeps a live owner on this host within its lease', () => {
    expect(judgeOwner({ ...base, isAlive: () => true })).toEqual({ stale: false });
  });

  it('gives up on a dead owner on this host at once, whatever the lease', () => {
    expect(judgeOwner({ ...base, isAlive: () => false })).toEqual({ stale: true, cause: 'owner-dead' });
  });

  it('gives up on an owner from before a reboot without asking the process table', () => {
    const isAlive = jest.fn(() => true);
    expect(judgeOwner({ ...base, self: { host: 'box', bootId: 'boot-2' }, isAlive })).toEqual({
      stale: true,
      cause: 'rebooted',
    });
    expect(isAlive).not.toHaveBeenCalled();
  });

  it('never gives up on a live owner on this host, however old its heartbeat (a suspended laptop, a clock jump)', () => {
    expect(judgeOwner({ ...base, now: 1_500, isAlive: () => true })).toEqual({ stale: false });
    expect(judgeOwner({ ...base, now: 1_501, isAlive: () => true })).toEqual({ stale: false });
    expect(judgeOwner({ ...base, now: 1_000_000_000, isAlive: () => true })).toEqual({ stale: false });
  });

  it('gives up on a live but silent waiter on this host after its lease (leaseOnThisHost)', () => {
    expect(judgeOwner({ ...base, now: 1_500, isAlive: () => true, leaseOnThisHost: true })).toEqual({ stale: false });
    expect(judgeOwner({ ...base, now: 1_501, isAlive: () => true, leaseOnThisHost: true })).toEqual({ stale: true, cause: 'lease-expired' });
  });

  it('judges an owner on another host by its lease alone', () => {
    const isAlive = jest.fn(() => false);
    const remote = { ...owner, host: 'elsewhere', bootId: 'other-boot' };
    expect(judgeOwner({ ...base, owner: remote, isAlive })).toEqual({ stale: false });
    expect(judgeOwner({ ...base, owner: remote, now: 9_999, isAlive })).toEqual({ stale: true, cause: 'lease-expired' });
    expect(isAlive).not.toHaveBeenCalled();
  });

  it('on a store shared by machines, judges a same-named host of another boot by its lease (it may be another machine)', () => {
    const isAlive = jest.fn(() => false);
    const twin = { ...base, self: { host: 'box', bootId: 'boot-2' }, isAlive, sharedAcrossMachines: true };
    expect(judgeOwner(twin)).toEqual({ stale: false });
    expect(judgeOwner({ ...twin, now: 9_999 })).toEqual({ stale: true, cause: 'lease-expired' });
    expect(isAlive).not.toHaveBeenCalled();
    // Same host and boot: still this machine, whose process table is the truth.
    expect(judgeOwner({ ...base, isAlive: () => false, sharedAcrossMachines: true })).toEqual({ stale: true, cause: 'owner-dead' });
  });
});
