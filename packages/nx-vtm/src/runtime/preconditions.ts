/**
 * Whole-run preconditions, checked before any agent starts: a clean main checkout (outside run-time paths) and,
 * when configured, an allowed branch. Checked once per run (the preTasksExecution hook does it for every `nx`
 * command; an executor started without the hook checks itself), under the integration lock so that a merge of a
 * concurrent run in progress is never mistaken for the user's uncommitted work.
 */
import { accessSync, appendFileSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunContext } from './context';
import { getCurrentBranch, isWorkingTreeClean, summarisePaths } from '../workspace/git';
import { attributeLeftovers, buildGitBlockers, listContextFiles as listFiles, type UnfinishedTask } from '../workspace/preflight';
import { openTaskStore, TASK_STORE_DB } from '../state/task-store';
import { blockedLeftovers, type TaskRecord } from '../state/task-record';
import { createSqliteLock } from '../workspace/sqlite-lock';
import { recoverInterruptedMerge } from '../workspace/merge-journal';
import { err, ok, type Result } from '../manifest/problems';
import type { Task } from '../manifest/schema';
import { buildAgentBlocker, listTaskAgents } from '../agents/doctor';
import { checkAgents, createCachedPort, defaultEnvironmentPort, type EnvironmentPort } from './environment-checks';

export const RUNS_DIR = '.vtm/runs';

/** Paths the plugin itself writes in the main checkout; never the user's uncommitted work. */
export const getRuntimeIgnorePaths = (ctx: RunContext): string[] => ['.vtm/', ctx.options.stateFile];

export const pathExistsIn =
  (workspaceRoot: string) =>
  (relativePath: string): boolean => {
    try {
      accessSync(join(workspaceRoot, relativePath), constants.R_OK);
      return true;
    } catch {
      return false;
    }
  };

export const listContextFiles = (workspaceRoot: string, contextDirs: readonly string[]): string[] =>
  listFiles({ workspaceRoot, contextDirs });

/** The branch tasks start from and merge into: configured, or the one checked out. */
export async function getIntegrationBranch(ctx: RunContext): Promise<Result<string, string>> {
  if (ctx.options.integrationBranch) return ok(ctx.options.integrationBranch);
  const branch = await getCurrentBranch({ cwd: ctx.workspaceRoot });
  if (!branch.ok) return err(`nx-vtm: cannot read the current git branch: ${branch.error.message}`);
  if (branch.value === null) {
    return err('BLOCKED::DETACHED-HEAD: the checkout is on a detached HEAD; check out the branch tasks should be integrated into');
  }
  return ok(branch.value);
}

/**
 * Check the main checkout once per run id; later calls of the same run (other executors) reuse the verdict.
 * `loadTasks` gives the manifests' tasks when `ctx` has not read them (the preTasksExecution hook); only isolation
 * "none" with uncommitted paths needs them.
 */
export async function checkRunPreconditions({
  ctx,
  runId,
  loadTasks = async () => ok(new Map([...ctx.tasks].map(([id, e]) => [id, e.task]))),
}: {
  ctx: RunContext;
  runId: string;
  loadTasks?: () => Promise<Result<ReadonlyMap<string, Task>, string>>;
}): Promise<Result<void, string>> {
  const marker = join(ctx.workspaceRoot, RUNS_DIR, runId, 'preconditions.ok');
  if (existsSync(marker)) return ok(undefined);
  const lock = createSqliteLock({ file: join(ctx.workspaceRoot, '.vtm', 'locks.db') });
  return lock.withLock('integrate', async () => {
    if (existsSync(marker)) return ok(undefined);
    // A run killed mid-merge left git mid-operation in this checkout: undo it first (it was ours, see merge-journal).
    const recovered = await recoverInterruptedMerge({ repoRoot: ctx.workspaceRoot });
    if (recovered) process.stdout.write(`nx-vtm: ${recovered}\n`);
    const state = await isWorkingTreeClean({ cwd: ctx.workspaceRoot, ignorePaths: getRuntimeIgnorePaths(ctx) });
    if (!state.ok) return err(`nx-vtm: git status failed: ${state.error.message}`);
    let branch: string | null = null;
    if (ctx.options.allowedBranches) {
      const b = await getCurrentBranch({ cwd: ctx.workspaceRoot });
      if (!b.ok) return err(`nx-vtm: cannot read the current git branch: ${b.error.message}`);
      branch = b.value;
    }
    let dirtyPaths = state.value.dirtyPaths;
    if (ctx.options.isolation === 'none' && dirtyPaths.length > 0) {
      const left = await findSharedLeftovers({ ctx, dirtyPaths, loadTasks });
      if (!left.ok) return left;
      for (const [taskId, paths] of left.value.byTask) {
        process.stdout.write(`nx-vtm: ${summarisePaths(paths)} in the checkout ${paths.length === 1 ? 'is' : 'are'} the unfinished work of ${taskId} (started earlier, not completed); kept for it\n`);
      }
      dirtyPaths = left.value.unexplained;
    }
    const blockers = buildGitBlockers({ branch, dirtyPaths, allowedBranches: ctx.options.allowedBranches });
    if (blockers.length > 0) return err(blockers.map((b) => b.message).join('\n'));
    mkdirSync(join(ctx.workspaceRoot, RUNS_DIR, runId), { recursive: true });
    writeFileSync(marker, `${new Date().toISOString()}\n`);
    return ok(undefined);
  });
}

