import { createAdmissionCheck, decideAdmission, formatWaitReason, getWaitKey, orderForDispatch, shouldReserve } from './admission';
import { exclusive, fp, running } from './test-support/footprints';
import type { AdmissionDecision, ExclusiveReservation, RunningTask, TaskFootprint, WaitReason } from './types';

const decide = (
  candidate: TaskFootprint,
  runningTasks: RunningTask[],
  { wipLimit = 3, reservations = [] as ExclusiveReservation[] } = {},
): AdmissionDecision => decideAdmission({ candidate, running: runningTasks, reservations, wipLimit });

const admitted: AdmissionDecision = { admit: true };
const refused = (reason: WaitReason): AdmissionDecision => ({ admit: false, reason });
const r = (id: string, scope: string[] = [`${id}.ts`]) => running(fp(id, scope));

describe('decideAdmission: WIP limit', () => {
  it.each([
    [3, 0, true],
    [3, 1, true],
    [3, 2, true],
    [3, 3, false],
    [3, 4, false],
    [1, 0, true],
    [1, 1, false],
    [5, 4, true],
    [5, 5, false],
  ])('limit %d with %d running -> admitted %s', (wipLimit, count, expected) => {
    const runningTasks = Array.from({ length: count }, (_, i) => r(`R${i}`));
    const decision = decide(fp('C', ['c.ts']), runningTasks, { wipLimit });
    expect(decision).toEqual(expected ? admitted : refused({ kind: 'wip', running: count, limit: wipLimit }));
  });

  it('does not count an entry for the candidate itself', () => {
    expect(decide(fp('C', ['c.ts']), [r('C', ['c.ts']), r('A'), r('B')])).toEqual(admitted);
  });
});

describe('decideAdmission: file scope', () => {
  it.each([
    // candidate scope, running scope, expected reason entry/heldEntry or undefined when admitted
    [['packages/storage/db.ts'], ['packages/storage/'], ['packages/storage/db.ts', 'packages/storage/']],
    [['packages/storage/'], ['packages/storage/db.ts'], ['packages/storage/', 'packages/storage/db.ts']],
    [['packages/storage/'], ['packages/storage/'], ['packages/storage/', 'packages/storage/']],
    [['package.json'], ['package.json'], ['package.json', 'package.json']],
    [['packages/'], ['packages/storage/schema/x.sql'], ['packages/', 'packages/storage/schema/x.sql']],
    [['src/a'], ['src/ab.ts'], undefined],
    [['src/ab.ts'], ['src/a'], undefined],
    [['src/a/'], ['src/ab/'], undefined],
    [['packages/storage-v2/'], ['packages/storage/'], undefined],
    [['src/a.ts'], ['src/b.ts'], undefined],
    [[], ['src/'], undefined],
  ])('candidate %j beside running %j', (candidateScope, runningScope, expected) => {
    const decision = decide(fp('C', candidateScope), [running(fp('SQLITE_SCHEMA--T01', runningScope))]);
    if (expected === undefined) expect(decision).toEqual(admitted);
    else {
      expect(decision).toEqual(
        refused({ kind: 'scope', entry: expected[0], heldBy: 'SQLITE_SCHEMA--T01', heldEntry: expected[1] }),
      );
    }
  });

  it('checks every running task, not only the first', () => {
    expect(decide(fp('C', ['lib/']), [r('A'), r('B'), running(fp('HOLDER', ['lib/x.ts']))], { wipLimit: 4 })).toEqual(
      refused({ kind: 'scope', entry: 'lib/', heldBy: 'HOLDER', heldEntry: 'lib/x.ts' }),
    );
  });
});

describe('decideAdmission: declared conflicts', () => {
  it.each([
    ['candidate declares the running task', fp('C', ['c.ts'], { conflictsWith: ['R'] }), fp('R', ['r.ts'])],
    ['running task declares the candidate', fp('C', ['c.ts']), fp('R', ['r.ts'], { conflictsWith: ['C'] })],
  ])('%s', (_, candidate, holder) => {
    expect(decide(candidate, [running(holder)])).toEqual(refused({ kind: 'declared-conflict', heldBy: 'R' }));
  });

  it('ignores a declared conflict with a task that is not running', () => {
    expect(decide(fp('C', ['c.ts'], { conflictsWith: ['ELSEWHERE'] }), [r('R')])).toEqual(admitted);
  });
});

