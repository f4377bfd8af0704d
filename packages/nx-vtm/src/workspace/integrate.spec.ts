import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildMergeMessage, buildTaskCommitMessage, commitTaskWork, integrateTaskBranch } from './integrate';
import type { LockPort } from './ports';
import { makeTempRepo, type TempRepo } from './test-support/git-fixture';
import { createTaskWorktree, type TaskWorktree } from './worktree';

// Real git repositories and child processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(30_000);

let repo: TempRepo;
beforeEach(() => {
  repo = makeTempRepo();
  repo.write({ 'node_modules/dep/index.js': 'real folder\n' });
});
afterEach(() => repo.cleanup());

/** Records that integration went through the lock, and runs it in-process. */
const countingLock = () => {
  const names: string[] = [];
  const lock: LockPort = { withLock: (name, fn) => (names.push(name), fn()) };
  return { lock, names };
};

async function taskWithWork(taskId: string, files: Record<string, string>): Promise<TaskWorktree> {
  const r = await createTaskWorktree({ repoRoot: repo.root, taskId, baseRef: 'main' });
  if (!r.ok) throw new Error(r.error.message);
  repo.write(files, r.value.path);
  const c = await commitTaskWork({ worktree: r.value.path, taskId, title: `Work of ${taskId}`, acceptanceCriteria: [{ id: 'AC01', text: 'works' }] });
  if (!c.ok || c.value.status !== 'committed') throw new Error(`commit failed for ${taskId}`);
  return r.value;
}

const mainStatus = () => repo.git(['status', '--porcelain', '--untracked-files=all']);

describe('commit messages (pure)', () => {
  it('builds feat(<id>): <title> with the ACs and a trailer', () => {
    expect(
      buildTaskCommitMessage({
        taskId: 'CONTENT_HASH--T01',
        title: 'Implement SHA-256\ncontent hash',
        acceptanceCriteria: [
          { id: 'CONTENT_HASH-AC01', text: 'Given two identical transcripts only one row persisted' },
          { id: 'CONTENT_HASH-AC02', text: '# hash matches sha256sum' },
        ],
      }),
    ).toBe(
      'feat(CONTENT_HASH--T01): Implement SHA-256 content hash\n\nAcceptance criteria:\n- CONTENT_HASH-AC01: Given two identical transcripts only one row persisted\n- CONTENT_HASH-AC02: # hash matches sha256sum\n\nVTM-Task: CONTENT_HASH--T01\n',
    );
    expect(buildMergeMessage({ taskId: 'T1', title: 'Add it' })).toBe('Merge vtm/T1: Add it');
  });
});

describe('commitTaskWork', () => {
  it('commits everything but the linked folder, with the message read back from git log', async () => {
    const wt = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T1', baseRef: 'main' });
    if (!wt.ok) throw new Error(wt.error.message);
    repo.write({ 'src/a.ts': 'a\n', 'src/$(touch pwned).ts': 'x\n' }, wt.value.path);
    const r = await commitTaskWork({
      worktree: wt.value.path,
      taskId: 'T1',
      title: 'Add a; rm -rf / `whoami`',
      acceptanceCriteria: [
        { id: 'AC01', text: 'a exists' },
        { id: 'AC02', text: '# starts with a hash' },
      ],
      baseSha: wt.value.baseSha,
    });
    expect(r.ok && r.value.status).toBe('committed');
    expect(repo.git(['log', '-1', '--format=%B'], wt.value.path)).toBe(
      'feat(T1): Add a; rm -rf / `whoami`\n\nAcceptance criteria:\n- AC01: a exists\n- AC02: # starts with a hash\n\nVTM-Task: T1',
    );
    expect(repo.git(['log', '-1', '--format=%an <%ae>'], wt.value.path)).toBe('Spec Author <spec@example.com>');
    expect(repo.git(['show', '--name-only', '--format=', 'HEAD'], wt.value.path).split('\n').sort()).toEqual(['src/$(touch pwned).ts', 'src/a.ts']);
    expect(fs.existsSync(path.join(wt.value.path, 'pwned'))).toBe(false);

    const again = await commitTaskWork({ worktree: wt.value.path, taskId: 'T1', title: 'x', acceptanceCriteria: [], baseSha: wt.value.baseSha });
    expect(again).toEqual({ ok: true, value: { status: 'no_changes', sha: r.ok ? (r.value as { sha: string }).sha : '', hasCommitsSinceBase: true } });
  });

  it('keeps the link out of the commit even when git does not ignore it', async () => {
    const wt = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T1', baseRef: 'main' });
    if (!wt.ok) throw new Error(wt.error.message);
    fs.writeFileSync(path.join(repo.root, '.git/info/exclude'), '');
    expect(repo.git(['status', '--porcelain'], wt.value.path)).toBe('?? node_modules');
    repo.write({ 'src/a.ts': 'a\n' }, wt.value.path);
    const r = await commitTaskWork({ worktree: wt.value.path, taskId: 'T1', title: 't', acceptanceCriteria: [] });
    expect(r.ok && r.value.status).toBe('committed');
    expect(repo.git(['show', '--name-only', '--format=', 'HEAD'], wt.value.path)).toBe('src/a.ts');
  });

  it('falls back to an nx-vtm identity when git has none configured', async () => {
    const saved = { ...process.env };
    const empty = path.join(repo.root, '.vtm', 'empty-gitconfig');
    fs.mkdirSync(path.dirname(empty), { recursive: true });
    fs.writeFileSync(empty, '');
    try {
      process.env.GIT_CONFIG_GLOBAL = empty;
      process.env.GIT_CONFIG_NOSYSTEM = '1';
      for (const k of ['GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL', 'EMAIL']) delete process.env[k];
      repo.git(['config', '--unset', 'user.name']);
      repo.git(['config', '--unset', 'user.email']);
      repo.write({ 'x.txt': 'x' });
      const r = await commitTaskWork({ worktree: repo.root, taskId: 'T1', title: 'x', acceptanceCriteria: [{ id: 'A', text: 'b' }] });
      expect(r.ok && r.value.status).toBe('committed');
      expect(repo.git(['log', '-1', '--format=%an <%ae> / %cn <%ce>'])).toBe('nx-vtm <nx-vtm@localhost> / nx-vtm <nx-vtm@localhost>');
    } finally {
      process.env = saved;
    }
  });
});

