/**
 * Integration: commit a task's work on its branch, then merge the branch into the integration branch checked out in
 * the main checkout (or leave it for a pull request).
 *
 * The main checkout is the user's working tree. Merging refuses when it has uncommitted changes outside the
 * plugin's run-time paths, a failed merge is always aborted so the tree is left as it was, and merges from
 * different processes are serialised under a cross-process lock (two `git merge` in one checkout at once would
 * collide on `index.lock` or, worse, interleave).
 */
import * as path from 'node:path';
import type { AcceptanceCriterion } from '../manifest/schema';
import { err, ok, type Result } from '../manifest/problems';
import {
  branchExists,
  firstLines,
  getCurrentBranch,
  getHeadSha,
  gitOk,
  isAncestor,
  isWorkingTreeClean,
  GitError,
  runGit,
  summarisePaths,
} from './git';
import type { LockPort } from './ports';
import { beginMergeJournal, endMergeJournal, recoverInterruptedMerge } from './merge-journal';
import { createSqliteLock, LockTimeoutError } from './sqlite-lock';
import { pushBranch, syncFromRemote } from './remote';
import { failpoint } from '../runtime/failpoint';
import { DEFAULT_LINK_DIRS, getTaskBranch } from './worktree';
import { FALLBACK_IDENTITY, getIdentityEnv } from './identity';

export { FALLBACK_IDENTITY };

/** The lock name integration runs under. */
export const INTEGRATION_LOCK = 'integrate';

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

/**
 * `feat(<TASK_ID>): <title>`, a blank line, the acceptance criteria, and a `VTM-Task` trailer so that a commit can
 * be traced back to its task with `git log --grep`. Pure.
 */
export function buildTaskCommitMessage({
  taskId,
  title,
  acceptanceCriteria,
}: {
  taskId: string;
  title: string;
  acceptanceCriteria: readonly Pick<AcceptanceCriterion, 'id' | 'text'>[];
}): string {
  const lines = [`feat(${taskId}): ${oneLine(title)}`, ''];
  if (acceptanceCriteria.length > 0) {
    lines.push('Acceptance criteria:');
    for (const ac of acceptanceCriteria) lines.push(`- ${ac.id}: ${oneLine(ac.text)}`);
    lines.push('');
  }
  lines.push(`VTM-Task: ${taskId}`);
  return `${lines.join('\n')}\n`;
}

/** `Merge vtm/<id>: <title>`. Pure. */
export function buildMergeMessage({ taskId, title }: { taskId: string; title?: string }): string {
  const head = `Merge ${getTaskBranch(taskId)}`;
  return title ? `${head}: ${oneLine(title)}` : head;
}

/**
 * Pathspecs that keep the symlinked setup folders out of `git add -A`. Only for links git does not ignore already
 * (createTaskWorktree makes it ignore them): naming an ignored path, even in an exclude pathspec, makes `git add`
 * fail with "paths are ignored".
 */
async function excludeLinked(cwd: string, linkDirs: readonly string[]): Promise<string[]> {
  const specs: string[] = [];
  for (const d of linkDirs) {
    const rel = d.replace(/\/$/, '');
    const ignored = await runGit({ cwd, args: ['check-ignore', '-q', '--', rel] });
    if (ignored.code !== 0) specs.push(`:(exclude,literal)${rel}`);
  }
  return specs;
}

export type CommitOutcome =
  | { status: 'committed'; sha: string; message: string }
  /** Nothing to commit. `hasCommitsSinceBase` says whether the branch still holds commits (e.g. the agent's own). */
  | { status: 'no_changes'; sha: string; hasCommitsSinceBase?: boolean };

export interface CommitProblem {
  code: 'commit_failed' | 'git_failed';
  taskId: string;
  message: string;
  cause: GitError;
}

export interface CommitTaskWorkOptions {
  /** The task's worktree. */
  worktree: string;
  taskId: string;
  title: string;
  acceptanceCriteria: readonly Pick<AcceptanceCriterion, 'id' | 'text'>[];
  /** Symlinked setup folders, never committed. Default `['node_modules']`. */
  linkDirs?: readonly string[];
  /** When given, a `no_changes` outcome tells whether the branch has commits since this base. */
  baseSha?: string;
  /** Run the repository's commit hooks. Default true (they are the user's quality gate). */
  runHooks?: boolean;
}

