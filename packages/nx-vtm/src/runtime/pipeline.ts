/**
 * One task attempt, end to end, once it holds its claim, as durable stages:
 *
 *   worktree -> agent -> saved -> audited -> verified -> integrated -> (recorded by the caller)
 *
 * Each stage ends with a compare-and-set on the claim in the store (`AttemptPort.advance`): a process whose claim was
 * lost learns it there and stops before its next side effect (no commit, merge, state or cache write). What a stage
 * produced (the worktree, the agent's outcome, the commit, the audit, the verification, the integration) is stored
 * with it, so a run killed at any instant continues where it was: an agent whose run finished is never called again
 * for that attempt, and a merge that happened before the crash is recognised and recorded without calling anything.
 *
 * The verdict comes from the diff and the tests, never from the agent's word. The agent's work is first saved as a
 * commit on `vtm/<id>`; the audit (and `files_modified`) is the diff of exactly that commit against the base, the tests
 * run on it, and that very commit, not whatever the branch or the worktree holds later, is what gets merged. Anything
 * written after the save (a test that creates files, a process the agent left behind, a branch switch) never reaches
 * the integration branch unaudited. Failures keep the worktree (never delete work); success removes it.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Task } from '../manifest/schema';
import type { PluginOptions } from '../config/plugin-options';
import type { AttemptProgress, TaskOutcome } from '../state/task-record';
import type { AgentOutcome } from '../agents/outcome';
import type { AgentConfig } from '../agents/config';
import type { DependencyHandoff } from '../agents/handoff';
import { resolveAgentConfig } from '../agents/routing';
import { runAgent, type AgentAdoption, type AgentProcessRun, type RepairTurnInput } from '../agents/run-agent';
import { isRepairable, trimEvidence, type RepairEvidence, type RepairKind } from '../agents/repair-prompt';
import { getIdentityEnv } from '../workspace/identity';
import { agentProcessTag, runProcess } from '../agents/process-runner';
import { createTaskWorktree, getTaskBranch, removeStaleLocksIn, removeTaskWorktree, type PrimedWorktree } from '../workspace/worktree';
import { auditScope, buildTaskChanges, collectCommittedChanges, formatScopeViolation, type ScopeAudit } from '../workspace/audit';
import { runVerification, type VerificationResult } from '../workspace/verify';
import { commitTaskWork, integrateTaskBranch } from '../workspace/integrate';
import { gitOk, getHeadSha, isAncestor, parsePorcelainStatus, runGit, summarisePaths } from '../workspace/git';
import { commitWorkingTree, saveRef } from '../workspace/work-commit';
import { createSqliteLock } from '../workspace/sqlite-lock';
import { fetchBranch, pushBranch, syncFromRemote, trackingRef } from '../workspace/remote';
import type { LockPort } from '../workspace/ports';
import { resolveCoordinatorUrl } from '../state/db/coordinator-options';
import { getVerificationCommand } from './verification';
import { failpoint } from './failpoint';
import { readHostId } from '../state/process-identity';
import { runSharedCheckoutStages } from './shared-checkout';
import { recordAgentRun, settleInterruptedAgent } from './agent-adoption';
import { readCheckoutChanges, settleCheckout } from './stray-writes';

export const RESULTS_DIR = '.vtm/results';

/** The lock worktree creation and removal run under (same lock file as integration, so they also exclude merges). */
const WORKTREE_LOCK = 'worktrees';

/** Run `fn` under the workspace's cross-process lock (`.vtm/locks.db`, the file integration locks). */
export function withWorktreeLock<T>(workspaceRoot: string, fn: () => Promise<T>): Promise<T> {
  return createSqliteLock({ file: join(workspaceRoot, '.vtm', 'locks.db') }).withLock(WORKTREE_LOCK, fn);
}

/**
 * After an agent's spawn, how long background work (clean-ups, the spare refill) keeps off the CPU: the agent process
 * is still starting (bench:schedule, load 10 on 2 cores: spawn -> the agent's first action 250-550 ms, the largest
 * part of a handoff), and that work has the whole agent run to get done.
 */
export const AGENT_STARTUP_GRACE_MS = 600;
/** How long a clean-up waits for the next task's checkout to go first (see `yieldToNextCheckout`). */
const CLEANUP_YIELD_MS = 2_000 + AGENT_STARTUP_GRACE_MS;

/** Worktree clean-ups started after a task's outcome was recorded, still running (runTurn, once the outcome is recorded). */
const cleanups = new Set<Promise<void>>();

function trackCleanup(p: Promise<void>): void {
  cleanups.add(p);
  void p.finally(() => cleanups.delete(p));
}

/** Resolved when this process's next task's agent is started, or its worktree failed (see `yieldToNextCheckout`). */
let checkoutDone: { promise: Promise<void>; resolve: () => void } | undefined;
function noteCheckoutDone(): void {
  checkoutDone?.resolve();
  checkoutDone = undefined;
}

/**
 * Lets the next task's checkout take the worktree lock before a clean-up does: a finished task's dependents start
 * right after its outcome is recorded, and a clean-up that took the lock first made them wait for it (bench:schedule:
 * claim -> worktree ready doubled). Waits until this process's next agent is started, at most `ms`: a clean-up
 * (and its git processes) between the checkout and the agent's spawn took the CPU from the agent's start-up too.
 */
