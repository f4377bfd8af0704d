/**
 * One git worktree per task, on branch `vtm/<taskId>`, so that agents running at the same time never share a
 * working tree, an index or a HEAD.
 *
 * Invariant kept by every function here: uncommitted work is never deleted unless the caller passes `force`.
 * Committed but unintegrated work of an earlier attempt is never made unreachable either: before a branch is reset
 * for a new attempt, its old tip is saved under `refs/vtm/attempts/<taskId>/<sha>`.
 */
import * as fs from 'node:fs';
import { isFileOpenByAnyProcess, isPidAlive } from './merge-journal';
import { staleOwnRefLock } from './work-commit';
import * as path from 'node:path';
import { getPathProblem } from '../manifest/paths';
import { err, ok, type Result } from '../manifest/problems';
import { TASK_ID_PATTERN } from '../manifest/schema';
import {
  branchExists,
  getHeadSha,
  gitOk,
  isAncestor,
  isWorkingTreeClean,
  runGit,
  summarisePaths,
  type GitError,
} from './git';
import type { RunProcess, RunProcessResult } from './ports';

/** Branch prefix of task branches. */
export const TASK_BRANCH_PREFIX = 'vtm/';
/** Folders symlinked from the main checkout into each worktree unless configured otherwise. */
export const DEFAULT_LINK_DIRS: readonly string[] = ['node_modules'];
/** Where saved tips of earlier attempts live (refs, not branches, so they do not clutter `git branch`). */
export const ATTEMPTS_REF_PREFIX = 'refs/vtm/attempts/';

/** `vtm/<taskId>`. Pure. */
export const getTaskBranch = (taskId: string): string => `${TASK_BRANCH_PREFIX}${taskId}`;

/** `<repoRoot>/.vtm/worktrees`. Pure. */
export const getDefaultWorktreesDir = (repoRoot: string): string => path.join(repoRoot, '.vtm', 'worktrees');

export type WorktreeProblemCode =
  | 'invalid_task_id'
  | 'invalid_option'
  | 'bad_base_ref'
  | 'uncommitted_work'
  | 'branch_checked_out_elsewhere'
  | 'path_occupied'
  | 'link_failed'
  | 'setup_failed'
  | 'git_failed';

/** Why a worktree operation did not happen. `message` is one line naming the task and what to do. */
export interface WorktreeProblem {
  code: WorktreeProblemCode;
  taskId: string;
  message: string;
  /** The worktree directory concerned. */
  path?: string;
  /** Uncommitted paths, for `uncommitted_work`. */
  paths?: string[];
  /** The setup run, for `setup_failed`. */
  setup?: RunProcessResult;
  cause?: GitError | Error;
}

/** A task's worktree, ready for an agent. */
export interface TaskWorktree {
  taskId: string;
  /** Absolute path of the worktree. */
  path: string;
  branch: string;
  /** The commit the branch was (re)started from. */
  baseSha: string;
  /** True when a clean leftover worktree of an earlier attempt was reset and reused. */
  reused: boolean;
  /** Configured folders that are symlinked into the worktree (relative paths). */
  linked: string[];
  /** Committed work of an earlier attempt that was not integrated, saved before the branch was reset. */
  previousAttempt?: { ref: string; sha: string };
  /** The setup command's run, when one was configured. */
  setup?: RunProcessResult;
  /** True when a worktree pre-positioned for this task was taken (see `takePrimedWorktree`). */
  primed?: boolean;
}

export interface CreateTaskWorktreeOptions {
  /** The main checkout (the user's working tree). */
  repoRoot: string;
  taskId: string;
  /** Where the task starts: the integration branch as it is now, so every integrated dependency is included. */
  baseRef: string;
  /** Parent of all task worktrees. Default `<repoRoot>/.vtm/worktrees`; must be gitignored (and nxignored). */
  worktreesDir?: string;
  /** Folders of the main checkout to symlink into the worktree when they exist there. Default `['node_modules']`. */
  linkDirs?: readonly string[];
  /** Run in the new worktree after linking (argv, e.g. `['npm', 'ci']`). A failure keeps the worktree. */
  setupCommand?: readonly string[];
  /** Default 10 minutes. */
  setupTimeoutMs?: number;
  /** Default `<repoRoot>/.vtm/logs/<taskId>/setup.log`. */
  setupLogFile?: string;
  /** Take a ready spare worktree (see `fillSpareWorktrees`) instead of checking out a new one, when there is one. */
  useSpare?: boolean;
  /**
   * A worktree pre-positioned for this task (`primeTaskWorktree`): taken as it is when it is on the task's branch at
   * the base (`takePrimedWorktree`); otherwise used as the spare.
   */
  primed?: PrimedWorktree;
  /** Told why a pre-positioned worktree was not taken as it is. */
  onPrimedRefused?: (reason: string) => void;
}

export interface WorktreeDeps {
  /** Runs the setup command; required only when `setupCommand` is given. */
  runProcess?: RunProcess;
}

const problem = (p: WorktreeProblem): { ok: false; error: WorktreeProblem } => err(p);

const gitProblem = (taskId: string, e: GitError, what: string): { ok: false; error: WorktreeProblem } =>
  problem({ code: 'git_failed', taskId, message: `Task ${taskId}: ${what}: ${e.message}`, cause: e });

/**
 * Create (or reuse) the worktree of a task: `git worktree add -B vtm/<taskId> <worktreesDir>/<taskId> <baseRef>`,
 * then symlink the configured folders and run the optional setup command.
 *
 * Leftovers of an earlier attempt are handled deliberately: a clean leftover worktree is reset to `baseRef` and
 * reused; one with uncommitted work is kept untouched and reported (`uncommitted_work`), never deleted. If the
 * old branch has commits that are not in `baseRef`, its tip is saved under `refs/vtm/attempts/<taskId>/<sha>`.
 */
