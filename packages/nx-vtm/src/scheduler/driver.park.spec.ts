/**
 * The merge queue never holds a WIP slot: a task whose agent is done parks (keeps its scope, frees its slot) while
 * its work waits to be merged, and takes a slot back before a repair turn, ahead of tasks not yet started. Real
 * timers and a trivial coordinator; the assertions are on the order of events, not on durations.
 */
import { runScheduledTasks, type DriverPorts, type DriverTask, type RunControl, type RunOutcome } from './driver';

const task = (id: string, scope = [`${id}.ts`]): DriverTask => ({ taskId: id, fileScope: scope, conflictsWith: [], exclusive: false, dependsOn: [] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ports whose coordinator admits everything (the driver's own pre-check is what is under test). */
function ports(run: (id: string, control: RunControl) => Promise<RunOutcome>): DriverPorts {
  return {
    tryStart: () => ({ kind: 'started' }),
    run,
    now: () => Date.now(),
    waitForChange: (ms, signal) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        });
      }),
    report: () => undefined,
  };
}

/** A log of "agent at work" intervals, to check the WIP limit over agents. */
function agents() {
  const events: string[] = [];
  let working = 0;
  let max = 0;
  return {
    events,
    get max() {
      return max;
    },
    async work(id: string, ms: number) {
      working++;
      max = Math.max(max, working);
      events.push(`${id}:agent`);
      await sleep(ms);
      working--;
      events.push(`${id}:agent-done`);
    },
  };
}

describe('parking in the merge queue', () => {
  it('a parked task frees its slot: with WIP 1, B starts while A waits to be merged', async () => {
    const a = agents();
    let aMerged = false;
    let bStartedBeforeAMerged: boolean | undefined;
    const results = await runScheduledTasks(
      { tasks: [task('A'), task('B')], order: ['A', 'B'], wipLimit: 1, pollMs: 5_000 },
      ports(async (id, control) => {
        if (id === 'B') bStartedBeforeAMerged = !aMerged;
        await a.work(id, 20);
        control.park();
        if (id === 'A') {
          await sleep(300); // the merged result is being tested
          aMerged = true;
        }
        return { success: true };
      }),
    );
    expect([...results.values()].map((r) => r.status)).toEqual(['success', 'success']);
    expect(bStartedBeforeAMerged).toBe(true);
    expect(a.max).toBe(1);
  });

  it('a parked task keeps its scope: a task on the same files waits until it is merged', async () => {
    let aMerged = false;
    let bSawMerged: boolean | undefined;
    await runScheduledTasks(
      { tasks: [task('A', ['src/x.ts']), task('B', ['src/x.ts'])], order: ['A', 'B'], wipLimit: 3, pollMs: 5_000 },
      ports(async (id, control) => {
        if (id === 'B') bSawMerged = aMerged;
        control.park();
        if (id === 'A') {
          await sleep(100);
          aMerged = true;
        }
        return { success: true };
      }),
    );
    expect(bSawMerged).toBe(true);
  });

  it('a repair turn takes a slot back before its agent runs, ahead of ready tasks: never more agents than the limit', async () => {
    const a = agents();
    const results = await runScheduledTasks(
      { tasks: [task('A'), task('B'), task('C')], order: ['A', 'B', 'C'], wipLimit: 1, pollMs: 5_000 },
      ports(async (id, control) => {
        await a.work(id, 30);
        if (id === 'A') {
          control.park(); // queued: B starts
          await sleep(10);
          await control.takeSlot(); // the merged result failed: repair turn
          await a.work('A2', 30);
        }
        control.park();
        return { success: true };
      }),
    );
    expect([...results.values()].every((r) => r.status === 'success')).toBe(true);
    expect(a.max).toBe(1);
    // A's repair turn went before C, which was ready (and waiting for the slot) all along.
    expect(a.events.indexOf('A2:agent')).toBeLessThan(a.events.indexOf('C:agent'));
    expect(a.events.indexOf('B:agent')).toBeLessThan(a.events.indexOf('A2:agent'));
  });

  it('takeSlot on a task that never parked resolves at once', async () => {
    let took = false;
    await runScheduledTasks(
      { tasks: [task('A')], order: ['A'], wipLimit: 1, pollMs: 5_000 },
      ports(async (_id, control) => {
        await control.takeSlot();
        took = true;
        return { success: true };
      }),
    );
    expect(took).toBe(true);
  });
});