/**
 * Stage everything the task changed (`git add -A`, linked folders excluded) and commit it as
 * `feat(<TASK_ID>): <title>` with the acceptance criteria in the body; the message goes through stdin (`-F -`).
 * The author comes from git config, or `FALLBACK_IDENTITY` when none is configured.
 */
export async function commitTaskWork({
  worktree,
  taskId,
  title,
  acceptanceCriteria,
  linkDirs = DEFAULT_LINK_DIRS,
  baseSha,
  runHooks = true,
}: CommitTaskWorkOptions): Promise<Result<CommitOutcome, CommitProblem>> {
  const gitFailed = (e: GitError, what: string) =>
    err<CommitProblem>({ code: 'git_failed', taskId, message: `Task ${taskId}: ${what}: ${e.message}`, cause: e });

  const added = await gitOk({ cwd: worktree, args: ['add', '-A', '--', '.', ...(await excludeLinked(worktree, linkDirs))] });
  if (!added.ok) return gitFailed(added.error, `cannot stage the changes in ${worktree}`);
  const staged = await runGit({ cwd: worktree, args: ['diff', '--cached', '--quiet', '--no-ext-diff'] });
  // A merge in progress (a repair turn resolving a conflict with the new base) is committed even when its result
  // equals HEAD: the merge commit is what makes the new base part of the branch.
  const merging = staged.code === 0 && (await runGit({ cwd: worktree, args: ['rev-parse', '-q', '--verify', 'MERGE_HEAD'] })).code === 0;
  if (staged.code === 0 && !merging) {
    const head = await getHeadSha({ cwd: worktree });
    if (!head.ok) return gitFailed(head.error, 'cannot read HEAD');
    return ok({
      status: 'no_changes',
      sha: head.value,
      ...(baseSha ? { hasCommitsSinceBase: head.value !== baseSha } : {}),
    });
  }
  if (staged.code !== 1 && !merging) {
    const e = new GitError({ cwd: worktree, args: ['diff', '--cached', '--quiet'], code: staged.code, stderr: staged.stderr });
    return gitFailed(e, 'cannot compare the index');
  }

  const message = buildTaskCommitMessage({ taskId, title, acceptanceCriteria });
  // --cleanup=whitespace: keep AC lines that start with "#" (the default "strip" mode would drop them as comments).
  const args = ['commit', '--quiet', '-F', '-', '--cleanup=whitespace', ...(runHooks ? [] : ['--no-verify'])];
  const committed = await gitOk({ cwd: worktree, args, input: message, env: await getIdentityEnv(worktree) });
  if (!committed.ok) {
    return err({
      code: 'commit_failed',
      taskId,
      message: `Task ${taskId}: git commit failed in ${worktree}: ${firstLines(committed.error.stderr) || 'no output'}; fix the cause (e.g. a commit hook), then re-run ${taskId}`,
      cause: committed.error,
    });
  }
  const head = await getHeadSha({ cwd: worktree });
  if (!head.ok) return gitFailed(head.error, 'cannot read the new commit');
  return ok({ status: 'committed', sha: head.value, message });
}

/** The branch no longer points at the audited commit: the work is kept, never merged unaudited. */
function branchMoved({ taskId, branch, expected, found }: { taskId: string; branch: string; expected: string; found: string }): Omit<IntegrationProblem, 'taskId'> {
  return {
    reason: 'branch_moved',
    message: `Task ${taskId}: ${branch} moved after its audit (was ${expected.slice(0, 8)}, now ${found.slice(0, 8)}); nothing was merged. The audited work is ${expected}; inspect ${branch}, then re-run ${taskId}`,
  };
}

export type IntegrationStrategy = 'merge' | 'branch';

export type IntegrationOutcome =
  /** Merged with `--no-ff`; `sha` is the merge commit. */
  | { status: 'merged'; sha: string; branch: string; into: string; /** The merged result was tested before the branch moved. */ tested?: boolean }
  /** The branch was already contained in the integration branch; nothing was merged. */
  | { status: 'already_integrated'; sha: string; branch: string; into: string }
  /** `branch` strategy: the branch is left for a pull request; `sha` is its tip. */
  | { status: 'branch_left'; sha: string; branch: string };

export type IntegrationFailure =
  | 'merge_conflict'
  | 'dirty_worktree'
  | 'detached_head'
  | 'wrong_branch'
  | 'operation_in_progress'
  | 'missing_branch'
  | 'touches_linked_folder'
  | 'merge_failed'
  | 'abort_failed'
  | 'lock_timeout'
  | 'branch_moved'
  | 'claim_lost'
  | 'integration_check_failed'
  | 'remote_diverged'
  | 'push_failed'
  | 'git_failed';

