import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempRepo, type TempRepo } from './test-support/git-fixture';
import {
  createTaskWorktree,
  fillSpareWorktrees,
  judgePrimedWorktree,
  listTaskWorktrees,
  positionPrimedWorktree,
  primeTaskWorktree,
  pruneTaskWorktrees,
  readLooseBranchSha,
  type PrimedWorktree,
} from './worktree';

// Real git repositories on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(30_000);

let repo: TempRepo;
beforeEach(() => {
  repo = makeTempRepo();
  repo.write({ 'node_modules/left-pad/index.js': 'module.exports = 1;\n' });
});
afterEach(() => repo.cleanup());

const withLock = <T>(fn: () => Promise<T>) => fn();
const spares = () => {
  const dir = path.join(repo.root, '.vtm/worktrees/.spares');
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
};

/** What the pipeline does: a dependency saved on its branch, merged with --no-ff into main. */
function saveAndMergeDependency(files: Record<string, string>): { saved: string; tip: string } {
  repo.git(['checkout', '-q', '-b', 'vtm/T0']);
  const saved = repo.commit(files, 'feat(T0): dependency');
  repo.git(['checkout', '-q', 'main']);
  repo.git(['merge', '-q', '--no-ff', '-m', 'Merge vtm/T0', 'vtm/T0']);
  return { saved, tip: repo.git(['rev-parse', 'main']) };
}

async function primeAndPosition(taskId: string, sha: string, tip: string): Promise<PrimedWorktree> {
  const primed = await primeTaskWorktree({ repoRoot: repo.root, taskId, sha, withLock });
  if (!primed.ok) throw new Error(primed.error);
  const positioned = await positionPrimedWorktree({ repoRoot: repo.root, primed: primed.value, tip, withLock });
  if (!positioned.ok) throw new Error(positioned.error);
  return positioned.value;
}

