import type { Preview } from '../../scheduler/preview';
import { buildTaskInput } from '../../test-support/manifest-fixtures';
import { makeCliWorkspace, type CliWorkspaceFixture } from '../test-support/cli-workspace';

// Real CLI processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(60_000);

let ws: CliWorkspaceFixture;
afterEach(() => ws?.cleanup());

describe('nx-vtm preview', () => {
  it('prints the plan of the whole workspace, leaving completed tasks out and claiming nothing', async () => {
    ws = makeCliWorkspace();
    const store = ws.openStore();
    try {
      store.checkManifestHash(ws.manifestHash);
      ws.finishTask(store, 'C', { status: 'completed', acs_completed: ['C-AC01'] });
    } finally {
      store.close();
    }
    const r = await ws.runCli(['preview']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Execution plan: 3 tasks, WIP limit 3, on the estimates (nothing was run or claimed)');
    // H is High risk: it goes first into the empty workspace and runs alone; A waits for it, B waits for A.
    expect(lines).toContainEqual(expect.stringMatching(/^ +0m +30m +30m {2}H {5}High ! {2}-$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ +30m +1h00 +30m {2}A\* {4}Low {5}High-risk task H running$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ +1h00 +1h30 +30m {2}B\* {4}Low {5}after A$/));
    expect(lines).toContain('Critical path (*): A -> B (1h00)');
    expect(lines).toContain('Expected makespan: 1h30 (serial 1h30, 1.0x; lower bound 1h00)');
    expect(r.stdout).toContain('Not in the plan:\n  C: completed');

    // Nothing was claimed or changed.
    const after = ws.openStore();
    try {
      expect(after.getRunningClaims()).toEqual([]);
      expect(after.getTask('A')?.status ?? 'pending').toBe('pending');
    } finally {
      after.close();
    }
  });

  it('--json for a selection includes its dependencies; an unknown selection is a usage error', async () => {
    ws = makeCliWorkspace({
      tasks: [
        buildTaskInput('A', { est: { minutes: 40 } }),
        buildTaskInput('B', { depends_on_tasks: ['A'], slice: 'Slice 2.1', est: { minutes: 10 } }),
        buildTaskInput('C', { slice: 'Slice 2.1', file_scope: ['src/a/x.ts'], est: { minutes: 10 } }),
        buildTaskInput('D', { slice: 'Slice 3.1' }),
      ],
      pluginOptions: { wipLimit: 2 },
    });
    const r = await ws.runCli(['preview', 'slice-2.1', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout) as Preview;
    expect(p.wipLimit).toBe(2);
    expect(p.tasks.map((t) => [t.taskId, t.start, t.end])).toEqual([
      ['A', 0, 40],
      ['B', 40, 50],
      ['C', 40, 50],
    ]);
    expect(p.tasks.find((t) => t.taskId === 'C')!.waits).toEqual([{ kind: 'scope', text: 'src/a/ held by A', minute: 0 }]);
    expect(p.criticalPath).toEqual(['A', 'B']);

    const bad = await ws.runCli(['preview', 'slice-9']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('nx-vtm preview: "slice-9" selects no task; give a task id, slice-<n>, phase-<n> or tag:<tag>');
  });
});
