import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTaskWorktree } from '../../workspace/worktree';
import { makeCliWorkspace, type CliWorkspaceFixture } from '../test-support/cli-workspace';
import type { WorktreeEntryView } from './worktrees';

// Real git repositories and CLI processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(60_000);

let ws: CliWorkspaceFixture;
afterEach(() => ws?.cleanup());

const wt = (taskId: string) => path.join(ws.root, '.vtm', 'worktrees', taskId);
const branches = () => ws.repo.git(['for-each-ref', '--format=%(refname:short)', 'refs/heads/vtm/']).split('\n').filter(Boolean).sort();

/**
 * Leftovers of four tasks: A clean and merged; B clean with a commit that is not merged; C with uncommitted work;
 * H with uncommitted work and held by a live run (this process).
 */
async function makeLeftovers(): Promise<void> {
  ws = makeCliWorkspace();
  for (const id of ['A', 'B', 'C', 'H']) {
    const r = await createTaskWorktree({ repoRoot: ws.root, taskId: id, baseRef: 'main' });
    if (!r.ok) throw new Error(r.error.message);
  }
  ws.repo.commit({ 'src/b/b.ts': 'export const b = 1;\n' }, 'feat(B): unmerged work', wt('B'));
  ws.repo.write({ 'src/c/c.ts': 'export const c = 1;\n' }, wt('C'));
  ws.repo.write({ 'src/h/h.ts': 'export const h = 1;\n' }, wt('H'));
  const store = ws.openStore();
  try {
    ws.finishTask(store, 'C', { status: 'blocked', reason: 'verification_failed' });
    ws.claimTask(store, 'H');
  } finally {
    store.close();
  }
}

describe('nx-vtm worktrees', () => {
  it('lists the leftovers with what a prune would do and why, changing nothing', async () => {
    await makeLeftovers();
    const r = await ws.runCli(['worktrees']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('- A: .vtm/worktrees/A (vtm/A), clean\n  prune: worktree would be removed, branch would be deleted (merged)');
    expect(r.stdout).toContain('- B: .vtm/worktrees/B (vtm/B), clean\n  prune: worktree would be removed, branch kept (branch not merged into HEAD)');
    expect(r.stdout).toContain('-> vtm/B has commits not in HEAD: merge them (git merge vtm/B) or delete the branch (git branch -D vtm/B)');
    expect(r.stdout).toContain('- C [blocked]: .vtm/worktrees/C (vtm/C), 1 uncommitted path(s)\n  prune: worktree kept, branch kept (uncommitted changes: src/c/c.ts)');
    expect(r.stdout).toContain(`-> commit or discard the changes in .vtm/worktrees/C, or run \`nx-vtm worktrees prune --force\` to discard them`);
    expect(r.stdout).toContain(`- H [in-progress]: .vtm/worktrees/H (vtm/H), 1 uncommitted path(s)\n  prune: worktree kept, branch kept (task is in use)\n  -> a run holds H (pid ${process.pid}`);
    for (const id of ['A', 'B', 'C', 'H']) expect(fs.existsSync(wt(id))).toBe(true);
    expect(branches()).toEqual(['vtm/A', 'vtm/B', 'vtm/C', 'vtm/H']);
  });

  it('prune --dry-run --json reports the plan and changes nothing', async () => {
    await makeLeftovers();
    const r = await ws.runCli(['worktrees', 'prune', '--dry-run', '--json', '--force']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { mode: string; entries: WorktreeEntryView[] };
    expect(out.mode).toBe('dry-run');
    const plan = Object.fromEntries(out.entries.map((e) => [e.taskId, [e.worktree, e.branchAction]]));
    // --force would discard C's changes, never H's: a live run holds H.
    expect(plan).toEqual({ A: ['would-remove', 'would-delete'], B: ['would-remove', 'kept'], C: ['would-remove', 'would-delete'], H: ['kept', 'kept'] });
    expect(out.entries.find((e) => e.taskId === 'H')!.live_claim).toMatchObject({ pid: process.pid, run_id: 'RUN-SPEC' });
    for (const id of ['A', 'B', 'C', 'H']) expect(fs.existsSync(wt(id))).toBe(true);
    expect(branches()).toEqual(['vtm/A', 'vtm/B', 'vtm/C', 'vtm/H']);
  });

  it('prune removes what is safe to remove and keeps uncommitted work, unmerged branches and running tasks', async () => {
    await makeLeftovers();
    const r = await ws.runCli(['worktrees', 'prune']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('removed 2 worktree(s) and deleted 1 branch(es); kept 2 worktree(s) and 3 branch(es).');
    expect(fs.existsSync(wt('A'))).toBe(false);
    expect(fs.existsSync(wt('B'))).toBe(false);
    expect(fs.readFileSync(path.join(wt('C'), 'src/c/c.ts'), 'utf8')).toContain('c = 1');
    expect(fs.readFileSync(path.join(wt('H'), 'src/h/h.ts'), 'utf8')).toContain('h = 1');
    expect(branches()).toEqual(['vtm/B', 'vtm/C', 'vtm/H']);

    // `nx-vtm prune --force` (the short form worktree messages name) discards C's changes (its branch has no commits
    // of its own, so it goes too); H stays.
    const forced = await ws.runCli(['prune', '--force']);
    expect(forced.code).toBe(0);
    expect(fs.existsSync(wt('C'))).toBe(false);
    expect(fs.readFileSync(path.join(wt('H'), 'src/h/h.ts'), 'utf8')).toContain('h = 1');
    expect(branches()).toEqual(['vtm/B', 'vtm/H']);
  });

  it('keeps the worktree of a task whose run died while its agent still runs, even with --force', async () => {
    ws = makeCliWorkspace();
    const r0 = await createTaskWorktree({ repoRoot: ws.root, taskId: 'A', baseRef: 'main' });
    if (!r0.ok) throw new Error(r0.error.message);
    ws.repo.write({ 'src/a/a.ts': 'export const a = 1;\n' }, wt('A'));
    // The owner is gone; the agent it reported is this (running) process.
    const dead = ws.openStoreAsDeadOwner();
    ws.claimTask(dead, 'A');
    expect(dead.heartbeat({ taskId: 'A', token: dead.getTask('A')!.claim!.token, agentPid: process.pid })).toBe(true);
    dead.close();

    const r = await ws.runCli(['worktrees', 'prune', '--force']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`-> the run of A is gone but its agent (pid ${process.pid}) still runs`);
    expect(fs.readFileSync(path.join(wt('A'), 'src/a/a.ts'), 'utf8')).toContain('a = 1');
  });

  it('says when there is nothing to list', async () => {
    ws = makeCliWorkspace();
    const r = await ws.runCli(['worktrees', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`No task worktrees or vtm/* branches in ${ws.root}.\n`);
  });
});