export interface IntegrationProblem {
  reason: IntegrationFailure;
  taskId: string;
  /** One line: what was seen and what to do. */
  message: string;
  /** Files git could not merge (`merge_conflict`). */
  conflictedPaths?: string[];
  /** Uncommitted paths of the main checkout (`dirty_worktree`). */
  paths?: string[];
  /** The failing output of the merged result's tests (`integration_check_failed`). */
  details?: string;
  cause?: GitError | Error;
}

export interface IntegrateTaskBranchOptions {
  /** The main checkout, with the integration branch checked out. */
  repoRoot: string;
  taskId: string;
  /** For the merge message `Merge vtm/<id>: <title>`. */
  title?: string;
  /** Default `vtm/<taskId>`. */
  branch?: string;
  strategy: IntegrationStrategy;
  /** Cross-process lock. Default: SQLite lock in `<repoRoot>/.vtm/locks.db`. */
  lock?: LockPort;
  /** When set, refuse to merge unless this branch is checked out in the main checkout. */
  integrationBranch?: string;
  /** Run-time paths that do not count as the user's uncommitted work. Default `['.vtm/']`. */
  ignorePaths?: readonly string[];
  /** Folders symlinked into worktrees; a branch that changes them is never merged. Default `['node_modules']`. */
  linkDirs?: readonly string[];
  /**
   * The exact commit to integrate (the audited and verified one). The branch must still point at it when the lock is
   * held (`branch_moved` otherwise), and it is this commit, never whatever the branch says later, that is merged:
   * nothing written after the audit reaches the integration branch.
   */
  sha?: string;
  /**
   * Asked inside the lock, right before the merge: a message when this process must not merge any more (its claim on
   * the task was lost), then nothing is merged (`claim_lost`).
   */
  guard?: () => string | undefined;
  /**
   * The merge queue: test the merged result before the integration branch moves. The merge is built in the task's
   * own worktree (detached at the integration branch's tip), `run` tests it there, and only a result that passes is
   * fast-forwarded onto the integration branch. Inside the integration lock, so merges are tested one at a time, each
   * on top of the one before.
   */
  testMerged?: {
    /** The task's worktree (holds the linked folders the tests need). */
    worktree: string;
    /**
     * Test the merged result checked out in `cwd`. `tipInTask`: the integration branch's tip was already part of the
     * task's commit, so the merged tree is the one the task's own verification passed on.
     */
    run(options: { cwd: string; tipInTask: boolean }): Promise<{ ok: true; ran: boolean } | { ok: false; message: string; details: string }>;
  };
  /**
   * The shared git remote (plugin option `remote`): under the lock, fetch and fast-forward the integration branch to
   * the remote's before merging, then push the result (never forced); a push the remote rejects because another
   * machine pushed first is undone locally, re-fetched and merged again, up to `pushAttempts` times. In "branch"
   * mode the task branch is pushed instead.
   */
  remote?: string;
  /** Merge-and-push rounds before giving up on a remote that keeps moving. Default 5. */
  pushAttempts?: number;
  /** Told what was repaired on the way (an integration branch moved under its checkout, put back). */
  onNotice?: (message: string) => void;
}

/**
 * Integrate a task branch. `merge`: under the lock, `git merge --no-ff` into the branch checked out in the main
 * checkout; a conflict is aborted (`git merge --abort`), the task branch kept, and `merge_conflict` returned with the
 * conflicted paths. `branch`: nothing is merged; the branch is left for a pull request.
 */
