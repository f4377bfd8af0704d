/**
 * The incremental list-scheduling engine against the straightforward one it replaced (test-support/
 * reference-list-engine.ts): the same schedule and the same refusals, in the same order, on every benchmark family,
 * with and without an observer, for the list scheduler (exclusive tasks first, reservations) and the waves baseline.
 */
import { buildPriorities } from './priority';
import { buildLevels, buildSimInstance, runListEngine, type SimInstance, type SimTask } from './simulate';
import { referenceListEngine } from './test-support/reference-list-engine';
import { DEFAULT_STARVATION_THRESHOLD_MS } from './admission';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const families = require('../../../../tools/bench/families.js') as {
  FAMILY_NAMES: string[];
  generateInstance(
    family: string,
    seed: number,
    options?: { sigma?: number },
  ): { manifest: { tasks: Array<Record<string, unknown> & { task_id: string; risk: 'High' | 'Medium' | 'Low' }> }; actualMinutes: Record<string, number> };
};

const instanceOf = (family: string, seed: number, sigma: number): SimInstance => {
  const { manifest, actualMinutes } = families.generateInstance(family, seed, { sigma });
  return buildSimInstance({ tasks: manifest.tasks, actualMinutes });
};

const priorityOrder = (instance: SimInstance): string[] =>
  buildPriorities({
    tasks: instance.tasks.map((t) => ({ task_id: t.taskId, depends_on_tasks: t.dependsOn })),
    estimates: new Map(instance.tasks.map((t) => [t.taskId, t.estimateMinutes])),
  }).order;

/** Both engines on the same arguments: their schedules and everything their observers saw. */
function runBoth(args: Omit<Parameters<typeof runListEngine>[0], 'onWait'>, observe: boolean) {
  const seen: unknown[][] = [[], []];
  const fast = runListEngine({ ...args, ...(observe ? { onWait: (w) => seen[0].push(w) } : {}) });
  const slow = referenceListEngine({ ...args, ...(observe ? { onWait: (w) => seen[1].push(w) } : {}) });
  return { fast, slow, fastWaits: seen[0], slowWaits: seen[1] };
}

describe('runListEngine (incremental) matches the reference engine', () => {
  const cases = families.FAMILY_NAMES.flatMap((family) => [1, 2].flatMap((seed) => [0, 0.5].map((sigma) => [family, seed, sigma] as const)));

  it.each(cases)('%s, seed %d, sigma %d: list scheduling, with and without an observer', (family, seed, sigma) => {
    const instance = instanceOf(family, seed, sigma);
    for (const wipLimit of [1, 3]) {
      for (const thresholdMs of [0, DEFAULT_STARVATION_THRESHOLD_MS]) {
        const args = { tasks: instance.tasks, dependsOn: (t: SimTask) => t.dependsOn, order: priorityOrder(instance), wipLimit, thresholdMs, exclusiveFirst: true };
        const observed = runBoth(args, true);
        expect(observed.fast).toEqual(observed.slow);
        expect(observed.fastWaits).toEqual(observed.slowWaits);
        const silent = runBoth(args, false);
        expect(silent.fast).toEqual(silent.slow);
      }
    }
  });

  it('compares something: the 68-task backlog refuses tasks hundreds of times, with reservations among the reasons', () => {
    const instance = instanceOf('backlog-68', 1, 0.5);
    const args = { tasks: instance.tasks, dependsOn: (t: SimTask) => t.dependsOn, order: priorityOrder(instance), wipLimit: 3, thresholdMs: 0, exclusiveFirst: true };
    const { fastWaits, slowWaits } = runBoth(args, true);
    expect(slowWaits.length).toBeGreaterThan(200);
    const kinds = new Set(slowWaits.map((w) => (w as { reason: { kind: string } }).reason.kind));
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['exclusive-running', 'needs-exclusive', 'reserved', 'wip']));
    expect(fastWaits).toEqual(slowWaits);
  });

  it.each(families.FAMILY_NAMES)('%s: the waves baseline (manifest order, no exclusive-first, no reservations)', (family) => {
    const instance = instanceOf(family, 3, 0.5);
    const level = buildLevels(instance);
    const byLevel = new Map<number, string[]>();
    for (const t of instance.tasks) byLevel.set(level.get(t.taskId)!, [...(byLevel.get(level.get(t.taskId)!) ?? []), t.taskId]);
    const order = [...instance.tasks].sort((a, b) => level.get(a.taskId)! - level.get(b.taskId)!).map((t) => t.taskId);
    const args = {
      tasks: instance.tasks,
      dependsOn: (t: SimTask) => byLevel.get(level.get(t.taskId)! - 1) ?? [],
      order,
      wipLimit: 3,
      thresholdMs: Infinity,
      exclusiveFirst: false,
    };
    const both = runBoth(args, true);
    expect(both.fast).toEqual(both.slow);
    expect(both.fastWaits).toEqual(both.slowWaits);
  });

  it('on 400 random small instances (exclusive tasks, shared scopes, estimates off by up to 3x)', () => {
    let seed = 99;
    const random = (): number => {
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const scopes = [['src/a/'], ['src/a/x.ts'], ['src/b.ts'], ['lib/'], ['docs/c.md'], []];
    let waits = 0;
    for (let round = 0; round < 400; round++) {
      const n = 5 + Math.floor(random() * 25);
      // Ids whose alphabetical order is not the priority order: reservations made at the same minute tie on id.
      const ids = Array.from({ length: n }, (_, i) => `T${String(Math.floor(random() * 1000)).padStart(3, '0')}-${i}`);
      const tasks: SimTask[] = ids.map((taskId, i) => {
        const estimateMinutes = 1 + Math.floor(random() * 30);
        return {
          taskId,
          fileScope: scopes[Math.floor(random() * scopes.length)],
          conflictsWith: random() < 0.1 && i > 0 ? [ids[Math.floor(random() * i)]] : [],
          exclusive: random() < 0.3,
          dependsOn: ids.slice(0, i).filter(() => random() < 0.08),
          estimateMinutes,
          actualMinutes: Math.max(0.5, estimateMinutes * (0.33 + random() * 2.7)),
        };
      });
      const instance = { tasks };
      const order = [...priorityOrder(instance)];
      if (random() < 0.3) order.reverse();
      const args = {
        tasks,
        dependsOn: (t: SimTask) => t.dependsOn,
        order,
        wipLimit: 1 + Math.floor(random() * 3),
        thresholdMs: [0, 5 * 60_000, DEFAULT_STARVATION_THRESHOLD_MS][Math.floor(random() * 3)],
        exclusiveFirst: true,
      };
      const observed = runBoth(args, true);
      expect(observed.fast).toEqual(observed.slow);
      expect(observed.fastWaits).toEqual(observed.slowWaits);
      waits += observed.slowWaits.length;
      expect(runBoth(args, false).fast).toEqual(observed.slow);
    }
    expect(waits).toBeGreaterThan(1000);
  });
});