describe('decideAdmission: exclusive tasks', () => {
  it('admits an exclusive candidate only when nothing runs', () => {
    expect(decide(exclusive('X'), [])).toEqual(admitted);
    expect(decide(exclusive('X'), [r('A')])).toEqual(refused({ kind: 'needs-exclusive', running: ['A'] }));
    expect(decide(exclusive('X'), [r('A'), r('B')], { wipLimit: 10 })).toEqual(
      refused({ kind: 'needs-exclusive', running: ['A', 'B'] }),
    );
  });

  it('reports needs-exclusive rather than wip when both apply', () => {
    expect(decide(exclusive('X'), [r('A'), r('B'), r('C')])).toEqual(
      refused({ kind: 'needs-exclusive', running: ['A', 'B', 'C'] }),
    );
  });

  it('refuses every candidate while an exclusive task runs, whatever its scope', () => {
    const hr = running(exclusive('HR', ['db/']));
    expect(decide(fp('C', ['elsewhere.ts']), [hr])).toEqual(refused({ kind: 'exclusive-running', heldBy: 'HR' }));
    expect(decide(fp('C', []), [hr], { wipLimit: 100 })).toEqual(refused({ kind: 'exclusive-running', heldBy: 'HR' }));
    expect(decide(exclusive('X'), [hr])).toEqual(refused({ kind: 'exclusive-running', heldBy: 'HR' }));
  });
});

describe('decideAdmission: reservations', () => {
  const res = (taskId: string, since: number): ExclusiveReservation => ({ taskId, since });

  it('refuses any other candidate while a reservation exists, even with free slots and no overlap', () => {
    expect(decide(fp('C', ['c.ts']), [], { reservations: [res('HR', 5)] })).toEqual(refused({ kind: 'reserved', by: 'HR' }));
    expect(decide(fp('C', ['c.ts']), [r('A')], { reservations: [res('HR', 5)] })).toEqual(refused({ kind: 'reserved', by: 'HR' }));
  });

  it('lets the holder ignore its own reservation', () => {
    expect(decide(exclusive('HR'), [], { reservations: [res('HR', 5)] })).toEqual(admitted);
    // ... but it still waits for the workspace to drain.
    expect(decide(exclusive('HR'), [r('A')], { reservations: [res('HR', 5)] })).toEqual(
      refused({ kind: 'needs-exclusive', running: ['A'] }),
    );
  });

  it('gives the oldest reservation among exclusive tasks the first turn', () => {
    const reservations = [res('YOUNG', 20), res('OLD', 10)];
    expect(decide(exclusive('OLD'), [], { reservations })).toEqual(admitted);
    expect(decide(exclusive('YOUNG'), [], { reservations })).toEqual(refused({ kind: 'reserved', by: 'OLD' }));
  });

  it('breaks equal reservation times by task id, so every process agrees', () => {
    const reservations = [res('B', 10), res('A', 10)];
    expect(decide(exclusive('A'), [], { reservations })).toEqual(admitted);
    expect(decide(exclusive('B'), [], { reservations })).toEqual(refused({ kind: 'reserved', by: 'A' }));
  });

  it('keeps an exclusive candidate without a reservation behind one with a reservation', () => {
    expect(decide(exclusive('LATE'), [], { reservations: [res('HR', 50)] })).toEqual(refused({ kind: 'reserved', by: 'HR' }));
  });

  it('names the oldest reservation when several block a candidate', () => {
    const reservations = [res('B', 30), res('A', 20), res('C', 40)];
    expect(decide(fp('N', ['n.ts']), [], { reservations })).toEqual(refused({ kind: 'reserved', by: 'A' }));
  });

  it('reports a running exclusive task before a reservation, and a reservation before the WIP limit', () => {
    const reservations = [res('HR', 1)];
    expect(decide(fp('N'), [running(exclusive('RUNNING_HR'))], { reservations })).toEqual(
      refused({ kind: 'exclusive-running', heldBy: 'RUNNING_HR' }),
    );
    expect(decide(fp('N'), [r('A'), r('B'), r('C')], { reservations })).toEqual(refused({ kind: 'reserved', by: 'HR' }));
  });

  it('cannot starve: once reserved, nothing new starts, the workspace drains, and the holder starts', () => {
    const hr = exclusive('HR', ['db/']);
    const reservations = [res('HR', 0)];
    let runningTasks = [r('A'), r('B'), r('C')];
    const stream = ['D', 'E', 'F', 'G'].map((id) => fp(id, [`${id}.ts`]));
    for (const finished of ['A', 'B', 'C']) {
      runningTasks = runningTasks.filter((t) => t.taskId !== finished);
      for (const next of stream) expect(decideAdmission({ candidate: next, running: runningTasks, reservations, wipLimit: 3 }).admit).toBe(false);
    }
    expect(decideAdmission({ candidate: hr, running: runningTasks, reservations, wipLimit: 3 })).toEqual(admitted);
  });
});