export async function integrateTaskBranch({
  repoRoot,
  taskId,
  title,
  branch = getTaskBranch(taskId),
  strategy,
  lock = createSqliteLock({ file: path.join(repoRoot, '.vtm', 'locks.db') }),
  integrationBranch,
  ignorePaths = ['.vtm/'],
  linkDirs = DEFAULT_LINK_DIRS,
  sha,
  guard,
  testMerged,
  remote,
  pushAttempts = 5,
  onNotice,
}: IntegrateTaskBranchOptions): Promise<Result<IntegrationOutcome, IntegrationProblem>> {
  const fail = (p: Omit<IntegrationProblem, 'taskId'>) => err<IntegrationProblem>({ taskId, ...p });
  const gitFailed = (e: GitError, what: string) => fail({ reason: 'git_failed', message: `Task ${taskId}: ${what}: ${e.message}`, cause: e });

  const exists = await branchExists({ cwd: repoRoot, branch });
  if (!exists.ok) return gitFailed(exists.error, `cannot look up ${branch}`);
  if (!exists.value) {
    return fail({ reason: 'missing_branch', message: `Task ${taskId}: branch ${branch} does not exist in ${repoRoot}; re-run ${taskId} to produce it` });
  }
  if (strategy === 'branch') {
    const tip = await getHeadSha({ cwd: repoRoot, ref: `refs/heads/${branch}` });
    if (!tip.ok) return gitFailed(tip.error, `cannot read ${branch}`);
    if (sha && tip.value !== sha) return fail(branchMoved({ taskId, branch, expected: sha, found: tip.value }));
    if (remote) {
      // Never forced: a branch of the same name with other commits on the remote is someone's work, not ours to replace.
      const pushed = await pushBranch({ cwd: repoRoot, remote, branch, sha: tip.value });
      if (pushed.status !== 'pushed') {
        return fail({ reason: 'push_failed', message: `Task ${taskId}: ${pushed.message}; ${branch} is kept locally. Fix the cause (or delete the remote's ${branch} if it is stale), then re-run ${taskId}` });
      }
    }
    return ok({ status: 'branch_left', sha: tip.value, branch });
  }

  const merge = () => mergeLocked({ repoRoot, taskId, title, branch, integrationBranch, ignorePaths, linkDirs, sha, guard, testMerged, onNotice });
  try {
    return await lock.withLock(INTEGRATION_LOCK, () => (remote ? mergeAndPush({ repoRoot, taskId, branch, integrationBranch, remote, attempts: pushAttempts, merge }) : merge()));
  } catch (e) {
    if (e instanceof LockTimeoutError) return fail({ reason: 'lock_timeout', message: `Task ${taskId}: ${e.message}`, cause: e });
    throw e;
  }
}

/**
 * One merge into a shared integration branch, inside the integration lock: fast-forward the local branch to the
 * remote's, merge (the merge queue included), push. A rejected push (another machine pushed first, e.g. one that does
 * not share the lock) undoes the local merge commit (`reset --keep` to its first parent: the task's commits stay on
 * its branch) and starts over from the new remote tip. The local branch never keeps a merge the remote refused.
 */
async function mergeAndPush({
  repoRoot,
  taskId,
  branch,
  integrationBranch,
  remote,
  attempts,
  merge,
}: {
  repoRoot: string;
  taskId: string;
  branch: string;
  integrationBranch?: string;
  remote: string;
  attempts: number;
  merge: () => Promise<Result<IntegrationOutcome, IntegrationProblem>>;
}): Promise<Result<IntegrationOutcome, IntegrationProblem>> {
  const fail = (p: Omit<IntegrationProblem, 'taskId'>) => err<IntegrationProblem>({ taskId, ...p });
  const into = integrationBranch ?? (await getCurrentBranch({ cwd: repoRoot }));
  const target = typeof into === 'string' ? into : into.ok ? into.value : null;
  // No branch checked out: mergeLocked reports it (detached_head) without touching anything.
  if (!target) return merge();
  let lastRejection = '';
  for (let round = 1; round <= attempts; round++) {
    const synced = await syncFromRemote({ repoRoot, remote, branch: target });
    if (!synced.ok) {
      const reason = synced.error.code === 'remote_diverged' ? 'remote_diverged' : 'push_failed';
      return fail({ reason, message: `Task ${taskId}: not merging ${branch}: ${synced.error.message}` });
    }
    const before = await getHeadSha({ cwd: repoRoot, ref: `refs/heads/${target}` });
    if (!before.ok) return fail({ reason: 'git_failed', message: `Task ${taskId}: cannot read ${target}: ${before.error.message}`, cause: before.error });
    const merged = await merge();
    if (!merged.ok || merged.value.status === 'branch_left') return merged;
    // Merged here, not yet on the remote: a crash now leaves the local branch ahead (see syncFromRemote's callers).
    failpoint('after-local-merge', taskId);
    const pushed = await pushBranch({ cwd: repoRoot, remote, branch: target, sha: merged.value.sha });
    if (pushed.status === 'pushed') return merged;
    // Ours only: the merge commit this round made (the branch still points at it; we hold the lock).
    if (merged.value.status === 'merged') {
      const undone = await gitOk({ cwd: repoRoot, args: ['reset', '--keep', '--quiet', before.value] });
      if (!undone.ok) {
        return fail({ reason: 'push_failed', message: `Task ${taskId}: ${pushed.message}, and undoing the local merge failed (${firstLines(undone.error.stderr)}); ${target} in ${repoRoot} holds the unpushed merge ${merged.value.sha.slice(0, 8)}: push it or reset it yourself`, cause: undone.error });
      }
    }
    if (pushed.status === 'failed') {
      return fail({ reason: 'push_failed', message: `Task ${taskId}: ${pushed.message}; nothing was merged (${branch} kept). Fix the cause, then re-run ${taskId}` });
    }
    lastRejection = pushed.message;
  }
  return fail({
    reason: 'push_failed',
    message: `Task ${taskId}: ${remote}/${target} kept moving: the push was rejected ${attempts} times (${lastRejection}); nothing was merged (${branch} kept). Re-run ${taskId}`,
  });
}

