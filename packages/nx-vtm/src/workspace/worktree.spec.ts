import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunProcess } from './ports';
import { makeTempRepo, type TempRepo } from './test-support/git-fixture';
import { spawnProcess } from './test-support/spawn-process';
import {
  createTaskWorktree,
  fillSpareWorktrees,
  listTaskWorktrees,
  parseWorktreeList,
  pruneTaskWorktrees,
  removeTaskWorktree,
  type TaskWorktree,
} from './worktree';

// Real git repositories and child processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(30_000);

let repo: TempRepo;
beforeEach(() => {
  repo = makeTempRepo();
  repo.write({ 'node_modules/left-pad/index.js': 'module.exports = 1;\n' });
});
afterEach(() => repo.cleanup());

async function create(taskId: string, extra: Partial<Parameters<typeof createTaskWorktree>[0]> = {}): Promise<TaskWorktree> {
  const r = await createTaskWorktree({ repoRoot: repo.root, taskId, baseRef: 'main', ...extra });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

describe('createTaskWorktree', () => {
  it('puts the task on vtm/<id> at the integration branch as it is now', async () => {
    const first = await create('T1');
    expect(first.path).toBe(path.join(repo.root, '.vtm/worktrees/T1'));
    expect(first.branch).toBe('vtm/T1');
    expect(repo.git(['symbolic-ref', '--short', 'HEAD'], first.path)).toBe('vtm/T1');
    expect(repo.git(['rev-parse', 'HEAD'], first.path)).toBe(repo.git(['rev-parse', 'main']));

    // A dependency integrated after T1 started must be in T2's starting point.
    const dep = repo.commit({ 'src/dep.ts': 'export const dep = 1;\n' }, 'feat(T0): dependency');
    const second = await create('T2');
    expect(second.baseSha).toBe(dep);
    expect(repo.git(['rev-parse', 'HEAD'], second.path)).toBe(dep);
    expect(fs.readFileSync(path.join(second.path, 'src/dep.ts'), 'utf8')).toContain('dep = 1');
    expect(first.reused).toBe(false);
  });

  it('moves aside a worktree whose creation was interrupted (no valid HEAD) and makes a fresh one', async () => {
    const first = await create('T1');
    // What a `git worktree add` killed half-way leaves: registered, but HEAD names a branch that was never created.
    const gitFile = fs.readFileSync(path.join(first.path, '.git'), 'utf8');
    const adminDir = gitFile.replace(/^gitdir:\s*/, '').trim();
    fs.writeFileSync(path.join(adminDir, 'HEAD'), 'ref: refs/heads/vtm/never-created\n');
    const again = await create('T1');
    expect(repo.git(['rev-parse', 'HEAD'], again.path)).toBe(repo.git(['rev-parse', 'main']));
    const aside = fs.readdirSync(path.join(repo.root, '.vtm/worktrees')).filter((d) => d.startsWith('T1.broken-'));
    expect(aside).toHaveLength(1); // kept, not deleted
  });

  it('moves aside a worktree left "locked: initializing" by a killed `git worktree add`', async () => {
    const first = await create('T1');
    const adminDir = fs.readFileSync(path.join(first.path, '.git'), 'utf8').replace(/^gitdir:\s*/, '').trim();
    fs.writeFileSync(path.join(adminDir, 'locked'), 'initializing');
    fs.rmSync(path.join(first.path, 'README.md'), { force: true }); // a half-done checkout
    const again = await create('T1');
    expect(repo.git(['status', '--porcelain'], again.path)).toBe('');
    expect(fs.readdirSync(path.join(repo.root, '.vtm/worktrees')).filter((d) => d.startsWith('T1.broken-'))).toHaveLength(1);
  });

  it('recovers a `git worktree add` killed before it wrote the .git file (empty), and one already moved aside', async () => {
    const first = await create('T1');
    const adminDir = fs.readFileSync(path.join(first.path, '.git'), 'utf8').replace(/^gitdir:\s*/, '').trim();
    fs.writeFileSync(path.join(adminDir, 'locked'), 'initializing');
    fs.rmSync(path.join(adminDir, 'HEAD'));
    fs.writeFileSync(path.join(first.path, '.git'), '');
    const again = await create('T1');
    expect(repo.git(['rev-parse', 'HEAD'], again.path)).toBe(repo.git(['rev-parse', 'main']));
    // The same registration whose directory a killed attempt had already moved aside.
    const adminDir2 = fs.readFileSync(path.join(again.path, '.git'), 'utf8').replace(/^gitdir:\s*/, '').trim();
    fs.writeFileSync(path.join(adminDir2, 'locked'), 'initializing');
    fs.rmSync(path.join(adminDir2, 'HEAD'));
    fs.rmSync(again.path, { recursive: true, force: true });
    const third = await create('T1');
    expect(repo.git(['status', '--porcelain'], third.path)).toBe('');
  });

  it("removes the task branch's ref lock a killed `git worktree add -B` left, and creates the worktree", async () => {
    fs.mkdirSync(path.join(repo.root, '.git/refs/heads/vtm'), { recursive: true });
    fs.writeFileSync(path.join(repo.root, '.git/refs/heads/vtm/T1.lock'), '');
    const made = await create('T1');
    expect(repo.git(['rev-parse', '--abbrev-ref', 'HEAD'], made.path)).toBe('vtm/T1');
    expect(fs.existsSync(path.join(repo.root, '.git/refs/heads/vtm/T1.lock'))).toBe(false);
  });

  it('removes a stale index.lock of a killed git command in the leftover worktree, then reuses it', async () => {
    const first = await create('T1');
    const adminDir = fs.readFileSync(path.join(first.path, '.git'), 'utf8').replace(/^gitdir:\s*/, '').trim();
    fs.writeFileSync(path.join(adminDir, 'index.lock'), '');
    const again = await create('T1');
    expect(again.reused).toBe(true);
    expect(fs.existsSync(path.join(adminDir, 'index.lock'))).toBe(false);
  });

  it('symlinks node_modules from the main checkout, and only folders that exist there', async () => {
    const wt = await create('T1', { linkDirs: ['node_modules', '.cache'] });
    expect(wt.linked).toEqual(['node_modules']);
    const link = path.join(wt.path, 'node_modules');
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.realpathSync(link)).toBe(path.join(repo.root, 'node_modules'));
    expect(fs.readFileSync(path.join(link, 'left-pad/index.js'), 'utf8')).toContain('module.exports');
    expect(fs.existsSync(path.join(wt.path, '.cache'))).toBe(false);
  });

  it("keeps the symlink out of an agent's own `git add -A`, even though .gitignore says node_modules/", async () => {
    const wt = await create('T1');
    repo.git(['add', '-A'], wt.path);
    expect(repo.git(['status', '--porcelain'], wt.path)).toBe('');
    await create('T2');
    const exclude = fs.readFileSync(path.join(repo.root, '.git/info/exclude'), 'utf8');
    expect(exclude.match(/^\/node_modules$/gm)).toHaveLength(1);
  });

  it('treats a setupCommand without a process port as a programming error', async () => {
    await expect(create('T1', { setupCommand: ['npm', 'ci'] })).rejects.toThrow(/needs deps.runProcess/);
  });

  it('runs the setup command (argv, cwd, log file) and reports a failing one, keeping the worktree', async () => {
    const calls: Parameters<RunProcess>[0][] = [];
    const recording: RunProcess = async (o) => {
      calls.push(o);
      return spawnProcess(o);
    };
    const script = "require('fs').writeFileSync('setup-ran.txt', process.cwd()); console.log('installed')";
    const ok = await createTaskWorktree(
      { repoRoot: repo.root, taskId: 'T1', baseRef: 'main', setupCommand: [process.execPath, '-e', script] },
      { runProcess: recording },
    );
    expect(ok.ok).toBe(true);
    if (!ok.ok) return;
    expect(calls[0].argv).toEqual([process.execPath, '-e', script]);
    expect(calls[0].cwd).toBe(ok.value.path);
    expect(fs.readFileSync(path.join(ok.value.path, 'setup-ran.txt'), 'utf8')).toBe(ok.value.path);
    expect(fs.readFileSync(path.join(repo.root, '.vtm/logs/T1/setup.log'), 'utf8')).toContain('installed');
    expect(ok.value.setup?.exitCode).toBe(0);

    const failing = await createTaskWorktree(
      { repoRoot: repo.root, taskId: 'T2', baseRef: 'main', setupCommand: [process.execPath, '-e', 'process.exit(3)'] },
      { runProcess: spawnProcess },
    );
    expect(failing.ok).toBe(false);
    if (failing.ok) return;
    expect(failing.error.code).toBe('setup_failed');
    expect(failing.error.message).toMatch(/^Task T2: setup command .* exited with 3 in .*; see .*setup\.log$/);
    expect(fs.existsSync(path.join(repo.root, '.vtm/worktrees/T2/README.md'))).toBe(true);
  });

  it('reuses a clean leftover worktree, reset to the new base', async () => {
    await create('T1');
    const newer = repo.commit({ 'b.txt': 'b' }, 'newer');
    const again = await create('T1');
    expect(again.reused).toBe(true);
    expect(again.previousAttempt).toBeUndefined();
    expect(repo.git(['rev-parse', 'HEAD'], again.path)).toBe(newer);
    expect(repo.git(['symbolic-ref', '--short', 'HEAD'], again.path)).toBe('vtm/T1');
  });

  it('keeps the commits of an unintegrated earlier attempt reachable before resetting the branch', async () => {
    const wt = await create('T1');
    const attempt = repo.commit({ 'src/work.ts': 'work' }, 'feat(T1): first attempt', wt.path);
    const again = await create('T1');
    expect(again.reused).toBe(true);
    expect(again.previousAttempt).toEqual({ ref: `refs/vtm/attempts/T1/${attempt}`, sha: attempt });
    expect(repo.git(['rev-parse', `refs/vtm/attempts/T1/${attempt}`])).toBe(attempt);
    expect(repo.git(['rev-parse', 'HEAD'], again.path)).toBe(repo.git(['rev-parse', 'main']));
  });

  it('never touches a leftover worktree with uncommitted work, and says where it is', async () => {
    const wt = await create('T1');
    repo.write({ 'half-done.ts': 'precious' }, wt.path);
    const r = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T1', baseRef: 'main' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('uncommitted_work');
    expect(r.error.paths).toEqual(['half-done.ts']);
    expect(r.error.message).toMatch(/^Task T1: the worktree of an earlier attempt .* has uncommitted changes \(half-done\.ts\); it was kept/);
    expect(fs.readFileSync(path.join(wt.path, 'half-done.ts'), 'utf8')).toBe('precious');
  });

  it('recreates a worktree whose directory was deleted by hand', async () => {
    const wt = await create('T1');
    fs.rmSync(wt.path, { recursive: true, force: true });
    const again = await create('T1');
    expect(again.reused).toBe(false);
    expect(repo.git(['symbolic-ref', '--short', 'HEAD'], again.path)).toBe('vtm/T1');
  });

  it('refuses when the task branch is checked out somewhere else, or the directory is not a worktree', async () => {
    const elsewhere = path.join(repo.root, '..', `${path.basename(repo.root)}-other`);
    repo.git(['worktree', 'add', '-q', '-b', 'vtm/T9', elsewhere, 'main']);
    try {
      const r = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T9', baseRef: 'main' });
      expect(!r.ok && r.error.code).toBe('branch_checked_out_elsewhere');
    } finally {
      repo.git(['worktree', 'remove', '--force', elsewhere]);
    }
    repo.write({ '.vtm/worktrees/T8/notes.txt': 'something' });
    const occupied = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T8', baseRef: 'main' });
    expect(!occupied.ok && occupied.error.code).toBe('path_occupied');
    expect(fs.readFileSync(path.join(repo.root, '.vtm/worktrees/T8/notes.txt'), 'utf8')).toBe('something');
  });

  it('rejects task ids git cannot use as a branch and unknown base refs', async () => {
    const badId = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T1.lock', baseRef: 'main' });
    expect(!badId.ok && badId.error.code).toBe('invalid_task_id');
    const badBase = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T1', baseRef: 'nope' });
    expect(!badBase.ok && badBase.error.message).toMatch(/^Task T1: base ref "nope" does not name a commit/);
  });
});