describe('integrateTaskBranch', () => {
  it('merges --no-ff under the lock and returns the merge commit', async () => {
    const wt = await taskWithWork('T1', { 'src/a.ts': 'a\n' });
    const tip = repo.git(['rev-parse', 'vtm/T1']);
    const { lock, names } = countingLock();
    const r = await integrateTaskBranch({ repoRoot: repo.root, taskId: 'T1', title: 'Add a', strategy: 'merge', lock });
    expect(r.ok).toBe(true);
    if (!r.ok || r.value.status !== 'merged') throw new Error('not merged');
    expect(names).toEqual(['integrate']);
    expect(r.value.sha).toBe(repo.git(['rev-parse', 'HEAD']));
    expect(repo.git(['rev-parse', 'HEAD^2'])).toBe(tip);
    expect(repo.git(['log', '-1', '--format=%s'])).toBe('Merge vtm/T1: Add a');
    expect(fs.readFileSync(path.join(repo.root, 'src/a.ts'), 'utf8')).toBe('a\n');
    expect(mainStatus()).toBe('');
    expect(fs.existsSync(wt.path)).toBe(true);

    const again = await integrateTaskBranch({ repoRoot: repo.root, taskId: 'T1', strategy: 'merge', lock });
    expect(again.ok && again.value.status).toBe('already_integrated');
  });

  it('aborts a conflicting merge: main checkout clean and unchanged, task branch intact', async () => {
    await taskWithWork('T1', { 'README.md': '# from the task\n' });
    const tip = repo.git(['rev-parse', 'vtm/T1']);
    const before = repo.commit({ 'README.md': '# changed on main meanwhile\n' }, 'main moved on');
    const r = await integrateTaskBranch({ repoRoot: repo.root, taskId: 'T1', title: 'x', strategy: 'merge', lock: countingLock().lock });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.reason).toBe('merge_conflict');
    expect(r.error.conflictedPaths).toEqual(['README.md']);
    expect(r.error.message).toMatch(/^Task T1: vtm\/T1 conflicts with main in README\.md; the merge was aborted and vtm\/T1 kept/);
    expect(mainStatus()).toBe('');
    expect(repo.git(['rev-parse', 'HEAD'])).toBe(before);
    expect(fs.existsSync(path.join(repo.root, '.git/MERGE_HEAD'))).toBe(false);
    expect(fs.readFileSync(path.join(repo.root, 'README.md'), 'utf8')).toBe('# changed on main meanwhile\n');
    expect(repo.git(['rev-parse', 'vtm/T1'])).toBe(tip);
  });

  it("refuses to merge into a dirty main checkout, naming the paths, and leaves the user's changes alone", async () => {
    await taskWithWork('T1', { 'src/a.ts': 'a\n' });
    repo.write({ 'README.md': 'my unsaved edit\n', 'notes.txt': 'mine\n', '.vtm/state.json': '{}' });
    const head = repo.git(['rev-parse', 'HEAD']);
    const r = await integrateTaskBranch({ repoRoot: repo.root, taskId: 'T1', strategy: 'merge', lock: countingLock().lock });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.reason).toBe('dirty_worktree');
    expect(r.error.paths).toEqual(['README.md', 'notes.txt']);
    expect(r.error.message).toBe(
      'Task T1: not merging vtm/T1 into main: the main checkout has uncommitted changes in README.md, notes.txt; commit or stash them, then re-run T1',
    );
    expect(repo.git(['rev-parse', 'HEAD'])).toBe(head);
    expect(fs.readFileSync(path.join(repo.root, 'README.md'), 'utf8')).toBe('my unsaved edit\n');
  });

  it('puts back an integration branch an agent moved without its checkout (git update-ref), then merges as usual', async () => {
    const wt = await taskWithWork('T1', { 'src/a.ts': 'a\n' });
    const junk = await taskWithWork('T2', { 'src/junk.ts': 'unaudited\n' });
    const head = repo.git(['rev-parse', 'HEAD']);
    const moved = repo.git(['rev-parse', 'vtm/T2']);
    // What an agent can do from its worktree: move main to its own commit; main's checkout is left behind.
    repo.git(['update-ref', 'refs/heads/main', moved], junk.path);
    const notices: string[] = [];
    const r = await integrateTaskBranch({ repoRoot: repo.root, taskId: 'T1', title: 'Add a', strategy: 'merge', lock: countingLock().lock, onNotice: (m) => notices.push(m) });
    expect(r.ok && r.value.status).toBe('merged');
    expect(repo.git(['rev-parse', 'HEAD^1'])).toBe(head);
    expect(repo.git(['ls-tree', '-r', '--name-only', 'HEAD'])).not.toContain('src/junk.ts');
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(
      new RegExp(`^main had been moved to ${moved.slice(0, 8)} without its checkout \\(that commit is on vtm/T2: the agent working there moved it, e\\.g\\. with git update-ref\\); put back to ${head.slice(0, 8)}, where the checkout is, and ${moved.slice(0, 8)} kept as refs/vtm/moved/main-\\d+`),
    );
    expect(repo.git(['for-each-ref', '--format=%(objectname)', 'refs/vtm/moved/'])).toBe(moved);
    expect(mainStatus()).toBe('');
    expect(fs.existsSync(wt.path)).toBe(true);
  });

  it("leaves the user's own moves of the integration branch alone: a soft reset stays, and the merge refuses the dirty checkout", async () => {
    await taskWithWork('T1', { 'src/a.ts': 'a\n' });
    const head = repo.commit({ 'README.md': 'my commit\n' }, 'mine');
    repo.git(['reset', '--soft', 'HEAD~1']);
    const r = await integrateTaskBranch({ repoRoot: repo.root, taskId: 'T1', strategy: 'merge', lock: countingLock().lock });
    expect(!r.ok && r.error.reason).toBe('dirty_worktree');
    expect(repo.git(['rev-parse', 'HEAD'])).toBe(repo.git(['rev-parse', `${head}~1`]));
    expect(repo.git(['for-each-ref', 'refs/vtm/moved/'])).toBe('');
  });

  it('leaves the branch for a pull request with the branch strategy', async () => {
    await taskWithWork('T1', { 'src/a.ts': 'a\n' });
    const head = repo.git(['rev-parse', 'HEAD']);
    const { lock, names } = countingLock();
    const r = await integrateTaskBranch({ repoRoot: repo.root, taskId: 'T1', strategy: 'branch', lock });
    expect(r).toEqual({ ok: true, value: { status: 'branch_left', branch: 'vtm/T1', sha: repo.git(['rev-parse', 'vtm/T1']) } });
    expect(repo.git(['rev-parse', 'HEAD'])).toBe(head);
    expect(names).toEqual([]);
  });

  it('never merges a branch that committed the linked node_modules symlink', async () => {
    const wt = await taskWithWork('T1', { 'src/a.ts': 'a\n' });
    repo.git(['add', '-f', 'node_modules'], wt.path);
    repo.git(['commit', '-q', '-m', 'agent committed the link'], wt.path);
    const r = await integrateTaskBranch({ repoRoot: repo.root, taskId: 'T1', strategy: 'merge', lock: countingLock().lock });
    expect(!r.ok && r.error.reason).toBe('touches_linked_folder');
    expect(fs.lstatSync(path.join(repo.root, 'node_modules')).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(repo.root, 'node_modules/dep/index.js'), 'utf8')).toBe('real folder\n');
  });

  it('refuses on the wrong branch, a detached HEAD, or a missing task branch', async () => {
    await taskWithWork('T1', { 'src/a.ts': 'a\n' });
    const { lock } = countingLock();
    const wrong = await integrateTaskBranch({ repoRoot: repo.root, taskId: 'T1', strategy: 'merge', lock, integrationBranch: 'develop' });
    expect(!wrong.ok && wrong.error.reason).toBe('wrong_branch');
    const missing = await integrateTaskBranch({ repoRoot: repo.root, taskId: 'T404', strategy: 'merge', lock });
    expect(!missing.ok && missing.error.reason).toBe('missing_branch');
    repo.git(['checkout', '-q', '--detach']);
    const detached = await integrateTaskBranch({ repoRoot: repo.root, taskId: 'T1', strategy: 'merge', lock });
    expect(!detached.ok && detached.error.reason).toBe('detached_head');
  });
});