async function mergeLocked({
  repoRoot,
  taskId,
  title,
  branch,
  integrationBranch,
  ignorePaths,
  linkDirs,
  sha,
  guard,
  testMerged,
  onNotice,
}: {
  repoRoot: string;
  taskId: string;
  title?: string;
  branch: string;
  integrationBranch?: string;
  ignorePaths: readonly string[];
  linkDirs: readonly string[];
  sha?: string;
  guard?: () => string | undefined;
  testMerged?: IntegrateTaskBranchOptions['testMerged'];
  onNotice?: (message: string) => void;
}): Promise<Result<IntegrationOutcome, IntegrationProblem>> {
  const fail = (p: Omit<IntegrationProblem, 'taskId'>) => err<IntegrationProblem>({ taskId, ...p });
  const gitFailed = (e: GitError, what: string) => fail({ reason: 'git_failed', message: `Task ${taskId}: ${what}: ${e.message}`, cause: e });

  // A merge of a process that died half-way is ours to undo before anything else reads the checkout.
  await recoverInterruptedMerge({ repoRoot });
  // Every check happens inside the lock: another process's merge may have changed HEAD since we were called.
  const current = await getCurrentBranch({ cwd: repoRoot });
  if (!current.ok) return gitFailed(current.error, 'cannot read the current branch');
  if (current.value === null) {
    return fail({
      reason: 'detached_head',
      message: `Task ${taskId}: the main checkout ${repoRoot} is on a detached HEAD; check out the integration branch, then re-run ${taskId}`,
    });
  }
  const into = current.value;
  if (integrationBranch && into !== integrationBranch) {
    return fail({
      reason: 'wrong_branch',
      message: `Task ${taskId}: the main checkout is on ${into}, not the integration branch ${integrationBranch}; check out ${integrationBranch}, then re-run ${taskId}`,
    });
  }
  for (const marker of ['MERGE_HEAD', 'CHERRY_PICK_HEAD', 'REVERT_HEAD', 'REBASE_HEAD']) {
    const r = await runGit({ cwd: repoRoot, args: ['rev-parse', '-q', '--verify', marker] });
    if (r.code === 0) {
      return fail({
        reason: 'operation_in_progress',
        message: `Task ${taskId}: the main checkout has an unfinished git operation (${marker} exists); finish or abort it, then re-run ${taskId}`,
      });
    }
  }
  let state = await isWorkingTreeClean({ cwd: repoRoot, ignorePaths });
  if (!state.ok) return gitFailed(state.error, 'cannot read the status of the main checkout');
  if (!state.value.clean) {
    // Asked only when the checkout looks dirty: a branch moved under it looks exactly so.
    const restored = await restoreBranchMovedUnderCheckout({ repoRoot, branch: into });
    if (restored) {
      onNotice?.(restored);
      state = await isWorkingTreeClean({ cwd: repoRoot, ignorePaths });
      if (!state.ok) return gitFailed(state.error, 'cannot read the status of the main checkout');
    }
  }
  if (!state.value.clean) {
    return fail({
      reason: 'dirty_worktree',
      paths: state.value.dirtyPaths,
      message: `Task ${taskId}: not merging ${branch} into ${into}: the main checkout has uncommitted changes in ${summarisePaths(state.value.dirtyPaths)}; commit or stash them, then re-run ${taskId}`,
    });
  }

  // What is merged: the audited commit when the caller names one (and the branch must still point at it).
  let target = `refs/heads/${branch}`;
  if (sha) {
    const tip = await getHeadSha({ cwd: repoRoot, ref: `refs/heads/${branch}` });
    if (!tip.ok) return gitFailed(tip.error, `cannot read ${branch}`);
    // Already merged (a run that died between the merge and recording it): recognised, nothing merged twice.
    const done = await isAncestor({ cwd: repoRoot, ancestor: sha, descendant: 'HEAD' });
    if (!done.ok) return gitFailed(done.error, `cannot compare ${sha} with ${into}`);
    if (!done.value && tip.value !== sha) return fail(branchMoved({ taskId, branch, expected: sha, found: tip.value }));
    target = sha;
  }
  const contained = await isAncestor({ cwd: repoRoot, ancestor: target, descendant: 'HEAD' });
  if (!contained.ok) return gitFailed(contained.error, `cannot compare ${branch} with ${into}`);
  if (contained.value) {
    const head = await getHeadSha({ cwd: repoRoot });
    if (!head.ok) return gitFailed(head.error, 'cannot read HEAD');
    return ok({ status: 'already_integrated', sha: head.value, branch, into });
  }

  if (linkDirs.length > 0) {
    // A committed symlink named like a linked folder would, once merged, replace the user's real (ignored) folder.
    const linkArgs = ['diff', '--name-only', '-z', '--no-ext-diff', `HEAD...${target}`, '--', ...linkDirs.map((d) => `:(literal)${d.replace(/\/$/, '')}`)];
    const touched = await gitOk({ cwd: repoRoot, args: linkArgs });
    if (!touched.ok) return gitFailed(touched.error, `cannot diff ${branch}`);
    const paths = touched.value.split('\0').filter(Boolean);
    if (paths.length > 0) {
      return fail({
        reason: 'touches_linked_folder',
        paths,
        message: `Task ${taskId}: ${branch} changes ${summarisePaths(paths)}, a folder symlinked into task worktrees; not merging. Remove it from the branch (git rm --cached), then re-run ${taskId}`,
      });
    }
  }

  const message = buildMergeMessage({ taskId, title });
  const mergeArgs = ['merge', '--no-ff', '--no-edit', '-m', message, '-m', `VTM-Task: ${taskId}`, target];
  if (testMerged) return mergeTested({ repoRoot, taskId, branch, into, target, mergeArgs, guard, testMerged });
  const identityEnv = await getIdentityEnv(repoRoot);
  const tipSha = await getHeadSha({ cwd: repoRoot, ref: target });
  if (!tipSha.ok) return gitFailed(tipSha.error, `cannot read ${target}`);
  // Last check before the one side effect that cannot be taken back: a process that lost its claim merges nothing.
  const stop = guard?.();
  if (stop) return fail({ reason: 'claim_lost', message: `Task ${taskId}: not merging ${branch}: ${stop}` });
  // Journaled: if this process dies mid-merge, the next integration knows the half-done merge is ours (MERGE_HEAD is
  // this very commit) and undoes it.
  beginMergeJournal({ repoRoot, taskId, branch, sha: tipSha.value });
  const merged = await runGit({ cwd: repoRoot, args: mergeArgs, env: identityEnv });
  if (merged.code === 0) {
    endMergeJournal({ repoRoot });
    const head = await getHeadSha({ cwd: repoRoot });
    if (!head.ok) return gitFailed(head.error, 'cannot read the merge commit');
    return ok({ status: 'merged', sha: head.value, branch, into });
  }

  const conflicts = await gitOk({ cwd: repoRoot, args: ['diff', '--name-only', '--diff-filter=U', '-z'] });
  const conflictedPaths = conflicts.ok ? conflicts.value.split('\0').filter(Boolean).sort() : [];
  const inMerge = (await runGit({ cwd: repoRoot, args: ['rev-parse', '-q', '--verify', 'MERGE_HEAD'] })).code === 0;
  if (inMerge) {
    const aborted = await gitOk({ cwd: repoRoot, args: ['merge', '--abort'] });
    if (!aborted.ok) {
      return fail({
        reason: 'abort_failed',
        conflictedPaths,
        message: `Task ${taskId}: merging ${branch} into ${into} failed AND git merge --abort failed (${firstLines(aborted.error.stderr)}); the main checkout ${repoRoot} is mid-merge: run git merge --abort there yourself`,
        cause: aborted.error,
      });
    }
  }
  endMergeJournal({ repoRoot });
  if (conflictedPaths.length > 0) {
    return fail({
      reason: 'merge_conflict',
      conflictedPaths,
      message: `Task ${taskId}: ${branch} conflicts with ${into} in ${summarisePaths(conflictedPaths)}; the merge was aborted and ${branch} kept. Resolve it by merging ${into} into ${branch}, or re-run ${taskId} on the new ${into}`,
    });
  }
  return fail({
    reason: 'merge_failed',
    message: `Task ${taskId}: git merge of ${branch} into ${into} failed (exit ${merged.code}): ${firstLines(merged.stderr || merged.stdout) || 'no output'}`,
    cause: new GitError({ cwd: repoRoot, args: mergeArgs, code: merged.code, stderr: merged.stderr }),
  });
}

