import { manifestSchema } from '../manifest/schema';
import {
  buildLevels,
  buildSimInstance,
  findScheduleViolations,
  lowerBound,
  simulateListSchedule,
  simulateSeedGroups,
  simulateWavesWithBarrier,
  type SimInstance,
  type SimTask,
} from './simulate';

// The benchmark generators are plain CommonJS under tools/bench; they are tested here because the simulation is.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const families = require('../../../../tools/bench/families.js') as {
  FAMILY_NAMES: string[];
  HOT_PATHS: string[];
  generateInstance(
    family: string,
    seed: number,
    options?: { sigma?: number },
  ): { manifest: { tasks: Array<Record<string, unknown> & { task_id: string; risk: 'High' | 'Medium' | 'Low' }> }; actualMinutes: Record<string, number> };
};

const instanceOf = (family: string, seed: number, sigma = 0.5): SimInstance => {
  const { manifest, actualMinutes } = families.generateInstance(family, seed, { sigma });
  return buildSimInstance({ tasks: manifest.tasks, actualMinutes });
};

const t = (taskId: string, minutes: number, extra: Partial<SimTask> = {}): SimTask => ({
  taskId,
  fileScope: [`${taskId}.ts`],
  conflictsWith: [],
  exclusive: false,
  dependsOn: [],
  estimateMinutes: minutes,
  actualMinutes: minutes,
  ...extra,
});

const startOf = (schedule: { runs: { taskId: string; start: number }[] }, id: string) =>
  schedule.runs.find((r) => r.taskId === id)!.start;

describe('simulateListSchedule', () => {
  it.each([1, 2, 3, 4, 5])('is exactly optimal on chain-12 (seed %d)', (seed) => {
    const instance = instanceOf('chain-12', seed);
    const schedule = simulateListSchedule(instance, { wipLimit: 3 });
    expect(schedule.makespan / lowerBound(instance, 3).value).toBeCloseTo(1, 9);
  });

  it('runs the staggered chains side by side (1.00) where barriers pay 2.81x', () => {
    const instance = instanceOf('staggered-chains', 1);
    const lb = lowerBound(instance, 3).value;
    expect(lb).toBe(64);
    expect(simulateListSchedule(instance, { wipLimit: 3 }).makespan).toBeCloseTo(64, 9);
    expect(simulateWavesWithBarrier(instance, { wipLimit: 3 }).makespan).toBeCloseTo(180, 9);
    expect(simulateSeedGroups(instance).makespan).toBeCloseTo(180, 9);
  });

  it('orders by estimates but takes actual time', () => {
    // B looks critical by its estimate, A really is.
    const instance: SimInstance = {
      tasks: [
        t('A', 0, { estimateMinutes: 1, actualMinutes: 50 }),
        t('B', 0, { estimateMinutes: 40, actualMinutes: 10 }),
        t('C', 5, { dependsOn: ['A'] }),
      ],
    };
    const schedule = simulateListSchedule(instance, { wipLimit: 1 });
    expect(schedule.runs.map((r) => r.taskId)).toEqual(['B', 'A', 'C']);
    expect(schedule.makespan).toBeCloseTo(65, 9);
  });

  it('gives an empty workspace to an exclusive task first', () => {
    const instance: SimInstance = { tasks: [t('N1', 30), t('N2', 30), t('HR', 5, { exclusive: true })] };
    const schedule = simulateListSchedule(instance, { wipLimit: 3 });
    expect(startOf(schedule, 'HR')).toBe(0);
    expect(startOf(schedule, 'N1')).toBe(5);
    expect(findScheduleViolations(instance, schedule, 3)).toEqual([]);
  });

  it('reserves for a waiting exclusive task after the threshold and backfills short tasks meanwhile', () => {
    // P (5) makes HR ready at 5 while LONG (40) runs. Reserving at once (threshold 0): SHORT (estimated 30, ends at 35 <= 40)
    // may backfill, TOO_LONG (estimated 60) may not, and HR starts at 40.
    const instance: SimInstance = {
      tasks: [
        t('LONG', 40),
        t('P', 5),
        t('HR', 10, { exclusive: true, dependsOn: ['P'] }),
        t('SHORT', 30, { dependsOn: ['P'] }),
        t('TOO_LONG', 60, { dependsOn: ['P'] }),
      ],
    };
    const reserved = simulateListSchedule(instance, { wipLimit: 3, thresholdMs: 0 });
    expect(findScheduleViolations(instance, reserved, 3)).toEqual([]);
    expect(startOf(reserved, 'SHORT')).toBe(5);
    expect(startOf(reserved, 'HR')).toBe(40);
    expect(startOf(reserved, 'TOO_LONG')).toBe(50);
    // Never reserving: TOO_LONG takes the slot at 5 and HR waits until 65.
    const never = simulateListSchedule(instance, { wipLimit: 3, thresholdMs: Infinity });
    expect(startOf(never, 'HR')).toBe(65);
  });

  it('produces valid schedules for every family', () => {
    for (const family of families.FAMILY_NAMES) {
      for (const seed of [1, 2, 3]) {
        const instance = instanceOf(family, seed);
        for (const wipLimit of [1, 3, 5]) {
          const schedule = simulateListSchedule(instance, { wipLimit });
          expect([family, seed, wipLimit, findScheduleViolations(instance, schedule, wipLimit)]).toEqual([family, seed, wipLimit, []]);
          expect(schedule.makespan).toBeGreaterThanOrEqual(lowerBound(instance, wipLimit).value - 1e-9);
        }
        for (const schedule of [simulateWavesWithBarrier(instance, { wipLimit: 3 }), simulateSeedGroups(instance)]) {
          expect([family, seed, findScheduleViolations(instance, schedule, 3)]).toEqual([family, seed, []]);
        }
      }
    }
  });
});