describe('decideAdmission: backfilling around a reservation', () => {
  const min = 60_000;
  // A runs from 0 for 30 min, B from 10 for 10 min: the workspace is estimated to drain at 30 min.
  const runningTasks = [running(fp('A', ['a.ts']), 0), running(fp('B', ['b.ts']), 10 * min)];
  const reservations = [{ taskId: 'HR', since: 0 }];
  const estimatesMs = new Map([
    ['A', 30 * min],
    ['B', 10 * min],
    ['SHORT', 5 * min],
    ['FITS', 10 * min],
    ['LONG', 20 * min],
    ['HR', 60 * min],
  ]);
  const at = (now: number, candidate: TaskFootprint, extra: Partial<Parameters<typeof decideAdmission>[0]> = {}) =>
    decideAdmission({ candidate, running: runningTasks, reservations, wipLimit: 3, now, estimatesMs, ...extra });

  it('admits a task estimated to end before the running tasks drain (boundary included)', () => {
    expect(at(15 * min, fp('SHORT', ['s.ts']))).toEqual(admitted);
    expect(at(20 * min, fp('FITS', ['f.ts']))).toEqual(admitted);
  });

  it('refuses a task that would end after the drain', () => {
    expect(at(15 * min, fp('LONG', ['l.ts']))).toEqual(refused({ kind: 'reserved', by: 'HR' }));
    expect(at(21 * min, fp('FITS', ['f.ts']))).toEqual(refused({ kind: 'reserved', by: 'HR' }));
  });

  it('never backfills without estimates, when nothing runs, or for an exclusive candidate', () => {
    expect(at(15 * min, fp('UNKNOWN', ['u.ts']))).toEqual(refused({ kind: 'reserved', by: 'HR' }));
    expect(at(15 * min, fp('SHORT', ['s.ts']), { now: undefined })).toEqual(refused({ kind: 'reserved', by: 'HR' }));
    expect(at(15 * min, fp('SHORT', ['s.ts']), { running: [] })).toEqual(refused({ kind: 'reserved', by: 'HR' }));
    expect(at(15 * min, { ...exclusive('SHORT') })).toEqual(refused({ kind: 'reserved', by: 'HR' }));
    const unknownRunning = [...runningTasks, running(fp('MYSTERY', ['m.ts']), 0)];
    expect(at(15 * min, fp('SHORT', ['s.ts']), { running: unknownRunning, wipLimit: 4 })).toEqual(
      refused({ kind: 'reserved', by: 'HR' }),
    );
  });

  it('still applies the WIP limit and scope rules to a backfilled task', () => {
    expect(at(15 * min, fp('SHORT', ['s.ts']), { wipLimit: 2 })).toEqual(refused({ kind: 'wip', running: 2, limit: 2 }));
    expect(at(15 * min, fp('SHORT', ['a.ts']))).toEqual(refused({ kind: 'scope', entry: 'a.ts', heldBy: 'A', heldEntry: 'a.ts' }));
  });
});

describe('shouldReserve', () => {
  const threshold = 10 * 60_000;
  it.each([
    [true, 0, threshold - 1, false],
    [true, 0, threshold, true],
    [true, 0, threshold + 1, true],
    [true, 5_000, 5_000 + threshold, true],
    [false, 0, 10 * threshold, false],
  ])('exclusive %s, waiting since %d, now %d -> %s', (isExclusive, since, now, expected) => {
    expect(shouldReserve({ candidate: fp('X', [], { exclusive: isExclusive }), waitingSinceMs: since, now, thresholdMs: threshold })).toBe(
      expected,
    );
  });

  it('reserves at once with a zero threshold and never with an infinite one', () => {
    expect(shouldReserve({ candidate: exclusive('X'), waitingSinceMs: 7, now: 7, thresholdMs: 0 })).toBe(true);
    expect(shouldReserve({ candidate: exclusive('X'), waitingSinceMs: 0, now: 1e15, thresholdMs: Infinity })).toBe(false);
  });
});

