/**
 * One task, end to end, once it holds its claim: worktree -> agent -> scope audit -> verification -> commit ->
 * integration -> clean-up, with every artifact kept under `.vtm/results/<task_id>/`.
 *
 * The verdict comes from the diff and the tests, never from the agent's word: an agent that says "completed" but
 * edited files outside its scope, or whose tests fail, ends blocked and is not integrated. Failures keep the worktree
 * (never delete work); success removes it.
 */
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Task } from '../manifest/schema';
import type { PluginOptions } from '../config/plugin-options';
import type { TaskOutcome } from '../state/task-record';
import type { AgentOutcome } from '../agents/outcome';
import { resolveAgentConfig } from '../agents/routing';
import { runAgent } from '../agents/run-agent';
import { runProcess } from '../agents/process-runner';
import { createTaskWorktree, removeTaskWorktree } from '../workspace/worktree';
import { auditScope, buildTaskChanges, collectTaskChanges, formatScopeViolation } from '../workspace/audit';
import { isPathInScope } from '../manifest/paths';
import { runVerification, type VerificationResult } from '../workspace/verify';
import { buildTaskCommitMessage, commitTaskWork, integrateTaskBranch } from '../workspace/integrate';
import { gitOk, getHeadSha } from '../workspace/git';
import { createSqliteLock } from '../workspace/sqlite-lock';
import { getVerificationCommand } from './verification';

export const RESULTS_DIR = '.vtm/results';

/** The lock worktree creation and removal run under (same lock file as integration, so they also exclude merges). */
const WORKTREE_LOCK = 'worktrees';

/** Run `fn` under the workspace's cross-process lock (`.vtm/locks.db`, the file integration locks). */
function withWorktreeLock<T>(workspaceRoot: string, fn: () => Promise<T>): Promise<T> {
  return createSqliteLock({ file: join(workspaceRoot, '.vtm', 'locks.db') }).withLock(WORKTREE_LOCK, fn);
}

/** Where a task's audit trail lives, and the subfolder Nx caches as the implement target's output. */
export function getResultPaths(workspaceRoot: string, taskId: string) {
  const dir = join(workspaceRoot, RESULTS_DIR, taskId);
  return { dir, outcomeDir: join(dir, 'outcome') };
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
  /** Aborted when the claim is lost or the run is stopped: the agent's process group is killed. */
  signal?: AbortSignal;
  /** Called with the agent's pid (its process group), so a later reclaimer can kill an orphan. */
  onAgentSpawn?: (pid: number) => void;
  /** A progress line for the task's output. */
  log: (line: string) => void;
  /** isolation "none": the file scopes of the other tasks running now (their uncommitted files are not ours). */
  getOtherRunningScopes?: () => string[];
}

export interface PipelineResult {
  /** What the task store records. */
  outcome: TaskOutcome;
  /** The agent's normalised outcome, when it ran. */
  agent?: AgentOutcome;
  /** One line for the user: what happened. */
  summary: string;
}