describe('removeTaskWorktree', () => {
  it('removes the worktree and the merged branch, leaving the linked folder of the main checkout alone', async () => {
    const wt = await create('T1');
    repo.commit({ 'src/a.ts': 'a' }, 'feat(T1): a', wt.path);
    repo.git(['merge', '-q', '--no-ff', '-m', 'merge', 'vtm/T1']);
    const r = await removeTaskWorktree({ repoRoot: repo.root, taskId: 'T1' });
    expect(r).toEqual({ ok: true, value: { worktreeRemoved: true, branchDeleted: true } });
    expect(fs.existsSync(wt.path)).toBe(false);
    expect(repo.git(['branch', '--list', 'vtm/T1'])).toBe('');
    expect(fs.existsSync(path.join(repo.root, 'node_modules/left-pad/index.js'))).toBe(true);
  });

  it('keeps an unmerged branch, and refuses a dirty worktree unless forced', async () => {
    const wt = await create('T1');
    repo.commit({ 'src/a.ts': 'a' }, 'feat(T1): a', wt.path);
    repo.write({ 'src/b.ts': 'uncommitted' }, wt.path);
    const refused = await removeTaskWorktree({ repoRoot: repo.root, taskId: 'T1' });
    expect(!refused.ok && refused.error.code).toBe('uncommitted_work');
    expect(fs.existsSync(path.join(wt.path, 'src/b.ts'))).toBe(true);

    const forced = await removeTaskWorktree({ repoRoot: repo.root, taskId: 'T1', force: true });
    expect(forced).toEqual({
      ok: true,
      value: { worktreeRemoved: true, branchDeleted: false, branchKeptReason: 'not merged into HEAD' },
    });
    expect(repo.git(['branch', '--list', 'vtm/T1'])).toContain('vtm/T1');
  });
});