/**
 * The integration branch moved without its checkout, and is put back. An agent's worktree shares the repository's
 * refs: `git branch -f` and `git push .` refuse to move a branch checked out elsewhere, but `git update-ref` does not,
 * so an agent (or a script it ran) can point the integration branch at its own unaudited commit. The main checkout's
 * index and files then still hold the commit before, and the checkout looks dirty with the reverse of the new
 * commits; merging on top would take them in. Recognised by the index being exactly the tree of an earlier value of
 * the branch in its reflog (and not of its current one); then the branch is moved back to that value
 * (compare-and-set) and the commit it pointed at is kept under `refs/vtm/moved/<branch>-<time>`. Anything else that
 * leaves the checkout dirty, a move backwards included (`git reset --soft`), is not touched. Returns what was done, or
 * undefined.
 */
export async function restoreBranchMovedUnderCheckout({ repoRoot, branch }: { repoRoot: string; branch: string }): Promise<string | undefined> {
  const ref = `refs/heads/${branch}`;
  const current = await getHeadSha({ cwd: repoRoot, ref });
  if (!current.ok) return undefined;
  const indexIs = async (commit: string) => (await runGit({ cwd: repoRoot, args: ['diff-index', '--cached', '--quiet', commit, '--'] })).code === 0;
  if (await indexIs(current.value)) return undefined;
  // The last few values of the branch, newest first (an agent may have moved it more than once).
  const log = await runGit({ cwd: repoRoot, args: ['log', '-g', '--format=%H', '-n', '6', ref, '--'] });
  if (log.code !== 0) return undefined;
  const earlier = [...new Set(log.stdout.split('\n').filter(Boolean))].filter((c) => c !== current.value);
  let before: string | undefined;
  for (const c of earlier) {
    if (await indexIs(c)) {
      before = c;
      break;
    }
  }
  if (!before) return undefined;
  // Moved back (`git reset --soft`: the user's own undo, with the changes kept staged): theirs, left alone.
  const backwards = await isAncestor({ cwd: repoRoot, ancestor: current.value, descendant: before });
  if (!backwards.ok || backwards.value) return undefined;
  const keep = `refs/vtm/moved/${branch}-${Date.now()}`;
  if (!(await gitOk({ cwd: repoRoot, args: ['update-ref', keep, current.value] })).ok) return undefined;
  const back = await gitOk({ cwd: repoRoot, args: ['update-ref', '-m', `nx-vtm: put back (moved without its checkout to ${current.value.slice(0, 8)})`, ref, before, current.value] });
  if (!back.ok) return undefined;
  const on = await runGit({ cwd: repoRoot, args: ['for-each-ref', '--format=%(refname:short)', '--contains', current.value, 'refs/heads/vtm/'] });
  const branches = on.code === 0 ? on.stdout.split('\n').filter(Boolean) : [];
  const whose = branches.length > 0 ? ` (that commit is on ${branches.slice(0, 3).join(', ')}: the agent working there moved it, e.g. with git update-ref)` : '';
  return `${branch} had been moved to ${current.value.slice(0, 8)} without its checkout${whose}; put back to ${before.slice(0, 8)}, where the checkout is, and ${current.value.slice(0, 8)} kept as ${keep}. Only the merge queue moves ${branch} during a run`;
}

