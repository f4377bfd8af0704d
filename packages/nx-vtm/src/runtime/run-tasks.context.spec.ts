import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runImplementTasks, type TaskRunResult } from './run-tasks';

// The executors' source gate loads the run context (lists the manifests through git, parses them all) and hands it
// on, so a run pays for it once, not once in the gate and again here (per task in per-task mode).
describe('runImplementTasks: a context loaded by the caller', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'vtm-run-ctx-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const collect = async (input: Parameters<typeof runImplementTasks>[0]) => {
    const out: TaskRunResult[] = [];
    for await (const r of runImplementTasks({ ...input, print: () => undefined })) out.push(r);
    return out;
  };

  it('is used as given, not loaded again', async () => {
    const results = await collect({
      workspaceRoot: root,
      nxJson: { plugins: ['nx-vtm'] },
      projects: {},
      taskIds: ['A--T01', 'A--T02'],
      targetName: 'implement',
      loaded: { ok: false, error: 'nx-vtm: the context the gate loaded' },
    });
    expect(results.map((r) => [r.taskId, r.status, r.reason])).toEqual([
      ['A--T01', 'failure', 'nx-vtm: the context the gate loaded'],
      ['A--T02', 'failure', 'nx-vtm: the context the gate loaded'],
    ]);
  });

  it('is loaded here when the caller gave none (an empty folder: no manifest known to git)', async () => {
    const results = await collect({ workspaceRoot: root, nxJson: { plugins: ['nx-vtm'] }, projects: {}, taskIds: ['A--T01'], targetName: 'implement' });
    expect(results).toHaveLength(1);
    expect(results[0].status).toBe('failure');
    expect(results[0].reason).not.toBe('nx-vtm: the context the gate loaded');
    expect(results[0].reason).toMatch(/nx-vtm/);
  });
});
