/**
 * Integration through a shared remote, with real git: one bare repository and two clones ("machines"). The other
 * machine's pushes are real pushes, made at the worst moments (between our fetch and our push).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { commitTaskWork, integrateTaskBranch } from './integrate';
import { syncFromRemote } from './remote';
import { parsePluginOptions } from '../config/plugin-options';
import { makeTempRepo, type TempRepo } from './test-support/git-fixture';
import { createTaskWorktree } from './worktree';

jest.setTimeout(30_000);

let mine: TempRepo;
let other: TempRepo;
let bare: string;
beforeEach(() => {
  mine = makeTempRepo();
  bare = `${mine.root}.remote.git`;
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  mine.git(['remote', 'add', 'origin', bare]);
  mine.git(['push', '-q', 'origin', 'main']);
  // The other machine: a clone of the same remote.
  other = makeTempRepo();
  other.git(['remote', 'add', 'origin', bare]);
  other.git(['fetch', '-q', 'origin']);
  other.git(['reset', '-q', '--hard', 'origin/main']);
});
afterEach(() => {
  mine.cleanup();
  other.cleanup();
  fs.rmSync(bare, { recursive: true, force: true });
});

const remoteMain = () => execFileSync('git', ['rev-parse', 'main'], { cwd: bare, encoding: 'utf8' }).trim();
const remoteHas = (sha: string) => {
  try {
    execFileSync('git', ['merge-base', '--is-ancestor', sha, 'main'], { cwd: bare, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
/** The other machine pushes a commit of its own to the remote's main. */
const otherPushes = (file: string) => {
  other.git(['pull', '-q', '--ff-only', 'origin', 'main']);
  const sha = other.commit({ [file]: `${file}\n` }, `other: ${file}`);
  other.git(['push', '-q', 'origin', 'main']);
  return sha;
};

async function taskWithWork(taskId: string, files: Record<string, string>) {
  const r = await createTaskWorktree({ repoRoot: mine.root, taskId, baseRef: 'main' });
  if (!r.ok) throw new Error(r.error.message);
  mine.write(files, r.value.path);
  const c = await commitTaskWork({ worktree: r.value.path, taskId, title: `Work of ${taskId}`, acceptanceCriteria: [] });
  if (!c.ok || c.value.status !== 'committed') throw new Error(`commit failed for ${taskId}`);
  return { worktree: r.value.path, sha: c.value.sha };
}

