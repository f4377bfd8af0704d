import { runScheduledTasks, streamScheduledTasks, type DriverOptions, type DriverTask, type DriverTaskResult, type RunOutcome } from './driver';
import { buildPriorities } from './priority';
import { findScheduleViolations, type SimInstance } from './simulate';
import { createFakePorts, FakeClock, FakeStore } from './test-support/fake-world';

const MIN = 60_000;

interface Spec {
  id: string;
  deps?: string[];
  scope?: string[];
  conflictsWith?: string[];
  exclusive?: boolean;
  /** Virtual minutes. */
  minutes: number;
}

const toTask = (s: Spec): DriverTask => ({
  taskId: s.id,
  fileScope: s.scope ?? [`${s.id}.ts`],
  conflictsWith: s.conflictsWith ?? [],
  exclusive: s.exclusive ?? false,
  dependsOn: s.deps ?? [],
});

function world(
  specs: Spec[],
  { wipLimit = 3, thresholdMs = 10 * MIN, backfill = false }: { wipLimit?: number; thresholdMs?: number; backfill?: boolean } = {},
) {
  const clock = new FakeClock();
  const tasks = specs.map(toTask);
  const estimatesMs = backfill ? new Map(specs.map((s) => [s.id, s.minutes * MIN])) : undefined;
  const store = new FakeStore(clock, new Map(tasks.map((t) => [t.taskId, t])), { wipLimit, thresholdMs, estimatesMs });
  const durations = new Map(specs.map((s) => [s.id, s.minutes * MIN]));
  const order = buildPriorities({
    tasks: tasks.map((t) => ({ task_id: t.taskId, depends_on_tasks: t.dependsOn })),
    estimates: new Map(specs.map((s) => [s.id, s.minutes])),
  }).order;
  const options = (extra: Partial<DriverOptions> = {}): DriverOptions => ({ tasks, order, wipLimit, pollMs: MIN, ...extra });
  /** Rule violations of everything the store saw run (WIP, conflicts, exclusivity, dependencies, durations). */
  const violations = () => {
    const instance: SimInstance = {
      tasks: tasks
        .filter((t) => store.runs.some((r) => r.taskId === t.taskId))
        .map((t) => ({ ...t, estimateMinutes: 1, actualMinutes: durations.get(t.taskId)! / MIN })),
    };
    const runs = store.runs.map((r) => ({ taskId: r.taskId, start: r.start / MIN, end: (r.end ?? Infinity) / MIN }));
    return findScheduleViolations(instance, { makespan: Math.max(0, ...runs.map((r) => r.end)), runs }, wipLimit);
  };
  const startOf = (id: string) => store.runs.find((r) => r.taskId === id)!.start / MIN;
  const endOf = (id: string) => store.runs.find((r) => r.taskId === id)!.end! / MIN;
  return { clock, tasks, store, durations, order, options, violations, startOf, endOf };
}

const statuses = (results: Map<string, DriverTaskResult>) =>
  Object.fromEntries([...results].map(([id, r]) => [id, r.reason ? `${r.status} ${r.reason}` : r.status]));

