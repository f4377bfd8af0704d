/**
 * What a dispatch pass costs with many ready tasks, in what it asks the coordinator and what it reports (not in time:
 * `tools/bench/scheduler-pass.js` measures that): bench:e2e10k's 4,000-task run stalled because each pass asked the
 * store about many ready tasks and High-risk reservations piled up.
 */
import { FULL_PASS_EVERY_POLLS, runScheduledTasks, type DriverOptions, type DriverPorts, type DriverTask } from './driver';
import { createFakePorts, FakeClock, FakeStore } from './test-support/fake-world';

const MIN = 60_000;

interface Spec {
  id: string;
  deps?: string[];
  scope?: string[];
  exclusive?: boolean;
  minutes: number;
  /** Known to the driver (estimateMs); defaults to `minutes`. Null: unknown. */
  estimate?: number | null;
}

function world(specs: Spec[], { wipLimit = 3, thresholdMs = 10 * MIN }: { wipLimit?: number; thresholdMs?: number } = {}) {
  const clock = new FakeClock();
  const tasks: DriverTask[] = specs.map((s) => ({
    taskId: s.id,
    fileScope: s.scope ?? [`${s.id}.ts`],
    conflictsWith: [],
    exclusive: s.exclusive ?? false,
    dependsOn: s.deps ?? [],
    ...(s.estimate === null ? {} : { estimateMs: (s.estimate ?? s.minutes) * MIN }),
  }));
  const estimatesMs = new Map(specs.map((s) => [s.id, s.minutes * MIN]));
  const store = new FakeStore(clock, new Map(tasks.map((t) => [t.taskId, t])), { wipLimit, thresholdMs, estimatesMs });
  const durations = new Map(specs.map((s) => [s.id, s.minutes * MIN]));
  const options = (extra: Partial<DriverOptions> = {}): DriverOptions => ({
    tasks,
    order: tasks.map((t) => t.taskId),
    wipLimit,
    pollMs: MIN,
    ...extra,
  });
  const startOf = (id: string) => store.runs.find((r) => r.taskId === id)!.start / MIN;
  return { clock, store, durations, options, startOf };
}

/** Calls of tryStart with a reserveOnly flag, per task. */
const calls = (store: FakeStore, pred: (c: FakeStore['tryStartCalls'][number]) => boolean) => store.tryStartCalls.filter(pred).length;