export async function createTaskWorktree(
  options: CreateTaskWorktreeOptions,
  deps: WorktreeDeps = {},
): Promise<Result<TaskWorktree, WorktreeProblem>> {
  const {
    repoRoot,
    taskId,
    baseRef,
    worktreesDir = getDefaultWorktreesDir(repoRoot),
    linkDirs = DEFAULT_LINK_DIRS,
    setupCommand,
    setupTimeoutMs = 10 * 60_000,
    setupLogFile = path.join(repoRoot, '.vtm', 'logs', taskId, 'setup.log'),
  } = options;
  if (setupCommand?.length && !deps.runProcess) {
    throw new TypeError('createTaskWorktree: a setupCommand needs deps.runProcess');
  }
  const branch = getTaskBranch(taskId);
  if (options.primed && !setupCommand?.length && TASK_ID_PATTERN.test(taskId)) {
    // The primer ran every check below (task id, no earlier branch, clean checkout, links) before it made the branch.
    const taken = await takePrimedWorktree({ repoRoot, worktreesDir, taskId, baseRef, primed: options.primed, linkDirs });
    if (taken.ok) return taken;
    options.onPrimedRefused?.(taken.error);
  }
  const idProblem = await checkTaskId(repoRoot, taskId);
  if (idProblem) return problem(idProblem);
  const linkProblem = linkDirs.map((d) => getPathProblem(d)).find(Boolean);
  if (linkProblem) {
    return problem({ code: 'invalid_option', taskId, message: `Task ${taskId}: a linkDirs entry ${linkProblem}` });
  }

  const base = await getHeadSha({ cwd: repoRoot, ref: baseRef });
  if (!base.ok) {
    return problem({
      code: 'bad_base_ref',
      taskId,
      message: `Task ${taskId}: base ref "${baseRef}" does not name a commit in ${repoRoot}; check the integration branch setting`,
      cause: base.error,
    });
  }
  const baseSha = base.value;
  const dir = path.resolve(worktreesDir, taskId);

  let records = await listWorktreeRecords(repoRoot);
  if (!records.ok) return gitProblem(taskId, records.error, 'cannot list worktrees');
  // A process killed inside `git worktree move` (a spare being taken) leaves the directory in place, with its .git
  // file, but registered at its old path: `git worktree repair` registers it where it is (before any prune below,
  // which would drop the old registration and with it the way back).
  if (!records.value.some((r) => samePath(r.path, dir)) && isLinkedWorktreeDir(dir)) {
    const repaired = await gitOk({ cwd: repoRoot, args: ['worktree', 'repair', dir] });
    if (repaired.ok) {
      records = await listWorktreeRecords(repoRoot);
      if (!records.ok) return gitProblem(taskId, records.error, 'cannot list worktrees');
    }
  }
  // Registrations whose directory was deleted by hand only block `worktree add`; dropping them loses nothing.
  if (records.value.some((r) => r.prunable && (samePath(r.path, dir) || r.branch === branch))) {
    const pruned = await gitOk({ cwd: repoRoot, args: ['worktree', 'prune'] });
    if (!pruned.ok) return gitProblem(taskId, pruned.error, 'cannot prune a stale worktree registration');
    records = await listWorktreeRecords(repoRoot);
    if (!records.ok) return gitProblem(taskId, records.error, 'cannot list worktrees');
  }
  let atDir = records.value.find((r) => samePath(r.path, dir));
  if (atDir) {
    // A worktree whose HEAD does not resolve, or still marked initializing, was interrupted while being created
    // (`git worktree add` killed): no agent ever ran in it. Move it aside (never deleted) and unregister it.
    const head = await gitOk({ cwd: dir, args: ['rev-parse', '--verify', '--quiet', 'HEAD'] });
    const adminDir = await gitOk({ cwd: dir, args: ['rev-parse', '--absolute-git-dir'] });
    // git marks a worktree "locked: initializing" while `worktree add` checks it out; still there = add was killed.
    const initializing =
      adminDir.ok && fs.existsSync(path.join(adminDir.value.trim(), 'locked')) &&
      fs.readFileSync(path.join(adminDir.value.trim(), 'locked'), 'utf8').trim() === 'initializing';
    if (adminDir.ok) removeStaleWorktreeLocks({ adminDir: adminDir.value.trim() });
    if (!head.ok || initializing) {
      // Unlocked even when its lock cannot be read: a kill before git wrote the worktree's .git file leaves it empty,
      // so the admin dir (and its "initializing" lock) cannot be found from the worktree, and a locked registration
      // is never pruned (every later attempt then failed on it; seen in the kill benchmark).
      await gitOk({ cwd: repoRoot, args: ['worktree', 'unlock', dir] });
      const aside = `${dir}.broken-${Date.now()}`;
      try {
        // Already gone when an earlier attempt moved it aside and was killed before the registration was dropped.
        if (fs.existsSync(dir)) fs.renameSync(dir, aside);
      } catch (e) {
        return problem({ code: 'git_failed', taskId, path: dir, message: `Task ${taskId}: the leftover worktree ${dir} is broken (no valid HEAD) and cannot be moved aside: ${(e as Error).message}` });
      }
      const pruned = await gitOk({ cwd: repoRoot, args: ['worktree', 'prune'] });
      if (!pruned.ok) return gitProblem(taskId, pruned.error, 'cannot unregister a broken worktree');
      records = await listWorktreeRecords(repoRoot);
      if (!records.ok) return gitProblem(taskId, records.error, 'cannot list worktrees');
      atDir = undefined;
    }
  }
  let withBranch = records.value.find((r) => r.branch === branch);
  // A spare on this branch was pre-positioned for this task and not taken (it went stale, or its process died): a spare
  // is never worked in, so it is detached and used as the spare below, and the branch, which only the primer made
  // (it primes no task whose branch exists), is dropped: it holds no attempt's work to save.
  let heldSpare: WorktreeRecord | undefined = options.primed
    ? records.value.find((r) => samePath(r.path, options.primed!.path) && !r.branch && !r.prunable && isSpareRecord(r, worktreesDir))
    : undefined;
  if (withBranch && withBranch !== atDir && isSpareRecord(withBranch, worktreesDir) && !withBranch.prunable && fs.existsSync(withBranch.path)) {
    const detached = await gitOk({ cwd: withBranch.path, args: ['checkout', '--quiet', '--detach'] });
    if (!detached.ok) return gitProblem(taskId, detached.error, `cannot detach the spare ${withBranch.path} from ${branch}`);
    if (withBranch.head) await gitOk({ cwd: repoRoot, args: ['update-ref', '-d', `refs/heads/${branch}`, withBranch.head] });
    heldSpare = { ...withBranch, branch: undefined, detached: true };
    withBranch = undefined;
  }
  if (withBranch && withBranch !== atDir) {
    return problem({
      code: 'branch_checked_out_elsewhere',
      taskId,
      path: withBranch.path,
      message: `Task ${taskId}: branch ${branch} is checked out in ${withBranch.path}; check out another branch there or remove that worktree (git worktree remove ${withBranch.path}), then re-run ${taskId}`,
    });
  }

  let reused = false;
  let previousAttempt: TaskWorktree['previousAttempt'];
  if (atDir) {
    const state = await isWorkingTreeClean({ cwd: dir, ignorePaths: linkDirs });
    if (!state.ok) return gitProblem(taskId, state.error, `cannot read the status of the leftover worktree ${dir}`);
    if (!state.value.clean) {
      return problem({
        code: 'uncommitted_work',
        taskId,
        path: dir,
        paths: state.value.dirtyPaths,
        message: `Task ${taskId}: the worktree of an earlier attempt (${dir}) has uncommitted changes (${summarisePaths(state.value.dirtyPaths)}); it was kept. Commit or discard them there, or remove it with \`nx-vtm prune --force\`, then re-run ${taskId}`,
      });
    }
    const saved = await saveUnintegratedTip({ repoRoot, taskId, branch, baseSha });
    if (!saved.ok) return gitProblem(taskId, saved.error, 'cannot save the earlier attempt');
    previousAttempt = saved.value;
    const reset = await gitOk({ cwd: dir, args: ['checkout', '--quiet', '--no-track', '-B', branch, baseSha] });
    if (!reset.ok) return gitProblem(taskId, reset.error, `cannot reset the leftover worktree ${dir}`);
    reused = true;
  } else {
    if (fs.existsSync(dir)) {
      if (fs.statSync(dir).isDirectory() && fs.readdirSync(dir).length === 0) {
        fs.rmdirSync(dir);
      } else {
        return problem({
          code: 'path_occupied',
          taskId,
          path: dir,
          message: `Task ${taskId}: ${dir} exists but is not a git worktree; move it away (it may hold work of an earlier run), then re-run ${taskId}`,
        });
      }
    }
    const saved = await saveUnintegratedTip({ repoRoot, taskId, branch, baseSha });
    if (!saved.ok) return gitProblem(taskId, saved.error, 'cannot save the earlier attempt');
    previousAttempt = saved.value;
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    const spare = options.useSpare || heldSpare ? await takeSpareWorktree({ repoRoot, worktreesDir, records: records.value, dir, branch, baseSha, preferred: heldSpare }) : false;
    if (!spare) {
      const add = () => gitOk({ cwd: repoRoot, args: ['worktree', 'add', '--quiet', '--no-track', '-B', branch, dir, baseSha] });
      let added = await add();
      // A git killed inside an earlier `worktree add -B` of this task left its branch's ref lock; only this task's
      // processes write its branch, so one held open by no process is stale (seen in the kill benchmark: every later
      // attempt failed "cannot lock ref"). Found from git's own message: the common path costs nothing.
      const lock = added.ok ? undefined : staleOwnRefLock(added.error.stderr, `refs/heads/${branch}`);
      if (lock !== undefined) {
        fs.rmSync(lock, { force: true });
        await gitOk({ cwd: repoRoot, args: ['worktree', 'prune'] });
        added = await add();
      }
      if (!added.ok) return gitProblem(taskId, added.error, `cannot create the worktree ${dir}`);
    }
  }

  const linked = linkFolders({ repoRoot, dir, linkDirs });
  if (!linked.ok) {
    return problem({
      code: 'link_failed',
      taskId,
      path: dir,
      message: `Task ${taskId}: cannot symlink ${linked.error.dir} into ${dir}: ${linked.error.cause.message}`,
      cause: linked.error.cause,
    });
  }

  const ignored = await ensureLinksIgnored({ dir, linked: linked.value });
  if (!ignored.ok) return gitProblem(taskId, ignored.error, 'cannot make git ignore the linked folders');

  const worktree: TaskWorktree = { taskId, path: dir, branch, baseSha, reused, linked: linked.value, previousAttempt };
  if (setupCommand?.length && deps.runProcess) {
    fs.mkdirSync(path.dirname(setupLogFile), { recursive: true });
    const setup = await deps.runProcess({
      argv: setupCommand,
      cwd: dir,
      env: process.env,
      timeoutMs: setupTimeoutMs,
      transcriptFile: setupLogFile,
    });
    worktree.setup = setup;
    if (setup.timedOut || setup.exitCode !== 0) {
      const how = setup.timedOut ? `timed out after ${Math.round(setupTimeoutMs / 1000)} s` : `exited with ${setup.exitCode}`;
      return problem({
        code: 'setup_failed',
        taskId,
        path: dir,
        setup,
        message: `Task ${taskId}: setup command ${JSON.stringify(setupCommand.join(' '))} ${how} in ${dir}; see ${setupLogFile}`,
      });
    }
  }
  return ok(worktree);
}