describe('baselines', () => {
  it('waves wait for the whole previous level', () => {
    // Level 0: A (10), B (50). Level 1: C after A. The barrier holds C until B ends.
    const instance: SimInstance = { tasks: [t('A', 10), t('B', 50), t('C', 10, { dependsOn: ['A'] })] };
    expect(startOf(simulateWavesWithBarrier(instance, { wipLimit: 3 }), 'C')).toBe(50);
    expect(startOf(simulateListSchedule(instance, { wipLimit: 3 }), 'C')).toBe(10);
  });

  it('waves start tasks of a level greedily in manifest order, conflicts serialised', () => {
    const instance: SimInstance = {
      tasks: [t('A', 10, { fileScope: ['src/'] }), t('B', 10, { fileScope: ['src/b.ts'] }), t('C', 10), t('D', 10), t('E', 10)],
    };
    const schedule = simulateWavesWithBarrier(instance, { wipLimit: 3 });
    expect(['A', 'B', 'C', 'D', 'E'].map((id) => startOf(schedule, id))).toEqual([0, 10, 0, 0, 10]);
  });

  it('seed groups: serial conflict groups and parallel groups of up to 3, strictly one after another', () => {
    // One level: A conflicts with B (serial group A, B), then C, D, E, F without conflicts (groups C D E, F),
    // HR alone. Group times: 10 + 20, max(5, 6, 7), 8, 4 = 49.
    const instance: SimInstance = {
      tasks: [
        t('A', 10, { fileScope: ['lib/'] }),
        t('C', 5),
        t('B', 20, { fileScope: ['lib/x.ts'] }),
        t('D', 6),
        t('E', 7),
        t('HR', 4, { exclusive: true }),
        t('F', 8),
      ],
    };
    const schedule = simulateSeedGroups(instance);
    expect(schedule.makespan).toBe(10 + 20 + 7 + 4 + 8);
    expect(['A', 'B', 'C', 'D', 'E', 'HR', 'F'].map((id) => startOf(schedule, id))).toEqual([0, 10, 30, 30, 30, 37, 41]);
  });
});

describe('lowerBound', () => {
  it.each<[string, SimTask[], number, Partial<ReturnType<typeof lowerBound>>]>([
    ['critical path', [t('A', 10), t('B', 20, { dependsOn: ['A'] }), t('C', 5)], 3, { criticalPath: 30, value: 30 }],
    ['work / W', [t('A', 10), t('B', 10), t('C', 10), t('D', 10)], 2, { workPerSlot: 20, value: 20 }],
    [
      'exclusive work runs alone',
      [t('HR', 30, { exclusive: true }), t('A', 10), t('B', 10), t('C', 10)],
      3,
      { exclusiveBound: 40, value: 40 },
    ],
    [
      'a directory and the files in it form a clique',
      [
        t('DIR', 10, { fileScope: ['packages/shared/src/'] }),
        t('FILE', 10, { fileScope: ['packages/shared/src/index.ts'] }),
        t('FILE2', 10, { fileScope: ['packages/shared/src/index.ts', 'x.ts'] }),
        t('ROOT', 10, { fileScope: ['packages/'] }),
        t('SIBLING', 50, { fileScope: ['packages/shared/srcx/'] }),
        t('OTHER_FILE', 10, { fileScope: ['packages/shared/src/other.ts'] }),
      ],
      10,
      // index.ts: FILE + FILE2 + DIR + ROOT = 40; SIBLING conflicts only with ROOT (60 for srcx).
      { clique: 60 },
    ],
  ])('%s', (_, tasks, wipLimit, expected) => {
    expect(lowerBound({ tasks }, wipLimit)).toMatchObject(expected);
  });

  it('counts a task once even when several of its entries match', () => {
    const tasks = [t('A', 10, { fileScope: ['lib/', 'lib/a.ts'] }), t('B', 5, { fileScope: ['lib/a.ts'] })];
    expect(lowerBound({ tasks }, 3).clique).toBe(15);
  });
});

