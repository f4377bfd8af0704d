/**
 * Integration across machines (plugin option `remote`): the integration branch lives on a shared git remote. Before a
 * task's worktree is created the local integration branch is fast-forwarded to the remote's, so a task started on
 * one machine contains what its dependencies merged on others; after a merge the result is pushed (never forced).
 *
 * The remote is the arbiter: a push only succeeds as a fast-forward, so two machines that merged at once cannot both
 * win; the loser re-fetches and merges again (integrate.ts). The cross-machine lock only makes that rare.
 */
import { firstLines, getCurrentBranch, getHeadSha, gitOk, isAncestor, runGit, type GitError } from './git';
import { err, ok, type Result } from '../manifest/problems';

export interface RemoteProblem {
  /** `remote_diverged`: local commits the remote does not have, and remote commits local does not have. */
  code: 'remote_diverged' | 'fetch_failed' | 'git_failed';
  message: string;
  cause?: GitError;
}

/** The remote-tracking ref a fetch of `branch` from `remote` updates. */
export const trackingRef = (remote: string, branch: string) => `refs/remotes/${remote}/${branch}`;

/**
 * `git fetch <remote> <branch>` into its remote-tracking ref. The sha of the remote's branch, or null when the remote
 * does not have the branch yet (the first push creates it).
 */
export async function fetchBranch({ cwd, remote, branch }: { cwd: string; remote: string; branch: string }): Promise<Result<string | null, RemoteProblem>> {
  const args = ['fetch', '--quiet', '--no-tags', remote, `+refs/heads/${branch}:${trackingRef(remote, branch)}`];
  let fetched = await runGit({ cwd, args });
  // Two tasks of this checkout fetching at once (one starting, one integrating) race on the remote-tracking ref: git
  // refuses the slower update ("cannot lock ref ... but expected"). The other fetch brought the same branch: fetch again.
  for (let retry = 1; fetched.code !== 0 && retry <= 3 && /cannot lock ref|unable to update local ref/i.test(fetched.stderr); retry++) {
    await new Promise((resolve) => setTimeout(resolve, 50 * retry));
    fetched = await runGit({ cwd, args });
  }
  if (fetched.code !== 0) {
    if (/couldn't find remote ref/i.test(fetched.stderr)) return ok(null);
    return err({ code: 'fetch_failed', message: `git fetch ${remote} ${branch} failed in ${cwd}: ${firstLines(fetched.stderr) || `exit ${fetched.code}`}` });
  }
  const sha = await getHeadSha({ cwd, ref: trackingRef(remote, branch) });
  if (!sha.ok) return err({ code: 'git_failed', message: `cannot read ${trackingRef(remote, branch)}: ${sha.error.message}`, cause: sha.error });
  return ok(sha.value);
}

export type SyncOutcome = 'up_to_date' | 'fast_forwarded' | 'local_ahead' | 'no_remote_branch';

/**
 * Fetch the remote's integration branch and fast-forward the local one to it when it is behind. The local branch is
 * moved with `git merge --ff-only` when it is checked out in `repoRoot` (the main checkout's files follow), else with
 * a compare-and-set `update-ref`. Local commits the remote lacks are kept (`local_ahead`: the next push carries
 * them); a local branch that diverged is refused, never reset. The caller holds the workspace lock.
 */
export async function syncFromRemote({ repoRoot, remote, branch }: { repoRoot: string; remote: string; branch: string }): Promise<Result<SyncOutcome, RemoteProblem>> {
  const gitFailed = (e: GitError, what: string) => err<RemoteProblem>({ code: 'git_failed', message: `${what}: ${e.message}`, cause: e });
  const fetched = await fetchBranch({ cwd: repoRoot, remote, branch });
  if (!fetched.ok) return fetched;
  if (fetched.value === null) return ok('no_remote_branch');
  const theirs = fetched.value;
  const local = await getHeadSha({ cwd: repoRoot, ref: `refs/heads/${branch}` });
  if (!local.ok) return gitFailed(local.error, `cannot read ${branch} in ${repoRoot}`);
  if (local.value === theirs) return ok('up_to_date');
  const behind = await isAncestor({ cwd: repoRoot, ancestor: local.value, descendant: theirs });
  if (!behind.ok) return gitFailed(behind.error, `cannot compare ${branch} with ${remote}/${branch}`);
  if (!behind.value) {
    const ahead = await isAncestor({ cwd: repoRoot, ancestor: theirs, descendant: local.value });
    if (!ahead.ok) return gitFailed(ahead.error, `cannot compare ${branch} with ${remote}/${branch}`);
    if (ahead.value) return ok('local_ahead');
    return err({
      code: 'remote_diverged',
      message: `${branch} in ${repoRoot} (${local.value.slice(0, 8)}) and ${remote}/${branch} (${theirs.slice(0, 8)}) have diverged: the local branch has commits the remote does not (\`git log --oneline ${remote}/${branch}..${branch}\`: often a merge an earlier run made here and was stopped before pushing), and the remote has commits it does not; nothing was changed. Rebase them onto the remote's (\`git pull --rebase=merges ${remote} ${branch}\`, then \`git push ${remote} ${branch}\`), or drop them if another machine has merged the same tasks since (\`git reset --keep ${remote}/${branch}\`), then re-run`,
    });
  }
  const current = await getCurrentBranch({ cwd: repoRoot });
  if (!current.ok) return gitFailed(current.error, `cannot read the current branch of ${repoRoot}`);
  const moved =
    current.value === branch
      ? await gitOk({ cwd: repoRoot, args: ['merge', '--ff-only', '--quiet', theirs] })
      : await gitOk({ cwd: repoRoot, args: ['update-ref', `refs/heads/${branch}`, theirs, local.value] });
  if (!moved.ok) return gitFailed(moved.error, `cannot fast-forward ${branch} in ${repoRoot} to ${remote}/${branch} (${theirs.slice(0, 8)})`);
  return ok('fast_forwarded');
}

export type PushOutcome = { status: 'pushed' } | { status: 'rejected'; message: string } | { status: 'failed'; message: string };

/**
 * `git push <remote> <sha>:refs/heads/<branch>`, never forced: a remote that moved meanwhile rejects it (`rejected`:
 * fetch, merge again, push again); any other failure (network, permissions, a hook) is `failed`.
 */
export async function pushBranch({ cwd, remote, branch, sha }: { cwd: string; remote: string; branch: string; sha: string }): Promise<PushOutcome> {
  const pushed = await runGit({ cwd, args: ['push', '--porcelain', '--quiet', remote, `${sha}:refs/heads/${branch}`] });
  if (pushed.code === 0) return { status: 'pushed' };
  const output = `${pushed.stdout}\n${pushed.stderr}`;
  const message = `git push ${remote} ${branch} failed: ${firstLines(pushed.stderr || pushed.stdout) || `exit ${pushed.code}`}`;
  // Porcelain marks a rejected ref with "!"; git names the reason (non-fast-forward, fetch first).
  if (/\[rejected\]|non-fast-forward|fetch first|\(stale info\)/i.test(output)) return { status: 'rejected', message };
  return { status: 'failed', message };
}