describe('runScheduledTasks at backlog scale', () => {
  it('asks the coordinator about one task per freed slot, not about every ready task, and reports each wait once', async () => {
    // 300 independent one-minute tasks, 3 slots: 100 rounds of starts.
    const w = world(Array.from({ length: 300 }, (_, i) => ({ id: `T${String(i).padStart(3, '0')}`, minutes: 1 })));
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    await runScheduledTasks(w.options(), ports);
    expect(w.store.runs).toHaveLength(300);
    // Each start is one ask; a pass stops at "all slots busy" without asking about the rest.
    expect(w.store.tryStartCalls.length).toBeLessThanOrEqual(300 + 3);
    // Priority order is kept: tasks start in the given order.
    expect(w.store.runs.map((r) => r.taskId)).toEqual(w.options().order);
    // A task waiting for a slot is told so once, however many passes run while it waits.
    const waits = new Map<string, number>();
    for (const e of ports.events) if (e.kind === 'waiting') waits.set(e.taskId, (waits.get(e.taskId) ?? 0) + 1);
    expect(Math.max(...waits.values())).toBe(1);
    expect(waits.size).toBe(297);
  });

  it('while a reservation holds, asks only about tasks short enough to backfill, and still lets them backfill', async () => {
    // LONG runs 0-40. HR becomes ready at 5 and reserves at once (threshold 0). 40 tasks of 60 min cannot backfill;
    // SHORT (30 min, ends at 35 <= 40) can. Polls every minute: 35 passes while the reservation holds.
    const w = world(
      [
        { id: 'LONG', minutes: 40 },
        { id: 'P', minutes: 5 },
        { id: 'HR', exclusive: true, deps: ['P'], minutes: 10 },
        ...Array.from({ length: 40 }, (_, i) => ({ id: `L${String(i).padStart(2, '0')}`, deps: ['P'], minutes: 60 })),
        { id: 'SHORT', deps: ['P'], minutes: 30 },
      ],
      { thresholdMs: 0, wipLimit: 3 },
    );
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    await runScheduledTasks(w.options(), ports);
    expect(w.startOf('SHORT')).toBe(5);
    expect(w.startOf('HR')).toBe(40);
    // Between 5 and 40 only the first long task of each pass is asked (the refusal shows the rest cannot backfill).
    const longAsks = calls(w.store, (c) => c.taskId.startsWith('L') && c.taskId !== 'LONG' && c.at > 5 * MIN && c.at < 40 * MIN);
    const passes = new Set(w.store.tryStartCalls.filter((c) => c.at > 5 * MIN && c.at < 40 * MIN).map((c) => c.at)).size;
    expect(longAsks).toBeLessThanOrEqual(passes);
    expect(longAsks).toBeGreaterThan(0);
  });

  it('without estimates, every task the local check admits is still offered during a reservation (backfill is the coordinator\'s call)', async () => {
    const w = world(
      [
        { id: 'LONG', minutes: 40 },
        { id: 'P', minutes: 5 },
        { id: 'HR', exclusive: true, deps: ['P'], minutes: 10 },
        { id: 'TOO_LONG', deps: ['P'], minutes: 60, estimate: null },
        { id: 'SHORT', deps: ['P'], minutes: 30, estimate: null },
      ],
      { thresholdMs: 0 },
    );
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    await runScheduledTasks(w.options(), ports);
    expect([w.startOf('SHORT'), w.startOf('HR'), w.startOf('TOO_LONG')]).toEqual([5, 40, 50]);
  });

  it('holds at most one reservation at a time, for the exclusive task that has waited longest', async () => {
    // Another process runs BIG (0-30 min), so no exclusive task can start before 30. X1..X4 become ready at 1, 2, 3
    // and 4 min (when P1..P4 end here), the later ones with higher priority. Threshold 5 min: by 9 min all four have
    // waited past it, but only the first to become ready may reserve (each reservation holds the whole workspace
    // back; they would be granted one at a time anyway).
    const w = world(
      [
        ...['4', '3', '2', '1'].map((k) => ({ id: `X${k}`, exclusive: true, deps: [`P${k}`], minutes: 2 })),
        ...['1', '2', '3', '4'].map((k) => ({ id: `P${k}`, minutes: Number(k) })),
        { id: 'BIG', minutes: 30 },
      ],
      { wipLimit: 3, thresholdMs: 5 * MIN },
    );
    w.store.claim('elsewhere', 'BIG');
    w.clock.at(30 * MIN, () => w.store.finish('BIG', { success: true }));
    const reservedBy = new Set<string>();
    let maxReservations = 0;
    const base = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    const ports: DriverPorts = {
      ...base,
      tryStart: (id, since, options) => {
        const outcome = base.tryStart(id, since, options);
        maxReservations = Math.max(maxReservations, w.store.reservations.length);
        if (w.clock.now < 30 * MIN) for (const r of w.store.reservations) reservedBy.add(r.taskId);
        return outcome;
      },
    };
    const tasks = w.options().tasks.filter((t) => t.taskId !== 'BIG');
    await runScheduledTasks(w.options({ tasks, order: ['X4', 'X3', 'X2', 'X1', 'P1', 'P2', 'P3', 'P4'] }), ports);
    expect(maxReservations).toBe(1);
    expect([...reservedBy]).toEqual(['X1']);
    // X1 holds the reservation, so it runs first when BIG ends. While it runs, X2 (now the longest waiting, past the
    // threshold) reserves the workspace next, and so on: one reservation at a time, in waiting order, each alone.
    const xs = ['X1', 'X2', 'X3', 'X4'].map((id) => [id, w.startOf(id)] as const).sort((a, b) => a[1] - b[1]);
    expect(xs).toEqual([['X1', 30], ['X2', 32], ['X3', 34], ['X4', 36]]);
  });

  it('when an exclusive task takes the empty workspace, the next one is told at once and shown to the coordinator', async () => {
    const w = world([
      { id: 'X1', exclusive: true, minutes: 5 },
      { id: 'X2', exclusive: true, minutes: 5 },
      { id: 'A', minutes: 5 },
    ]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    await runScheduledTasks(w.options(), ports);
    const atStart = ports.events.filter((e) => e.at === 0).map((e) => `${e.taskId}: ${e.line}`);
    expect(atStart).toEqual(['X1: X1: started', 'X2: waiting: High-risk task X1 running', 'A: waiting: High-risk task X1 running']);
    // X2, now the longest waiting, was shown to the coordinator in that same pass (its waiting time counts).
    expect(w.store.tryStartCalls.filter((c) => c.at === 0).map((c) => `${c.taskId}${c.reserveOnly ? ' (reserveOnly)' : ''}`)).toEqual(['X1', 'X2 (reserveOnly)']);
  });

  it('with a store version, a quiet poll asks only for the starvation candidate; a full pass follows a store change', async () => {
    // Another process holds db/ (OTHER, 30 min). WAITER (db/) waits; HR waits to run alone beside LOCAL (30 min).
    const w = world(
      [
        { id: 'LOCAL', minutes: 30 },
        { id: 'HR', exclusive: true, minutes: 5 },
        { id: 'WAITER', scope: ['db/'], minutes: 5 },
        { id: 'OTHER', scope: ['db/'], minutes: 12 },
      ],
      { thresholdMs: Infinity },
    );
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    w.store.claim('elsewhere', 'OTHER');
    w.clock.at(12 * MIN, () => w.store.finish('OTHER', { success: true }));
    // Changes with every claim and finish of any process, as the task store's row revisions do.
    const withVersion: DriverPorts = { ...ports, storeVersion: () => w.store.runs.length * 1000 + w.store.outcomes.size };
    const tasks = w.options().tasks.filter((t) => t.taskId !== 'OTHER');
    await runScheduledTasks(w.options({ tasks, order: ['LOCAL', 'HR', 'WAITER'] }), withVersion);
    // WAITER starts at the first poll after OTHER ends elsewhere (a store change), not FULL_PASS_EVERY_POLLS later.
    expect(w.startOf('WAITER')).toBe(12);
    // Between 1 and 12 min (11 polls, nothing changed here nor in the store), WAITER was asked only by full passes.
    const waiterAsks = calls(w.store, (c) => c.taskId === 'WAITER' && c.at > 0 && c.at < 12 * MIN);
    expect(waiterAsks).toBeLessThanOrEqual(Math.ceil(11 / FULL_PASS_EVERY_POLLS));
    // HR (refused here while LOCAL runs) was shown to the coordinator at every poll: its waiting time must count.
    expect(calls(w.store, (c) => c.taskId === 'HR' && c.reserveOnly && c.at > 0 && c.at < 12 * MIN)).toBeGreaterThanOrEqual(11);
  });

  it('without a store version, every poll runs a full pass (another process may have freed something)', async () => {
    const w = world(
      [
        { id: 'LOCAL', minutes: 30 },
        { id: 'WAITER', scope: ['db/'], minutes: 5 },
        { id: 'OTHER', scope: ['db/'], minutes: 12 },
      ],
      { thresholdMs: Infinity },
    );
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    w.store.claim('elsewhere', 'OTHER');
    w.clock.at(12 * MIN, () => w.store.finish('OTHER', { success: true }));
    const tasks = w.options().tasks.filter((t) => t.taskId !== 'OTHER');
    await runScheduledTasks(w.options({ tasks, order: ['LOCAL', 'WAITER'] }), ports);
    expect(w.startOf('WAITER')).toBe(12);
    expect(calls(w.store, (c) => c.taskId === 'WAITER' && c.at > 0 && c.at < 12 * MIN)).toBe(11);
  });
});
