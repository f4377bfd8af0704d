import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ProgressPulse } from '../pulse';
import { makeCliWorkspace, STATE_FILE, type CliWorkspaceFixture } from '../test-support/cli-workspace';

// Real CLI processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(60_000);

let ws: CliWorkspaceFixture;
afterEach(() => ws?.cleanup());

describe('nx-vtm status', () => {
  it('prints the pulse of a workspace whose state was written by runs', async () => {
    ws = makeCliWorkspace();
    const store = ws.openStore();
    try {
      store.checkManifestHash(ws.manifestHash);
      ws.finishTask(store, 'A', { status: 'completed', acs_completed: ['A-AC01'] });
      ws.finishTask(store, 'C', { status: 'blocked', reason: 'agent_failed', error: 'agent exited with 1' });
      ws.claimTask(store, 'H');
      store.updateProgress({ taskId: 'H', token: store.getTask('H')!.claim!.token, fields: { acs_completed: ['H-AC01'] } });
    } finally {
      store.close();
    }

    const r = await ws.runCli(['status']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^### Implementation Pulse \(\d{4}-\d\d-\d\dT/);
    expect(lines).toContain('- Tasks: pending 1 | in-progress 1 | blocked 1 | completed 1 | abandoned 0');
    expect(lines).toContain('- Progress: 25% (1/4 tasks)');
    expect(lines).toContain('- High Risk: 0 completed, 1 remaining');
    expect(lines).toContain('- Latest Completed: A (completed just now)');
    // The claim belongs to this jest process: its pid and host are the owner shown.
    expect(lines).toContain(`- In Progress: H (1 ACs completed, 0 remaining; pid ${process.pid} on ${os.hostname()}, run RUN-SPEC, started just now)`);
    expect(lines).toContain('- Next Eligible: B');
    expect(r.stdout).toContain('- Blockers: 1\n  - C: agent_failed (agent exited with 1)\n    Remediation: Read what the agent did');
    expect(lines).toContain(`- Manifest: ${ws.manifestHash.slice(0, 12)} matches the task state`);
    expect(lines).toContain('- Slices: Slice 1.1 1/3 (33%) | Slice 1.2 0/1 (0%)');
    expect(lines).toContain('- Flags: none');
  });

  it('--json gives the whole pulse, with the flags of seed 001', async () => {
    ws = makeCliWorkspace({
      tasks: [
        { task_id: 'A', title: 'a', risk: 'High', acceptance_criteria: [{ id: 'A-AC01', text: 'x' }, { id: 'A-AC02', text: 'y' }], test_verification: ['tests/missing.spec.ts'] },
        { task_id: 'B', title: 'b', risk: 'Low', acceptance_criteria: [{ id: 'B-AC01', text: 'x' }] },
        { task_id: 'C', title: 'c', risk: 'Low', acceptance_criteria: [{ id: 'C-AC01', text: 'x' }] },
      ],
      pluginOptions: { wipLimit: 1 },
    });
    const store = ws.openStore();
    try {
      store.checkManifestHash('an-older-manifest');
      ws.finishTask(store, 'A', { status: 'completed', acs_completed: ['A-AC01'] });
      ws.claimTask(store, 'B');
      ws.claimTask(store, 'C');
    } finally {
      store.close();
    }

    const r = await ws.runCli(['status', '--json']);
    expect(r.code).toBe(0);
    const pulse = JSON.parse(r.stdout) as ProgressPulse;
    expect(pulse.counts).toEqual({ pending: 0, 'in-progress': 2, blocked: 0, completed: 1, abandoned: 0 });
    expect(pulse.in_progress.map((t) => t.owner)).toEqual([
      { host: os.hostname(), pid: process.pid },
      { host: os.hostname(), pid: process.pid },
    ]);
    expect(pulse.manifest).toEqual({ hash: ws.manifestHash, state_hash: 'an-older-manifest', state: 'mismatch' });
    expect(pulse.flags.map((f) => f.code).sort()).toEqual(
      ['WARN::HIGH-RISK-WITHOUT-TESTS::A', 'WARN::INCOMPLETE-ACS::A', 'WARN::MANIFEST-HASH-MISMATCH', 'WARN::WIP-OVERLOAD'].sort(),
    );
  });

  it('reads a workspace that never ran without creating any state', async () => {
    ws = makeCliWorkspace();
    const r = await ws.runCli(['status'], path.join(ws.root, 'docs', 'backlog'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('- Tasks: pending 4 | in-progress 0 | blocked 0 | completed 0 | abandoned 0');
    expect(r.stdout).toContain('- Next Eligible: H, A, C');
    expect(r.stdout).toContain('(no run has recorded a manifest hash yet)');
    expect(fs.existsSync(path.join(ws.root, '.vtm'))).toBe(false);
    expect(fs.existsSync(path.join(ws.root, STATE_FILE))).toBe(false);
  });

  it.each([
    {
      name: 'outside a workspace',
      setup: () => fs.mkdtempSync(path.join(os.tmpdir(), 'nx-vtm-nows-')),
      message: /^nx-vtm status: no nx\.json in .* or any folder above it; run nx-vtm inside an Nx workspace/,
    },
    {
      name: 'with a broken manifest',
      setup: (f: CliWorkspaceFixture) => {
        f.repo.write({ 'docs/backlog/virtual-task-manifest.json': '{"tasks": [{"task_id": "A"}]}' });
        return f.root;
      },
      message: /^nx-vtm status: Invalid Virtual Task Manifest docs\/backlog\/virtual-task-manifest\.json/,
    },
    {
      name: 'without the plugin in nx.json',
      setup: (f: CliWorkspaceFixture) => {
        f.repo.write({ 'nx.json': '{}' });
        return f.root;
      },
      message: /nx-vtm is not registered in nx\.json "plugins"; run `nx g nx-vtm:init`/,
    },
  ])('fails with exit code 1 and what to do $name', async ({ setup, message }) => {
    ws = makeCliWorkspace();
    const cwd = setup(ws);
    const r = await ws.runCli(['status'], cwd);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    if (cwd !== ws.root) fs.rmSync(cwd, { recursive: true, force: true });
  });
});