describe('formatWaitReason', () => {
  it.each<[WaitReason, string]>([
    [{ kind: 'scope', entry: 'packages/storage/db.ts', heldBy: 'SQLITE_SCHEMA--T01', heldEntry: 'packages/storage/' }, 'waiting: packages/storage/ held by SQLITE_SCHEMA--T01'],
    [{ kind: 'wip', running: 3, limit: 3 }, 'waiting: 3 of 3 slots busy'],
    [{ kind: 'exclusive-running', heldBy: 'X' }, 'waiting: High-risk task X running'],
    [{ kind: 'declared-conflict', heldBy: 'X' }, 'waiting: conflicts_with X (running)'],
    [{ kind: 'needs-exclusive', running: ['A', 'B'] }, 'waiting: runs alone; 2 running (A, B)'],
    [{ kind: 'reserved', by: 'X' }, 'waiting: High-risk task X is waiting to run alone'],
  ])('%j', (reason, line) => expect(formatWaitReason(reason)).toBe(line));
});

describe('getWaitKey', () => {
  it('is the same wait while an exclusive task waits for other running tasks, whichever they are', () => {
    expect(getWaitKey({ kind: 'needs-exclusive', running: ['A', 'B'] })).toBe(getWaitKey({ kind: 'needs-exclusive', running: ['C'] }));
  });
  it('is the same wait while a task waits for a slot, whatever keeps the slots busy', () => {
    const key = getWaitKey({ kind: 'wip', running: 3, limit: 3 });
    expect(getWaitKey({ kind: 'exclusive-running', heldBy: 'X' })).toBe(key);
    expect(getWaitKey({ kind: 'exclusive-running', heldBy: 'Y' })).toBe(key);
    // A reservation holds the slots back: still a wait for a slot (the store logs the reservation once, as 'reserve').
    expect(getWaitKey({ kind: 'reserved', by: 'X' })).toBe(key);
  });
  it('tells other reasons apart as their lines do', () => {
    expect(getWaitKey({ kind: 'wip', running: 3, limit: 3 })).not.toBe(getWaitKey({ kind: 'needs-exclusive', running: ['A'] }));
    expect(getWaitKey({ kind: 'scope', entry: 'a/x', heldBy: 'A', heldEntry: 'a/' })).not.toBe(getWaitKey({ kind: 'scope', entry: 'a/x', heldBy: 'B', heldEntry: 'a/' }));
    expect(getWaitKey({ kind: 'scope', entry: 'a/x', heldBy: 'A', heldEntry: 'a/' })).not.toBe(getWaitKey({ kind: 'wip', running: 3, limit: 3 }));
  });
});

describe('orderForDispatch', () => {
  it('offers exclusive tasks first, keeping priority order within each group', () => {
    const ready = [fp('A'), exclusive('X1'), fp('B'), exclusive('X2'), fp('C')];
    expect(orderForDispatch(ready).map((t) => t.taskId)).toEqual(['X1', 'X2', 'A', 'B', 'C']);
  });
});

describe('createAdmissionCheck', () => {
  /** mulberry32: the states below are random but the same on every run. */
  const seeded = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  it('decides every candidate as decideAdmission does, reason for reason, on 3,000 random states', () => {
    const random = seeded(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
    const ids = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'];
    const scopes = [[], ['src/a.ts'], ['src/'], ['src/b/'], ['lib/c.ts'], ['src/b/x.ts', 'lib/']];
    const footprint = (id: string): TaskFootprint =>
      fp(id, pick(scopes), { exclusive: random() < 0.25, conflictsWith: random() < 0.2 ? [pick(ids)] : [] });
    let compared = 0;
    for (let round = 0; round < 3000; round++) {
      const shuffled = [...ids].sort(() => random() - 0.5);
      const runningTasks: RunningTask[] = shuffled.slice(0, Math.floor(random() * 4)).map((id) => ({
        ...running(footprint(id), Math.floor(random() * 100)),
        ...(random() < 0.15 ? { parked: true } : {}),
      }));
      const reservations: ExclusiveReservation[] = shuffled
        .filter(() => random() < 0.2)
        .map((taskId) => ({ taskId, since: Math.floor(random() * 3) * 10 }));
      const estimatesMs = random() < 0.8 ? new Map(ids.filter(() => random() < 0.9).map((id) => [id, 10 + Math.floor(random() * 100)])) : undefined;
      const state = { running: runningTasks, reservations, wipLimit: 1 + Math.floor(random() * 3), now: random() < 0.9 ? 50 : undefined, estimatesMs };
      const check = createAdmissionCheck(state);
      for (const id of ids) {
        // Candidates that run or hold a reservation too: their decisions take the slow path, which must agree as well.
        const candidate = runningTasks.find((t) => t.taskId === id) ?? footprint(id);
        expect(check(candidate)).toEqual(decideAdmission({ candidate, ...state }));
        compared++;
      }
    }
    expect(compared).toBe(24_000);
  });
});