/**
 * Spare worktrees: checked out ahead of need, while agents work, so that starting a task moves a ready checkout into
 * place and switches it to the task's branch (git rewrites only the files that differ from the spare's commit)
 * instead of writing every file of the repository on the critical path. They live in `<worktreesDir>/.spares/`:
 * `filling-*` while being checked out, `ready-*` once complete; only `ready-*` ones are ever taken. `nx-vtm prune`
 * removes leftovers like any task worktree.
 */
export const SPARES_DIR = '.spares';

/**
 * Removes the lock files a git process killed inside a task's worktree left behind (the agent's git, or a commit,
 * checkout or merge of ours): `index.lock` and the ref locks of the worktree's own git dir (`HEAD.lock`,
 * `ORIG_HEAD.lock`, ...), and the lock of the task's branch in the common git dir. Only the task's processes use
 * its worktree and branch, so a lock that no running process holds open is stale; left there, it fails every later
 * git command in the worktree ("Unable to create .../index.lock: File exists"), and a re-run after a kill ended the
 * task `git_failed` instead of continuing it. Returns the paths removed.
 */
export function removeStaleWorktreeLocks({ adminDir, branchLock }: { adminDir: string; branchLock?: string }): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(adminDir);
  } catch {
    return [];
  }
  const candidates = names.filter((f) => f === 'index.lock' || /^[A-Z_]+\.lock$/.test(f)).map((f) => path.join(adminDir, f));
  if (branchLock) candidates.push(branchLock);
  const removed: string[] = [];
  for (const lock of candidates) {
    if (!fs.existsSync(lock) || isFileOpenByAnyProcess(lock)) continue;
    fs.rmSync(lock, { force: true });
    removed.push(lock);
  }
  return removed;
}

/**
 * `removeStaleWorktreeLocks` for the worktree at `dir` on `branch` (one git process finds its git dirs). For an
 * attempt continued in the worktree an earlier, killed run left.
 */
export async function removeStaleLocksIn({ dir, branch }: { dir: string; branch: string }): Promise<string[]> {
  const dirs = await gitOk({ cwd: dir, args: ['rev-parse', '--path-format=absolute', '--git-dir', '--git-common-dir'] });
  if (!dirs.ok) return [];
  const [adminDir, commonDir] = dirs.value.trim().split('\n');
  if (!adminDir || !commonDir) return [];
  return removeStaleWorktreeLocks({ adminDir, branchLock: path.join(commonDir, 'refs', 'heads', `${branch}.lock`) });
}

/** Whether a worktree record is one of the spares (ready, filling or orphaned) under `worktreesDir`. Pure. */
export function isSpareRecord(record: { path: string }, worktreesDir: string): boolean {
  return samePath(path.dirname(record.path), path.join(worktreesDir, SPARES_DIR));
}

/**
 * Move a ready spare to `dir` and check out `branch` at `baseSha` there. The caller holds the worktree lock. False
 * (and the spare removed) when none is ready or it cannot be used: the caller then adds a worktree as before.
 */
async function takeSpareWorktree({
  repoRoot,
  worktreesDir,
  records,
  dir,
  branch,
  baseSha,
  preferred,
}: {
  repoRoot: string;
  worktreesDir: string;
  records: readonly WorktreeRecord[];
  dir: string;
  branch: string;
  baseSha: string;
  /** A detached spare to take first (a pre-positioned one that was not used). */
  preferred?: WorktreeRecord;
}): Promise<boolean> {
  const ready = preferred ?? records.find((r) => isSpareRecord(r, worktreesDir) && path.basename(r.path).startsWith('ready-') && !r.prunable && !r.locked && !r.branch);
  if (!ready) return false;
  const moved = await gitOk({ cwd: repoRoot, args: ['worktree', 'move', ready.path, dir] });
  if (!moved.ok) {
    await gitOk({ cwd: repoRoot, args: ['worktree', 'remove', '--force', ready.path] });
    return false;
  }
  // --force: a spare is never worked in, but anything left in it must not survive into a task's checkout.
  const switched = await gitOk({ cwd: dir, args: ['checkout', '--quiet', '--force', '--no-track', '-B', branch, baseSha] });
  // -x: a recycled spare may hold a finished task's ignored files (build output); the next task starts without them.
  const clean = switched.ok ? await gitOk({ cwd: dir, args: ['clean', '-fdqx'] }) : switched;
  if (!clean.ok) {
    await gitOk({ cwd: repoRoot, args: ['worktree', 'remove', '--force', dir] });
    return false;
  }
  return true;
}

/** A directory holding a linked worktree's `.git` file ("gitdir: ..."), registered or not. */
function isLinkedWorktreeDir(dir: string): boolean {
  try {
    return fs.readFileSync(path.join(dir, '.git'), 'utf8').startsWith('gitdir:');
  } catch {
    return false;
  }
}

export interface FillSpareWorktreesOptions {
  repoRoot: string;
  worktreesDir?: string;
  /** Commit (or ref) the spares are checked out at: the integration branch, so that switching later changes little. */
  baseRef: string;
  /** How many ready (or filling) spares to keep. */
  count: number;
  /** Runs `fn` under the workspace's worktree lock (git's worktree bookkeeping is not safe against itself). */
  withLock: <T>(fn: () => Promise<T>) => Promise<T>;
}