describe('pre-positioned worktrees (git)', () => {
  it('a worktree primed at the dependency\'s saved commit and put on the task branch at the merge is taken as it is', async () => {
    await fillSpareWorktrees({ repoRoot: repo.root, baseRef: 'main', count: 1, withLock });
    repo.git(['checkout', '-q', '-b', 'vtm/T0']);
    const saved = repo.commit({ 'src/dep.ts': 'export const dep = 1;\n' }, 'feat(T0): dependency');
    repo.git(['checkout', '-q', 'main']);
    const primed = await primeTaskWorktree({ repoRoot: repo.root, taskId: 'T1', sha: saved, withLock });
    if (!primed.ok) throw new Error(primed.error);
    // The ready spare was used (moved, not checked out afresh), detached at the saved commit, linked.
    expect(spares()).toEqual([expect.stringMatching(/^primed-\d+-T1-/)]);
    expect(repo.git(['rev-parse', 'HEAD'], primed.value.path)).toBe(saved);
    expect(fs.lstatSync(path.join(primed.value.path, 'node_modules')).isSymbolicLink()).toBe(true);
    // Still a spare: listed (and pruned) as one, not as an attempt of T1.
    const listed = await listTaskWorktrees({ repoRoot: repo.root });
    expect(listed.ok && listed.value.map((w) => w.taskId)).toEqual([expect.stringMatching(/^\(spare\) primed-/)]);

    repo.git(['merge', '-q', '--no-ff', '-m', 'Merge vtm/T0', 'vtm/T0']);
    const tip = repo.git(['rev-parse', 'main']);
    const positioned = await positionPrimedWorktree({ repoRoot: repo.root, primed: primed.value, tip, withLock });
    expect(positioned).toEqual({ ok: true, value: { ...primed.value, sha: tip, onBranch: true } });

    const refused: string[] = [];
    const wt = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T1', baseRef: 'main', useSpare: true, primed: positioned.ok ? positioned.value : undefined, onPrimedRefused: (w) => refused.push(w) });
    if (!wt.ok) throw new Error(wt.error.message);
    expect(refused).toEqual([]);
    expect(wt.value).toMatchObject({ path: path.join(repo.root, '.vtm/worktrees/T1'), branch: 'vtm/T1', baseSha: tip, primed: true, linked: ['node_modules'] });
    expect(repo.git(['symbolic-ref', '--short', 'HEAD'], wt.value.path)).toBe('vtm/T1');
    expect(repo.git(['rev-parse', 'HEAD'], wt.value.path)).toBe(tip);
    expect(repo.git(['status', '--porcelain'], wt.value.path)).toBe('');
    expect(fs.readFileSync(path.join(wt.value.path, 'src/dep.ts'), 'utf8')).toContain('dep = 1');
    expect(spares()).toEqual([]);
  });

  it('a stale one (the integration branch moved after it was positioned) is not taken as it is: the task starts from main as it is now', async () => {
    const { saved, tip } = saveAndMergeDependency({ 'src/dep.ts': 'export const dep = 1;\n' });
    const primed = await primeAndPosition('T1', saved, tip);
    const other = repo.commit({ 'src/other.ts': 'export const other = 2;\n' }, 'feat(T9): merged by another task meanwhile');

    const refused: string[] = [];
    const wt = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T1', baseRef: 'main', useSpare: true, primed, onPrimedRefused: (w) => refused.push(w) });
    if (!wt.ok) throw new Error(wt.error.message);
    expect(refused).toEqual([expect.stringContaining('the integration branch moved since')]);
    expect(wt.value.primed).toBeUndefined();
    expect(wt.value.baseSha).toBe(other);
    expect(repo.git(['rev-parse', 'HEAD'], wt.value.path)).toBe(other);
    expect(repo.git(['symbolic-ref', '--short', 'HEAD'], wt.value.path)).toBe('vtm/T1');
    expect(fs.existsSync(path.join(wt.value.path, 'src/other.ts'))).toBe(true);
    // The stale one was used as the spare (moved into place), not left behind holding the branch.
    expect(spares()).toEqual([]);
    expect(wt.value.previousAttempt).toBeUndefined();
  });

  it('a primed worktree left by a process that died (on the task branch) neither blocks the task nor counts as work; prune removes it', async () => {
    const { saved, tip } = saveAndMergeDependency({ 'src/dep.ts': 'export const dep = 1;\n' });
    await primeAndPosition('T1', saved, tip);
    await primeAndPosition('T2', saved, tip);
    // A new run, without the primer's memory: T1 starts the usual way.
    const wt = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T1', baseRef: 'main', useSpare: true });
    if (!wt.ok) throw new Error(wt.error.message);
    expect(wt.value.previousAttempt).toBeUndefined();
    expect(repo.git(['rev-parse', 'HEAD'], wt.value.path)).toBe(tip);
    // T2's is pruned as a spare, and its branch (merged: it holds nothing) deleted.
    const pruned = await pruneTaskWorktrees({ repoRoot: repo.root, keepTaskIds: ['T1'], integrationRef: 'main' });
    if (!pruned.ok) throw new Error(pruned.error.message);
    expect(pruned.value.find((e) => e.taskId.startsWith('(spare) primed-'))).toMatchObject({ worktree: 'removed', branchAction: 'deleted' });
    expect(spares()).toEqual([]);
    expect(repo.git(['branch', '--list', 'vtm/T2'])).toBe('');
  });

  it('the spare of a primer that died is removed by the next filler, with the branch it made', async () => {
    const { saved, tip } = saveAndMergeDependency({ 'src/dep.ts': 'export const dep = 1;\n' });
    const primed = await primeAndPosition('T2', saved, tip);
    const dead = path.join(path.dirname(primed.path), 'primed-999999-T2-x');
    repo.git(['worktree', 'move', primed.path, dead]);
    expect(await fillSpareWorktrees({ repoRoot: repo.root, baseRef: 'main', count: 1, withLock })).toEqual({ ok: true, value: 1 });
    expect(spares()).toEqual([expect.stringMatching(/^ready-/)]);
    expect(repo.git(['branch', '--list', 'vtm/T2'])).toBe('');
  });

  it('is refused for a task whose branch exists (an earlier attempt is judged only by a claimed attempt)', async () => {
    const { saved } = saveAndMergeDependency({ 'src/dep.ts': 'export const dep = 1;\n' });
    repo.git(['branch', 'vtm/T1', 'main~1']);
    const primed = await primeTaskWorktree({ repoRoot: repo.root, taskId: 'T1', sha: saved, withLock });
    expect(primed).toEqual({ ok: false, error: expect.stringContaining('vtm/T1 exists') });
    expect(spares()).toEqual([]);
  });

  it('positioning fails, changing nothing, when the task branch was made meanwhile (another process claimed the task)', async () => {
    const { saved, tip } = saveAndMergeDependency({ 'src/dep.ts': 'export const dep = 1;\n' });
    const primed = await primeTaskWorktree({ repoRoot: repo.root, taskId: 'T1', sha: saved, withLock });
    if (!primed.ok) throw new Error(primed.error);
    const theirs = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T1', baseRef: 'main' });
    if (!theirs.ok) throw new Error(theirs.error.message);
    const positioned = await positionPrimedWorktree({ repoRoot: repo.root, primed: primed.value, tip, withLock });
    expect(positioned.ok).toBe(false);
    expect(repo.git(['symbolic-ref', '--short', 'HEAD'], theirs.value.path)).toBe('vtm/T1');
  });

  it('readLooseBranchSha reads a branch git just wrote, and gives up (undefined) on a packed one', () => {
    expect(readLooseBranchSha(repo.root, 'main')).toBe(repo.git(['rev-parse', 'main']));
    repo.git(['pack-refs', '--all']);
    expect(readLooseBranchSha(repo.root, 'main')).toBeUndefined();
    expect(readLooseBranchSha(repo.root, 'no/such')).toBeUndefined();
  });
});

describe('judgePrimedWorktree', () => {
  const sha = 'a'.repeat(40);
  const primed: PrimedWorktree = { taskId: 'T1', path: '/x', sha, onBranch: true };
  const ok = { primed, taskId: 'T1', baseSha: sha, branchSha: sha, headRef: 'ref: refs/heads/vtm/T1', dirExists: false };
  it('takes it only when it is on the task branch at the integration tip, and the task directory is free', () => {
    expect(judgePrimedWorktree(ok)).toBeUndefined();
    expect(judgePrimedWorktree({ ...ok, baseSha: 'b'.repeat(40) })).toMatch(/integration branch moved/);
    expect(judgePrimedWorktree({ ...ok, primed: { ...primed, onBranch: false } })).toMatch(/never put on the task branch/);
    expect(judgePrimedWorktree({ ...ok, headRef: undefined })).toMatch(/gone/);
    expect(judgePrimedWorktree({ ...ok, headRef: sha })).toMatch(/HEAD is not vtm\/T1/);
    expect(judgePrimedWorktree({ ...ok, branchSha: 'c'.repeat(40) })).toMatch(/vtm\/T1 is at cccccccc/);
    expect(judgePrimedWorktree({ ...ok, dirExists: true })).toMatch(/directory exists/);
    expect(judgePrimedWorktree({ ...ok, taskId: 'T2' })).toMatch(/prepared for T1/);
  });
});