/**
 * isolation "none": the uncommitted paths that tasks nx-vtm started and did not complete left in the shared checkout
 * (see attributeLeftovers): tasks in progress (claimed by this or a killed run), released from a dead owner
 * (`owner_lost`), or blocked. Completed, abandoned and never-started tasks have no leftovers.
 */
async function findSharedLeftovers({
  ctx,
  dirtyPaths,
  loadTasks,
}: {
  ctx: RunContext;
  dirtyPaths: readonly string[];
  loadTasks: () => Promise<Result<ReadonlyMap<string, Task>, string>>;
}): Promise<Result<ReturnType<typeof attributeLeftovers>, string>> {
  const { stateFile, coordinator } = ctx.options;
  if (coordinator.type === 'sqlite' && !existsSync(join(ctx.workspaceRoot, TASK_STORE_DB))) return ok({ byTask: new Map(), unexplained: [...dirtyPaths] });
  const store = openTaskStore({ workspaceRoot: ctx.workspaceRoot, stateFile, coordinator });
  let records: TaskRecord[];
  try {
    records = store.listTasks().filter((r) => r.status === 'in-progress' || r.status === 'blocked' || (r.status === 'pending' && r.reason === 'owner_lost'));
  } finally {
    store.close();
  }
  if (records.length === 0) return ok({ byTask: new Map(), unexplained: [...dirtyPaths] });
  const tasks = await loadTasks();
  if (!tasks.ok) return tasks;
  const unfinished: UnfinishedTask[] = records.map((r) => {
    const task = tasks.value.get(r.taskId);
    const recorded = r.status === 'blocked' ? blockedLeftovers(r) : [];
    return { taskId: r.taskId, own: task ? [...task.file_scope, ...task.test_verification] : [], recorded };
  });
  return ok(attributeLeftovers({ dirtyPaths, unfinished }));
}

/**
 * The agents the run's tasks route to can run here (binary found and starting, flags accepted; the same checks as
 * `nx-vtm doctor`), checked before any task is claimed: a missing CLI refuses the run with
 * `BLOCKED::AGENT-UNAVAILABLE` instead of failing every task after its claim. Warnings (untested version, a probe
 * that timed out, no credentials found: keys can live where no check sees them, e.g. a keychain) are printed and do
 * not block. Probes are shared by the run's executors (see createCachedPort).
 */
export async function checkAgentPreconditions({
  ctx,
  runId,
  tasks,
  env = process.env,
  port,
  print,
}: {
  ctx: RunContext;
  runId: string;
  tasks: readonly Task[];
  env?: NodeJS.ProcessEnv;
  port?: EnvironmentPort;
  print: (line: string) => void;
}): Promise<Result<void, string>> {
  const agents = listTaskAgents(tasks, ctx.options.agent);
  if (agents.length === 0) return ok(undefined);
  const checks = await checkAgents({
    agents,
    env,
    cwd: ctx.workspaceRoot,
    port: port ?? createCachedPort(defaultEnvironmentPort, { cacheFile: join(ctx.workspaceRoot, '.vtm', 'agent-probes.json') }),
  });
  const blocker = buildAgentBlocker(checks);
  if (blocker) return err(blocker);
  for (const c of checks) {
    for (const check of [c.agent, ...(c.fallback ? [c.fallback] : [])]) {
      const warnings = [...(check.credentialProblem && !check.warnings.includes(check.credentialProblem) ? [check.credentialProblem] : []), ...check.warnings];
      for (const w of warnings) print(`nx-vtm: warning: ${w}`);
    }
    if (c.agent.unavailable && c.fallback) print(`nx-vtm: ${c.agent.failures[0]}; its tasks run with the fallback ${c.fallback.adapter}`);
  }
  return ok(undefined);
}

const refusalFile = (workspaceRoot: string, runId: string) => join(workspaceRoot, RUNS_DIR, runId, 'refused-tasks.txt');

/**
 * Called when tasks are refused before any claim: the post-run hook then records nothing for their dependents (they
 * did not fail; nothing ran). One line per task id, appended (the executors of one run may each refuse theirs).
 */
export function writeRunRefusal({ workspaceRoot, runId, taskIds }: { workspaceRoot: string; runId: string; taskIds: readonly string[] }): void {
  mkdirSync(join(workspaceRoot, RUNS_DIR, runId), { recursive: true });
  appendFileSync(refusalFile(workspaceRoot, runId), taskIds.map((id) => `${id}\n`).join(''));
}

/** The tasks of this run refused before any claim (see `writeRunRefusal`). */
export function readRefusedTasks({ workspaceRoot, runId }: { workspaceRoot: string; runId: string }): Set<string> {
  const file = refusalFile(workspaceRoot, runId);
  return new Set(existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
}