describe('runScheduledTasks', () => {
  it('runs a chain in dependency order, each task as soon as its dependency ends', async () => {
    const w = world([
      { id: 'A', minutes: 10 },
      { id: 'B', deps: ['A'], minutes: 20 },
      { id: 'C', deps: ['B'], minutes: 30 },
    ]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    const results = await runScheduledTasks(w.options(), ports);
    expect(statuses(results)).toEqual({ A: 'success', B: 'success', C: 'success' });
    expect([w.startOf('A'), w.startOf('B'), w.startOf('C')]).toEqual([0, 10, 30]);
    expect([...results.values()].every((r) => r.ranHere)).toBe(true);
    expect(w.violations()).toEqual([]);
  });

  it('fans out with at most 3 running, filling each freed slot at once in priority order', async () => {
    const children = [7, 3, 9, 4, 8, 2, 6, 5].map((m, i) => ({ id: `C${i}`, deps: ['ROOT'], minutes: m }));
    const w = world([{ id: 'ROOT', minutes: 10 }, ...children]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    await runScheduledTasks(w.options(), ports);
    expect(w.store.maxConcurrent).toBe(3);
    expect(w.violations()).toEqual([]);
    // The three longest children (highest bottom level) start together right after the root.
    const startedAtTen = children.filter((c) => w.startOf(c.id) === 10).map((c) => c.id);
    expect(startedAtTen.sort()).toEqual(['C0', 'C2', 'C4']);
    // No idle slot while a task is ready: every later start coincides with another child's end.
    const ends = new Set(children.map((c) => w.endOf(c.id)));
    for (const c of children) if (w.startOf(c.id) > 10) expect(ends.has(w.startOf(c.id))).toBe(true);
    // Start order follows priority order (longest first).
    const byStart = [...children].sort((a, b) => w.startOf(a.id) - w.startOf(b.id) || b.minutes - a.minutes);
    expect(byStart.map((c) => c.minutes)).toEqual([9, 8, 7, 6, 5, 4, 3, 2]);
  });

  it('serialises overlapping scopes but runs a sibling name beside them, and says why a task waits', async () => {
    const w = world([
      { id: 'DIR', scope: ['lib/'], minutes: 30 },
      { id: 'FILE', scope: ['lib/x.ts'], minutes: 10 },
      { id: 'SIBLING', scope: ['libx/y.ts'], minutes: 10 },
    ]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    await runScheduledTasks(w.options(), ports);
    expect(w.violations()).toEqual([]);
    expect(w.startOf('DIR')).toBe(0);
    expect(w.startOf('SIBLING')).toBe(0);
    expect(w.startOf('FILE')).toBe(30);
    const waits = ports.events.filter((e) => e.kind === 'waiting' && e.taskId === 'FILE').map((e) => e.line);
    expect(waits).toEqual(['waiting: lib/ held by DIR']);
  });

  it('serialises tasks that declare conflicts_with', async () => {
    const w = world([
      { id: 'A', minutes: 10, conflictsWith: ['B'] },
      { id: 'B', minutes: 10 },
    ]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    await runScheduledTasks(w.options(), ports);
    expect(w.violations()).toEqual([]);
    expect(Math.abs(w.startOf('A') - w.startOf('B'))).toBe(10);
  });

  it('runs an exclusive task alone: first when the workspace is empty, otherwise after a drain', async () => {
    const w = world([
      { id: 'N1', minutes: 10 },
      { id: 'N2', minutes: 50 },
      { id: 'HR0', exclusive: true, minutes: 5 },
      { id: 'HR1', exclusive: true, deps: ['N1'], minutes: 5 },
      { id: 'N3', deps: ['N1'], minutes: 5 },
    ]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    const results = await runScheduledTasks(w.options(), ports);
    expect(Object.values(statuses(results))).toEqual(Array(5).fill('success'));
    expect(w.violations()).toEqual([]);
    // HR0 takes the empty workspace at the start; HR1 waits for N2 (50 min) to drain.
    expect(w.startOf('HR0')).toBe(0);
    expect(w.startOf('N1')).toBe(5);
    expect(w.startOf('HR1')).toBeGreaterThanOrEqual(w.endOf('N2'));
    const lines = ports.events.filter((e) => e.taskId === 'N1' && e.kind === 'waiting').map((e) => e.line);
    expect(lines).toEqual(['waiting: High-risk task HR0 running']);
    expect(ports.events.some((e) => e.taskId === 'HR1' && e.line.startsWith('waiting: runs alone; '))).toBe(true);
  });

  describe('starvation', () => {
    // P ends at 5 min and makes the exclusive HR ready, while a stream of 20 x 10-min tasks keeps both slots busy.
    const specs: Spec[] = [
      { id: 'P', minutes: 5 },
      { id: 'HR', exclusive: true, deps: ['P'], minutes: 5 },
      ...Array.from({ length: 20 }, (_, i) => ({ id: `S${String(i).padStart(2, '0')}`, minutes: 10 })),
    ];

    it('is prevented: after the threshold the exclusive task reserves, the workspace drains and it runs', async () => {
      const w = world(specs, { wipLimit: 2, thresholdMs: 15 * MIN });
      const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
      await runScheduledTasks(w.options(), ports);
      expect(w.violations()).toEqual([]);
      // Ready at 5, reserves at the first look after 20, waits at most one 10-min task: starts by 31 (1-min polls).
      expect(w.startOf('HR')).toBeLessThanOrEqual(31);
      expect(w.store.runs.filter((r) => r.start > w.startOf('HR')).length).toBeGreaterThan(5);
      // The coordinator saw HR's real waiting time (reserveOnly asks while the slots were busy): that is what reserved.
      expect(w.store.tryStartCalls.some((c) => c.taskId === 'HR' && c.reserveOnly)).toBe(true);
    });

    it('happens without reservations (the test above can fail)', async () => {
      const w = world(specs, { wipLimit: 2, thresholdMs: Infinity });
      const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
      await runScheduledTasks(w.options(), ports);
      expect(w.startOf('HR')).toBeGreaterThanOrEqual(100);
    });
  });

  it('lets a short task backfill around a reservation when the coordinator knows estimates', async () => {
    // HR becomes ready at 5 while LONG runs until 40 and reserves at once; TOO_LONG (higher priority) is refused, SHORT
    // (ends at 35) backfills, HR starts when LONG ends.
    const w = world(
      [
        { id: 'LONG', minutes: 40 },
        { id: 'P', minutes: 5 },
        { id: 'HR', exclusive: true, deps: ['P'], minutes: 10 },
        { id: 'TOO_LONG', deps: ['P'], minutes: 60 },
        { id: 'SHORT', deps: ['P'], minutes: 30 },
      ],
      { thresholdMs: 0, backfill: true },
    );
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    await runScheduledTasks(w.options(), ports);
    expect(w.violations()).toEqual([]);
    expect([w.startOf('SHORT'), w.startOf('HR'), w.startOf('TOO_LONG')]).toEqual([5, 40, 50]);
  });

  it('skips only the transitive dependents of a failure, naming the failed task, and runs everything else', async () => {
    const w = world([
      { id: 'A', minutes: 5 },
      { id: 'B', deps: ['A'], minutes: 5 },
      { id: 'C', deps: ['B'], minutes: 5 },
      { id: 'D', minutes: 20 },
      { id: 'E', deps: ['D', 'C'], minutes: 5 },
      { id: 'F', deps: ['D'], minutes: 5 },
    ]);
    const ports = createFakePorts({
      clock: w.clock,
      store: w.store,
      durations: w.durations,
      outcomes: new Map([['A', { success: false, reason: 'A: verification failed' }]]),
    });
    const seen: string[] = [];
    const results = await runScheduledTasks(w.options({ onResult: (r) => seen.push(r.taskId) }), ports);
    expect(statuses(results)).toEqual({
      A: 'failure A: verification failed',
      B: 'skipped-dependency-failed dependency_failed:A',
      C: 'skipped-dependency-failed dependency_failed:A',
      D: 'success',
      E: 'skipped-dependency-failed dependency_failed:A',
      F: 'success',
    });
    expect(ports.ran.sort()).toEqual(['A', 'D', 'F']);
    // Results arrive as they happen: A's failure and its skips at 5 min, before D ends at 20.
    expect(seen.indexOf('C')).toBeLessThan(seen.indexOf('D'));
  });

  it('uses the states of dependencies outside the run', async () => {
    const w = world([
      { id: 'NEEDS_FAILED', deps: ['EXT_FAILED'], minutes: 5 },
      { id: 'AFTER', deps: ['NEEDS_FAILED'], minutes: 5 },
      { id: 'NEEDS_DONE', deps: ['EXT_DONE'], minutes: 5 },
    ]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    const externalStates = new Map([
      ['EXT_FAILED', 'failed' as const],
      ['EXT_DONE', 'completed' as const],
    ]);
    const results = await runScheduledTasks(w.options({ externalStates }), ports);
    expect(statuses(results)).toEqual({
      NEEDS_FAILED: 'skipped-dependency-failed dependency_failed:EXT_FAILED',
      AFTER: 'skipped-dependency-failed dependency_failed:EXT_FAILED',
      NEEDS_DONE: 'success',
    });
  });

  it.each([
    [{ success: true }, 'success', 'success'],
    [{ success: false, reason: 'agent exited 1' }, 'failure agent exited 1', 'skipped-dependency-failed dependency_failed:T'],
  ])('waits for a task running in another process, then uses its outcome %j', async (outcome, tStatus, uStatus) => {
    const w = world([
      { id: 'T', minutes: 45 },
      { id: 'U', deps: ['T'], minutes: 5 },
    ]);
    w.store.claim('other-process', 'T');
    w.clock.at(45 * MIN, () => w.store.finish('T', outcome));
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    const results = await runScheduledTasks(w.options(), ports);
    expect(statuses(results)).toEqual({ T: tStatus, U: uStatus });
    expect(results.get('T')!.ranHere).toBe(false);
    expect(ports.ran).toEqual(outcome.success ? ['U'] : []);
    // Seen at the first poll after 45 min.
    if (outcome.success) expect(w.startOf('U')).toBe(45);
    const elsewhere = ports.events.filter((e) => e.kind === 'running-elsewhere');
    expect(elsewhere).toHaveLength(1);
    expect(elsewhere[0].line).toBe('waiting: running in another process (other-process)');
  });

  it('does not run a task the coordinator reports finished already', async () => {
    const w = world([{ id: 'DONE', minutes: 5 }]);
    w.store.outcomes.set('DONE', { success: true });
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    const results = await runScheduledTasks(w.options(), ports);
    expect(results.get('DONE')).toEqual({ taskId: 'DONE', status: 'success', ranHere: false });
    expect(ports.ran).toEqual([]);
  });

  it('reports a waiting reason once per change, not once per poll', async () => {
    const w = world([
      { id: 'LONG', scope: ['db/'], minutes: 30 },
      { id: 'WAITER', scope: ['db/'], minutes: 5 },
    ]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    await runScheduledTasks(w.options({ pollMs: MIN }), ports);
    const lines = ports.events.filter((e) => e.taskId === 'WAITER').map((e) => e.kind);
    expect(lines).toEqual(['waiting', 'started', 'finished']);
  });

  it('never runs more than the WIP limit locally, even if the coordinator admits everything', async () => {
    const w = world(Array.from({ length: 10 }, (_, i) => ({ id: `T${i}`, minutes: 3 + i })));
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    let concurrent = 0;
    let max = 0;
    const permissive = {
      ...ports,
      tryStart: (_id: string, _since: number, options?: { reserveOnly?: boolean }) =>
        options?.reserveOnly ? ({ kind: 'wait', reason: { kind: 'wip', running: 0, limit: 3 } } as const) : ({ kind: 'started' } as const),
      run: async (id: string): Promise<RunOutcome> => {
        max = Math.max(max, ++concurrent);
        await new Promise<void>((resolve) => w.clock.at(w.clock.now + w.durations.get(id)!, resolve));
        concurrent--;
        return { success: true };
      },
    };
    const results = await runScheduledTasks(w.options(), permissive);
    expect(results.size).toBe(10);
    expect(max).toBe(3);
  });

  it('shares the work with a second process: each task runs once, the global WIP limit holds', async () => {
    const specs: Spec[] = [
      { id: 'ROOT', minutes: 4 },
      ...Array.from({ length: 12 }, (_, i) => ({ id: `W${i}`, deps: ['ROOT'], minutes: 3 + ((i * 7) % 11), scope: [`w/${i % 5}.ts`] })),
      { id: 'HR', exclusive: true, deps: ['W0'], minutes: 6 },
      { id: 'SINK', deps: ['W1', 'W2', 'HR'], minutes: 2 },
    ];
    const w = world(specs, { wipLimit: 3, thresholdMs: 5 * MIN });
    const one = createFakePorts({ clock: w.clock, store: w.store, owner: 'one', durations: w.durations });
    const two = createFakePorts({ clock: w.clock, store: w.store, owner: 'two', durations: w.durations });
    // Each process may run 2 locally; the store allows 3 in total, so the second process gets the third slot.
    const [r1, r2] = await Promise.all([
      runScheduledTasks(w.options({ wipLimit: 2 }), one),
      runScheduledTasks(w.options({ wipLimit: 2 }), two),
    ]);
    expect(w.violations()).toEqual([]);
    expect(w.store.maxConcurrent).toBe(3);
    for (const s of specs) {
      expect(r1.get(s.id)!.status).toBe('success');
      expect(r2.get(s.id)!.status).toBe('success');
      expect(Number(r1.get(s.id)!.ranHere) + Number(r2.get(s.id)!.ranHere)).toBe(1);
    }
    expect(w.store.runs).toHaveLength(specs.length);
    expect(one.ran.length).toBeGreaterThan(0);
    expect(two.ran.length).toBeGreaterThan(0);
  });

  it('records a runner that throws as that task failing, and carries on', async () => {
    const w = world([
      { id: 'BOOM', minutes: 5 },
      { id: 'AFTER_BOOM', deps: ['BOOM'], minutes: 5 },
      { id: 'FINE', minutes: 10 },
    ]);
    const ports = createFakePorts({
      clock: w.clock,
      store: w.store,
      durations: w.durations,
      outcomes: new Map([['BOOM', () => { throw new Error('adapter crashed'); }]]),
    });
    const results = await runScheduledTasks(w.options(), ports);
    expect(statuses(results)).toEqual({
      BOOM: 'failure run threw: adapter crashed',
      AFTER_BOOM: 'skipped-dependency-failed dependency_failed:BOOM',
      FINE: 'success',
    });
  });

  it('stops starting tasks when the coordinator fails, lets running ones finish, then rethrows', async () => {
    const w = world([
      { id: 'RUNNING', minutes: 30 },
      { id: 'P', minutes: 5 },
      { id: 'AFTER_P', deps: ['P'], minutes: 5 },
    ]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    const failing = {
      ...ports,
      tryStart: (id: string, since: number, options?: { reserveOnly?: boolean }) => {
        if (id === 'AFTER_P') throw new Error('database is locked');
        return ports.tryStart(id, since, options);
      },
    };
    const seen: string[] = [];
    await expect(runScheduledTasks(w.options({ onResult: (r) => seen.push(r.taskId) }), failing)).rejects.toThrow('database is locked');
    expect(seen.sort()).toEqual(['P', 'RUNNING']);
    expect(w.clock.now).toBe(30 * MIN);
    expect(ports.ran.sort()).toEqual(['P', 'RUNNING']);
  });

  it('follows the given priority order when only one slot exists', async () => {
    const w = world(['A', 'B', 'C', 'D'].map((id) => ({ id, minutes: 1 })), { wipLimit: 1 });
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    await runScheduledTasks(w.options({ order: ['C', 'A', 'D', 'B'], wipLimit: 1 }), ports);
    expect(ports.ran).toEqual(['C', 'A', 'D', 'B']);
  });

  it.each<[string, Partial<DriverOptions>, RegExp]>([
    ['an unknown dependency', { tasks: [toTask({ id: 'A', deps: ['GHOST'], minutes: 1 })] }, /A depends on GHOST, which is neither in the run nor in externalStates/],
    ['a duplicate id', { tasks: [toTask({ id: 'A', minutes: 1 }), toTask({ id: 'A', minutes: 1 })] }, /A appears twice/],
    [
      'a cycle',
      { tasks: [toTask({ id: 'A', deps: ['B'], minutes: 1 }), toTask({ id: 'B', deps: ['A'], minutes: 1 }), toTask({ id: 'OK', minutes: 1 })] },
      /dependency cycle through A, B/,
    ],
    ['a zero WIP limit', { wipLimit: 0 }, /wipLimit must be an integer >= 1/],
  ])('rejects %s before running anything', async (_, extra, message) => {
    const w = world([{ id: 'A', minutes: 1 }, { id: 'B', minutes: 1 }, { id: 'OK', minutes: 1 }]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    await expect(runScheduledTasks(w.options(extra), ports)).rejects.toThrow(message);
    expect(ports.ran).toEqual([]);
  });
});

describe('streamScheduledTasks', () => {
  it('yields each result as soon as it is known', async () => {
    const w = world([
      { id: 'SLOW', minutes: 30 },
      { id: 'FAST', minutes: 5 },
      { id: 'NEXT', deps: ['FAST'], minutes: 5 },
    ]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    const seen: [string, number][] = [];
    for await (const result of streamScheduledTasks(w.options(), ports)) seen.push([result.taskId, w.clock.now / MIN]);
    expect(seen).toEqual([
      ['FAST', 5],
      ['NEXT', 10],
      ['SLOW', 30],
    ]);
  });

  it('rethrows an error of the run', async () => {
    const w = world([{ id: 'A', deps: ['GHOST'], minutes: 1 }]);
    const ports = createFakePorts({ clock: w.clock, store: w.store, durations: w.durations });
    const consume = async () => {
      for await (const _ of streamScheduledTasks(w.options(), ports)) void _;
    };
    await expect(consume()).rejects.toThrow(/GHOST/);
  });
});
