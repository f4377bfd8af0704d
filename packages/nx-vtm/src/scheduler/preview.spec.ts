import { buildPreview, formatPreview, MAX_ADMISSION_WAITS, type PreviewableTask } from './preview';

const task = (id: string, over: Partial<PreviewableTask> = {}): PreviewableTask => ({
  task_id: id,
  title: `Do ${id}`,
  risk: 'Low',
  est: { minutes: 10 },
  depends_on_tasks: [],
  file_scope: [`src/${id.toLowerCase()}/`],
  ...over,
});

describe('buildPreview', () => {
  it('schedules on the estimates with dependencies, the critical path and serial/lower-bound yardsticks', () => {
    // A(30) -> B(20) -> D(10); C(10) independent.
    const p = buildPreview({
      tasks: [
        task('A', { est: { minutes: 30 } }),
        task('B', { est: { minutes: 20 }, depends_on_tasks: ['A'] }),
        task('C'),
        task('D', { depends_on_tasks: ['B', 'OUTSIDE'] }),
      ],
      wipLimit: 3,
      samples: 20,
    });
    const byId = new Map(p.tasks.map((t) => [t.taskId, t]));
    expect(byId.get('A')).toMatchObject({ start: 0, end: 30, critical: true, waits: [] });
    expect(byId.get('C')).toMatchObject({ start: 0, end: 10, critical: false });
    expect(byId.get('B')).toMatchObject({ start: 30, end: 50, waits: [{ kind: 'dependencies', text: 'after A', minute: 30 }] });
    // A dependency outside the plan counts as done (it is completed or not selected).
    expect(byId.get('D')).toMatchObject({ start: 50, end: 60, dependsOn: ['B'] });
    expect(p.criticalPath).toEqual(['A', 'B', 'D']);
    expect(p.criticalPathMinutes).toBe(60);
    expect(p.makespan).toBe(60);
    expect(p.serialMinutes).toBe(70);
    expect(p.lowerBoundMinutes).toBe(60);
    expect(p.tasks.map((t) => t.taskId)).toEqual(['A', 'C', 'B', 'D']);
    expect(p.uncertainty.samples).toBe(20);
    expect(p.uncertainty.p10).toBeLessThanOrEqual(p.uncertainty.p50);
    expect(p.uncertainty.p50).toBeLessThanOrEqual(p.uncertainty.p90);
  });

  it('keeps a task\'s last waits and counts the earlier ones (a backlog of High-risk tasks)', () => {
    // Eight High-risk tasks run one after another; L waits behind each in turn (its reason changes with each).
    const highs = Array.from({ length: 8 }, (_, i) => task(`H${i}`, { risk: 'High', est: { minutes: 10 } }));
    const p = buildPreview({ tasks: [...highs, task('L')], wipLimit: 3, samples: 0 });
    const l = p.tasks.find((t) => t.taskId === 'L')!;
    expect(l.start).toBe(80);
    expect(l.waits).toHaveLength(MAX_ADMISSION_WAITS);
    expect(l.earlierWaits).toBeGreaterThan(0);
    expect(l.waits.at(-1)!.text).toBe('High-risk task H7 running');
    const line = formatPreview({ ...p, excluded: [] }).split('\n').find((x) => / L /.test(x))!;
    expect(line).toContain(` ${l.earlierWaits} earlier wait${l.earlierWaits === 1 ? '' : 's'}; then `);
    expect(line.endsWith('; then High-risk task H7 running')).toBe(true);
    expect(p.tasks.find((t) => t.taskId === 'H0')).toMatchObject({ waits: [], earlierWaits: 0 });
    // The wait for dependencies stays first.
    const withDeps = { ...l, waits: [{ kind: 'dependencies' as const, text: 'after A', minute: 5 }, ...l.waits] };
    expect(formatPreview({ ...p, tasks: [withDeps], excluded: [] })).toContain(`after A; then ${l.earlierWaits} earlier wait`);
  });

  it('says why a ready task waits: WIP limit, a held file scope, a High-risk task running alone', () => {
    const p = buildPreview({
      tasks: [
        task('BIG', { est: { minutes: 60 } }),
        task('SAME', { est: { minutes: 30 }, file_scope: ['src/big/x.ts'] }),
        task('H', { risk: 'High', est: { minutes: 20 } }),
        task('L1', { est: { minutes: 5 } }),
        task('L2', { est: { minutes: 5 } }),
      ],
      wipLimit: 2,
      samples: 0,
    });
    const byId = new Map(p.tasks.map((t) => [t.taskId, t]));
    // The High-risk task goes first into the empty workspace (exclusive first) and runs alone.
    expect(byId.get('H')).toMatchObject({ start: 0, end: 20, exclusive: true });
    expect(byId.get('BIG')!.waits[0]).toEqual({ kind: 'exclusive-running', text: 'High-risk task H running', minute: 0 });
    expect(byId.get('BIG')!.start).toBe(20);
    // SAME overlaps BIG's scope: it never runs beside it.
    const same = byId.get('SAME')!;
    expect(same.start).toBeGreaterThanOrEqual(byId.get('BIG')!.end);
    expect(same.waits.map((w) => w.text)).toContain('src/big/ held by BIG');
    expect(p.tasks.flatMap((t) => t.waits.map((w) => w.kind))).toContain('wip');
    const text = formatPreview({ ...p, excluded: [{ taskId: 'OLD', reason: 'completed' }] });
    expect(text).toContain('Execution plan: 5 tasks, WIP limit 2');
    expect(text).toMatch(/ 0m {4}20m {4}20m {2}H {5}High ! {2}-$/m);
    expect(text).toContain('src/big/ held by BIG');
    expect(text).toContain('Not in the plan:\n  OLD: completed');
    expect(text).toContain('Expected makespan: 1h50 (serial 2h00, 1.1x; lower bound 1h30)');
  });

  it('is deterministic, and an empty plan says so', () => {
    const tasks = [task('A', { est: { minutes: 30 } }), task('B'), task('C', { depends_on_tasks: ['A'] })];
    expect(buildPreview({ tasks, wipLimit: 2 })).toEqual(buildPreview({ tasks, wipLimit: 2 }));
    const empty = buildPreview({ tasks: [], wipLimit: 3 });
    expect(empty).toMatchObject({ makespan: 0, serialMinutes: 0, criticalPath: [] });
    expect(formatPreview({ ...empty, excluded: [] })).toBe('Execution plan: 0 tasks, WIP limit 3, on the estimates (nothing was run or claimed)');
  });
});
