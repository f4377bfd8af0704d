import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  getCurrentBranch,
  getHeadSha,
  getRepoRoot,
  GitError,
  gitOk,
  isAncestor,
  isWorkingTreeClean,
  parsePorcelainStatus,
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