describe('listTaskWorktrees and pruneTaskWorktrees', () => {
  it('lists task worktrees with their uncommitted paths, not counting linked folders', async () => {
    await create('T1');
    const dirty = await create('T2');
    repo.write({ 'wip.ts': 'x' }, dirty.path);
    const r = await listTaskWorktrees({ repoRoot: repo.root });
    expect(r.ok && r.value.map((w) => [w.taskId, w.branch, w.dirtyPaths])).toEqual([
      ['T1', 'vtm/T1', []],
      ['T2', 'vtm/T2', ['wip.ts']],
    ]);
  });

  it('keeps dirty worktrees and unmerged branches, removes the rest, and a dry run changes nothing', async () => {
    const done = await create('DONE');
    repo.commit({ 'done.ts': 'd' }, 'feat(DONE): d', done.path);
    repo.git(['merge', '-q', '--no-ff', '-m', 'merge', 'vtm/DONE']);
    const dirty = await create('DIRTY');
    repo.write({ 'wip.ts': 'precious' }, dirty.path);
    const busy = await create('BUSY');
    const unmerged = await create('UNMERGED');
    repo.commit({ 'u.ts': 'u' }, 'feat(UNMERGED): u', unmerged.path);

    const dry = await pruneTaskWorktrees({ repoRoot: repo.root, dryRun: true, keepTaskIds: ['BUSY'] });
    expect(dry.ok).toBe(true);
    if (!dry.ok) return;
    const byId = (entries: typeof dry.value) => Object.fromEntries(entries.map((e) => [e.taskId, e]));
    expect(byId(dry.value).DONE).toMatchObject({ worktree: 'would-remove', branchAction: 'would-delete' });
    expect(byId(dry.value).DIRTY).toMatchObject({ worktree: 'kept', reason: 'uncommitted changes: wip.ts' });
    expect(fs.existsSync(done.path)).toBe(true);
    expect(repo.git(['branch', '--list', 'vtm/DONE'])).toContain('vtm/DONE');

    const real = await pruneTaskWorktrees({ repoRoot: repo.root, keepTaskIds: ['BUSY'] });
    expect(real.ok).toBe(true);
    if (!real.ok) return;
    const entries = byId(real.value);
    expect(entries.DONE).toMatchObject({ worktree: 'removed', branchAction: 'deleted' });
    expect(entries.DIRTY).toMatchObject({ worktree: 'kept', branchAction: 'kept', reason: 'uncommitted changes: wip.ts' });
    expect(entries.BUSY).toMatchObject({ worktree: 'kept', reason: 'task is in use' });
    expect(entries.UNMERGED).toMatchObject({ worktree: 'removed', branchAction: 'kept', reason: 'branch not merged into HEAD' });
    expect(fs.existsSync(done.path)).toBe(false);
    expect(fs.existsSync(unmerged.path)).toBe(false);
    expect(fs.readFileSync(path.join(dirty.path, 'wip.ts'), 'utf8')).toBe('precious');
    expect(fs.existsSync(busy.path)).toBe(true);
    expect(repo.git(['branch', '--list', 'vtm/UNMERGED'])).toContain('vtm/UNMERGED');

    // A second prune still reports the branch left without a worktree.
    const again = await pruneTaskWorktrees({ repoRoot: repo.root, keepTaskIds: ['BUSY'] });
    expect(again.ok && byId(again.value).UNMERGED).toMatchObject({ worktree: 'none', branchAction: 'kept' });

    const forced = await pruneTaskWorktrees({ repoRoot: repo.root, force: true, keepTaskIds: ['BUSY'] });
    expect(forced.ok && byId(forced.value).DIRTY).toMatchObject({ worktree: 'removed' });
    expect(fs.existsSync(dirty.path)).toBe(false);
  });
});