const blocked = (reason: string, error: string, extra: Partial<TaskOutcome> = {}): TaskOutcome => ({
  status: 'blocked',
  reason,
  error,
  ...extra,
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

function costOf(agent: AgentOutcome | undefined) {
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

/** Merge the branches `vtm/<dep>` of the task's dependencies that exist and are not yet in the worktree's HEAD. */
async function mergeDependencyBranches({ cwd, task }: { cwd: string; task: Task }): Promise<{ ok: true; value: string[] } | { ok: false; error: string }> {
  const merged: string[] = [];
  for (const dep of task.depends_on_tasks) {
    const branch = `vtm/${dep}`;
    const exists = await gitOk({ cwd, args: ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`] });
    if (!exists.ok) continue;
    const contained = await gitOk({ cwd, args: ['merge-base', '--is-ancestor', branch, 'HEAD'] });
    if (contained.ok) continue;
    const m = await gitOk({ cwd, args: ['merge', '--no-ff', '--no-edit', '-m', `Merge ${branch} (dependency of ${task.task_id})`, branch] });
    if (!m.ok) {
      await gitOk({ cwd, args: ['merge', '--abort'] });
      return { ok: false, error: `Task ${task.task_id}: its dependency branch ${branch} does not merge cleanly into vtm/${task.task_id}; merge the dependency branches first` };
    }
    merged.push(branch);
  }
  return { ok: true, value: merged };
}

/** Save a worktree's uncommitted work (untracked files included) under refs/vtm/attempts/<id>/, leaving it clean. */
async function saveLeftoverWork({ worktree, taskId }: { worktree: string; taskId: string }): Promise<{ ok: true; value: string } | { ok: false }> {
  // Unstage first (the working tree is kept): an interrupted attempt may have left intent-to-add entries, which
  // `git stash` refuses to save.
  await gitOk({ cwd: worktree, args: ['reset', '--quiet'] });
  const stashed = await gitOk({ cwd: worktree, args: ['stash', 'push', '--include-untracked', '-m', `nx-vtm: interrupted attempt of ${taskId}`] });
  if (!stashed.ok) return { ok: false };
  const sha = await gitOk({ cwd: worktree, args: ['rev-parse', 'stash@{0}'] });
  if (!sha.ok) return { ok: false };
  const ref = `refs/vtm/attempts/${taskId}/uncommitted-${Date.now()}`;
  const updated = await gitOk({ cwd: worktree, args: ['update-ref', ref, sha.value.trim()] });
  if (!updated.ok) return { ok: false };
  await gitOk({ cwd: worktree, args: ['stash', 'drop', 'stash@{0}'] });
  return { ok: true, value: ref };
}

export async function runTaskPipeline(input: PipelineInput): Promise<PipelineResult> {
  const { workspaceRoot, task, options, runId, integrationBranch, log } = input;
  const id = task.task_id;
  const paths = getResultPaths(workspaceRoot, id);
  // A fresh audit trail per attempt; the outcome folder (Nx's cached output) only ever holds a finished, accepted run.
  rmSync(paths.dir, { recursive: true, force: true });
  mkdirSync(paths.dir, { recursive: true });
  const resultDir = relative(workspaceRoot, paths.dir);
  const ignorePaths = ['.vtm/', input.stateFile];
  const linkDirs = options.worktree.linkDirs;

  const resolved = resolveAgentConfig({ task, options: options.agent });
  if (!resolved.ok) {
    return { outcome: blocked('agent_config', resolved.error, { result_dir: resultDir }), summary: resolved.error };
  }

  // 1. Where the agent works.
  let cwd = workspaceRoot;
  let baseSha: string;
  if (options.isolation === 'worktree') {
    // The git bookkeeping of worktrees runs under the workspace's lock: `git worktree add` and `remove` list every
    // registered worktree, and one that another task is adding or removing at that moment fails them ("failed to read
    // .git/worktrees/<other>/commondir"; the scheduling benchmark lost a task this way in 2 of 4 backlog runs, whenever
    // several tasks started at once). The setup command, which may take minutes, runs after, outside the lock.
    const create = () =>
      withWorktreeLock(workspaceRoot, () =>
        createTaskWorktree({ repoRoot: workspaceRoot, taskId: id, baseRef: integrationBranch, linkDirs }),
      );
    let wt = await create();
    if (!wt.ok && wt.error.code === 'uncommitted_work' && wt.error.path) {
      // Only one claim on a task exists at a time, so uncommitted work in its worktree is from an earlier attempt that
      // died (crash, kill, lost claim). Keep it, reachable under a ref, and start clean.
      const saved = await saveLeftoverWork({ worktree: wt.error.path, taskId: id });
      if (saved.ok) {
        log(`earlier attempt's uncommitted work saved as ${saved.value} (recover with: git stash apply ${saved.value})`);
        wt = await create();
      }
    }
    if (!wt.ok) {
      return { outcome: blocked(wt.error.code === 'setup_failed' ? 'setup_failed' : 'worktree_failed', wt.error.message, { result_dir: resultDir }), summary: wt.error.message };
    }
    const setupCommand = options.worktree.setupCommand;
    if (setupCommand?.length) {
      const setupLogFile = join(paths.dir, 'setup.log');
      const timeoutMs = options.worktree.setupTimeoutMs;
      const setup = await runProcess({ argv: setupCommand, cwd: wt.value.path, env: process.env, timeoutMs, transcriptFile: setupLogFile });
      if (setup.timedOut || setup.exitCode !== 0) {
        const how = setup.timedOut ? `timed out after ${Math.round(timeoutMs / 1000)} s` : `exited with ${setup.exitCode}`;
        const message = `Task ${id}: setup command ${JSON.stringify(setupCommand.join(' '))} ${how} in ${wt.value.path}; see ${setupLogFile}`;
        return { outcome: blocked('setup_failed', message, { result_dir: resultDir }), summary: message };
      }
    }
    cwd = wt.value.path;
    baseSha = wt.value.baseSha;
    log(`worktree ${relative(workspaceRoot, cwd)} on ${wt.value.branch} from ${integrationBranch} (${baseSha.slice(0, 8)})`);
    if (options.integration === 'branch') {
      // Nothing is merged into the integration branch in this mode, so a task starts from its dependencies' branches:
      // each one not yet in the base is merged into the new task branch before the agent runs.
      const stacked = await mergeDependencyBranches({ cwd, task });
      if (!stacked.ok) return { outcome: blocked('merge_conflict', stacked.error, { result_dir: resultDir }), summary: stacked.error };
      if (stacked.value.length > 0) {
        const head = await getHeadSha({ cwd });
        if (head.ok) baseSha = head.value;
        log(`started from the branches of ${stacked.value.join(', ')} (integration "branch")`);
      }
    }
  } else {
    const head = await getHeadSha({ cwd: workspaceRoot });
    if (!head.ok) return { outcome: blocked('git_failed', head.error.message, { result_dir: resultDir }), summary: head.error.message };
    baseSha = head.value;
  }

  // 2. The agent.
  log(`agent ${resolved.value.config.adapter}${resolved.value.config.model ? ` (${resolved.value.config.model})` : ''} started`);
  const agent = await runAgent({
    task,
    config: resolved.value.config,
    fallback: resolved.value.fallback,
    cwd,
    runId,
    resultDir: paths.dir,
    workspaceRoot,
    signal: input.signal,
    onSpawn: input.onAgentSpawn,
  });
  const cost = costOf(agent);
  const common = { result_dir: resultDir, cost, agent_status: agent.status, worktree: options.isolation === 'worktree' ? relative(workspaceRoot, cwd) : null };
  log(`agent ${agent.status}: ${agent.reason}`);
  if (agent.status !== 'completed') {
    const reason = agentFailureReason(agent);
    return {
      agent,
      outcome: blocked(reason, agent.reason, {
        ...common,
        acs_completed: agent.reported?.acs_completed ?? [],
        acs_remaining: agent.reported?.acs_remaining ?? task.acceptance_criteria.map((a) => a.id),
        blockers: agent.reported?.blockers ?? [],
        ...(agent.resetAt ? { reset_at: agent.resetAt } : {}),
      }),
      summary: agent.reason,
    };
  }

  // 3. The diff, against the declared scope (the agent's list of files is a claim; the diff is the fact).
  const shared = options.isolation === 'none';
  if (shared) {
    // Without worktrees other tasks commit to the same branch meanwhile: audit only what is uncommitted now.
    const head = await getHeadSha({ cwd });
    if (head.ok) baseSha = head.value;
  }
  const collected = await collectTaskChanges({ worktree: cwd, baseSha, linkDirs });
  if (!collected.ok) return { agent, outcome: blocked('git_failed', collected.error.message, common), summary: collected.error.message };
  let changes = collected.value;
  if (shared) {
    // In a shared checkout, uncommitted files inside the scopes of tasks running beside this one are theirs.
    const mine = [...task.file_scope, ...task.test_verification];
    const theirs = input.getOtherRunningScopes?.() ?? [];
    // The plugin's own run-time files (state file, .vtm/) are not the agent's either.
    changes = buildTaskChanges(
      changes.entries.filter((e) => isPathInScope(e.path, mine) || !(isPathInScope(e.path, theirs) || isPathInScope(e.path, ignorePaths))),
    );
  }
  const audit = auditScope({ changes, fileScope: task.file_scope, allowedExtra: task.test_verification });
  // New files the agent created are untracked: mark them intent-to-add (the worktree is ours) so the kept diff shows them.
  if (!shared) await gitOk({ cwd, args: ['add', '--intent-to-add', '--all', '--', '.'] });
  const diff = await gitOk({ cwd, args: ['diff', '--binary', '--no-ext-diff', baseSha, '--'] });
  if (diff.ok) writeFileSync(join(paths.dir, 'diff.patch'), diff.value);
  if (!audit.ok) {
    const message = formatScopeViolation({ taskId: id, audit });
    log(`${message}`);
    return {
      agent,
      outcome: blocked('scope_violation', message, { ...common, files_modified: audit.files, outside_scope: audit.outside.map((o) => o.path) }),
      summary: message,
    };
  }
  log(`diff within scope (${audit.files.length} file${audit.files.length === 1 ? '' : 's'}: ${audit.files.slice(0, 6).join(', ')}${audit.files.length > 6 ? ', ...' : ''})`);

  // 4. Verification decides "completed".
  let verification: VerificationResult | undefined;
  if (options.verify !== false) {
    verification = await runVerification(
      {
        cwd,
        command: getVerificationCommand(task, options.verify.command),
        files: task.test_verification,
        timeoutMs: options.verify.timeoutMs,
        logFile: join(paths.dir, 'verify.log'),
        taskId: id,
      },
      { runProcess },
    );
    log(`verification ${verification.status}: ${verification.message}`);
    if (verification.status === 'failed' || verification.status === 'missing-tests') {
      const reason = verification.status === 'failed' ? 'verification_failed' : 'missing_tests';
      const anomaly = task.risk === 'High' && verification.status === 'missing-tests' ? [`BLOCKED::MISSING-TESTS::${id}`] : [];
      return {
        agent,
        outcome: blocked(reason, verification.message, {
          ...common,
          files_modified: audit.files,
          test_results: verification.counts ? { total: verification.counts.total, passing: verification.counts.passed, failing: verification.counts.failed } : null,
          verification: { status: verification.status, log: relative(workspaceRoot, verification.logFile), missing: verification.missing ?? [] },
          blockers: anomaly,
        }),
        summary: verification.message,
      };
    }
  } else {
    log(`verification skipped ("verify": false)`);
  }
  const testResults =
    verification?.counts !== undefined
      ? { total: verification.counts.total, passing: verification.counts.passed, failing: verification.counts.failed }
      : null;

  // 5. Commit and integrate.
  let integration: Record<string, unknown> = { strategy: options.integration, status: 'not_applicable' };
  if (options.isolation === 'worktree') {
    const commit = await commitTaskWork({ worktree: cwd, taskId: id, title: task.title, acceptanceCriteria: task.acceptance_criteria, linkDirs, baseSha });
    if (!commit.ok) return { agent, outcome: blocked('commit_failed', commit.error.message, common), summary: commit.error.message };
    const patch = await gitOk({ cwd, args: ['diff', '--binary', '--no-ext-diff', `${baseSha}..HEAD`, '--'] });
    if (patch.ok) writeFileSync(join(paths.dir, 'diff.patch'), patch.value);
    const merged = await integrateTaskBranch({
      repoRoot: workspaceRoot,
      taskId: id,
      title: task.title,
      strategy: options.integration,
      integrationBranch,
      ignorePaths,
      linkDirs,
    });
    if (!merged.ok) {
      log(`${merged.error.message}`);
      return {
        agent,
        outcome: blocked(merged.error.reason, merged.error.message, {
          ...common,
          files_modified: audit.files,
          test_results: testResults,
          conflicted_paths: merged.error.conflictedPaths ?? [],
        }),
        summary: merged.error.message,
      };
    }
    integration = { strategy: options.integration, ...merged.value };
    log(
      merged.value.status === 'branch_left'
        ? `${id}: left on branch ${merged.value.branch} (${merged.value.sha.slice(0, 8)}) for review`
        : `${id}: integrated into ${merged.value.into} (${merged.value.status} ${merged.value.sha.slice(0, 8)})`,
    );
    const removed = await withWorktreeLock(workspaceRoot, () =>
      removeTaskWorktree({ repoRoot: workspaceRoot, taskId: id, integrationRef: integrationBranch }),
    );
    if (!removed.ok) log(`worktree kept: ${removed.error.message}`);
  } else if (audit.files.length > 0) {
    // Shared checkout: commit exactly this task's files on the current branch (other tasks' files stay untouched).
    const committed = await withWorktreeLock(workspaceRoot, async () => {
      const added = await gitOk({ cwd, args: ['add', '-A', '--', ...audit.files] });
      if (!added.ok) return added;
      const message = buildTaskCommitMessage({ taskId: id, title: task.title, acceptanceCriteria: task.acceptance_criteria });
      return gitOk({ cwd, args: ['commit', '--quiet', '-F', '-', '--', ...audit.files], input: message });
    });
    if (!committed.ok) return { agent, outcome: blocked('commit_failed', committed.error.message, common), summary: committed.error.message };
    const head = await getHeadSha({ cwd });
    integration = { strategy: 'commit', status: 'committed', sha: head.ok ? head.value : null };
    log(`committed on ${integrationBranch}${head.ok ? ` (${head.value.slice(0, 8)})` : ''}`);
  }

  // 6. The accepted result, which Nx caches as the target's output.
  const reported = agent.reported;
  const allAcs = task.acceptance_criteria.map((a) => a.id);
  const acsCompleted = reported && reported.acs_completed.length > 0 ? reported.acs_completed.filter((a) => allAcs.includes(a)) : allAcs;
  const outcome: TaskOutcome = {
    status: 'completed',
    reason: null,
    ...common,
    worktree: null,
    acs_completed: acsCompleted,
    acs_remaining: allAcs.filter((a) => !acsCompleted.includes(a)),
    files_modified: audit.files,
    test_results: testResults,
    blockers: reported?.blockers ?? [],
    verification: verification
      ? { status: verification.status, log: relative(workspaceRoot, verification.logFile), argv: verification.argv }
      : { status: 'skipped' },
    integration,
  };
  mkdirSync(paths.outcomeDir, { recursive: true });
  writeFileSync(join(paths.outcomeDir, 'result.json'), `${JSON.stringify({ task_id: id, run_id: runId, ...outcome }, null, 2)}\n`);
  if (existsSync(join(paths.dir, 'diff.patch'))) copyFileSync(join(paths.dir, 'diff.patch'), join(paths.outcomeDir, 'task.patch'));
  if (verification && existsSync(verification.logFile)) copyFileSync(verification.logFile, join(paths.outcomeDir, 'verify.log'));
  return { agent, outcome, summary: `${audit.files.length} file${audit.files.length === 1 ? "" : "s"} changed, verification ${verification?.status ?? "skipped"}, ${String(integration.status).replace("_", " ")}` };
}
