import { buildGraph, getGroupKey, phaseProjectName, sliceProjectName } from './build-graph';
import { buildTask } from '../test-support/manifest-fixtures';
import { hashTask } from '../manifest/hash';

const FILE = 'docs/backlog/virtual-task-manifest.json';
const manifest = (tasks: ReturnType<typeof buildTask>[], status: 'OK' | 'BLOCKED' = 'OK') => ({ file: FILE, status, tasks });

describe('group names', () => {
  it.each([
    ['Slice 1.1', 'slice-1.1'],
    ['slice 2', 'slice-2'],
    ['1.3', 'slice-1.3'],
    ['Slice 1.1 (Core)', 'slice-1.1-core'],
  ])('slice %j -> %s', (label, name) => expect(sliceProjectName(label)).toBe(name));
  it('phase', () => expect(phaseProjectName('Phase 1')).toBe('phase-1'));
  it('keys', () => expect(getGroupKey('Slice 1.1', 'slice')).toBe('1.1'));
});

describe('buildGraph', () => {
  const a = buildTask('A--T01', { related_specs: ['docs/spec.md'], related_adrs: ['ADR-0002: Dual Hash'], test_verification: ['test/a.test.js'] });
  const b = buildTask('B--T01', { depends_on_tasks: ['A--T01', 'A--T01'], risk: 'High', slice: 'Slice 1.2', file_scope: ['src/b.ts'] });
  const c = buildTask('C--T01', { slice: undefined, phase: undefined, capability_id: undefined });
  const graph = buildGraph({ manifests: [manifest([a, b, c])] });
  const byName = Object.fromEntries(graph.projects.map((p) => [p.config.name, p]));

  it('makes one project per task, slice and phase, on distinct virtual roots', () => {
    expect(Object.keys(byName).sort()).toEqual(['A--T01', 'B--T01', 'C--T01', 'phase-1', 'slice-1.1', 'slice-1.2']);
    const roots = graph.projects.map((p) => p.root);
    expect(new Set(roots).size).toBe(roots.length);
    expect(graph.problems).toEqual([]);
  });

  it('lays the roots out as phase / slice / task folders, for nx graph to group them', () => {
    expect(byName['A--T01'].root).toBe('phase-1/slice-1.1/A--T01');
    expect(byName['B--T01'].root).toBe('phase-1/slice-1.2/B--T01');
    expect(byName['C--T01'].root).toBe('.vtm/C--T01');
    // Each aggregate inside the folder it aggregates, so nx graph does not draw a node and a folder of the same name.
    expect(byName['phase-1'].root).toBe('phase-1/phase-1');
    expect(byName['slice-1.1'].root).toBe('phase-1/slice-1.1/slice-1.1');
    const g = buildGraph({
      manifests: [manifest([
        buildTask('S--T01', { phase: undefined, slice: 'Slice 9' }),
        buildTask('P--T01', { phase: 'Phase 3', slice: undefined }),
        buildTask('X--T01', { phase: 'Phase 4', slice: 'Slice 9' }),
      ])],
    });
    expect(Object.fromEntries(g.projects.map((p) => [p.config.name, p.root]))).toEqual({
      'S--T01': 'slice-9/S--T01',
      'P--T01': 'phase-3/P--T01',
      'X--T01': 'phase-4/slice-9/X--T01',
      'slice-9': 'slice-9/slice-9',
      'phase-3': 'phase-3/phase-3',
      'phase-4': 'phase-4/phase-4',
    });
  });

  it('tags tasks by slice, phase, risk and capability', () => {
    expect(byName['A--T01'].config.tags).toEqual(['vtm:task', 'vtm:risk:low', 'vtm:slice:1.1', 'vtm:phase:1', 'vtm:capability:A']);
    expect(byName['B--T01'].config.tags).toContain('vtm:risk:high');
    expect(byName['C--T01'].config.tags).toEqual(['vtm:task', 'vtm:risk:low']);
    // The other shapes keep the same order: provisional, then the task's own tags (once each), then blocked.
    const odd = buildTask('D--T01', { provisional: true, tags: ['team:core', 'vtm:task'] });
    const g = buildGraph({ manifests: [manifest([odd], 'BLOCKED')] });
    expect(g.projects.find((p) => p.config.name === 'D--T01')!.config.tags).toEqual([
      'vtm:task',
      'vtm:risk:low',
      'vtm:slice:1.1',
      'vtm:phase:1',
      'vtm:capability:D',
      'vtm:provisional',
      'team:core',
      'vtm:blocked',
    ]);
  });

  it('orders implement targets after their project dependencies, which are the depends_on_tasks edges', () => {
    expect(byName['B--T01'].config.targets!.implement.dependsOn).toEqual(['^implement']);
    expect(byName['A--T01'].config.targets!.implement.dependsOn).toBeUndefined();
  });

  it('puts the task hash in options (the cache key), its reset count and workspace-root inputs', () => {
    const impl = byName['A--T01'].config.targets!.implement;
    // Nothing else: the task id is the project name, the executors find the manifest themselves, and the run settings
    // are in nx.json, which Nx hashes into every task (e2e graph.e2e.ts checks the hash plan).
    expect(impl.options).toEqual({ taskHash: hashTask(a).slice(0, 16) });
    expect(byName['A--T01'].config.targets!.verify.options).toEqual({ taskHash: hashTask(a).slice(0, 16) });
    expect(impl.inputs).toEqual([
      '{workspaceRoot}/docs/spec.md',
      { dependentTasksOutputFiles: '**/*', transitive: true },
      { env: 'NX_VTM_RESET_A--T01' },
      { externalDependencies: [] },
    ]);
    const verify = byName['A--T01'].config.targets!.verify;
    expect(verify.inputs).toEqual([
      '{workspaceRoot}/docs/backlog/tasks/A--T01.json',
      '{workspaceRoot}/docs/spec.md',
      '{workspaceRoot}/src/a--t01/**/*',
      '{workspaceRoot}/test/a.test.js',
    ]);
    expect(verify.syncGenerators).toEqual(['nx-vtm:sync']);
    for (const p of graph.projects) {
      for (const t of Object.values(p.config.targets!)) {
        expect(JSON.stringify(t.inputs ?? [])).not.toContain('{projectRoot}');
        expect(t.inputs).toBeDefined();
        expect(t.metadata?.description).toMatch(/\w/);
      }
    }
  });

  it('aggregates slices and phases over their tasks', () => {
    expect(byName['slice-1.1'].config.targets!.implement).toMatchObject({
      executor: 'nx:noop',
      dependsOn: [{ projects: ['A--T01', 'C--T01'].filter((id) => id !== 'C--T01'), target: 'implement' }],
    });
    expect(byName['phase-1'].config.targets!.verify.dependsOn).toEqual([{ projects: ['A--T01', 'B--T01'], target: 'verify' }]);
  });

  it('emits edges for dependencies only (group membership is in targets and tags), once per dependency', () => {
    const edges = graph.edges.map((e) => `${e.source}->${e.target}`).sort();
    expect(edges).toEqual(['B--T01->A--T01']);
    const twice = buildGraph({ manifests: [manifest([a, buildTask('D--T01', { depends_on_tasks: ['A--T01', 'A--T01'] })])] });
    expect(twice.edges.map((e) => `${e.source}->${e.target}`)).toEqual(['D--T01->A--T01']);
  });

  it('keeps each task project small: Nx copies it several times per command (10,000 tasks)', () => {
    // Every key is paid per task in Nx's worker transfer, graph cache and source map; a new per-task field should be
    // a decision, not an accident. (The bytes, not the time: the graph benchmark measures the time.)
    const size = JSON.stringify(byName['B--T01'].config).length;
    expect(size).toBeLessThan(1150);
    const keys = (o: unknown): number =>
      o && typeof o === 'object' ? Object.values(o).reduce((n: number, v) => n + 1 + keys(v), 0) : 0;
    expect(keys(byName['B--T01'].config)).toBeLessThanOrEqual(50);
  });

  it('changes only the edited task\'s key when one entry changes', () => {
    const a2 = buildTask('A--T01', { ...a, description: 'edited' });
    const g2 = buildGraph({ manifests: [manifest([a2, b, c])] });
    const opts = (g: typeof graph, name: string) => g.projects.find((p) => p.config.name === name)!.config.targets!.implement.options;
    expect(opts(g2, 'A--T01').taskHash).not.toBe(opts(graph, 'A--T01').taskHash);
    expect(opts(g2, 'B--T01')).toEqual(opts(graph, 'B--T01'));
  });

  it('tags tasks of a BLOCKED manifest', () => {
    const g = buildGraph({ manifests: [manifest([a], 'BLOCKED')] });
    expect(g.projects.find((p) => p.config.name === 'A--T01')!.config.tags).toContain('vtm:blocked');
  });

  it('reports a slice name that collides with a task id', () => {
    const g = buildGraph({ manifests: [manifest([buildTask('slice-1.1'), buildTask('X--T01')])] });
    expect(g.problems[0]).toMatchObject({ taskId: 'slice-1.1', path: 'tasks[0].slice' });
  });

  it('honours custom target names', () => {
    const g = buildGraph({ manifests: [manifest([a, b])], targetNames: { implement: 'agent', verify: 'check' } });
    const bp = g.projects.find((p) => p.config.name === 'B--T01')!;
    expect(Object.keys(bp.config.targets!)).toEqual(['agent', 'check']);
    expect(bp.config.targets!.agent.dependsOn).toEqual(['^agent']);
  });

  it('builds 10,000 tasks in linear time', () => {
    const tasks = Array.from({ length: 10000 }, (_, i) =>
      buildTask(`T${i}`, { depends_on_tasks: i > 0 ? [`T${i - 1}`] : [], slice: `Slice ${i % 20}` }),
    );
    const g = buildGraph({ manifests: [manifest(tasks)] });
    expect(g.projects.length).toBe(10000 + 20 + 1);
  });
});