it('parseWorktreeList reads porcelain -z records', () => {
  const out = 'worktree /r\0HEAD abc\0branch refs/heads/main\0\0worktree /r/.vtm/worktrees/T1\0HEAD def\0detached\0prunable gitdir file points to non-existent location\0\0';
  expect(parseWorktreeList(out)).toEqual([
    { path: '/r', head: 'abc', branch: 'main', detached: false, bare: false, locked: false, prunable: false },
    { path: '/r/.vtm/worktrees/T1', head: 'def', detached: true, bare: false, locked: false, prunable: true },
  ]);
});

describe('spare worktrees', () => {
  const withLock = <T>(fn: () => Promise<T>) => fn();
  const spares = () => {
    const dir = path.join(repo.root, '.vtm/worktrees/.spares');
    return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  };

  it('a spare checked out ahead is taken by the next task: moved into place, switched to its branch at the current base', async () => {
    const filled = await fillSpareWorktrees({ repoRoot: repo.root, baseRef: 'main', count: 1, withLock });
    expect(filled).toEqual({ ok: true, value: 1 });
    expect(spares()).toEqual([expect.stringMatching(/^ready-/)]);
    // Filling again adds nothing: one is there.
    expect(await fillSpareWorktrees({ repoRoot: repo.root, baseRef: 'main', count: 1, withLock })).toEqual({ ok: true, value: 0 });

    // main moves on after the spare was made (a dependency integrated): the task still starts from main as it is now.
    repo.commit({ 'src/dep.ts': 'export const dep = 1;\n', 'README.md': 'changed\n' }, 'feat(T0): dependency');
    const wt = await create('T1', { useSpare: true });
    expect(spares()).toEqual([]);
    expect(wt.path).toBe(path.join(repo.root, '.vtm/worktrees/T1'));
    expect(repo.git(['symbolic-ref', '--short', 'HEAD'], wt.path)).toBe('vtm/T1');
    expect(repo.git(['rev-parse', 'HEAD'], wt.path)).toBe(repo.git(['rev-parse', 'main']));
    expect(fs.readFileSync(path.join(wt.path, 'src/dep.ts'), 'utf8')).toBe('export const dep = 1;\n');
    expect(repo.git(['status', '--porcelain'], wt.path)).toBe('');
    // The linked folders are there as for any task worktree.
    expect(fs.lstatSync(path.join(wt.path, 'node_modules')).isSymbolicLink()).toBe(true);
  });

  it('without a ready spare (none, or one still filling) the task checks out its own worktree', async () => {
    const wt = await create('T1', { useSpare: true });
    expect(repo.git(['rev-parse', 'HEAD'], wt.path)).toBe(repo.git(['rev-parse', 'main']));
    // A spare left half-filled by a filler that died (its pid is gone) is never taken, and is replaced.
    const dead = path.join(repo.root, '.vtm/worktrees/.spares/filling-999999-x-y');
    repo.git(['worktree', 'add', '--quiet', '--no-checkout', '--detach', dead, 'main']);
    const t2 = await create('T2', { useSpare: true });
    expect(fs.existsSync(dead)).toBe(true);
    expect(repo.git(['symbolic-ref', '--short', 'HEAD'], t2.path)).toBe('vtm/T2');
    expect(await fillSpareWorktrees({ repoRoot: repo.root, baseRef: 'main', count: 1, withLock })).toEqual({ ok: true, value: 1 });
    expect(spares()).toEqual([expect.stringMatching(/^ready-/)]);
  });

  it('a finished clean worktree is kept as the spare instead of deleted; the next task gets it without the earlier task\'s files', async () => {
    const first = await create('T1', { useSpare: true });
    fs.writeFileSync(path.join(first.path, 'tracked-by-task.ts'), 'x\n');
    repo.git(['add', 'tracked-by-task.ts'], first.path);
    repo.git(['commit', '-qm', 'T1 work'], first.path);
    repo.git(['merge', '-q', '--no-ff', '-m', 'merge T1', 'vtm/T1']);
    // Ignored build output of the task (.vtm/ is ignored here): not part of its commit, not a reason to keep the worktree.
    fs.mkdirSync(path.join(first.path, '.vtm'), { recursive: true });
    fs.writeFileSync(path.join(first.path, '.vtm', 'build-output.txt'), 'stale\n');
    const removed = await removeTaskWorktree({ repoRoot: repo.root, taskId: 'T1', integrationRef: 'main', spares: 1 });
    expect(removed).toMatchObject({ ok: true, value: { worktreeRemoved: true, branchDeleted: true } });
    expect(fs.existsSync(first.path)).toBe(false);
    expect(spares()).toEqual([expect.stringMatching(/^ready-T1-/)]);
    // A second finished worktree is deleted: one spare is enough.
    const second = await create('T2', { useSpare: false });
    const removed2 = await removeTaskWorktree({ repoRoot: repo.root, taskId: 'T2', integrationRef: 'main', spares: 1 });
    expect(removed2.ok).toBe(true);
    expect(fs.existsSync(second.path)).toBe(false);
    expect(spares()).toHaveLength(1);

    const third = await create('T3', { useSpare: true });
    expect(spares()).toEqual([]);
    expect(repo.git(['symbolic-ref', '--short', 'HEAD'], third.path)).toBe('vtm/T3');
    expect(repo.git(['rev-parse', 'HEAD'], third.path)).toBe(repo.git(['rev-parse', 'main']));
    expect(fs.existsSync(path.join(third.path, '.vtm', 'build-output.txt'))).toBe(false);
    expect(fs.existsSync(path.join(third.path, 'tracked-by-task.ts'))).toBe(true); // it is on main now
  });

  it('a spare moved by a process killed inside `git worktree move` is repaired, not reported as a foreign folder', async () => {
    await fillSpareWorktrees({ repoRoot: repo.root, baseRef: 'main', count: 2, withLock });
    const [first, second] = spares();
    // The rename happened, git's bookkeeping did not (what SIGKILL between the two leaves).
    fs.renameSync(path.join(repo.root, '.vtm/worktrees/.spares', first), path.join(repo.root, '.vtm/worktrees/T1'));
    const wt = await create('T1', { useSpare: true });
    expect(repo.git(['symbolic-ref', '--short', 'HEAD'], wt.path)).toBe('vtm/T1');
    expect(repo.git(['rev-parse', 'HEAD'], wt.path)).toBe(repo.git(['rev-parse', 'main']));
    // The same inside the spares folder (a recycle killed half-way): the filler re-registers it.
    fs.renameSync(path.join(repo.root, '.vtm/worktrees/.spares', second), path.join(repo.root, '.vtm/worktrees/.spares', 'ready-moved'));
    expect(await fillSpareWorktrees({ repoRoot: repo.root, baseRef: 'main', count: 1, withLock })).toEqual({ ok: true, value: 0 });
    expect(spares()).toEqual(['ready-moved']);
    const t2 = await create('T2', { useSpare: true });
    expect(repo.git(['symbolic-ref', '--short', 'HEAD'], t2.path)).toBe('vtm/T2');
    expect(spares()).toEqual([]);
  });

  it('nx-vtm prune removes spares like any leftover; they are listed as spares, not tasks', async () => {
    await fillSpareWorktrees({ repoRoot: repo.root, baseRef: 'main', count: 2, withLock });
    expect(spares()).toHaveLength(2);
    const listed = await listTaskWorktrees({ repoRoot: repo.root });
    expect(listed.ok && listed.value.map((w) => w.taskId.split(' ')[0])).toEqual(['(spare)', '(spare)']);
    const pruned = await pruneTaskWorktrees({ repoRoot: repo.root });
    expect(pruned.ok).toBe(true);
    expect(spares()).toEqual([]);
  });
});