/**
 * Top the spares up to `count`. Only git's bookkeeping runs under the lock (`worktree add --no-checkout`, then the
 * final `worktree move` to `ready-*`); the checkout itself, the slow part, runs outside it, so a task starting
 * meanwhile never waits for a spare being filled. Returns how many were added.
 */
export async function fillSpareWorktrees({ repoRoot, worktreesDir = getDefaultWorktreesDir(repoRoot), baseRef, count, withLock }: FillSpareWorktreesOptions): Promise<Result<number, GitError>> {
  const sparesDir = path.join(worktreesDir, SPARES_DIR);
  const base = await getHeadSha({ cwd: repoRoot, ref: baseRef });
  if (!base.ok) return base;
  let added = 0;
  for (;;) {
    const made = await withLock(async (): Promise<Result<string | null, GitError>> => {
      const records = await listWorktreeRecords(repoRoot);
      if (!records.ok) return records;
      // Spares' directories git does not know (a move killed half-way): re-register them, or delete them (a spare is
      // never worked in, so nothing of anyone's is lost).
      const unknown = (fs.existsSync(sparesDir) ? fs.readdirSync(sparesDir) : []).map((d) => path.join(sparesDir, d)).filter((d) => !records.value.some((r) => samePath(r.path, d)));
      for (const d of unknown) {
        const repaired = isLinkedWorktreeDir(d) && (await gitOk({ cwd: repoRoot, args: ['worktree', 'repair', d] })).ok;
        if (!repaired) fs.rmSync(d, { recursive: true, force: true });
      }
      if (unknown.length > 0) {
        const again = await listWorktreeRecords(repoRoot);
        if (!again.ok) return again;
        records.value.splice(0, records.value.length, ...again.value);
      }
      // Pre-positioned spares belong to one task each: they do not count as spares for whoever starts next.
      const spares = records.value.filter((r) => isSpareRecord(r, worktreesDir) && !r.prunable);
      // A spare whose filler (or primer) died (its pid is in the name) would count forever and never be taken.
      const orphans = spares.filter((r) => {
        const pid = /^(?:filling|primed)-(\d+)-/.exec(path.basename(r.path))?.[1];
        return pid !== undefined && !isPidAlive(Number(pid));
      });
      const primedAlive = spares.filter((r) => isPrimedPath(r.path) && !orphans.includes(r)).length;
      for (const o of orphans) {
        const removed = await gitOk({ cwd: repoRoot, args: ['worktree', 'remove', '--force', o.path] });
        // A dead primer's spare may be on the branch it made for its task (see primeTaskWorktree): no work is on it.
        if (removed.ok && o.branch?.startsWith(TASK_BRANCH_PREFIX) && o.head) {
          await gitOk({ cwd: repoRoot, args: ['update-ref', '-d', `refs/heads/${o.branch}`, o.head] });
        }
      }
      if (spares.length - orphans.length - primedAlive >= count) return ok(null);
      fs.mkdirSync(sparesDir, { recursive: true });
      const dir = path.join(sparesDir, `filling-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
      const r = await gitOk({ cwd: repoRoot, args: ['worktree', 'add', '--quiet', '--no-checkout', '--detach', dir, base.value] });
      return r.ok ? ok(dir) : r;
    });
    if (!made.ok) return made;
    if (made.value === null) return ok(added);
    const filling = made.value;
    const checkedOut = await gitOk({ cwd: filling, args: ['reset', '--hard', '--quiet'] });
    const finished = await withLock(async (): Promise<Result<void, GitError>> => {
      if (!checkedOut.ok) {
        await gitOk({ cwd: repoRoot, args: ['worktree', 'remove', '--force', filling] });
        return checkedOut;
      }
      const r = await gitOk({ cwd: repoRoot, args: ['worktree', 'move', filling, path.join(path.dirname(filling), path.basename(filling).replace(/^filling-/, 'ready-'))] });
      return r.ok ? ok(undefined) : r;
    });
    if (!finished.ok) return finished;
    added++;
  }
}

/** Task ids become branch names; `TASK_ID_PATTERN` allows a few names git still rejects (e.g. ending in ".lock"). */
async function checkTaskId(repoRoot: string, taskId: string): Promise<WorktreeProblem | undefined> {
  const bad = (why: string): WorktreeProblem => ({
    code: 'invalid_task_id',
    taskId,
    message: `Task ${JSON.stringify(taskId)}: ${why}; rename the task_id in the manifest`,
  });
  if (!TASK_ID_PATTERN.test(taskId)) return bad('is not a valid task id');
  const r = await runGit({ cwd: repoRoot, args: ['check-ref-format', '--branch', getTaskBranch(taskId)] });
  return r.code === 0 ? undefined : bad(`"${getTaskBranch(taskId)}" is not a valid git branch name`);
}

/**
 * If `branch` exists and has commits that `baseSha` lacks, keep its tip reachable under
 * `refs/vtm/attempts/<taskId>/<sha>` before the caller resets the branch.
 */
async function saveUnintegratedTip({
  repoRoot,
  taskId,
  branch,
  baseSha,
}: {
  repoRoot: string;
  taskId: string;
  branch: string;
  baseSha: string;
}): Promise<Result<{ ref: string; sha: string } | undefined, GitError>> {
  const exists = await branchExists({ cwd: repoRoot, branch });
  if (!exists.ok) return exists;
  if (!exists.value) return ok(undefined);
  const tip = await getHeadSha({ cwd: repoRoot, ref: `refs/heads/${branch}` });
  if (!tip.ok) return tip;
  const contained = await isAncestor({ cwd: repoRoot, ancestor: tip.value, descendant: baseSha });
  if (!contained.ok) return contained;
  if (contained.value) return ok(undefined);
  const ref = `${ATTEMPTS_REF_PREFIX}${taskId}/${tip.value}`;
  const saved = await gitOk({ cwd: repoRoot, args: ['update-ref', ref, tip.value] });
  return saved.ok ? ok({ ref, sha: tip.value }) : saved;
}

/**
 * Symlink each folder of `linkDirs` that exists in the main checkout into the worktree. A path the worktree already
 * has (tracked content, or our link from an earlier attempt) is left alone.
 */
function linkFolders({
  repoRoot,
  dir,
  linkDirs,
}: {
  repoRoot: string;
  dir: string;
  linkDirs: readonly string[];
}): Result<string[], { dir: string; cause: Error }> {
  const linked: string[] = [];
  for (const rel of linkDirs) {
    const clean = rel.replace(/\/$/, '');
    const source = path.join(repoRoot, clean);
    const target = path.join(dir, clean);
    try {
      if (!fs.statSync(source, { throwIfNoEntry: false })?.isDirectory()) continue;
      const existing = fs.lstatSync(target, { throwIfNoEntry: false });
      if (existing) {
        if (existing.isSymbolicLink() && samePath(fs.realpathSync(target), source)) linked.push(clean);
        continue;
      }
      fs.mkdirSync(path.dirname(target), { recursive: true });
      // 'junction' is ignored off Windows and lets Windows users link without admin rights.
      fs.symlinkSync(source, target, 'junction');
      linked.push(clean);
    } catch (e) {
      return err({ dir: clean, cause: e as Error });
    }
  }
  return ok(linked);
}

/**
 * Make git ignore the symlinks themselves. A `.gitignore` line `node_modules/` matches directories only, so to git
 * the symlink is an untracked file: an agent's `git add -A` would commit it, and merging that commit into the main
 * checkout replaces the user's ignored node_modules folder with a symlink to itself (seen in this project's
 * tests). The pattern goes into the repository's shared `info/exclude` (local, never committed); in the main
 * checkout it only ignores a folder that is ignored already.
 */
async function ensureLinksIgnored({ dir, linked }: { dir: string; linked: readonly string[] }): Promise<Result<void, GitError>> {
  const missing: string[] = [];
  for (const rel of linked) {
    const r = await runGit({ cwd: dir, args: ['check-ignore', '-q', '--', rel] });
    if (r.code === 1) missing.push(rel);
  }
  if (missing.length === 0) return ok(undefined);
  const common = await gitOk({ cwd: dir, args: ['rev-parse', '--path-format=absolute', '--git-common-dir'] });
  if (!common.ok) return common;
  const file = path.join(common.value.trim(), 'info', 'exclude');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const lines = missing.map((rel) => `/${rel}`).join('\n');
  fs.appendFileSync(file, `\n# nx-vtm: folders symlinked into task worktrees (a symlink does not match "dir/")\n${lines}\n`);
  return ok(undefined);
}

/** Remove the symlinks `linkFolders` made (the links only; never what they point to). */
function unlinkFolders(dir: string, linkDirs: readonly string[]): void {
  for (const rel of linkDirs) {
    const target = path.join(dir, rel.replace(/\/$/, ''));
    if (fs.lstatSync(target, { throwIfNoEntry: false })?.isSymbolicLink()) fs.unlinkSync(target);
  }
}

/** One entry of `git worktree list --porcelain -z`. */
export interface WorktreeRecord {
  path: string;
  head?: string;
  /** Short branch name (without `refs/heads/`), absent when detached. */
  branch?: string;
  detached: boolean;
  bare: boolean;
  locked: boolean;
  /** Registered, but its directory is gone. */
  prunable: boolean;
}

/** Parse `git worktree list --porcelain -z` (records separated by an empty field). Pure. */
export function parseWorktreeList(out: string): WorktreeRecord[] {
  const records: WorktreeRecord[] = [];
  let cur: WorktreeRecord | undefined;
  for (const field of out.split('\0')) {
    if (field === '') {
      if (cur) records.push(cur);
      cur = undefined;
      continue;
    }
    const space = field.indexOf(' ');
    const key = space === -1 ? field : field.slice(0, space);
    const value = space === -1 ? '' : field.slice(space + 1);
    if (key === 'worktree') {
      if (cur) records.push(cur);
      cur = { path: value, detached: false, bare: false, locked: false, prunable: false };
    } else if (cur) {
      if (key === 'HEAD') cur.head = value;
      else if (key === 'branch') cur.branch = value.replace(/^refs\/heads\//, '');
      else if (key === 'detached') cur.detached = true;
      else if (key === 'bare') cur.bare = true;
      else if (key === 'locked') cur.locked = true;
      else if (key === 'prunable') cur.prunable = true;
    }
  }
  if (cur) records.push(cur);
  return records;
}

async function listWorktreeRecords(repoRoot: string): Promise<Result<WorktreeRecord[], GitError>> {
  const r = await gitOk({ cwd: repoRoot, args: ['worktree', 'list', '--porcelain', '-z'] });
  return r.ok ? ok(parseWorktreeList(r.value)) : r;
}

/** Equal paths after resolving symlinks where they exist (/tmp vs /private/tmp on macOS). */
function samePath(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return path.resolve(a) === path.resolve(b) || real(a) === real(b);
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** What is known about one task worktree. */
export interface TaskWorktreeInfo {
  taskId: string;
  path: string;
  branch?: string;
  head?: string;
  /** The directory is gone; only git's registration is left. */
  missing: boolean;
  locked: boolean;
  /** Uncommitted paths (empty when clean or missing), the linked folders not counted. */
  dirtyPaths: string[];
}

export interface ListTaskWorktreesOptions {
  repoRoot: string;
  worktreesDir?: string;
  linkDirs?: readonly string[];
}

/** Every worktree that belongs to a task: under `worktreesDir`, or on a `vtm/` branch. The main checkout never. */
export async function listTaskWorktrees({
  repoRoot,
  worktreesDir = getDefaultWorktreesDir(repoRoot),
  linkDirs = DEFAULT_LINK_DIRS,
}: ListTaskWorktreesOptions): Promise<Result<TaskWorktreeInfo[], GitError>> {
  const records = await listWorktreeRecords(repoRoot);
  if (!records.ok) return records;
  const infos: TaskWorktreeInfo[] = [];
  // The first record is always the main worktree.
  for (const r of records.value.slice(1)) {
    const onTaskBranch = r.branch?.startsWith(TASK_BRANCH_PREFIX) ?? false;
    if (!onTaskBranch && !isInside(r.path, worktreesDir) && !samePath(path.dirname(r.path), worktreesDir)) continue;
    // A spare belongs to no task yet (see SPARES_DIR); prune removes it like any other leftover.
    const spare = isSpareRecord(r, worktreesDir);
    // A pre-positioned spare is on its task's branch, but it is no attempt of that task: listed (and pruned) as a spare.
    const taskId = spare ? `(spare) ${path.basename(r.path)}` : onTaskBranch ? r.branch!.slice(TASK_BRANCH_PREFIX.length) : path.basename(r.path);
    const missing = r.prunable || !fs.existsSync(r.path);
    let dirtyPaths: string[] = [];
    if (!missing) {
      const state = await isWorkingTreeClean({ cwd: r.path, ignorePaths: linkDirs });
      if (!state.ok) return state;
      dirtyPaths = state.value.dirtyPaths;
    }
    infos.push({ taskId, path: r.path, branch: r.branch, head: r.head, missing, locked: r.locked, dirtyPaths });
  }
  return ok(infos);
}

export interface RemoveTaskWorktreeOptions {
  repoRoot: string;
  taskId: string;
  worktreesDir?: string;
  linkDirs?: readonly string[];
  /** The branch counts as merged when reachable from this ref of the main checkout. Default `HEAD`. */
  integrationRef?: string;
  /** Remove the worktree even with uncommitted changes (they are lost). Default false. */
  force?: boolean;
  /**
   * Keep a clean worktree as a spare (detached, moved to the spares) while fewer than this many are there, instead of
   * deleting its files: the next task takes it and git rewrites only what differs. Default 0.
   */
  spares?: number;
}

export interface RemovedWorktree {
  worktreeRemoved: boolean;
  branchDeleted: boolean;
  /** Why the branch was kept, when it was. */
  branchKeptReason?: string;
}

/**
 * Remove a task's worktree after success (`git worktree remove`) and delete `vtm/<taskId>` only if it is merged into
 * `integrationRef`. A worktree with uncommitted changes is kept and reported unless `force`.
 */
export async function removeTaskWorktree({
  repoRoot,
  taskId,
  worktreesDir = getDefaultWorktreesDir(repoRoot),
  linkDirs = DEFAULT_LINK_DIRS,
  integrationRef = 'HEAD',
  force = false,
  spares = 0,
}: RemoveTaskWorktreeOptions): Promise<Result<RemovedWorktree, WorktreeProblem>> {
  const branch = getTaskBranch(taskId);
  const dir = path.resolve(worktreesDir, taskId);
  const records = await listWorktreeRecords(repoRoot);
  if (!records.ok) return gitProblem(taskId, records.error, 'cannot list worktrees');
  // Only our own directory: a worktree the user made elsewhere on the same branch is theirs to remove.
  const record = records.value.slice(1).find((r) => samePath(r.path, dir));

  let worktreeRemoved = false;
  if (record && spares > 0 && (await recycleAsSpare({ repoRoot, worktreesDir, record, linkDirs, records: records.value, spares }))) {
    worktreeRemoved = true;
  } else if (record) {
    const removed = await removeRecord({ repoRoot, taskId, record, linkDirs, force });
    if (!removed.ok) return removed;
    worktreeRemoved = true;
  }
  const checkedOut = record ? records.value.filter((r) => r !== record) : records.value;
  const br = await deleteBranchIfMerged({ repoRoot, branch, integrationRef, checkedOut });
  if (!br.ok) return gitProblem(taskId, br.error, `cannot check whether ${branch} is merged`);
  return ok({ worktreeRemoved, ...br.value });
}

/**
 * Turn a finished task's clean worktree into a ready spare: detach it from the task branch (no file changes) and move
 * it to the spares. False when it is not clean, enough spares exist, or git refuses: the caller removes it instead.
 */
async function recycleAsSpare({
  repoRoot,
  worktreesDir,
  record,
  linkDirs,
  records,
  spares,
}: {
  repoRoot: string;
  worktreesDir: string;
  record: WorktreeRecord;
  linkDirs: readonly string[];
  records: readonly WorktreeRecord[];
  spares: number;
}): Promise<boolean> {
  const sparesDir = path.join(worktreesDir, SPARES_DIR);
  if (record.prunable || record.locked || !fs.existsSync(record.path)) return false;
  if (records.filter((r) => isSpareRecord(r, worktreesDir) && !r.prunable && !isPrimedPath(r.path)).length >= spares) return false;
  const state = await isWorkingTreeClean({ cwd: record.path, ignorePaths: linkDirs });
  if (!state.ok || !state.value.clean) return false;
  unlinkFolders(record.path, linkDirs);
  const detached = await gitOk({ cwd: record.path, args: ['checkout', '--quiet', '--detach'] });
  if (!detached.ok) return false;
  fs.mkdirSync(sparesDir, { recursive: true });
  const target = path.join(sparesDir, `ready-${path.basename(record.path)}-${Date.now().toString(36)}`);
  const moved = await gitOk({ cwd: repoRoot, args: ['worktree', 'move', record.path, target] });
  return moved.ok;
}

async function removeRecord({
  repoRoot,
  taskId,
  record,
  linkDirs,
  force,
}: {
  repoRoot: string;
  taskId: string;
  record: WorktreeRecord;
  linkDirs: readonly string[];
  force: boolean;
}): Promise<Result<true, WorktreeProblem>> {
  if (record.prunable || !fs.existsSync(record.path)) {
    const pruned = await gitOk({ cwd: repoRoot, args: ['worktree', 'prune'] });
    return pruned.ok ? ok(true) : gitProblem(taskId, pruned.error, 'cannot prune a stale worktree registration');
  }
  const state = await isWorkingTreeClean({ cwd: record.path, ignorePaths: linkDirs });
  if (!state.ok) return gitProblem(taskId, state.error, `cannot read the status of ${record.path}`);
  if (!state.value.clean && !force) {
    return problem({
      code: 'uncommitted_work',
      taskId,
      path: record.path,
      paths: state.value.dirtyPaths,
      message: `Task ${taskId}: worktree ${record.path} has uncommitted changes (${summarisePaths(state.value.dirtyPaths)}); it was kept. Commit or discard them, or remove it with force`,
    });
  }
  // Our symlinks are untracked files to git, which would refuse a plain remove; drop the links (never their targets).
  unlinkFolders(record.path, linkDirs);
  const args = ['worktree', 'remove', ...(force ? ['--force'] : []), record.path];
  const removed = await gitOk({ cwd: repoRoot, args });
  return removed.ok ? ok(true) : gitProblem(taskId, removed.error, `cannot remove worktree ${record.path}`);
}

async function deleteBranchIfMerged({
  repoRoot,
  branch,
  integrationRef,
  checkedOut,
  dryRun = false,
}: {
  repoRoot: string;
  branch: string;
  integrationRef: string;
  /** Worktrees still registered after any removal; a branch checked out in one of them cannot be deleted. */
  checkedOut: readonly WorktreeRecord[];
  dryRun?: boolean;
}): Promise<Result<{ branchDeleted: boolean; branchKeptReason?: string }, GitError>> {
  const holder = checkedOut.find((r) => r.branch === branch);
  if (holder) return ok({ branchDeleted: false, branchKeptReason: `checked out in ${holder.path}` });
  const exists = await branchExists({ cwd: repoRoot, branch });
  if (!exists.ok) return exists;
  if (!exists.value) return ok({ branchDeleted: false, branchKeptReason: 'no such branch' });
  const merged = await isAncestor({ cwd: repoRoot, ancestor: `refs/heads/${branch}`, descendant: integrationRef });
  if (!merged.ok) return merged;
  if (!merged.value) return ok({ branchDeleted: false, branchKeptReason: `not merged into ${integrationRef}` });
  if (dryRun) return ok({ branchDeleted: false, branchKeptReason: 'dry run' });
  // -D after our own ancestry check: -d would judge "merged" against HEAD or an upstream, not integrationRef.
  const deleted = await gitOk({ cwd: repoRoot, args: ['branch', '-D', branch] });
  return deleted.ok ? ok({ branchDeleted: true }) : deleted;
}

export interface PruneTaskWorktreesOptions extends ListTaskWorktreesOptions {
  /** Report what would happen without changing anything. */
  dryRun?: boolean;
  /** Also remove worktrees with uncommitted changes (the changes are lost). Default false. */
  force?: boolean;
  /** Tasks whose worktrees must stay (e.g. running now). */
  keepTaskIds?: readonly string[];
  /** Task branches merged into this ref are deleted. Default `HEAD` of the main checkout. */
  integrationRef?: string;
}

/** What prune did (or, in a dry run, would do) with one task's leftovers, and why. */
export interface PruneEntry {
  taskId: string;
  path?: string;
  branch?: string;
  worktree: 'removed' | 'would-remove' | 'kept' | 'none';
  branchAction: 'deleted' | 'would-delete' | 'kept' | 'none';
  /** One line: why something was kept (uncommitted paths, not merged, in use). */
  reason?: string;
}

/**
 * Clean up leftovers of earlier runs: task worktrees and `vtm/*` branches. Worktrees with uncommitted changes are
 * kept unless `force`; branches are deleted only when merged into `integrationRef`. Must not run while tasks run,
 * except for the ones listed in `keepTaskIds`.
 */
export async function pruneTaskWorktrees({
  repoRoot,
  worktreesDir = getDefaultWorktreesDir(repoRoot),
  linkDirs = DEFAULT_LINK_DIRS,
  dryRun = false,
  force = false,
  keepTaskIds = [],
  integrationRef = 'HEAD',
}: PruneTaskWorktreesOptions): Promise<Result<PruneEntry[], WorktreeProblem>> {
  const infos = await listTaskWorktrees({ repoRoot, worktreesDir, linkDirs });
  if (!infos.ok) return gitProblem('(prune)', infos.error, 'cannot list task worktrees');
  const records = await listWorktreeRecords(repoRoot);
  if (!records.ok) return gitProblem('(prune)', records.error, 'cannot list worktrees');
  const entries: PruneEntry[] = [];
  const seenBranches = new Set<string>();
  // Worktrees that stay registered (the main checkout, kept ones); their branches cannot be deleted.
  const remaining = [...records.value];
  const forget = (p: string) => {
    const i = remaining.findIndex((r) => r.path === p);
    if (i !== -1) remaining.splice(i, 1);
  };

  for (const info of infos.value) {
    if (info.branch) seenBranches.add(info.branch);
    const entry: PruneEntry = { taskId: info.taskId, path: info.path, branch: info.branch, worktree: 'kept', branchAction: 'none' };
    entries.push(entry);
    if (keepTaskIds.includes(info.taskId)) {
      entry.reason = 'task is in use';
      if (info.branch) entry.branchAction = 'kept';
      continue;
    }
    if (info.locked) {
      entry.reason = 'worktree is locked (git worktree unlock to allow removal)';
      if (info.branch) entry.branchAction = 'kept';
      continue;
    }
    if (info.dirtyPaths.length > 0 && !force) {
      entry.reason = `uncommitted changes: ${summarisePaths(info.dirtyPaths)}`;
      if (info.branch) entry.branchAction = 'kept';
      continue;
    }
    if (dryRun) {
      entry.worktree = 'would-remove';
      if (info.dirtyPaths.length > 0) entry.reason = `force: uncommitted changes would be lost: ${summarisePaths(info.dirtyPaths)}`;
    } else {
      const record = records.value.find((r) => r.path === info.path);
      if (record) {
        const removed = await removeRecord({ repoRoot, taskId: info.taskId, record, linkDirs, force });
        if (!removed.ok) return removed;
      }
      entry.worktree = 'removed';
    }
    forget(info.path);
    if (info.branch?.startsWith(TASK_BRANCH_PREFIX)) {
      const br = await deleteBranchIfMerged({ repoRoot, branch: info.branch, integrationRef, checkedOut: remaining, dryRun });
      if (!br.ok) return gitProblem(info.taskId, br.error, `cannot check whether ${info.branch} is merged`);
      setBranchOutcome(entry, br.value, dryRun);
    }
  }

  // Task branches without a worktree (their worktree was removed, the branch kept as unmerged, or made by hand).
  const refs = await gitOk({ cwd: repoRoot, args: ['for-each-ref', '--format=%(refname:short)', `refs/heads/${TASK_BRANCH_PREFIX}`] });
  if (!refs.ok) return gitProblem('(prune)', refs.error, 'cannot list task branches');
  for (const branch of refs.value.split('\n').filter(Boolean)) {
    if (seenBranches.has(branch)) continue;
    const taskId = branch.slice(TASK_BRANCH_PREFIX.length);
    const entry: PruneEntry = { taskId, branch, worktree: 'none', branchAction: 'kept' };
    entries.push(entry);
    if (keepTaskIds.includes(taskId)) {
      entry.reason = 'task is in use';
      continue;
    }
    const br = await deleteBranchIfMerged({ repoRoot, branch, integrationRef, checkedOut: remaining, dryRun });
    if (!br.ok) return gitProblem(taskId, br.error, `cannot check whether ${branch} is merged`);
    setBranchOutcome(entry, br.value, dryRun);
  }
  return ok(entries);
}

function setBranchOutcome(
  entry: PruneEntry,
  outcome: { branchDeleted: boolean; branchKeptReason?: string },
  dryRun: boolean,
): void {
  if (outcome.branchDeleted) entry.branchAction = 'deleted';
  else if (dryRun && outcome.branchKeptReason === 'dry run') entry.branchAction = 'would-delete';
  else {
    entry.branchAction = 'kept';
    entry.reason = [entry.reason, `branch ${outcome.branchKeptReason}`].filter(Boolean).join('; ');
  }
}

/**
 * Pre-positioned worktrees (issue 12: a dependency's integration -> its dependent's agent start). A spare checked out
 * for one task before that task is claimed: while its last dependency is verified, a spare is moved to
 * `<worktreesDir>/.spares/primed-<pid>-<taskId>-<rand>` and checked out (detached) at the dependency's saved commit,
 * whose tree the integration branch will have after that dependency's merge if nothing else is merged first; right
 * after the merge it is put on `vtm/<taskId>` at the new integration tip (`git checkout -b`: the tree is the same, no
 * file is written). The claim then only verifies it and moves it into place (`takePrimedWorktree`: one git process).
 *
 * It stays a spare until taken: it lives under the spares (`isSpareRecord`), no stage of the task is recorded, and
 * `nx-vtm prune` removes it (its branch is merged: deleted). A crash leaves a clean spare on `vtm/<taskId>` at a
 * commit of the integration branch; `createTaskWorktree` detaches such a spare and uses it as any other spare, and
 * the branch, contained in the base, holds no work to save.
 */
export const PRIMED_PREFIX = 'primed-';

/** A worktree pre-positioned for one task. */
export interface PrimedWorktree {
  taskId: string;
  path: string;
  /** The commit it is checked out at. */
  sha: string;
  /** On `vtm/<taskId>` at `sha` (after `positionPrimedWorktree`); detached before. */
  onBranch: boolean;
}

/** Whether a worktree directory is a pre-positioned one (see PRIMED_PREFIX). Pure. */
export const isPrimedPath = (p: string): boolean => path.basename(p).startsWith(PRIMED_PREFIX);

export interface PrimeTaskWorktreeOptions {
  repoRoot: string;
  worktreesDir?: string;
  taskId: string;
  /** What to check out (detached): the dependency's saved commit. */
  sha: string;
  linkDirs?: readonly string[];
  /** Runs `fn` under the workspace's worktree lock. */
  withLock: <T>(fn: () => Promise<T>) => Promise<T>;
}

/**
 * Check out a spare for `taskId` at `sha`, detached, cleaned and linked, under the spares. Takes a ready spare when
 * there is one (git rewrites only what differs), or adds one. Refuses (an error, nothing changed) when `vtm/<taskId>`
 * exists: that branch may hold an earlier attempt's work or a conflict the user merged by hand, which only a claimed
 * attempt may judge.
 */
export async function primeTaskWorktree({
  repoRoot,
  worktreesDir = getDefaultWorktreesDir(repoRoot),
  taskId,
  sha,
  linkDirs = DEFAULT_LINK_DIRS,
  withLock,
}: PrimeTaskWorktreeOptions): Promise<Result<PrimedWorktree, string>> {
  const idProblem = await checkTaskId(repoRoot, taskId);
  if (idProblem) return err(idProblem.message);
  const exists = await branchExists({ cwd: repoRoot, branch: getTaskBranch(taskId) });
  if (!exists.ok) return err(exists.error.message);
  if (exists.value) return err(`${getTaskBranch(taskId)} exists (an earlier attempt's branch is judged by a claimed attempt only)`);
  const sparesDir = path.join(worktreesDir, SPARES_DIR);
  const dir = path.join(sparesDir, `${PRIMED_PREFIX}${process.pid}-${taskId}-${Math.random().toString(36).slice(2, 8)}`);
  const placed = await withLock(async (): Promise<Result<'moved' | 'added', string>> => {
    const records = await listWorktreeRecords(repoRoot);
    if (!records.ok) return err(records.error.message);
    fs.mkdirSync(sparesDir, { recursive: true });
    const ready = records.value.find((r) => isSpareRecord(r, worktreesDir) && path.basename(r.path).startsWith('ready-') && !r.prunable && !r.locked && !r.branch);
    if (ready && (await gitOk({ cwd: repoRoot, args: ['worktree', 'move', ready.path, dir] })).ok) return ok('moved');
    const added = await gitOk({ cwd: repoRoot, args: ['worktree', 'add', '--quiet', '--no-checkout', '--detach', dir, sha] });
    return added.ok ? ok('added') : err(added.error.message);
  });
  if (!placed.ok) return placed;
  // Outside the lock: the checkout is the slow part, and no one else takes a primed-* spare.
  const checkedOut =
    placed.value === 'added'
      ? await gitOk({ cwd: dir, args: ['reset', '--hard', '--quiet'] })
      : await gitOk({ cwd: dir, args: ['checkout', '--quiet', '--force', '--detach', sha] });
  const cleaned = checkedOut.ok ? await gitOk({ cwd: dir, args: ['clean', '-fdqx'] }) : checkedOut;
  const linked = cleaned.ok ? linkFolders({ repoRoot, dir, linkDirs }) : undefined;
  const ignored = linked?.ok ? await ensureLinksIgnored({ dir, linked: linked.value }) : undefined;
  if (!ignored?.ok) {
    await withLock(() => gitOk({ cwd: repoRoot, args: ['worktree', 'remove', '--force', dir] }));
    const why = !cleaned.ok ? cleaned.error.message : linked && !linked.ok ? linked.error.cause.message : ignored && !ignored.ok ? ignored.error.message : 'unknown';
    return err(`cannot check out the pre-positioned worktree of ${taskId}: ${why}`);
  }
  return ok({ taskId, path: dir, sha, onBranch: false });
}

/**
 * Put a primed worktree on `vtm/<taskId>` at `tip` (the integration branch right after the dependency's merge):
 * `git checkout --force -b`, which writes only the files `tip` changes (none when nothing else was merged meanwhile)
 * and fails, changing nothing, if the branch exists (another process's claim made it). Under the worktree lock, like
 * every change of a branch's checkout.
 */
export async function positionPrimedWorktree({
  repoRoot,
  primed,
  tip,
  withLock,
}: {
  repoRoot: string;
  primed: PrimedWorktree;
  tip: string;
  withLock: <T>(fn: () => Promise<T>) => Promise<T>;
}): Promise<Result<PrimedWorktree, string>> {
  const branch = getTaskBranch(primed.taskId);
  const moved = await withLock(() =>
    gitOk({ cwd: primed.path, args: ['checkout', '--quiet', '--force', '--no-track', primed.onBranch ? '-B' : '-b', branch, tip] }),
  );
  return moved.ok ? ok({ ...primed, sha: tip, onBranch: true }) : err(moved.error.message);
}

/** Why a primed worktree cannot be taken as the task's worktree; undefined when it can. Pure. */
export function judgePrimedWorktree({
  primed,
  taskId,
  baseSha,
  branchSha,
  headRef,
  dirExists,
}: {
  primed: PrimedWorktree;
  taskId: string;
  /** The integration branch's tip now (the base the task must start from). */
  baseSha: string;
  /** `vtm/<taskId>`'s tip now (undefined: no such branch). */
  branchSha: string | undefined;
  /** What the primed worktree's HEAD file holds (undefined: unreadable, i.e. the worktree is gone). */
  headRef: string | undefined;
  /** Whether the task's worktree directory already exists. */
  dirExists: boolean;
}): string | undefined {
  if (primed.taskId !== taskId) return `it was prepared for ${primed.taskId}`;
  if (!primed.onBranch) return 'it was never put on the task branch (the dependency was not merged by this process)';
  if (headRef === undefined) return 'it is gone';
  if (baseSha !== primed.sha) return `the integration branch moved since (${primed.sha.slice(0, 8)} -> ${baseSha.slice(0, 8)})`;
  if (headRef !== `ref: refs/heads/${getTaskBranch(taskId)}`) return `its HEAD is not ${getTaskBranch(taskId)}`;
  if (branchSha !== primed.sha) return `${getTaskBranch(taskId)} is at ${branchSha?.slice(0, 8) ?? 'nothing'}, not at ${primed.sha.slice(0, 8)}`;
  if (dirExists) return 'the task worktree directory exists already';
  return undefined;
}

/**
 * A branch's tip read from git's loose ref file (`<common dir>/refs/heads/<name>`), without starting git: a loose ref
 * is what git writes on every update and it takes precedence over `packed-refs`. Undefined when there is no loose
 * file (packed refs, the reftable backend, a linked-worktree checkout): the caller asks git.
 */
export function readLooseBranchSha(repoRoot: string, branch: string): string | undefined {
  try {
    const gitDir = path.join(repoRoot, '.git');
    if (!fs.statSync(gitDir).isDirectory()) return undefined;
    const text = fs.readFileSync(path.join(gitDir, 'refs', 'heads', ...branch.split('/')), 'utf8').trim();
    return /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/** The HEAD file of a linked worktree (`ref: refs/heads/...` or a sha), or undefined when unreadable. */
function readWorktreeHead(dir: string): string | undefined {
  try {
    const gitFile = fs.readFileSync(path.join(dir, '.git'), 'utf8').trim();
    if (!gitFile.startsWith('gitdir:')) return undefined;
    const adminDir = path.resolve(dir, gitFile.slice('gitdir:'.length).trim());
    return fs.readFileSync(path.join(adminDir, 'HEAD'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

async function readBranchSha(repoRoot: string, branch: string): Promise<string | undefined> {
  const loose = readLooseBranchSha(repoRoot, branch);
  if (loose) return loose;
  const r = await getHeadSha({ cwd: repoRoot, ref: `refs/heads/${branch}` });
  return r.ok ? r.value : undefined;
}

/**
 * The claim's side: take a primed worktree as the task's worktree when it is exactly what `createTaskWorktree` would
 * make (on `vtm/<taskId>` at the integration branch's tip, cleaned and linked when it was primed): one `git worktree
 * move` into place. A reason (and nothing changed) otherwise; the caller then creates the worktree as usual, which
 * detaches the primed one and uses it as a spare. The caller holds the worktree lock.
 */
export async function takePrimedWorktree({
  repoRoot,
  worktreesDir = getDefaultWorktreesDir(repoRoot),
  taskId,
  baseRef,
  primed,
  linkDirs = DEFAULT_LINK_DIRS,
}: {
  repoRoot: string;
  worktreesDir?: string;
  taskId: string;
  baseRef: string;
  primed: PrimedWorktree;
  linkDirs?: readonly string[];
}): Promise<Result<TaskWorktree, string>> {
  const dir = path.resolve(worktreesDir, taskId);
  const branch = getTaskBranch(taskId);
  const baseSha = await readBranchSha(repoRoot, baseRef.replace(/^refs\/heads\//, ''));
  if (!baseSha) return err(`cannot read ${baseRef}`);
  const why = judgePrimedWorktree({
    primed,
    taskId,
    baseSha,
    branchSha: await readBranchSha(repoRoot, branch),
    headRef: readWorktreeHead(primed.path),
    dirExists: fs.existsSync(dir),
  });
  if (why) return err(why);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const moved = await gitOk({ cwd: repoRoot, args: ['worktree', 'move', primed.path, dir] });
  if (!moved.ok) return err(moved.error.message);
  // The links were made (and their ignore patterns written to the shared info/exclude) when it was primed; they moved
  // with it. linkFolders only reads them back (and re-makes one deleted meanwhile).
  const linked = linkFolders({ repoRoot, dir, linkDirs });
  if (!linked.ok) return err(linked.error.cause.message);
  return ok({ taskId, path: dir, branch, baseSha, reused: false, primed: true, linked: linked.value });
}
