import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { makeCliWorkspace, type CliWorkspaceFixture } from '../test-support/cli-workspace';
import type { WatchView } from '../watch-view';

// Real CLI processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(60_000);

let ws: CliWorkspaceFixture;
afterEach(() => ws?.cleanup());

const waitFor = async (cond: () => boolean, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('nx-vtm watch', () => {
  it('--once shows running tasks with their phase, waiting tasks with the reason, finished tasks and cost', async () => {
    ws = makeCliWorkspace();
    const store = ws.openStore();
    try {
      store.checkManifestHash(ws.manifestHash);
      store.logEvent({ type: 'run-start', runId: 'RUN-SPEC', extra: { tasks: 4 } });
      ws.finishTask(store, 'C', { status: 'completed', acs_completed: ['C-AC01'], duration_minutes: 3, cost: { usd: 0.42 } } as never);
      ws.claimTask(store, 'A');
      const claim = store.getTask('A')!.claim!;
      expect(store.advanceStage({ taskId: 'A', token: claim.token, fence: claim.fence, stage: 'worktree' })).toBe(true);
      const refused = store.tryClaim({
        taskId: 'H',
        footprint: { taskId: 'H', fileScope: [], conflictsWith: [], exclusive: true },
        taskHash: null,
        runId: 'RUN-SPEC',
        leaseMs: 60_000,
        wipLimit: 3,
        admit: () => ({ admit: false, reason: { kind: 'needs-exclusive', running: ['A'] } }),
        waitingSinceMs: Date.now(),
        reserveAfterMs: 600_000,
      });
      expect(refused.kind).toBe('wait');
    } finally {
      store.close();
    }

    const r = await ws.runCli(['watch', '--once']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^nx-vtm watch {2}\d{4}-\d\d-\d\dT.* {2}run RUN-SPEC in progress$/);
    expect(lines).toContain('Tasks: pending 2 | in-progress 1 | blocked 0 | completed 1 | abandoned 0 | cost so far $0.42');
    expect(lines).toContain('Running (1 of 3 slots):');
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^  A  agent working  \\d+s  \\(pid ${process.pid} on .+\\)$`)));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}H {2}runs alone; 1 running \(A\) {2}for \d+s$/));
    expect(lines).toContain('  C  completed  3 min');

    const json = await ws.runCli(['watch', '--once', '--json']);
    const view = JSON.parse(json.stdout) as WatchView;
    expect(view.running.map((t) => [t.taskId, t.phase])).toEqual([['A', 'agent working']]);
    expect(view.waiting.map((t) => t.taskId)).toEqual(['H']);
  });

  it('refreshes while a run progresses and, with --exit-when-idle, exits once the run has ended', async () => {
    ws = makeCliWorkspace();
    const main = path.resolve(__dirname, '../main.ts');
    const register = path.resolve(__dirname, '../../state/__fixtures__/ts-register-cached.js');
    const child = spawn(process.execPath, ['-r', register, main, 'watch', '--interval', '0.2', '--exit-when-idle'], { cwd: ws.root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitFor(() => out.includes('no run yet'));
      const store = ws.openStore();
      try {
        store.logEvent({ type: 'run-start', runId: 'RUN-LIVE', extra: { tasks: 1 } });
        ws.claimTask(store, 'A');
        await waitFor(() => /Running \(1 of 3 slots\):\n {2}A {2}running/.test(out));
        store.finish({ taskId: 'A', token: store.getTask('A')!.claim!.token, outcome: { status: 'completed', acs_completed: ['A-AC01'] } });
        store.logEvent({ type: 'run-end', runId: 'RUN-LIVE', status: 'SUCCESS' });
      } finally {
        store.close();
      }
      expect(await exited).toBe(0);
    } finally {
      child.kill();
    }
    // Frames are printed only when something changed: first idle, then running, then the end.
    const frames = out.trim().split(/\n\n(?=nx-vtm watch)/);
    expect(frames[0]).toContain('no run yet');
    expect(frames[frames.length - 1]).toMatch(/run RUN-LIVE ended \(SUCCESS\)[\s\S]*Running \(0 of 3 slots\):\n {2}none[\s\S]*Finished \(latest first\):\n {2}A {2}completed/);
    expect(frames.length).toBeLessThan(10);
  });
});
