import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  getCurrentBranch,
  getHeadSha,
  getRepoRoot,
  getStatusEntries,
  getStatusWithHead,
  GitError,
  gitOk,
  isAncestor,
  isWorkingTreeClean,
  parsePorcelainStatus,
  parsePorcelainV2,
  runGit,
  summarisePaths,
} from './git';
import { makeTempRepo, type TempRepo } from './test-support/git-fixture';

// Real git repositories and child processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(30_000);

let repo: TempRepo;
beforeEach(() => {
  repo = makeTempRepo();
});
afterEach(() => repo.cleanup());

describe('runGit', () => {
  it('returns code, stdout and stderr without throwing', async () => {
    const good = await runGit({ cwd: repo.root, args: ['rev-parse', '--is-inside-work-tree'] });
    expect(good).toEqual({ code: 0, stdout: 'true\n', stderr: '' });
    const bad = await runGit({ cwd: repo.root, args: ['rev-parse', '--verify', 'no-such-ref'] });
    expect(bad.code).toBe(128);
    expect(bad.stderr).toMatch(/Needed a single revision/);
  });

  it('never interprets arguments with a shell', async () => {
    const marker = path.join(repo.root, 'pwned');
    const message = `x $(touch ${marker}) \`touch ${marker}\`; touch ${marker}`;
    await gitOk({ cwd: repo.root, args: ['commit', '--allow-empty', '-q', '-m', message] });
    expect(fs.existsSync(marker)).toBe(false);
    expect(repo.git(['log', '-1', '--format=%s'])).toBe(message);
  });

  it('passes stdin', async () => {
    const r = await runGit({ cwd: repo.root, args: ['hash-object', '--stdin'], input: 'hello\n' });
    expect(r.stdout.trim()).toBe('ce013625030ba8dba906f756967f9e9ca394464a');
  });

  it('resolves with code -1 when the directory does not exist', async () => {
    const r = await runGit({ cwd: path.join(repo.root, 'missing'), args: ['status'] });
    expect(r.code).toBe(-1);
    expect(r.stderr).toMatch(/could not start git/);
  });

  it('runs without a pager', async () => {
    const r = await runGit({ cwd: repo.root, args: ['var', 'GIT_PAGER'] });
    expect(r.stdout.trim()).toBe('cat');
  });
});

describe('gitOk', () => {
  it('turns a failure into a GitError naming the command and stderr', async () => {
    const r = await gitOk({ cwd: repo.root, args: ['checkout', 'nope'] });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBeInstanceOf(GitError);
    expect(r.error.message).toMatch(/^git checkout nope failed in .* \(exit 1\): error: pathspec 'nope'/);
    expect(r.error.args).toEqual(['checkout', 'nope']);
  });
});