/**
 * The merge queue's step, inside the integration lock: build the merge of `target` onto the integration branch's tip
 * in the task's worktree (detached, so neither branch moves), test it there, and only when it passes move the
 * integration branch to it with a fast-forward. The integration branch therefore only ever points at merged results
 * that passed; a result that fails is the task's to repair (`integration_check_failed`), and its worktree is put back
 * on its branch.
 */
async function mergeTested({
  repoRoot,
  taskId,
  branch,
  into,
  target,
  mergeArgs,
  guard,
  testMerged,
}: {
  repoRoot: string;
  taskId: string;
  branch: string;
  into: string;
  target: string;
  mergeArgs: string[];
  guard?: () => string | undefined;
  testMerged: NonNullable<IntegrateTaskBranchOptions['testMerged']>;
}): Promise<Result<IntegrationOutcome, IntegrationProblem>> {
  const fail = (p: Omit<IntegrationProblem, 'taskId'>) => err<IntegrationProblem>({ taskId, ...p });
  const gitFailed = (e: GitError, what: string) => fail({ reason: 'git_failed', message: `Task ${taskId}: ${what}: ${e.message}`, cause: e });
  const wt = testMerged.worktree;
  const tip = await getHeadSha({ cwd: repoRoot });
  if (!tip.ok) return gitFailed(tip.error, 'cannot read the integration branch');
  const tipInTask = await isAncestor({ cwd: repoRoot, ancestor: tip.value, descendant: target });
  if (!tipInTask.ok) return gitFailed(tipInTask.error, `cannot compare ${into} with ${branch}`);
  // Back on the task's branch whatever happens below (a repair turn or a re-run continues there).
  const restore = async () => {
    await runGit({ cwd: wt, args: ['merge', '--abort'] });
    await runGit({ cwd: wt, args: ['checkout', '--quiet', '--force', branch] });
    await runGit({ cwd: wt, args: ['clean', '-fdq'] });
  };
  // Files the tests left in the worktree are not the task's (they were not committed): out of the way.
  await runGit({ cwd: wt, args: ['clean', '-fdq'] });
  const detached = await gitOk({ cwd: wt, args: ['checkout', '--quiet', '--force', '--detach', tip.value] });
  if (!detached.ok) {
    await restore();
    return gitFailed(detached.error, `cannot check out ${into} (${tip.value.slice(0, 8)}) in the task's worktree ${wt}`);
  }
  const merged = await runGit({ cwd: wt, args: mergeArgs, env: await getIdentityEnv(wt) });
  if (merged.code !== 0) {
    const conflicts = await gitOk({ cwd: wt, args: ['diff', '--name-only', '--diff-filter=U', '-z'] });
    const conflictedPaths = conflicts.ok ? conflicts.value.split('\0').filter(Boolean).sort() : [];
    await restore();
    if (conflictedPaths.length > 0) {
      return fail({
        reason: 'merge_conflict',
        conflictedPaths,
        message: `Task ${taskId}: ${branch} conflicts with ${into} in ${summarisePaths(conflictedPaths)}; nothing was merged and ${branch} kept. Resolve it by merging ${into} into ${branch}, or re-run ${taskId} on the new ${into}`,
      });
    }
    return fail({ reason: 'merge_failed', message: `Task ${taskId}: git merge of ${branch} onto ${into} failed (exit ${merged.code}): ${firstLines(merged.stderr || merged.stdout) || 'no output'}` });
  }
  const result = await getHeadSha({ cwd: wt });
  if (!result.ok) {
    await restore();
    return gitFailed(result.error, 'cannot read the merge commit');
  }
  const tested = await testMerged.run({ cwd: wt, tipInTask: tipInTask.value });
  if (!tested.ok) {
    await restore();
    return fail({ reason: 'integration_check_failed', message: tested.message, details: tested.details });
  }
  // Last check before the one side effect that cannot be taken back: a process that lost its claim merges nothing.
  const stop = guard?.();
  if (stop) {
    await restore();
    return fail({ reason: 'claim_lost', message: `Task ${taskId}: not merging ${branch}: ${stop}` });
  }
  // The integration branch moves only to the tested commit, and only forward (the tip cannot have moved: we hold the lock).
  // Journaled: a kill half-way leaves the index and files moved but not the branch (and HEAD.lock); the next
  // integration completes the move (see recoverInterruptedMerge).
  beginMergeJournal({ repoRoot, taskId, branch, sha: result.value, kind: 'fast-forward' });
  const ff = await gitOk({ cwd: repoRoot, args: ['merge', '--ff-only', '--quiet', result.value] });
  endMergeJournal({ repoRoot });
  if (!ff.ok) {
    await restore();
    return fail({ reason: 'merge_failed', message: `Task ${taskId}: could not fast-forward ${into} to the tested merge ${result.value.slice(0, 8)}: ${firstLines(ff.error.stderr) || ff.error.message}`, cause: ff.error });
  }
  return ok({ status: 'merged', sha: result.value, branch, into, tested: tested.ran });
}
