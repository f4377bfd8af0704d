import { buildPriorities, comparePriorities, type PriorityTask } from './priority';

const task = (id: string, ...deps: string[]): PriorityTask => ({ task_id: id, depends_on_tasks: deps });
const est = (entries: Record<string, number>) => new Map(Object.entries(entries));

describe('buildPriorities', () => {
  it('ranks by bottom level: own estimate + longest estimated path to a sink', () => {
    // A(10) -> B(5) -> C(30);  D(40) alone;  A's bottom level 45 beats D's 40 although D is longer.
    const p = buildPriorities({
      tasks: [task('D'), task('A'), task('B', 'A'), task('C', 'B')],
      estimates: est({ A: 10, B: 5, C: 30, D: 40 }),
    });
    expect(p.byId.get('A')!.bottomLevel).toBe(45);
    expect(p.byId.get('B')!.bottomLevel).toBe(35);
    expect(p.byId.get('D')!.bottomLevel).toBe(40);
    expect(p.order).toEqual(['A', 'D', 'B', 'C']);
  });

  it('takes the longest of several paths', () => {
    const p = buildPriorities({
      tasks: [task('A'), task('B', 'A'), task('C', 'A'), task('D', 'B', 'C')],
      estimates: est({ A: 1, B: 2, C: 20, D: 3 }),
    });
    expect(p.byId.get('A')!.bottomLevel).toBe(24);
  });

  it('breaks bottom-level ties by transitive dependents, then estimate, then manifest order', () => {
    // All bottom levels are 10. X has 2 transitive dependents (Y, Z through Y), P has 1.
    const p = buildPriorities({
      tasks: [task('P'), task('Q', 'P'), task('X'), task('Y', 'X'), task('Z', 'Y'), task('L'), task('S1'), task('S2')],
      estimates: est({ P: 5, Q: 5, X: 4, Y: 3, Z: 3, L: 10, S1: 10, S2: 10 }),
    });
    expect(p.byId.get('X')!.transitiveDependents).toBe(2);
    expect(p.byId.get('P')!.transitiveDependents).toBe(1);
    // X (2 dependents) > P (1) > L/S1/S2 (0 dependents, estimate 10 > nothing else tied) in manifest order.
    expect(p.order.slice(0, 5)).toEqual(['X', 'P', 'L', 'S1', 'S2']);
  });

  it('breaks full ties by estimate and then manifest order', () => {
    const p = buildPriorities({
      tasks: [task('SHORT_A'), task('SHORT_B', 'SHORT_A'), task('LONG'), task('SHORT_C'), task('SHORT_D', 'SHORT_C')],
      estimates: est({ SHORT_A: 5, SHORT_B: 5, LONG: 10, SHORT_C: 5, SHORT_D: 5 }),
    });
    // SHORT_A and SHORT_C: bottom level 10, 1 dependent: manifest order. LONG: bottom level 10, 0 dependents.
    expect(p.order.slice(0, 3)).toEqual(['SHORT_A', 'SHORT_C', 'LONG']);
  });

  it('counts transitive dependents once through diamonds', () => {
    const p = buildPriorities({
      tasks: [task('A'), task('B', 'A'), task('C', 'A'), task('D', 'B', 'C'), task('E', 'D')],
      estimates: est({ A: 1, B: 1, C: 1, D: 1, E: 1 }),
    });
    expect(p.byId.get('A')!.transitiveDependents).toBe(4);
    expect(p.byId.get('B')!.transitiveDependents).toBe(2);
    expect(p.byId.get('E')!.transitiveDependents).toBe(0);
  });

  it('assumes a task without an estimate is as long as the longest one', () => {
    const p = buildPriorities({ tasks: [task('KNOWN'), task('UNKNOWN')], estimates: est({ KNOWN: 25 }) });
    expect(p.byId.get('UNKNOWN')!.estimate).toBe(25);
  });

  it('ignores dependencies outside the task list and duplicate edges', () => {
    const p = buildPriorities({
      tasks: [task('A', 'OUTSIDE'), task('B', 'A', 'A')],
      estimates: est({ A: 1, B: 1 }),
    });
    expect(p.byId.get('A')!.bottomLevel).toBe(2);
    expect(p.byId.get('A')!.transitiveDependents).toBe(1);
  });

  it('throws on a cycle, naming the tasks in it', () => {
    expect(() =>
      buildPriorities({ tasks: [task('A', 'C'), task('B', 'A'), task('C', 'B'), task('FREE')], estimates: est({}) }),
    ).toThrow(/cycle through A, B, C/);
    expect(() => buildPriorities({ tasks: [task('SELF', 'SELF')], estimates: est({}) })).toThrow(/SELF depends on itself/);
  });

  it('compare() orders ids by rank and puts unknown ids last', () => {
    const p = buildPriorities({ tasks: [task('A'), task('B', 'A')], estimates: est({ A: 1, B: 1 }) });
    expect(['UNKNOWN', 'B', 'A'].sort(p.compare)).toEqual(['A', 'B', 'UNKNOWN']);
    expect(comparePriorities(p.byId.get('A')!, p.byId.get('B')!)).toBeLessThan(0);
  });

  it('handles a 10,000-task chain without recursion', () => {
    const n = 10_000;
    const tasks = Array.from({ length: n }, (_, i) => task(`T${i}`, ...(i > 0 ? [`T${i - 1}`] : [])));
    const p = buildPriorities({ tasks, estimates: new Map(tasks.map((t) => [t.task_id, 1])) });
    expect(p.byId.get('T0')!.bottomLevel).toBe(n);
    expect(p.byId.get('T0')!.transitiveDependents).toBe(n - 1);
    expect(p.order[0]).toBe('T0');
    expect(p.order[n - 1]).toBe(`T${n - 1}`);
  });

  it('matches a brute-force count of transitive dependents on a random 3,000-task DAG (several bit blocks)', () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const n = 3000;
    const tasks = Array.from({ length: n }, (_, i) => {
      const deps = new Set<string>();
      for (let k = 0; k < 3 && i > 0; k++) deps.add(`T${Math.floor(rand() * i)}`);
      return task(`T${i}`, ...deps);
    });
    const p = buildPriorities({ tasks, estimates: new Map(tasks.map((t) => [t.task_id, 1 + Math.floor(rand() * 10)])) });
    // Brute force for a sample of tasks: BFS over dependents.
    const dependents = new Map<string, string[]>(tasks.map((t) => [t.task_id, []]));
    for (const t of tasks) for (const d of t.depends_on_tasks) dependents.get(d)!.push(t.task_id);
    for (const id of ['T0', 'T1', 'T7', 'T100', 'T1500', 'T2047', 'T2048', 'T2999']) {
      const seen = new Set<string>();
      const queue = [id];
      while (queue.length) for (const d of dependents.get(queue.pop()!)!) if (!seen.has(d)) seen.add(d), queue.push(d);
      expect(p.byId.get(id)!.transitiveDependents).toBe(seen.size);
    }
  });
});