describe('buildLevels', () => {
  it('puts each task one level below its deepest dependency', () => {
    const levels = buildLevels({ tasks: [t('A', 1), t('B', 1, { dependsOn: ['A'] }), t('C', 1, { dependsOn: ['A', 'B'] }), t('D', 1)] });
    expect(Object.fromEntries(levels)).toEqual({ A: 0, B: 1, C: 2, D: 0 });
  });
});

describe('findScheduleViolations', () => {
  it('finds every kind of violation', () => {
    const instance: SimInstance = {
      tasks: [t('A', 10, { fileScope: ['s/'] }), t('B', 10, { fileScope: ['s/b.ts'], dependsOn: ['A'] }), t('HR', 10, { exclusive: true }), t('D', 10), t('E', 10)],
    };
    const runs = [
      { taskId: 'A', start: 0, end: 10 },
      { taskId: 'B', start: 5, end: 15 },
      { taskId: 'HR', start: 0, end: 10 },
      { taskId: 'D', start: 0, end: 12 },
    ];
    const problems = findScheduleViolations(instance, { makespan: 15, runs }, 3);
    expect(problems).toEqual(
      expect.arrayContaining([
        'E never runs',
        'D runs 12 min, not 10',
        'B starts at 5 before its dependency A ends at 10',
        'A and B conflict but overlap in time',
        'A and HR overlap but one must run alone',
        '4 tasks run at 5 (limit 3)',
      ]),
    );
  });
});

describe('benchmark families (tools/bench/families.js)', () => {
  it('are deterministic per seed and differ between seeds', () => {
    expect(families.generateInstance('backlog-68', 7)).toEqual(families.generateInstance('backlog-68', 7));
    expect(families.generateInstance('backlog-68', 7)).not.toEqual(families.generateInstance('backlog-68', 8));
  });

  it.each(['chain-12', 'fan-out-30', 'fan-out-30-c30', 'diamond-6x6', 'layered-6x7-skewed', 'layered-6x7-skewed-c30', 'backlog-68', 'staggered-chains'])(
    '%s is a valid manifest with an actual duration per task',
    (family) => {
      expect(families.FAMILY_NAMES).toContain(family);
      const { manifest, actualMinutes } = families.generateInstance(family, 3);
      const parsed = manifestSchema.safeParse(manifest);
      expect(parsed.success).toBe(true);
      const ids = new Set(manifest.tasks.map((task) => task.task_id));
      expect(ids.size).toBe(manifest.tasks.length);
      for (const task of manifest.tasks) {
        for (const dep of task.depends_on_tasks as string[]) expect(ids.has(dep)).toBe(true);
        expect(actualMinutes[task.task_id]).toBeGreaterThan(0);
        expect((task.est as { minutes: number }).minutes).toBeGreaterThanOrEqual(2);
        expect((task.est as { minutes: number }).minutes).toBeLessThanOrEqual(150);
      }
      expect(() => buildLevels(buildSimInstance({ tasks: manifest.tasks, actualMinutes }))).not.toThrow();
    },
  );

  it('backlog-68: 9 epics of contract, fan-out and integration, ~30% on hot paths, ~6% High risk', () => {
    let hot = 0;
    let total = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const { tasks } = families.generateInstance('backlog-68', seed).manifest;
      expect(tasks).toHaveLength(68);
      expect(tasks.filter((task) => task.task_id.endsWith('--CONTRACT'))).toHaveLength(9);
      expect(tasks.filter((task) => task.task_id.endsWith('--INTEGRATION'))).toHaveLength(9);
      expect(tasks.filter((task) => task.risk === 'High')).toHaveLength(4);
      hot += tasks.filter((task) => (task.file_scope as string[]).some((p) => families.HOT_PATHS.includes(p))).length;
      total += tasks.length;
    }
    expect(hot / total).toBeGreaterThan(0.2);
    expect(hot / total).toBeLessThan(0.4);
  });
});