describe('helpers', () => {
  it('getCurrentBranch names the branch, or null when detached', async () => {
    expect(await getCurrentBranch({ cwd: repo.root })).toEqual({ ok: true, value: 'main' });
    repo.git(['checkout', '-q', '--detach']);
    expect(await getCurrentBranch({ cwd: repo.root })).toEqual({ ok: true, value: null });
  });

  it('getHeadSha resolves refs and reports unknown ones', async () => {
    const sha = repo.git(['rev-parse', 'HEAD']);
    expect(await getHeadSha({ cwd: repo.root })).toEqual({ ok: true, value: sha });
    expect(await getHeadSha({ cwd: repo.root, ref: 'main' })).toEqual({ ok: true, value: sha });
    const bad = await getHeadSha({ cwd: repo.root, ref: 'nope' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.message).toMatch(/nope does not name a commit/);
  });

  it('getRepoRoot finds the top level from a subdirectory', async () => {
    fs.mkdirSync(path.join(repo.root, 'a/b'), { recursive: true });
    expect(await getRepoRoot({ cwd: path.join(repo.root, 'a/b') })).toEqual({ ok: true, value: repo.root });
  });

  it('isAncestor', async () => {
    const first = repo.git(['rev-parse', 'HEAD']);
    const second = repo.commit({ 'x.txt': 'x' }, 'x');
    expect(await isAncestor({ cwd: repo.root, ancestor: first, descendant: second })).toEqual({ ok: true, value: true });
    expect(await isAncestor({ cwd: repo.root, ancestor: second, descendant: first })).toEqual({ ok: true, value: false });
  });
});

describe('isWorkingTreeClean', () => {
  it('is clean on a fresh commit', async () => {
    expect(await isWorkingTreeClean({ cwd: repo.root })).toEqual({ ok: true, value: { clean: true, dirtyPaths: [] } });
  });

  it('lists modified, staged, untracked and renamed paths, but not ignored run-time paths', async () => {
    // No .gitignore here, so .vtm/ is visible to git: the ignore list, not .gitignore, must hide it.
    const bare = makeTempRepo({ gitignore: '' });
    try {
      bare.commit({ 'a.txt': 'a', 'b.txt': 'b', 'docs/backlog/task-state.json': '{}' }, 'files');
      bare.write({ 'a.txt': 'changed', 'new dir/untracked file.txt': 'u', 'docs/backlog/task-state.json': '{"x":1}' });
      bare.write({ '.vtm/state.db': 'x' });
      // The state file's temp sibling of an atomic write in progress (another process), and a look-alike that is not.
      bare.write({ 'docs/backlog/task-state.json.9393.0.tmp': '{}', 'docs/backlog/other.json.9393.0.tmp': '{}' });
      bare.git(['mv', 'b.txt', 'c.txt']);
      const r = await isWorkingTreeClean({ cwd: bare.root, ignorePaths: ['.vtm/', 'docs/backlog/task-state.json'] });
      expect(r).toEqual({
        ok: true,
        value: { clean: false, dirtyPaths: ['a.txt', 'b.txt', 'c.txt', 'docs/backlog/other.json.9393.0.tmp', 'new dir/untracked file.txt'] },
      });
      const all = await isWorkingTreeClean({ cwd: bare.root, ignorePaths: [] });
      expect(all.ok && all.value.dirtyPaths).toContain('.vtm/state.db');
      expect(all.ok && all.value.dirtyPaths).toContain('docs/backlog/task-state.json');
    } finally {
      bare.cleanup();
    }
  });
});

it('parsePorcelainStatus reads renames with their source path', () => {
  expect(parsePorcelainStatus('R  new.txt\0old.txt\0 M a b.txt\0?? u.txt\0')).toEqual([
    { index: 'R', worktree: ' ', path: 'new.txt', from: 'old.txt' },
    { index: ' ', worktree: 'M', path: 'a b.txt' },
    { index: '?', worktree: '?', path: 'u.txt' },
  ]);
});

it('summarisePaths caps long lists', () => {
  expect(summarisePaths(['a', 'b'])).toBe('a, b');
  expect(summarisePaths(['a', 'b', 'c'], 2)).toBe('a, b (and 1 more)');
});

describe('getStatusWithHead', () => {
  it('lists exactly what getStatusEntries lists (v1), with HEAD\'s commit and branch', async () => {
    repo.commit({ 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c', 'd.txt': 'd', 'run.sh': 'echo', 'conflict.txt': 'base\n' }, 'files');
    repo.git(['checkout', '-q', '-b', 'side']);
    repo.commit({ 'conflict.txt': 'side\n' }, 'side');
    repo.git(['checkout', '-q', 'main']);
    repo.commit({ 'conflict.txt': 'main\n' }, 'main');
    // An unmerged path, a staged rename, a staged add, a deletion, a mode change, an edit both staged and not, and
    // untracked files whose names hold spaces and non-ASCII letters.
    expect(() => repo.git(['merge', '-q', 'side'])).toThrow();
    repo.git(['mv', 'b.txt', 'b renamed.txt']);
    repo.write({ 'new.txt': 'n', 'a.txt': 'staged' });
    repo.git(['add', 'new.txt', 'a.txt']);
    repo.write({ 'a.txt': 'and unstaged', 'dir with space/ünïcode file.txt': 'u', 'x/y/z.txt': 'deep' });
    fs.rmSync(path.join(repo.root, 'c.txt'));
    fs.chmodSync(path.join(repo.root, 'run.sh'), 0o755);
    const v1 = await getStatusEntries({ cwd: repo.root });
    const v2 = await getStatusWithHead({ cwd: repo.root });
    if (!v1.ok || !v2.ok) throw new Error('git status failed');
    const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : 1);
    expect(v1.value.length).toBeGreaterThanOrEqual(8);
    expect([...v2.value.entries].sort(byPath)).toEqual([...v1.value].sort(byPath));
    expect(v2.value.entries).toContainEqual({ index: 'R', worktree: ' ', path: 'b renamed.txt', from: 'b.txt' });
    expect(v2.value.oid).toBe(repo.git(['rev-parse', 'HEAD']));
    expect(v2.value.branch).toBe('main');
  });

  it('reads a detached HEAD as no branch, and an unborn branch as no commit', async () => {
    const head = repo.git(['rev-parse', 'HEAD']);
    repo.git(['checkout', '-q', '--detach']);
    expect(await getStatusWithHead({ cwd: repo.root })).toEqual({ ok: true, value: { oid: head, branch: null, entries: [] } });
    repo.git(['checkout', '-q', '--orphan', 'fresh']);
    repo.git(['rm', '-rq', '--cached', '.']);
    const unborn = await getStatusWithHead({ cwd: repo.root });
    expect(unborn.ok && { oid: unborn.value.oid, branch: unborn.value.branch }).toEqual({ oid: null, branch: 'fresh' });
  });
});

it('parsePorcelainV2 reads renames with their source path and unchanged sides as blanks', () => {
  const out = '# branch.oid abc\0# branch.head my branch\0' + '2 R. N... 100644 100644 100644 1111 1111 R100 new.txt\0old.txt\0' + '1 .M N... 100644 100644 100644 2222 2222 a b.txt\0? u.txt\0';
  expect(parsePorcelainV2(out)).toEqual({
    oid: 'abc',
    branch: 'my branch',
    entries: [
      { index: 'R', worktree: ' ', path: 'new.txt', from: 'old.txt' },
      { index: ' ', worktree: 'M', path: 'a b.txt' },
      { index: '?', worktree: '?', path: 'u.txt' },
    ],
  });
});