function yieldToNextCheckout(ms: number): Promise<void> {
  if (!checkoutDone) {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    checkoutDone = { promise, resolve };
  }
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([checkoutDone.promise, new Promise<void>((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
}

/** Resolves once every background worktree clean-up of this process has ended (a run waits for it before it ends). */
export async function settleWorktreeCleanups(): Promise<void> {
  // No checkout follows: the clean-ups need not wait for one.
  noteCheckoutDone();
  while (cleanups.size > 0) await Promise.all([...cleanups]);
}

/**
 * The integration lock: this checkout's (`.vtm/locks.db`), and, when the integration branch is shared through a remote
 * and the coordinator is PostgreSQL, also the namespace's advisory lock, so machines merge and push one at a time
 * (the local lock first: one connection per machine waits, not one per process).
 */
export function getIntegrationLock(workspaceRoot: string, options: PluginOptions): LockPort | undefined {
  const coordinator = options.coordinator;
  if (!options.remote || coordinator.type !== 'postgres') return undefined;
  const local = createSqliteLock({ file: join(workspaceRoot, '.vtm', 'locks.db') });
  return {
    withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
      return local.withLock(name, () => {
        const url = resolveCoordinatorUrl(coordinator.url);
        if (!url.ok) throw new Error(url.error);
        // Loaded only when asked for, like the store (coordinator.ts): the pg worker is never loaded on SQLite.
        const { createPostgresLock } = require('../state/db/postgres') as typeof import('../state/db/postgres');
        return createPostgresLock({ url: url.value, namespace: coordinator.namespace }).withLock(name, fn);
      });
    },
  };
}

/** Where a task's audit trail lives, and the subfolder Nx caches as the implement target's output. */
export function getResultPaths(workspaceRoot: string, taskId: string) {
  const dir = join(workspaceRoot, RESULTS_DIR, taskId);
  return { dir, outcomeDir: join(dir, 'outcome') };
}

/** The stages of an attempt, in order. Each name is recorded once the stage is complete. */
export const STAGES = ['worktree', 'agent', 'saved', 'audited', 'verified', 'integrated'] as const;
export type Stage = (typeof STAGES)[number];

/** Index of a recorded stage name (-1 for none or a name this version does not know: start over). */
export const stageIndex = (stage: string | null | undefined): number => (stage ? STAGES.indexOf(stage as Stage) : -1);

/** The attempt's claim in the store, as the pipeline sees it. */
export interface AttemptPort {
  /** The attempt's recorded progress (continued from a dead owner's claim of the same task version, or our own). */
  progress(): AttemptProgress | null;
  /** Record that `stage` completed with `data`; false when the claim is lost (stop before any further side effect). */
  advance(stage: Stage, data: Record<string, unknown>): boolean;
  /** Whether the claim is still held: asked right before the merge, inside the integration lock. */
  holds(): boolean;
  /**
   * The turn's work is verified and enters the merge queue: free the WIP slot while it waits and is tested on the
   * merged result (the claim keeps its scope). Absent: slots are not tracked (a single pipeline in a spec).
   */
  park?(): void;
  /** Take a WIP slot back before a repair turn's agent starts (waits for one); false when the claim is lost. */
  takeSlot?(): Promise<boolean>;
}

export interface PipelineInput {
  workspaceRoot: string;
  task: Task;
  options: PluginOptions;
  runId: string;
  /** The branch tasks start from and merge into (checked out in the main checkout). */
  integrationBranch: string;
  /** Workspace-relative state file (not user work when checking a checkout for uncommitted changes). */
  stateFile: string;
  /** The claim: durable stages, compare-and-set on its fence. */
  attempt: AttemptPort;
  /** Aborted when the claim is lost or the run is stopped: the agent's process group is killed. */
  signal?: AbortSignal;
  /** Called with the agent's pid (its process group), so a later reclaimer can kill an orphan. */
  onAgentSpawn?: (pid: number) => void;
  /**
   * Called with the keeper's pid just before it is asked to start the agent: until the agent's pid comes back, the
   * keeper stands for it (it holds the agent meanwhile).
   */
  onAgentStarting?: (keeperPid: number) => void;
  /** A progress line for the task's output. */
  log: (line: string) => void;
  /**
   * isolation "none": paths other tasks own in the shared checkout: the file scopes (and test files) of the tasks
   * running now, and the files recorded by tasks that finished since `sinceMs` (a blocked task's leftovers).
   */
  getPathsOwnedElsewhere?: (sinceMs: number) => string[];
  /** Called when the task's worktree is in place (a spare may have been used: the runner checks out another). */
  onWorktreeReady?: () => void;
  /** Called when the agent is about to start: what the task's finished dependencies did, for its prompt. */
  getHandoffs?: () => readonly DependencyHandoff[];
  /** Called when the task's work is saved as `sha` (its dependents' worktrees can be pre-positioned at its tree). */
  onWorkSaved?: (sha: string) => void;
  /** Called right after the task's work was merged and the integration branch is at `tip`. */
  onIntegrated?: (tip: string) => void;
  /**
   * The merge queue built the merge commit `sha` and tests it, holding the integration lock: resolves when what it
   * started under that lock is done (it must not outlive the lock). Never rejects.
   */
  onMergeCommit?: (sha: string) => Promise<void>;
  /** The worktree pre-positioned for this task, if any (runtime/prepositions.ts). */
  takePrimedWorktree?: () => Promise<PrimedWorktree | undefined>;
}

export interface PipelineResult {
  /** What the task store records. */
  outcome: TaskOutcome;
  /** The agent's normalised outcome, when it ran (or ran in the attempt this one continues). */
  agent?: AgentOutcome;
  /** One line for the user: what happened. */
  summary: string;
  /** The claim was lost: nothing may be recorded by this process (the new owner does it). */
  claimLost?: boolean;
}

export const blocked = (reason: string, error: string, extra: Partial<TaskOutcome> = {}): TaskOutcome => ({
  status: 'blocked',
  reason,
  error,
  ...extra,
});

export const lostClaim = (taskId: string, stage: string): PipelineResult => ({
  claimLost: true,
  outcome: blocked('claim_lost', `Task ${taskId}: claim lost before stage ${stage}; stopped (another process owns the task now)`),
  summary: `claim lost before stage ${stage}; stopped without further changes`,
});

/** Map an agent's own non-success to the state's reason codes. */
function agentFailureReason(agent: AgentOutcome): string {
  switch (agent.status) {
    case 'failed':
      return 'agent_failed';
    case 'partial':
      return 'agent_partial';
    case 'blocked':
      return 'agent_blocked';
    default:
      return agent.status; // timed_out, stalled, rate_limited, budget_exceeded, permission_denied
  }
}

export function costOf(agent: AgentOutcome | undefined) {
  if (!agent) return undefined;
  return {
    adapter: agent.adapter,
    usd: agent.costUsd ?? null,
    tokens: agent.tokens ?? null,
    session_id: agent.sessionId ?? null,
    attempts: agent.attempts ?? 1,
    duration_ms: agent.durationMs,
  };
}

/**
 * The agent stage's side effect: run the task's agent in `cwd`, logging its start and end; or, with `adopt`, take
 * over the agent an interrupted attempt started (it is not run again). The agent's record for a later adoption goes
 * to the task's result folder (`recordAgentRun`).
 */
export async function runStageAgent({
  input,
  config,
  cwd,
  dir,
  repair,
  adopt,
}: {
  input: PipelineInput;
  config: { config: AgentConfig; fallback?: AgentConfig };
  cwd: string;
  dir: string;
  repair?: RepairTurnInput;
  adopt?: AgentAdoption;
}): Promise<AgentOutcome> {
  const { config: c } = config;
  const id = input.task.task_id;
  if (adopt) {
    input.log(
      `the agent of the interrupted attempt (${adopt.pid !== undefined ? `pid ${adopt.pid}` : `started by keeper pid ${adopt.keeperPid}`}) ${adopt.isAlive() ? 'is still running: waiting for it' : 'has finished'}; its run is taken over, not repeated`,
    );
    setTimeout(noteCheckoutDone, AGENT_STARTUP_GRACE_MS).unref();
    // Recorded with the claim like a started agent: if this process dies too, the next one adopts it the same way.
    input.onAgentSpawn?.(adopt.pid ?? adopt.keeperPid);
  } else {
    const what = repair ? ` for repair turn ${repair.turn} of ${repair.maxTurns}${repair.resumeSessionId && repair.previousAdapter === c.adapter ? ' (resuming its session)' : ''}` : '';
    input.log(`agent ${c.adapter}${c.model ? ` (${c.model})` : ''} started${what}${cwd === input.workspaceRoot ? ' in the shared checkout' : ''}`);
  }
  /** The record a later process adopts the agent by (see agent-adoption.ts); failing to write it loses only that. */
  const recordRun = (pid: number | undefined, keeperPid: number | undefined, run: AgentProcessRun) => {
    try {
      recordAgentRun({ dir: getResultPaths(input.workspaceRoot, id).dir, taskId: id, runId: input.runId, turn: repair?.turn ?? 1, pid, keeperPid, run });
    } catch (e) {
      // Said once: the record before the start fails the same way as the one after it.
      if (pid !== undefined) input.log(`could not record the agent's run for a later adoption (${(e as Error).message}); if this process dies, the agent is run again`);
    }
  };
  const agent = await runAgent({
    task: input.task,
    config: c,
    fallback: config.fallback,
    cwd,
    runId: input.runId,
    resultDir: dir,
    workspaceRoot: input.workspaceRoot,
    signal: input.signal,
    // Before the agent starts: a process that dies before its pid comes back still leaves a way to it.
    onKeeperStart: (run, keeperPid) => {
      recordRun(undefined, keeperPid, run);
      input.onAgentStarting?.(keeperPid);
    },
    onSpawn: (pid, run, keeperPid) => {
      // Dead here, this process has not recorded the agent's pid: the keeper's record of the start is the way to it.
      failpoint('agent-spawned', id);
      recordRun(pid, keeperPid, run);
      // The clean-ups waiting for this process's next task (see yieldToNextCheckout) go once its agent has started.
      setTimeout(noteCheckoutDone, AGENT_STARTUP_GRACE_MS).unref();
      input.onAgentSpawn?.(pid);
    },
    repair,
    adopt,
    handoffs: input.getHandoffs?.(),
    processTag: agentProcessTag(id, input.runId),
  });
  input.log(`agent ${agent.status}: ${agent.reason}`);
  if (agent.escapedKilled) input.log(`killed ${agent.escapedKilled} process${agent.escapedKilled === 1 ? '' : 'es'} the agent left running outside its process group (they could change the task's files after its work is saved)`);
  return agent;
}

/** The blocked result of an agent run that did not complete (its own failure, limit, timeout...). */
export function agentNotCompleted({ task, agent, extra }: { task: Task; agent: AgentOutcome; extra: Partial<TaskOutcome> }): PipelineResult {
  return {
    agent,
    outcome: blocked(agentFailureReason(agent), agent.reason, {
      cost: costOf(agent),
      agent_status: agent.status,
      ...extra,
      ...judgeAcceptanceCriteria(task, agent),
      blockers: agent.reported?.blockers ?? [],
      ...(agent.resetAt ? { reset_at: agent.resetAt } : {}),
    }),
    summary: agent.reason,
  };
}

/**
 * What the agent said about the acceptance criteria, never more: done = reported done; remaining = reported not done;
 * not reported = neither (nobody claimed them, so they are not counted as done). Pure.
 */
export function judgeAcceptanceCriteria(task: Task, agent: AgentOutcome | undefined) {
  const all = task.acceptance_criteria.map((a) => a.id);
  const done = all.filter((a) => agent?.reported?.acs_completed.includes(a));
  const remaining = all.filter((a) => !done.includes(a) && agent?.reported?.acs_remaining.includes(a));
  const notReported = all.filter((a) => !done.includes(a) && !remaining.includes(a));
  return { acs_completed: done, acs_remaining: remaining, acs_not_reported: notReported };
}

/** Merge the branches `vtm/<dep>` of the task's dependencies that exist and are not yet in the worktree's HEAD. */
async function mergeDependencyBranches({ cwd, task, remote }: { cwd: string; task: Task; remote?: string }): Promise<{ ok: true; value: string[] } | { ok: false; error: string }> {
  const merged: string[] = [];
  for (const dep of task.depends_on_tasks) {
    const branch = `vtm/${dep}`;
    // With a shared remote the dependency may have run on another machine: its pushed branch is the one it completed
    // with (a local branch of the same name may be an older attempt's).
    let ref = `refs/heads/${branch}`;
    if (remote) {
      const fetched = await fetchBranch({ cwd, remote, branch });
      if (!fetched.ok) return { ok: false, error: `Task ${task.task_id}: cannot fetch its dependency branch ${branch}: ${fetched.error.message}` };
      if (fetched.value) ref = trackingRef(remote, branch);
    }
    const exists = await gitOk({ cwd, args: ['rev-parse', '--verify', '--quiet', ref] });
    if (!exists.ok) continue;
    const contained = await gitOk({ cwd, args: ['merge-base', '--is-ancestor', ref, 'HEAD'] });
    if (contained.ok) continue;
    const m = await gitOk({ cwd, args: ['merge', '--no-ff', '--no-edit', '-m', `Merge ${branch} (dependency of ${task.task_id})`, ref] });
    if (!m.ok) {
      await gitOk({ cwd, args: ['merge', '--abort'] });
      return { ok: false, error: `Task ${task.task_id}: its dependency branch ${branch} does not merge cleanly into vtm/${task.task_id}; merge the dependency branches first` };
    }
    merged.push(branch);
  }
  return { ok: true, value: merged };
}

/**
 * Save a worktree's uncommitted work (untracked files included) as a commit under
 * `refs/vtm/attempts/<id>/uncommitted-<time>`, then clean the worktree. A commit of a private index, not `git stash`:
 * the stash stack is shared by every worktree of the repository (pushing and dropping `stash@{0}` can hit the user's
 * stash or another task's).
 */
export async function saveLeftoverWork({ worktree, taskId }: { worktree: string; taskId: string }): Promise<{ ok: true; value: string } | { ok: false; error: string }> {
  const head = await getHeadSha({ cwd: worktree });
  if (!head.ok) return { ok: false, error: head.error.message };
  const commit = await commitWorkingTree({ cwd: worktree, parent: head.value, message: `nx-vtm: uncommitted work of an interrupted attempt of ${taskId}\n` });
  if (!commit.ok) return { ok: false, error: commit.error.message };
  if (commit.value) {
    const ref = `refs/vtm/attempts/${taskId}/uncommitted-${Date.now()}`;
    const saved = await saveRef({ cwd: worktree, ref, sha: commit.value });
    if (!saved.ok) return { ok: false, error: saved.error.message };
    const reset = await gitOk({ cwd: worktree, args: ['reset', '--hard', '--quiet'] });
    if (!reset.ok) return { ok: false, error: reset.error.message };
    const clean = await gitOk({ cwd: worktree, args: ['clean', '-fdq'] });
    if (!clean.ok) return { ok: false, error: clean.error.message };
    return { ok: true, value: ref };
  }
  return { ok: true, value: '(nothing to save)' };
}

/**
 * The worktree must still be on `vtm/<id>`, grown from the base: an agent (or a process it left behind, or a test)
 * that switched branches, detached HEAD or reset the branch would otherwise have its commits merged from the wrong
 * place, or lost. Everything found there is kept under a ref named in the message.
 */
async function checkTaskBranch({
  cwd,
  taskId,
  baseSha,
  pendingMerge = false,
}: {
  cwd: string;
  taskId: string;
  baseSha: string;
  /** Before the save: a merge of the base in progress (a repair turn resolving a conflict) counts as containing it. */
  pendingMerge?: boolean;
}): Promise<{ ok: true; head: string } | { ok: false; message: string; ref?: string }> {
  const branch = getTaskBranch(taskId);
  const sym = await runGit({ cwd, args: ['symbolic-ref', '-q', 'HEAD'] });
  const head = await getHeadSha({ cwd });
  if (!head.ok) return { ok: false, message: `Task ${taskId}: cannot read HEAD in ${cwd}: ${head.error.message}` };
  const attached = sym.code === 0 && sym.stdout.trim() === `refs/heads/${branch}`;
  const mergeHead = pendingMerge ? await getHeadSha({ cwd, ref: 'MERGE_HEAD' }) : undefined;
  const grown = mergeHead?.ok && mergeHead.value === baseSha ? { ok: true as const, value: true } : await isAncestor({ cwd, ancestor: baseSha, descendant: head.value });
  if (attached && grown.ok && grown.value) return { ok: true, head: head.value };
  const where = sym.code === 0 ? sym.stdout.trim().replace(/^refs\/heads\//, '') : 'a detached HEAD';
  const kept = await commitWorkingTree({ cwd, parent: head.value, message: `nx-vtm: work of ${taskId} found on ${where}\n` });
  const keptSha = kept.ok && kept.value ? kept.value : head.value;
  const ref = `refs/vtm/attempts/${taskId}/moved-${Date.now()}`;
  await saveRef({ cwd, ref, sha: keptSha });
  const what = attached ? `${branch} no longer contains its base ${baseSha.slice(0, 8)} (reset or rewritten)` : `the worktree is on ${where}, not ${branch}`;
  return {
    ok: false,
    ref,
    message: `Task ${taskId}: ${what}; nothing was committed to ${branch} or merged. The work is kept as ${ref} (${keptSha.slice(0, 8)}) and in the worktree ${cwd}; inspect it (git log ${ref}), then re-run ${taskId}`,
  };
}

/**
 * The files of the task's scope that its agent wrote in the main checkout (changed there since `before`), saved under
 * a ref and taken out of the checkout; the other new changes there are only named in the log. Undefined when there is
 * nothing of the task's (or no `before`: an adopted agent's run, or an attempt recorded before this check existed).
 */
async function settleStrayWrites({
  input,
  before,
  cwd,
  ignorePaths,
}: {
  input: PipelineInput;
  before: readonly string[] | null;
  cwd: string;
  ignorePaths: readonly string[];
}): Promise<{ message: string; paths: string[]; ref?: string; diff: string } | undefined> {
  if (!before) return undefined;
  const { workspaceRoot: root, task, log } = input;
  const id = task.task_id;
  const settled = await settleCheckout({ root, taskId: id, before: new Set(before), scope: [...task.file_scope, ...task.test_verification], ignorePaths });
  if (!settled) return undefined;
  const { notice, inScope, elsewhere, taken } = settled;
  if (notice) log(notice);
  if (elsewhere.length > 0) {
    log(`${elsewhere.length} path${elsewhere.length === 1 ? '' : 's'} outside the task's scope changed in the main checkout while its agent ran (${summarisePaths(elsewhere)}): not the task's, left as ${elsewhere.length === 1 ? 'it is' : 'they are'} (a merge refuses a dirty main checkout)`);
  }
  if (inScope.length === 0) return undefined;
  const one = inScope.length === 1;
  const what = `Task ${id}: its agent wrote ${inScope.length} file${inScope.length === 1 ? '' : 's'} of its scope in the main checkout ${root} instead of its worktree ${cwd} (${summarisePaths(inScope)})`;
  if (!taken?.ok) {
    return { paths: inScope, diff: '', message: `${what}, and ${one ? 'it' : 'they'} could not be taken out of the main checkout (${taken?.error.message ?? 'no result'}); move ${one ? 'it' : 'them'} out yourself (git status there), then re-run ${id}` };
  }
  const shown = await gitOk({ cwd: root, args: ['show', '--format=', '--stat', '--patch', '--no-ext-diff', taken.value.sha] });
  return {
    paths: inScope,
    ref: taken.value.ref,
    diff: shown.ok ? shown.value : '',
    message: `${what}: ${one ? 'it is' : 'they are'} not the task's work, and ${one ? 'was' : 'were'} moved out of the main checkout (kept as ${taken.value.ref}). Agents must write in their working directory; VTM_WORKSPACE_ROOT names the main checkout, not the place to work. Re-run ${id}`,
  };
}

/**
 * Committed files that differ from the saved commit in the worktree (changed, deleted, or replaced), with their diff
 * as evidence. Untracked files are not counted. An unreadable status counts as no change: the merge queue's own
 * checks still stand between the worktree and the integration branch.
 */
async function findRewrittenFiles(cwd: string): Promise<{ paths: string[]; diff: string }> {
  const status = await gitOk({ cwd, args: ['status', '--porcelain=v1', '-z', '--untracked-files=no', '--no-renames'] });
  if (!status.ok) return { paths: [], diff: '' };
  const paths = parsePorcelainStatus(status.value)
    .map((e) => e.path)
    .sort();
  if (paths.length === 0) return { paths, diff: '' };
  const diff = await gitOk({ cwd, args: ['diff', '--no-ext-diff', '--stat', '--patch', 'HEAD', '--'] });
  return { paths, diff: diff.ok ? diff.value : '' };
}

/** Run one attempt of a task through its stages. Never throws for expected failures. */
export async function runTaskPipeline(input: PipelineInput): Promise<PipelineResult> {
  if (input.options.isolation === 'none') return runSharedCheckoutStages(input);
  return runWorktreeStages(input);
}

async function runWorktreeStages(input: PipelineInput): Promise<PipelineResult> {
  const { workspaceRoot, task, options, log, attempt } = input;
  const id = task.task_id;
  const paths = getResultPaths(workspaceRoot, id);
  const resultDir = relative(workspaceRoot, paths.dir);

  // Where an earlier owner of this attempt got to. A finished agent run is never repeated; the worktree it worked in
  // must still be there (the commit that saved its work is enough from "saved" on).
  const progress = attempt.progress();
  let done = stageIndex(progress?.stage);
  const data: Record<string, unknown> = { ...(progress?.data ?? {}) };
  // An attempt another machine began (shared coordinator, its owner lost): its worktree and unpushed commits are on
  // that machine. Only work it already merged and pushed can be taken from here; anything else starts over.
  const foreignHost = done >= 0 ? getForeignAttempt(workspaceRoot, data) : undefined;
  let adopted = false;
  if (foreignHost !== undefined) {
    adopted = done >= stageIndex('verified') && (await adoptPushedWork(input, data));
    if (adopted) {
      // The audit trail of that attempt stayed on its machine: this one's is written afresh from the commits.
      mkdirSync(paths.dir, { recursive: true });
      log(`the interrupted attempt on ${foreignHost} had merged and pushed its work (${String(data.sha).slice(0, 8)}): recording it (its agent is not run again)`);
    } else {
      log(`the interrupted attempt ran on ${foreignHost}; its work never reached the remote: starting the task over here`);
      done = -1;
    }
  }
  if (!adopted && (done >= stageIndex('agent') || getTurn(data) > 1) && done < stageIndex('integrated') && !(typeof data.cwd === 'string' && existsSync(data.cwd))) {
    log(`the worktree of the interrupted attempt (${String(data.cwd)}) is gone; starting the task over`);
    done = -1;
  }
  if (done < 0) for (const k of ['turn', 'turns', 'repair']) delete data[k];
  if (done >= stageIndex('agent')) log(`continuing the interrupted attempt after stage "${STAGES[done]}" (its agent run is not repeated)`);
  // Continued in the worktree of a killed run: a git process killed there (ours or the agent's) left its locks, which
  // would fail the commit, checkout or merge this attempt goes on with. Its orphans were ended with its claim.
  if (done >= 0 && done < stageIndex('integrated') && typeof data.cwd === 'string' && existsSync(data.cwd)) {
    for (const lock of await removeStaleLocksIn({ dir: data.cwd, branch: getTaskBranch(id) })) log(`removed the stale git lock ${lock} (left by the interrupted attempt)`);
  }

  const advance = (stage: Stage, more: Record<string, unknown>): boolean => {
    Object.assign(data, more);
    if (!attempt.advance(stage, more)) return false;
    failpoint(`after-${stage}`, id);
    return true;
  };

  const resolved = resolveAgentConfig({ task, options: options.agent });
  // The agent the interrupted attempt started may still run, or have ended since its owner died: adopted when this
  // attempt continues where it ran (the same turn, in its worktree, the same agent), stopped otherwise.
  let adoption = settleInterruptedAgent({
    dir: paths.dir,
    taskId: id,
    turn: getTurn(data),
    adoptable: done === stageIndex('worktree') && typeof data.cwd === 'string' && existsSync(data.cwd),
    adapters: resolved.ok ? [resolved.value.config.adapter, resolved.value.fallback?.adapter] : [],
    log,
  });
  if (done < stageIndex('agent') && getTurn(data) === 1 && !adoption) {
    // A fresh audit trail per attempt (an attempt continued after "agent", or adopting its agent, keeps the agent's
    // transcript; a repair turn keeps the earlier turns' files).
    rmSync(paths.dir, { recursive: true, force: true });
    mkdirSync(paths.dir, { recursive: true });
  }
  if (!resolved.ok) return { outcome: blocked('agent_config', resolved.error, { result_dir: resultDir }), summary: resolved.error };
  const maxTurns = 1 + resolved.value.config.repairTurns;

  // Each turn runs the stages agent -> saved -> audited -> verified -> integrated. A turn whose work is not accepted
  // for a reason the agent can fix (failing tests, changes outside the scope, a moved branch, a conflicting merge,
  // no changes) is followed by a repair turn of the same agent in the same worktree, given the evidence, until the
  // turns run out. The stage record goes back to "worktree" with the next turn's number and evidence, so a kill
  // during a repair turn continues that turn.
  for (;;) {
    const turn = getTurn(data);
    const result = await runTurn({ input, data, done, advance, resolved: resolved.value, turn, maxTurns, adopt: adoption });
    adoption = undefined;
    const turns = getTurns(data);
    const evidence = result.repair;
    if (!evidence || result.claimLost || turn >= maxTurns) return withTurns(result, turns, turn);
    const recordOfTurn = buildTurnRecord({ turn, agent: result.agent, evidence, sha: typeof data.sha === 'string' ? data.sha : null });
    log(`turn ${turn} not accepted (${evidence.kind}); repair turn ${turn + 1} of ${maxTurns} with the evidence`);
    const rebase = evidence.kind === 'merge_conflict' || (evidence.kind === 'integration_check_failed' && options.integration === 'merge');
    const nextBase = rebase ? await getHeadSha({ cwd: workspaceRoot, ref: `refs/heads/${input.integrationBranch}` }) : undefined;
    if (nextBase && !nextBase.ok) return withTurns(result, turns, turn);
    if (
      !advance('worktree', {
        turn: turn + 1,
        turns: [...turns, recordOfTurn],
        repair: { evidence, previousSessionId: result.agent?.sessionId ?? null, previousAdapter: result.agent?.adapter ?? null, lastSha: data.sha ?? data.baseSha },
        ...(nextBase?.ok ? { baseSha: nextBase.value } : {}),
      })
    ) {
      return lostClaim(id, 'worktree');
    }
    done = stageIndex('worktree');
    // A turn sent back from the merge queue parked its slot: the repair agent runs only once it has one again.
    if (input.attempt.takeSlot && !(await input.attempt.takeSlot())) return lostClaim(id, 'worktree');
  }
}

/**
 * The machine an interrupted attempt ran on, when it is not this checkout: the host recorded with its worktree
 * stage differs from this one (`VTM_HOST_ID` or the host name), or its worktree lies outside this workspace.
 */
function getForeignAttempt(workspaceRoot: string, data: Record<string, unknown>): string | undefined {
  if (typeof data.host === 'string' && data.host !== readHostId()) return data.host;
  if (typeof data.cwd === 'string' && relative(workspaceRoot, data.cwd).startsWith('..')) return `another checkout (${data.cwd})`;
  return undefined;
}

/**
 * Another machine verified the task's commit and died during its integration: when that commit is already in the
 * remote's integration branch (merged and pushed, not yet recorded), the fetched commit becomes this checkout's
 * `vtm/<id>` so that the integration stage recognises it as merged, rather than paying an agent for it again.
 */
async function adoptPushedWork(input: PipelineInput, data: Record<string, unknown>): Promise<boolean> {
  const { workspaceRoot, options, integrationBranch, task } = input;
  if (!options.remote || options.integration !== 'merge' || typeof data.sha !== 'string') return false;
  const fetched = await fetchBranch({ cwd: workspaceRoot, remote: options.remote, branch: integrationBranch });
  if (!fetched.ok || !fetched.value) return false;
  const merged = await isAncestor({ cwd: workspaceRoot, ancestor: data.sha, descendant: fetched.value });
  if (!merged.ok || !merged.value) return false;
  const branch = await gitOk({ cwd: workspaceRoot, args: ['update-ref', `refs/heads/${getTaskBranch(task.task_id)}`, data.sha] });
  return branch.ok;
}

/**
 * The local integration branch holds commits the remote lacks: merges whose push never happened (a run killed between
 * its local merge and its push, or a push that failed after the merge). They are tested, finished merges: push them
 * now (never forced), so that other machines see them before this machine's next merge. A rejected push (the remote
 * moved meanwhile) changes nothing; the next merge's fetch reports the divergence with what to do.
 */
async function pushLeftBehind({ workspaceRoot, remote, branch, log }: { workspaceRoot: string; remote: string; branch: string; log: (line: string) => void }): Promise<void> {
  const local = await getHeadSha({ cwd: workspaceRoot, ref: `refs/heads/${branch}` });
  if (!local.ok) return;
  const pending = await gitOk({ cwd: workspaceRoot, args: ['log', '--oneline', '--no-decorate', '--first-parent', `${trackingRef(remote, branch)}..${local.value}`] });
  const commits = pending.ok ? pending.value.trim().split('\n').filter(Boolean) : [];
  const pushed = await pushBranch({ cwd: workspaceRoot, remote, branch, sha: local.value });
  if (pushed.status === 'pushed') log(`${branch} had ${commits.length} commit(s) never pushed (${commits.map((c) => c.split(' ')[0]).join(', ')}; an earlier run stopped between its merge and its push): pushed them to ${remote}/${branch}`);
  else log(`${branch} has ${commits.length} commit(s) ${remote}/${branch} lacks, and pushing them failed: ${pushed.message}`);
}

/** The turn an attempt is in (1 = the first agent run). */
const getTurn = (data: Record<string, unknown>): number => (typeof data.turn === 'number' && data.turn >= 1 ? data.turn : 1);
const getTurns = (data: Record<string, unknown>): TurnRecord[] => (Array.isArray(data.turns) ? (data.turns as TurnRecord[]) : []);

/** What the report shows of a turn that was not accepted. */
export interface TurnRecord {
  turn: number;
  result: string;
  summary: string;
  /** The evidence handed to the next turn (shortened for the state file; the full text is in turn-<n+1>/prompt.md). */
  evidence: string;
  paths: string[];
  sha: string | null;
  agent: { adapter: string | null; status: string | null; session_id: string | null; usd: number | null; tokens: Record<string, number> | null; duration_ms: number | null } | null;
}

export function buildTurnRecord({ turn, agent, evidence, sha }: { turn: number; agent: AgentOutcome | undefined; evidence: RepairEvidence; sha: string | null }): TurnRecord {
  return {
    turn,
    result: evidence.kind,
    summary: evidence.summary,
    evidence: trimEvidence(evidence.details, 2000),
    paths: evidence.paths,
    sha,
    agent: agent
      ? {
          adapter: agent.adapter ?? null,
          status: agent.status,
          session_id: agent.sessionId ?? null,
          usd: agent.costUsd ?? null,
          tokens: (agent.tokens as Record<string, number> | undefined) ?? null,
          duration_ms: agent.durationMs ?? null,
        }
      : null,
  };
}

/**
 * The task's result with its turns: the cost is what every turn spent (money spent by turns that were not accepted
 * is still spent), `turns` lists the turns that were not accepted with their evidence. Pure.
 */
export function withTurns(result: TurnResult, earlier: TurnRecord[], turn: number): PipelineResult {
  const { repair: _repair, ...rest } = result;
  if (earlier.length === 0 || result.claimLost) return rest;
  const last = (rest.outcome.cost ?? null) as { usd: number | null; tokens: Record<string, number> | null; attempts?: number; duration_ms?: number } | null;
  let usd: number | null = last?.usd ?? null;
  const tokens: Record<string, number> = { ...(last?.tokens ?? {}) };
  let duration = last?.duration_ms ?? 0;
  for (const t of earlier) {
    if (t.agent?.usd != null) usd = Math.round(((usd ?? 0) + t.agent.usd) * 1e6) / 1e6;
    for (const [k, v] of Object.entries(t.agent?.tokens ?? {})) if (typeof v === 'number') tokens[k] = (tokens[k] ?? 0) + v;
    duration += t.agent?.duration_ms ?? 0;
  }
  const cost = { ...(last ?? {}), usd, tokens: Object.keys(tokens).length ? tokens : null, duration_ms: duration, turns: turn };
  return { ...rest, outcome: { ...rest.outcome, cost, turns: earlier, repair_turns: turn - 1 } };
}

type TurnResult = PipelineResult & { repair?: RepairEvidence };

/** Read a file's text, or '' (evidence is best effort). */
function readText(path: string | undefined): string {
  try {
    return path ? readFileSync(path, 'utf8') : '';
  } catch {
    return '';
  }
}

/** One turn's stages, from the agent run to the integration. A result with `repair` can be retried by a repair turn. */
async function runTurn({
  input,
  data,
  done: doneAtStart,
  advance,
  resolved,
  turn,
  maxTurns,
  adopt,
}: {
  input: PipelineInput;
  data: Record<string, unknown>;
  done: number;
  advance: (stage: Stage, more: Record<string, unknown>) => boolean;
  resolved: { config: AgentConfig; fallback?: AgentConfig };
  turn: number;
  maxTurns: number;
  /** The interrupted attempt's agent, taken over instead of a new run (see `settleInterruptedAgent`). */
  adopt?: AgentAdoption;
}): Promise<TurnResult> {
  const { workspaceRoot, task, options, integrationBranch, log, attempt } = input;
  const id = task.task_id;
  const paths = getResultPaths(workspaceRoot, id);
  const resultDir = relative(workspaceRoot, paths.dir);
  const ignorePaths = ['.vtm/', input.stateFile];
  const linkDirs = options.worktree.linkDirs;
  const branch = getTaskBranch(id);
  let done = doneAtStart;
  // A repair turn's files (prompt, transcript, verify.log) go to turn-<n>/, beside the first turn's.
  const turnDir = turn === 1 ? paths.dir : join(paths.dir, `turn-${turn}`);
  const repairable = (reason: string, evidence: () => RepairEvidence | Promise<RepairEvidence>) =>
    isRepairable(reason) && turn < maxTurns ? evidence() : undefined;

  // 1. Where the agent works, 2. the agent.
  if (done < stageIndex('agent')) {
    // What is already changed in the main checkout, so that what the agent writes there is told apart (stray-writes.ts).
    // Read beside the worktree's preparation: off the path from a free slot to a working agent.
    const checkoutRead = readCheckoutChanges(workspaceRoot, ignorePaths).catch(() => undefined);
    let cwd: string;
    if (adopt) {
      cwd = data.cwd as string; // where the adopted agent works
    } else if (turn === 1) {
      const prepared = await prepareWorktree(input, paths.dir);
      if (!prepared.ok) return { outcome: blocked(prepared.reason, prepared.message, { result_dir: resultDir }), summary: prepared.message };
      // The host, so that another machine continuing the attempt knows the worktree and commits are not its own.
      if (!advance('worktree', { cwd: prepared.cwd, baseSha: prepared.baseSha, host: readHostId() })) return lostClaim(id, 'worktree');
      cwd = prepared.cwd;
    } else {
      cwd = data.cwd as string;
      mkdirSync(turnDir, { recursive: true });
      const ready = await prepareRepairWorktree({ cwd, taskId: id, baseSha: data.baseSha as string, repair: data.repair as RepairState, log });
      if (!ready.ok) return { outcome: blocked('worktree_failed', ready.message, { result_dir: resultDir, worktree: relative(workspaceRoot, cwd) }), summary: ready.message };
    }
    const repair = turn > 1 ? (data.repair as RepairState) : undefined;
    const checkoutBefore = await checkoutRead;
    const agent = await runStageAgent({
      input,
      config: resolved,
      cwd,
      dir: turnDir,
      repair: repair
        ? {
            turn,
            maxTurns,
            evidence: repair.evidence,
            resumeSessionId: repair.previousSessionId ?? undefined,
            previousAdapter: repair.previousAdapter ?? undefined,
          }
        : undefined,
      adopt,
    });
    const checkout_before = checkoutBefore ? [...checkoutBefore] : null;
    if (agent.status !== 'completed') {
      const strays = await settleStrayWrites({ input, before: checkout_before, cwd, ignorePaths });
      if (strays) log(strays.message);
      return agentNotCompleted({ task, agent, extra: { result_dir: resultDir, worktree: relative(workspaceRoot, cwd), ...(strays ? { stray_paths: strays.paths, stray_ref: strays.ref ?? null } : {}) } });
    }
    // The agent's finished run is paid for: recorded before anything else happens, so no crash repeats it.
    if (!advance('agent', { agent, checkout_before })) return lostClaim(id, 'agent');
    done = stageIndex('agent');
  }

  const cwd = data.cwd as string;
  const baseSha = data.baseSha as string;
  const agent = data.agent as AgentOutcome;
  const common = { result_dir: resultDir, cost: costOf(agent), agent_status: agent.status, worktree: relative(workspaceRoot, cwd) };
  const notAccepted = async (reason: string, message: string, extra: Partial<TaskOutcome>, evidence: () => RepairEvidence | Promise<RepairEvidence>): Promise<TurnResult> => ({
    agent,
    outcome: blocked(reason, message, { ...common, ...extra }),
    summary: message,
    repair: await repairable(reason, evidence),
  });

  // 3. Save the work as a commit on vtm/<id> (the repository's commit hooks run: they are the user's gate).
  if (done < stageIndex('saved')) {
    // Files of its scope the agent wrote in the main checkout instead: not its work, and in the way of every merge.
    const strays = await settleStrayWrites({ input, before: (data.checkout_before as string[] | null | undefined) ?? null, cwd, ignorePaths });
    if (strays) {
      return notAccepted('wrote_outside_worktree', strays.message, { stray_paths: strays.paths, stray_ref: strays.ref ?? null }, () => ({
        kind: 'wrote_outside_worktree',
        summary: strays.message,
        details: trimEvidence(strays.diff || strays.message),
        paths: strays.paths,
      }));
    }
    const before = await checkTaskBranch({ cwd, taskId: id, baseSha, pendingMerge: turn > 1 });
    if (!before.ok) return notAccepted('branch_moved', before.message, {}, () => movedEvidence(before));
    const commit = await commitTaskWork({ worktree: cwd, taskId: id, title: task.title, acceptanceCriteria: task.acceptance_criteria, linkDirs, baseSha });
    if (!commit.ok) return { agent, outcome: blocked('commit_failed', commit.error.message, common), summary: commit.error.message };
    // A hook may have switched branches or committed elsewhere too.
    const after = await checkTaskBranch({ cwd, taskId: id, baseSha });
    if (!after.ok) return notAccepted('branch_moved', after.message, {}, () => movedEvidence(after));
    if (!advance('saved', { sha: after.head })) return lostClaim(id, 'saved');
    done = stageIndex('saved');
    input.onWorkSaved?.(after.head);
  }
  const sha = data.sha as string;

  // 4. The audit: exactly the commits that will be merged, against the declared scope (the agent's list is a claim).
  // Commits are shared by every worktree: read them from the main checkout (the worktree is gone after "integrated").
  const audited = await auditCommit({ input, cwd: workspaceRoot, from: baseSha, to: sha, dir: turnDir, allowNoChanges: resolved.config.allowNoChanges });
  if (!audited.ok) {
    return notAccepted(audited.reason, audited.message, audited.extra, () => ({
      kind: audited.reason as RepairKind,
      summary: audited.message,
      details: audited.reason === 'scope_violation' ? `Outside the scope: ${((audited.extra.outside_scope as string[] | undefined) ?? []).join(', ')}\nFile scope: ${task.file_scope.join(', ')}` : audited.message,
      paths: (audited.extra.outside_scope as string[] | undefined) ?? [],
    }));
  }
  const audit = audited.audit;
  if (done < stageIndex('audited')) {
    log(describeAudit(audit));
    if (!advance('audited', { files: audit.files })) return lostClaim(id, 'audited');
    done = stageIndex('audited');
  }

  // 5. Verification decides "completed" (on the saved commit, in the worktree).
  if (done < stageIndex('verified')) {
    const verified = await verifyTask({ input, cwd, dir: turnDir });
    if (!verified.ok) {
      return notAccepted(verified.reason, verified.message, { files_modified: audit.files, ...verified.extra }, () => ({
        kind: verified.reason as RepairKind,
        summary: verified.message,
        details: trimEvidence(readText(join(turnDir, 'verify.log')) || verified.message),
        paths: verified.reason === 'missing_tests' ? (((verified.extra.verification as { missing?: string[] } | undefined)?.missing) ?? []) : [],
      }));
    }
    // Tests run the task's own code, which can do anything: the branch must still be the audited commit.
    const still = await checkTaskBranch({ cwd, taskId: id, baseSha });
    const tip = await getHeadSha({ cwd, ref: `refs/heads/${branch}` });
    if (!still.ok || !tip.ok || tip.value !== sha) {
      const message = still.ok
        ? `Task ${id}: ${branch} moved during verification (audited ${sha.slice(0, 8)}, now ${tip.ok ? tip.value.slice(0, 8) : 'unreadable'}); nothing was merged. Inspect the worktree ${cwd}, then re-run ${id}`
        : still.message;
      // Moved by the task's own tests: that is the agent's code to fix.
      return notAccepted('branch_moved', message, { files_modified: audit.files }, () => (still.ok ? { kind: 'branch_moved', summary: message, details: message, paths: [] } : movedEvidence(still)));
    }
    // The tests must have judged the saved commit: a committed file they (or a process they started) rewrote means
    // they passed on other content. The worktree is the task's own, so the writer is the task's code: its agent fixes
    // it. New untracked files (reports, caches) change nothing committed; they are left out of the merge.
    const rewritten = await findRewrittenFiles(cwd);
    if (rewritten.paths.length > 0) {
      const { paths: changed, diff } = rewritten;
      const message = `Task ${id}: ${changed.length} of its committed files changed while its tests ran (${summarisePaths(changed)}): the tests did not judge the saved commit ${sha.slice(0, 8)}, so it was not merged. The tests, or a process they started, wrote them; make the tests leave the repository's files as they are, then re-run ${id}`;
      // Back to the saved commit: a repair turn starts from the work as committed, not from what the tests left.
      await runGit({ cwd, args: ['reset', '--hard', '--quiet'] });
      return notAccepted('changed_during_verification', message, { files_modified: audit.files, changed_paths: changed }, () => ({
        kind: 'changed_during_verification',
        summary: message,
        details: trimEvidence(diff || message),
        paths: changed,
      }));
    }
    const leftovers = await gitOk({ cwd, args: ['status', '--porcelain', '--untracked-files=all'] });
    if (leftovers.ok && leftovers.value.trim()) log(`new files in the worktree after the save (e.g. written by the tests) are not part of the task's commit and are not merged`);
    if (!advance('verified', { verification: verified.verification ?? null })) return lostClaim(id, 'verified');
    done = stageIndex('verified');
  }
  const verification = (data.verification ?? undefined) as VerificationResult | undefined;
  const testResults = verification?.counts
    ? { total: verification.counts.total, passing: verification.counts.passed, failing: verification.counts.failed }
    : null;

  // 6. Integrate exactly the audited commit (in "merge" mode through the merge queue: the merged result is tested
  // before the integration branch moves; in "branch" mode the workspace check runs on the branch before it is ready).
  if (done < stageIndex('integrated')) {
    // From here on the agent is idle: waiting for the integration lock and testing the merged result must not keep
    // another ready task's agent from starting. A repair turn takes a slot back (runTaskPipeline's turn loop).
    attempt.park?.();
    const checkMerged = buildMergedCheck({ input, dir: turnDir });
    if (options.integration === 'branch' && options.integrationCheck.command) {
      const checked = await checkMerged({ cwd, tipInTask: true });
      if (!checked.ok) {
        return notAccepted('integration_check_failed', checked.message, { files_modified: audit.files, test_results: testResults }, () => ({
          kind: 'integration_check_failed',
          summary: checked.message,
          details: checked.details,
          paths: [],
        }));
      }
    }
    const useQueue = options.integration === 'merge' && (options.integrationCheck.testMerged || !!options.integrationCheck.command);
    const crossMachineLock = getIntegrationLock(workspaceRoot, options);
    const merged = await integrateTaskBranch({
      repoRoot: workspaceRoot,
      taskId: id,
      onNotice: log,
      title: task.title,
      strategy: options.integration,
      integrationBranch,
      ignorePaths,
      linkDirs,
      sha,
      guard: () => (attempt.holds() ? undefined : 'its claim was lost (another process owns the task now)'),
      ...(options.remote ? { remote: options.remote } : {}),
      ...(crossMachineLock ? { lock: crossMachineLock } : {}),
      ...(useQueue
        ? {
            testMerged: {
              worktree: cwd,
              run: async (args: Parameters<typeof checkMerged>[0]) => {
                // The merge commit the integration branch is fast-forwarded to if its test passes: the dependents'
                // pre-positioned worktrees go onto their branches at it while the test runs, under this integration
                // lock (the worktree lock too), off the handoff's path. A failed test leaves them on a commit the
                // integration branch never gets: stale, never started on.
                const head = input.onMergeCommit ? await getHeadSha({ cwd: args.cwd }) : undefined;
                const positioning = head?.ok ? input.onMergeCommit?.(head.value) : undefined;
                try {
                  return await checkMerged(args);
                } finally {
                  // Done before the lock is released (the positioning relies on it).
                  await positioning;
                }
              },
            },
          }
        : {}),
    });
    if (!merged.ok) {
      if (merged.error.reason === 'claim_lost') return lostClaim(id, 'integrated');
      log(`${merged.error.message}`);
      if (merged.error.reason === 'integration_check_failed') {
        const failed = merged.error;
        return notAccepted('integration_check_failed', failed.message, { files_modified: audit.files, test_results: testResults }, async () => {
          const commits = await gitOk({ cwd: workspaceRoot, args: ['log', '--oneline', '--no-decorate', '-n', '30', `${sha}..refs/heads/${integrationBranch}`] });
          return {
            kind: 'integration_check_failed',
            summary: failed.message,
            details: trimEvidence(`${failed.details ?? ''}\n\nNew commits on ${integrationBranch} since your work started:\n${commits.ok ? commits.value : '(unreadable)'}`),
            paths: [],
          };
        });
      }
      const conflicted = merged.error.conflictedPaths ?? [];
      return notAccepted(merged.error.reason, merged.error.message, { files_modified: audit.files, test_results: testResults, conflicted_paths: conflicted }, async () => {
        const commits = await gitOk({ cwd: workspaceRoot, args: ['log', '--oneline', '--no-decorate', '-n', '30', `${sha}..refs/heads/${integrationBranch}`] });
        return {
          kind: 'merge_conflict',
          summary: merged.error.message,
          details: trimEvidence(`Conflicting files: ${conflicted.join(', ')}\nNew commits on ${integrationBranch}:\n${commits.ok ? commits.value : '(unreadable)'}`),
          paths: conflicted,
        };
      });
    }
    failpoint('after-merge', id);
    // First thing after the merge: the dependents' pre-positioned worktrees go onto their branches at the new tip.
    if (merged.value.status === 'merged') input.onIntegrated?.(merged.value.sha);
    const integration = { strategy: options.integration, ...merged.value, task_sha: sha };
    log(
      merged.value.status === 'branch_left'
        ? `${id}: left on branch ${merged.value.branch} (${merged.value.sha.slice(0, 8)}) for review`
        : `${id}: integrated into ${merged.value.into} (${merged.value.status.replace('_', ' ')} ${merged.value.sha.slice(0, 8)})`,
    );
    if (!advance('integrated', { integration })) return lostClaim(id, 'integrated');
  }
  // A clean finished worktree becomes a spare for the next task (cheaper than deleting every file, then writing them
  // all again for the next checkout); otherwise it is removed. After the outcome is recorded, in the background: the
  // work is integrated, so the task's dependents may start now, and the clean-up was on the path from a dependency's
  // integration to its dependent's start (issue 12: target p50 <= 150 ms; bench:schedule's handoff table). The run
  // waits for it before it ends (`settleWorktreeCleanups`); a process that dies before it leaves the worktree of a
  // completed task behind, as a crash between the merge and the clean-up always could.
  const cleanUp = (): void => {
    trackCleanup(
      yieldToNextCheckout(CLEANUP_YIELD_MS)
        .then(() =>
          withWorktreeLock(workspaceRoot, () =>
            removeTaskWorktree({ repoRoot: workspaceRoot, taskId: id, integrationRef: integrationBranch, linkDirs, spares: options.worktree.spares }),
          ),
        )
        .then(
          (removed) => {
            if (!removed.ok) log(`worktree kept: ${removed.error.message}`);
          },
          (e: unknown) => log(`worktree kept: ${e instanceof Error ? e.message : String(e)}`),
        ),
    );
  };

  const recorded = await recordAccepted({
    input,
    agent,
    common: { ...common, worktree: null },
    audit,
    verification,
    testResults,
    integration: data.integration as Record<string, unknown>,
    patchDir: turnDir,
  });
  cleanUp();
  return recorded;
}

/**
 * The merge queue's test of a merged result (checked out in `cwd`): the task's own tests again when the merged tree
 * differs from the one they passed on (the integration branch moved since the task started), then the workspace
 * check (`integrationCheck.command`). Logs go to verify-merged.log and integration-check.log in the turn's folder.
 */
function buildMergedCheck({ input, dir }: { input: PipelineInput; dir: string }) {
  const { task, options, workspaceRoot, log } = input;
  const id = task.task_id;
  return async ({ cwd, tipInTask }: { cwd: string; tipInTask: boolean }): Promise<{ ok: true; ran: boolean } | { ok: false; message: string; details: string }> => {
    let ran = false;
    const { testMerged, command, timeoutMs } = options.integrationCheck;
    if (testMerged && !tipInTask && options.verify !== false && task.test_verification.length > 0) {
      const logFile = join(dir, 'verify-merged.log');
      const v = await runVerification(
        { cwd, command: getVerificationCommand(task, options.verify.command), files: task.test_verification, timeoutMs: options.verify.timeoutMs, logFile, taskId: id },
        { runProcess },
      );
      log(`tests on the merged result ${v.status}: ${v.message}`);
      if (v.status !== 'passed' && v.status !== 'skipped') {
        return {
          ok: false,
          message: `Task ${id}: its tests pass on its own work but fail on the merged result with ${input.integrationBranch} (${v.message}); ${input.integrationBranch} was not moved. See ${relative(workspaceRoot, logFile)}`,
          details: trimEvidence(readText(logFile) || v.message),
        };
      }
      ran = true;
    }
    if (command) {
      const logFile = join(dir, 'integration-check.log');
      const r = await runProcess({ argv: command, cwd, env: { ...process.env, CI: 'true' }, timeoutMs, transcriptFile: logFile });
      const how = r.timedOut ? `timed out after ${Math.round(timeoutMs / 1000)} s` : r.exitCode === 0 ? 'passed' : r.exitCode === null ? 'was killed by a signal' : `exited with ${r.exitCode}`;
      log(`integration check ${JSON.stringify(command.join(' '))} ${how}`);
      if (r.timedOut || r.exitCode !== 0) {
        return {
          ok: false,
          message: `Task ${id}: the integration check ${JSON.stringify(command.join(' '))} ${how} on the ${options.integration === 'merge' ? `merged result with ${input.integrationBranch}; ${input.integrationBranch} was not moved` : `branch vtm/${id}; the branch is not ready`}. See ${relative(workspaceRoot, logFile)}`,
          details: trimEvidence(readText(logFile) || `${r.stdoutTail ?? ''}\n${r.stderrTail ?? ''}`),
        };
      }
      ran = true;
    }
    // As for the task's own verification: a pass on files the checks rewrote is no verdict on the merged commit.
    const rewritten = ran ? await findRewrittenFiles(cwd) : { paths: [], diff: '' };
    if (rewritten.paths.length > 0) {
      return {
        ok: false,
        message: `Task ${id}: the checks on the merged result with ${input.integrationBranch} changed ${rewritten.paths.length} committed file${rewritten.paths.length === 1 ? '' : 's'} while they ran (${summarisePaths(rewritten.paths)}), so they did not judge the merged commit; ${input.integrationBranch} was not moved. Make the tests leave the repository's files as they are`,
        details: trimEvidence(rewritten.diff),
      };
    }
    return { ok: true, ran };
  };
}

/** The evidence of a moved branch: where the work was found, and the ref it is kept under. */
function movedEvidence(moved: { message: string; ref?: string }): RepairEvidence {
  return { kind: 'branch_moved', summary: moved.message, details: moved.message, paths: moved.ref ? [moved.ref] : [] };
}

/** What a repair turn carries over from the turn that was not accepted (stored with the stage, survives a kill). */
interface RepairState {
  evidence: RepairEvidence;
  previousSessionId: string | null;
  previousAdapter: string | null;
  /** The task branch's last good commit: the previous turn's saved work, or the base. */
  lastSha: string;
}

/**
 * Put the worktree where a repair turn starts: on vtm/<id> at the last good commit (a branch the agent moved is put
 * back; what was found there is already kept under a ref), with anything left uncommitted (by the tests, a process
 * the agent left, or a repair turn killed halfway) saved under a ref and cleaned away, and — when the base moved
 * (a merge conflict) — in the middle of merging the new base, conflicts in place for the agent to resolve. Idempotent,
 * so a turn killed before its agent finished is prepared the same way again.
 */
async function prepareRepairWorktree({ cwd, taskId, baseSha, repair, log }: { cwd: string; taskId: string; baseSha: string; repair: RepairState; log: (line: string) => void }): Promise<{ ok: true } | { ok: false; message: string }> {
  const branch = getTaskBranch(taskId);
  const fail = (what: string, e: { message: string }) => ({ ok: false as const, message: `Task ${taskId}: cannot prepare the repair turn in ${cwd}: ${what}: ${e.message}` });
  // A merge of ours left halfway by a killed turn: abort it first (its result is redone below).
  if ((await runGit({ cwd, args: ['rev-parse', '-q', '--verify', 'MERGE_HEAD'] })).code === 0) await runGit({ cwd, args: ['merge', '--abort'] });
  const saved = await saveLeftoverWork({ worktree: cwd, taskId });
  if (!saved.ok) return fail('saving the uncommitted files', { message: saved.error });
  if (saved.value !== '(nothing to save)') log(`files left uncommitted in the worktree saved as ${saved.value} before the repair turn`);
  const sym = await runGit({ cwd, args: ['symbolic-ref', '-q', 'HEAD'] });
  const head = await getHeadSha({ cwd });
  if (!(sym.code === 0 && sym.stdout.trim() === `refs/heads/${branch}` && head.ok && head.value === repair.lastSha)) {
    const back = await gitOk({ cwd, args: ['checkout', '--quiet', '--force', '-B', branch, repair.lastSha] });
    if (!back.ok) return fail(`putting ${branch} back at ${repair.lastSha.slice(0, 8)}`, back.error);
    await gitOk({ cwd, args: ['clean', '-fdq'] });
  }
  const contains = await isAncestor({ cwd, ancestor: baseSha, descendant: repair.lastSha });
  if (contains.ok && !contains.value) {
    const merge = await runGit({ cwd, args: ['merge', '--no-ff', '--no-commit', baseSha], env: await getIdentityEnv(cwd) });
    // Conflicts exit 1 and leave the markers: that is the agent's work in this turn.
    if (merge.code !== 0 && (await runGit({ cwd, args: ['rev-parse', '-q', '--verify', 'MERGE_HEAD'] })).code !== 0) {
      return fail(`merging the new base ${baseSha.slice(0, 8)}`, { message: merge.stderr || merge.stdout });
    }
  }
  return { ok: true };
}

type Prepared = { ok: true; cwd: string; baseSha: string } | { ok: false; reason: string; message: string };

/** The task's worktree on `vtm/<id>` from the integration branch (or its dependencies' branches), set up. */
async function prepareWorktree(input: PipelineInput, dir: string): Promise<Prepared> {
  const { workspaceRoot, task, options, integrationBranch, log } = input;
  const id = task.task_id;
  const linkDirs = options.worktree.linkDirs;
  // The git bookkeeping of worktrees runs under the workspace's lock: `git worktree add` and `remove` list every
  // registered worktree, and one that another task is adding or removing at that moment fails them ("failed to read
  // .git/worktrees/<other>/commondir"; the scheduling benchmark lost a task this way in 2 of 4 backlog runs, whenever
  // several tasks started at once). The setup command, which may take minutes, runs after, outside the lock.
  const useSpare = options.worktree.spares > 0;
  // With a shared remote, the task starts from the remote's integration branch: what its dependencies merged on
  // other machines is in it (the coordinator records them completed only after their push).
  let syncProblem: { reason: string; message: string } | undefined;
  const create = (primed?: PrimedWorktree) =>
    withWorktreeLock(workspaceRoot, async () => {
      if (options.remote) {
        const synced = await syncFromRemote({ repoRoot: workspaceRoot, remote: options.remote, branch: integrationBranch });
        if (!synced.ok) {
          const reason = synced.error.code === 'remote_diverged' ? 'remote_diverged' : 'worktree_failed';
          syncProblem = { reason, message: `Task ${id}: cannot start from ${options.remote}/${integrationBranch}: ${synced.error.message}` };
          return undefined;
        }
        if (synced.value === 'fast_forwarded') log(`${integrationBranch} fast-forwarded to ${options.remote}/${integrationBranch}`);
        if (synced.value === 'local_ahead') await pushLeftBehind({ workspaceRoot, remote: options.remote, branch: integrationBranch, log });
      }
      return createTaskWorktree({
        repoRoot: workspaceRoot,
        taskId: id,
        baseRef: integrationBranch,
        linkDirs,
        useSpare,
        primed,
        onPrimedRefused: (why) => log(`pre-positioned worktree not taken as it is: ${why}`),
      });
    });
  const remoteFailed = (): Prepared => ({ ok: false, reason: syncProblem?.reason ?? 'worktree_failed', message: syncProblem?.message ?? `Task ${id}: cannot sync with the remote` });
  const primed = await input.takePrimedWorktree?.();
  let created = await create(primed);
  if (!created || !created.ok) noteCheckoutDone();
  if (!created) return remoteFailed();
  let wt = created;
  if (!wt.ok && wt.error.code === 'uncommitted_work' && wt.error.path) {
    // Only one claim on a task exists at a time, so uncommitted work in its worktree is from an earlier attempt that
    // died before its agent finished (crash, kill, lost claim, rate limit). Keep it, reachable under a ref, and start clean.
    const saved = await saveLeftoverWork({ worktree: wt.error.path, taskId: id });
    if (saved.ok) {
      log(`earlier attempt's uncommitted work saved as ${saved.value} (inspect with: git show --stat ${saved.value})`);
      created = await create();
      if (!created) return remoteFailed();
      wt = created;
    } else {
      log(`earlier attempt's uncommitted work could not be saved: ${saved.error}`);
    }
  }
  if (!wt.ok) return { ok: false, reason: wt.error.code === 'setup_failed' ? 'setup_failed' : 'worktree_failed', message: wt.error.message };
  input.onWorktreeReady?.();
  const setupCommand = options.worktree.setupCommand;
  if (setupCommand?.length) {
    const setupLogFile = join(dir, 'setup.log');
    const timeoutMs = options.worktree.setupTimeoutMs;
    const setup = await runProcess({ argv: setupCommand, cwd: wt.value.path, env: process.env, timeoutMs, transcriptFile: setupLogFile });
    if (setup.timedOut || setup.exitCode !== 0) {
      const how = setup.timedOut ? `timed out after ${Math.round(timeoutMs / 1000)} s` : `exited with ${setup.exitCode}`;
      return { ok: false, reason: 'setup_failed', message: `Task ${id}: setup command ${JSON.stringify(setupCommand.join(' '))} ${how} in ${wt.value.path}; see ${setupLogFile}` };
    }
  }
  const cwd = wt.value.path;
  let baseSha = wt.value.baseSha;
  log(`worktree ${relative(workspaceRoot, cwd)} on ${wt.value.branch} from ${integrationBranch} (${baseSha.slice(0, 8)})${wt.value.primed ? ', pre-positioned' : ''}`);
  if (options.integration === 'branch') {
    // Nothing is merged into the integration branch in this mode, so a task starts from its dependencies' branches:
    // each one not yet in the base is merged into the new task branch before the agent runs.
    const stacked = await mergeDependencyBranches({ cwd, task, ...(options.remote ? { remote: options.remote } : {}) });
    if (!stacked.ok) return { ok: false, reason: 'merge_conflict', message: stacked.error };
    if (stacked.value.length > 0) {
      const head = await getHeadSha({ cwd });
      if (head.ok) baseSha = head.value;
      log(`started from the branches of ${stacked.value.join(', ')} (integration "branch")`);
    }
  }
  return { ok: true, cwd, baseSha };
}

export type Audited =
  | { ok: true; audit: ScopeAudit }
  | { ok: false; reason: string; message: string; extra: Partial<TaskOutcome> };

/** The scope audit of the commit range `from..to`, with its patch kept as `diff.patch`. */
export async function auditCommit({
  input,
  cwd,
  from,
  to,
  dir,
  allowNoChanges = false,
  sameTree = false,
}: {
  input: PipelineInput;
  cwd: string;
  from: string;
  to: string;
  dir: string;
  /** `agent.allowNoChanges`: an empty diff is accepted (otherwise the run ends `no_changes`). */
  allowNoChanges?: boolean;
  /**
   * The caller built `to` with `from`'s own tree (a task that changed no path), so the diff is empty without asking
   * git: two processes fewer for every check-only task.
   */
  sameTree?: boolean;
}): Promise<Audited> {
  const { task } = input;
  const changes = sameTree ? ({ ok: true, value: buildTaskChanges([]) } as const) : await collectCommittedChanges({ cwd, from, to });
  if (!changes.ok) return { ok: false, reason: 'git_failed', message: changes.error.message, extra: {} };
  const audit = auditScope({ changes: changes.value, fileScope: task.file_scope, allowedExtra: task.test_verification });
  const diff = sameTree ? ({ ok: true, value: '' } as const) : await gitOk({ cwd, args: ['diff', '--binary', '--no-ext-diff', '--no-textconv', from, to, '--'] });
  if (diff.ok) writeFileSync(join(dir, 'diff.patch'), diff.value);
  if (!audit.ok) {
    const message = formatScopeViolation({ taskId: task.task_id, audit });
    input.log(message);
    return { ok: false, reason: 'scope_violation', message, extra: { files_modified: audit.files, outside_scope: audit.outside.map((o) => o.path) } };
  }
  if (audit.files.length === 0 && !allowNoChanges) {
    // An agent that says "done" and changed nothing has not done the task (or it was done before): nothing to verify
    // or integrate, and not "completed" on its word alone.
    const message = `Task ${task.task_id}: the agent reported success but changed no file; nothing was verified or integrated. If the task needs no change (a check-only task, or its work is already on the branch), set agent.allowNoChanges for it`;
    input.log(message);
    return { ok: false, reason: 'no_changes', message, extra: { files_modified: [] } };
  }
  return { ok: true, audit };
}

export function describeAudit(audit: ScopeAudit): string {
  const n = audit.files.length;
  return `diff within scope (${n} file${n === 1 ? '' : 's'}: ${audit.files.slice(0, 6).join(', ')}${n > 6 ? ', ...' : ''})`;
}

export type Verified =
  | { ok: true; verification?: VerificationResult }
  | { ok: false; reason: string; message: string; extra: Partial<TaskOutcome> };

/** The task's tests, run by us (the agent's word about tests is not the verdict). */
export async function verifyTask({ input, cwd, dir }: { input: PipelineInput; cwd: string; dir: string }): Promise<Verified> {
  const { task, options, workspaceRoot, log } = input;
  if (options.verify === false) {
    log(`verification skipped ("verify": false)`);
    return { ok: true };
  }
  const verification = await runVerification(
    {
      cwd,
      command: getVerificationCommand(task, options.verify.command),
      files: task.test_verification,
      timeoutMs: options.verify.timeoutMs,
      logFile: join(dir, 'verify.log'),
      taskId: task.task_id,
    },
    { runProcess },
  );
  log(`verification ${verification.status}: ${verification.message}`);
  if (verification.status === 'failed' || verification.status === 'missing-tests') {
    const reason = verification.status === 'failed' ? 'verification_failed' : 'missing_tests';
    const anomaly = task.risk === 'High' && verification.status === 'missing-tests' ? [`BLOCKED::MISSING-TESTS::${task.task_id}`] : [];
    return {
      ok: false,
      reason,
      message: verification.message,
      extra: {
        test_results: verification.counts ? { total: verification.counts.total, passing: verification.counts.passed, failing: verification.counts.failed } : null,
        verification: { status: verification.status, log: relative(workspaceRoot, verification.logFile), missing: verification.missing ?? [] },
        blockers: anomaly,
      },
    };
  }
  return { ok: true, verification };
}

/** The accepted result, written to the outcome folder Nx caches as the target's output. */
export function recordAccepted({
  input,
  agent,
  common,
  audit,
  verification,
  testResults,
  integration,
  patchDir,
}: {
  input: PipelineInput;
  agent: AgentOutcome;
  common: Record<string, unknown>;
  audit: ScopeAudit;
  verification: VerificationResult | undefined;
  testResults: TaskOutcome['test_results'];
  integration: Record<string, unknown>;
  /** Where the accepted turn's diff.patch is (a repair turn's folder); default the task's result folder. */
  patchDir?: string;
}): PipelineResult {
  const { workspaceRoot, task, runId } = input;
  const id = task.task_id;
  const paths = getResultPaths(workspaceRoot, id);
  const outcome: TaskOutcome = {
    status: 'completed',
    reason: null,
    ...common,
    ...judgeAcceptanceCriteria(task, agent),
    files_modified: audit.files,
    test_results: testResults,
    blockers: agent.reported?.blockers ?? [],
    // Handed to dependent tasks (see handoffs.ts), also from the Nx cache where the result folder is not restored.
    ...(agent.reported?.summary ? { summary: agent.reported.summary } : {}),
    ...(agent.reported?.notes?.length ? { notes: agent.reported.notes } : {}),
    verification: verification
      ? { status: verification.status, log: relative(workspaceRoot, verification.logFile), argv: verification.argv }
      : { status: 'skipped' },
    integration,
  };
  rmSync(paths.outcomeDir, { recursive: true, force: true });
  mkdirSync(paths.outcomeDir, { recursive: true });
  writeFileSync(join(paths.outcomeDir, 'result.json'), `${JSON.stringify({ task_id: id, run_id: runId, ...outcome }, null, 2)}\n`);
  const patch = join(patchDir ?? paths.dir, 'diff.patch');
  if (existsSync(patch)) copyFileSync(patch, join(paths.outcomeDir, 'task.patch'));
  if (verification && existsSync(verification.logFile)) copyFileSync(verification.logFile, join(paths.outcomeDir, 'verify.log'));
  failpoint('before-finish', id);
  const n = audit.files.length;
  return {
    agent,
    outcome,
    summary: `${n} file${n === 1 ? '' : 's'} changed, verification ${verification?.status ?? 'skipped'}, ${String(integration.status).replace('_', ' ')}`,
  };
}