describe('syncFromRemote', () => {
  it('fast-forwards a local integration branch that is behind, and the main checkout follows', async () => {
    const theirs = otherPushes('from-other.txt');
    const r = await syncFromRemote({ repoRoot: mine.root, remote: 'origin', branch: 'main' });
    expect(r).toEqual({ ok: true, value: 'fast_forwarded' });
    expect(mine.git(['rev-parse', 'main'])).toBe(theirs);
    expect(fs.existsSync(path.join(mine.root, 'from-other.txt'))).toBe(true);
    expect(await syncFromRemote({ repoRoot: mine.root, remote: 'origin', branch: 'main' })).toEqual({ ok: true, value: 'up_to_date' });
  });

  it('keeps local commits the remote lacks, and refuses (changing nothing) when the branches diverged', async () => {
    const local = mine.commit({ 'local.txt': 'x\n' }, 'local only');
    expect(await syncFromRemote({ repoRoot: mine.root, remote: 'origin', branch: 'main' })).toEqual({ ok: true, value: 'local_ahead' });
    otherPushes('from-other.txt');
    const r = await syncFromRemote({ repoRoot: mine.root, remote: 'origin', branch: 'main' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('remote_diverged');
      expect(r.error.message).toMatch(/main .* and origin\/main .* have diverged/);
    }
    expect(mine.git(['rev-parse', 'main'])).toBe(local);
  });

  it('treats a remote without the branch as nothing to fetch, and names an unknown remote', async () => {
    expect(await syncFromRemote({ repoRoot: mine.root, remote: 'origin', branch: 'not-there' })).toEqual({ ok: true, value: 'no_remote_branch' });
    const r = await syncFromRemote({ repoRoot: mine.root, remote: 'nowhere', branch: 'main' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ code: 'fetch_failed', message: expect.stringContaining('git fetch nowhere main failed') });
  });
});

describe('integrateTaskBranch with a remote', () => {
  it('merges onto the fetched branch and pushes the result', async () => {
    const t = await taskWithWork('T1', { 'src/t1.ts': 't1\n' });
    const theirs = otherPushes('from-other.txt');
    const r = await integrateTaskBranch({ repoRoot: mine.root, taskId: 'T1', strategy: 'merge', remote: 'origin', sha: t.sha });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.status).toBe('merged');
    expect(remoteMain()).toBe(r.value.sha);
    expect(remoteHas(theirs)).toBe(true);
    expect(remoteHas(t.sha)).toBe(true);
    expect(mine.git(['rev-parse', 'main'])).toBe(r.value.sha);
  });

  it('re-fetches and re-merges when another machine pushed between the fetch and the push (never forced)', async () => {
    const t = await taskWithWork('T1', { 'src/t1.ts': 't1\n' });
    let theirs = '';
    let tests = 0;
    const r = await integrateTaskBranch({
      repoRoot: mine.root,
      taskId: 'T1',
      strategy: 'merge',
      remote: 'origin',
      sha: t.sha,
      testMerged: {
        worktree: t.worktree,
        // The merge queue's test of the first round is when the other machine pushes: our push is then rejected.
        run: async () => {
          if (++tests === 1) theirs = otherPushes('from-other.txt');
          return { ok: true, ran: true };
        },
      },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(tests).toBe(2);
    expect(remoteMain()).toBe(r.value.sha);
    // Both machines' work is on the remote: nothing was overwritten.
    expect(remoteHas(theirs)).toBe(true);
    expect(remoteHas(t.sha)).toBe(true);
    expect(mine.git(['rev-parse', 'main'])).toBe(r.value.sha);
  });

  it('gives up after the bounded rounds with push_failed, the local branch back where the remote is', async () => {
    const t = await taskWithWork('T1', { 'src/t1.ts': 't1\n' });
    let n = 0;
    const r = await integrateTaskBranch({
      repoRoot: mine.root,
      taskId: 'T1',
      strategy: 'merge',
      remote: 'origin',
      sha: t.sha,
      pushAttempts: 2,
      testMerged: { worktree: t.worktree, run: async () => (otherPushes(`other-${++n}.txt`), { ok: true, ran: true }) },
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.reason).toBe('push_failed');
    expect(r.error.message).toMatch(/rejected 2 times/);
    expect(remoteHas(t.sha)).toBe(false);
    // No unpushed merge is left on the local branch.
    expect(execFileSync('git', ['merge-base', '--is-ancestor', 'main', 'origin/main'], { cwd: mine.root }).length).toBe(0);
  });

  it('refuses to merge when the local integration branch diverged from the remote', async () => {
    const t = await taskWithWork('T1', { 'src/t1.ts': 't1\n' });
    mine.commit({ 'local.txt': 'x\n' }, 'local only');
    otherPushes('from-other.txt');
    const r = await integrateTaskBranch({ repoRoot: mine.root, taskId: 'T1', strategy: 'merge', remote: 'origin', sha: t.sha });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ reason: 'remote_diverged', message: expect.stringContaining('Task T1: not merging vtm/T1') });
    expect(remoteHas(t.sha)).toBe(false);
  });

  it('"branch" integration pushes vtm/<id>, and never replaces a different remote branch of that name', async () => {
    const t = await taskWithWork('T1', { 'src/t1.ts': 't1\n' });
    const r = await integrateTaskBranch({ repoRoot: mine.root, taskId: 'T1', strategy: 'branch', remote: 'origin', sha: t.sha });
    expect(r).toMatchObject({ ok: true, value: { status: 'branch_left', sha: t.sha } });
    expect(execFileSync('git', ['rev-parse', 'vtm/T1'], { cwd: bare, encoding: 'utf8' }).trim()).toBe(t.sha);

    const u = await taskWithWork('T2', { 'src/t2.ts': 't2\n' });
    // Someone else's vtm/T2 on the remote, with a commit ours does not contain.
    other.git(['checkout', '-q', '-b', 'vtm/T2']);
    other.commit({ 'theirs.txt': 'x\n' }, 'their T2');
    other.git(['push', '-q', 'origin', 'vtm/T2']);
    const refused = await integrateTaskBranch({ repoRoot: mine.root, taskId: 'T2', strategy: 'branch', remote: 'origin', sha: u.sha });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.reason).toBe('push_failed');
  });
});

describe('the remote option', () => {
  it('is off by default, takes a remote name, and refuses a URL naming the option', () => {
    const off = parsePluginOptions({});
    expect(off.ok && off.value.remote).toBeUndefined();
    const on = parsePluginOptions({ remote: 'origin' });
    expect(on.ok && on.value.remote).toBe('origin');
    const url = parsePluginOptions({ remote: 'https://example.com/repo.git' });
    expect(url.ok).toBe(false);
    if (!url.ok) expect(url.error).toMatch(/remote.*the name of a git remote/s);
    const shared = parsePluginOptions({ remote: 'origin', isolation: 'none' });
    expect(shared.ok).toBe(false);
    if (!shared.ok) expect(shared.error).toMatch(/remote needs isolation "worktree"/);
  });
});
