/**
 * Results restored from the Nx cache (local or remote) carry the accepted patch of the task
 * (`.vtm/results/<id>/outcome/task.patch`) but not its commit: a second clone sharing the cache has none of the
 * first clone's merges. Before dependents build on such a task, and after a run served wholly from cache, the patch is
 * applied to the integration branch and committed like an agent's work, so the checkout ends with the same code.
 * A patch that cannot be applied is reported (never silently skipped) and the task does not count as done.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Task } from '../manifest/schema';
import { getCurrentBranch, gitOk, isAncestor, isWorkingTreeClean } from '../workspace/git';
import { fetchBranch, syncFromRemote } from '../workspace/remote';
import { createSqliteLock } from '../workspace/sqlite-lock';
import { buildTaskCommitMessage } from '../workspace/integrate';
import { getResultPaths } from './pipeline';
import type { RunContext } from './context';
import type { TaskStore } from '../state/task-store';
import { isCompletedFor } from '../state/task-record';
import { hashTask } from '../manifest/hash';
import { getRuntimeIgnorePaths } from './preconditions';

/** Task ids in dependency order (dependencies first), over every task of the workspace. Pure. */
export function getTopologicalOrder(ctx: Pick<RunContext, 'tasks'>): string[] {
  const order: string[] = [];
  const state = new Map<string, 1 | 2>();
  for (const start of ctx.tasks.keys()) {
    if (state.has(start)) continue;
    const stack: { id: string; i: number }[] = [{ id: start, i: 0 }];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const deps = ctx.tasks.get(top.id)?.task.depends_on_tasks ?? [];
      if (top.i < deps.length) {
        const d = deps[top.i++];
        if (!state.has(d) && ctx.tasks.has(d)) {
          state.set(d, 1);
          stack.push({ id: d, i: 0 });
        }
      } else {
        state.set(top.id, 2);
        order.push(top.id);
        stack.pop();
      }
    }
  }
  return order;
}

/**
 * Tasks Nx restored from its cache: apply each one's accepted patch where the branch lacks it (dependencies first)
 * and record it completed (from cache). Returns the outcome per task; a failed one must not count as done.
 */
export async function integrateCachedTasks({
  ctx,
  taskIds,
  store,
  runId,
  log,
}: {
  ctx: RunContext;
  taskIds: readonly string[];
  store: TaskStore;
  runId: string;
  log: (taskId: string, line: string) => void;
}): Promise<Map<string, RestoreOutcome>> {
  const wanted = new Set(taskIds);
  const outcomes = new Map<string, RestoreOutcome>();
  for (const id of getTopologicalOrder(ctx).filter((t) => wanted.has(t))) {
    const task = ctx.tasks.get(id)!.task;
    const taskHash = hashTask(task);
    const outcome = await ensureTaskIntegrated({
      workspaceRoot: ctx.workspaceRoot,
      task,
      ignorePaths: getRuntimeIgnorePaths(ctx),
      ...(ctx.options.remote ? { remote: ctx.options.remote } : {}),
    });
    outcomes.set(id, outcome);
    if (outcome.status === 'failed') {
      log(id, `cached result not integrated: ${outcome.message}`);
      continue;
    }
    if (outcome.status === 'integrated' && outcome.how === 'applied') log(id, `cached result applied to the branch (${outcome.sha.slice(0, 8)}), no agent called`);
    if (outcome.status === 'branch-left') log(id, `cached result is on branch ${outcome.branch} (integration "branch"): not merged`);
    const record = store.getTask(id);
    if (record && isCompletedFor(record, taskHash)) continue;
    const restored = readRestoredResult(ctx.workspaceRoot, id) as Record<string, unknown> | undefined;
    const { task_id: _t, run_id: _r, status: _s, reason: _re, ...fields } = restored ?? {};
    const r = store.recordOutcome({
      taskId: id,
      runId,
      fromCache: true,
      taskHash,
      outcome: {
        ...fields,
        status: 'completed',
        reason: null,
        ...(outcome.status === 'integrated' ? { integration: { ...(fields.integration as object), status: outcome.how === 'applied' ? 'applied_from_cache' : (fields.integration as { status?: string } | undefined)?.status, sha: outcome.sha } } : {}),
      },
    });
    if (!r.ok) log(id, `nx-vtm: ${r.error.message}`);
  }
  return outcomes;
}

export type RestoreOutcome =
  | { status: 'integrated'; sha: string; how: 'already-in-branch' | 'applied' | 'no-changes' }
  | { status: 'no-result' }
  | { status: 'branch-left'; branch: string }
  | { status: 'failed'; message: string };

interface RestoredResult {
  integration?: { status?: string; sha?: string; branch?: string };
  run_id?: string;
}

export function readRestoredResult(workspaceRoot: string, taskId: string): RestoredResult | undefined {
  const file = join(getResultPaths(workspaceRoot, taskId).outcomeDir, 'result.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RestoredResult;
  } catch {
    return undefined;
  }
}

/**
 * With a shared remote: fast-forward the checked-out integration branch to the remote's (under this checkout's
 * integration lock), or, for a result left on a branch, create the local `vtm/<id>` from the remote's when this clone
 * lacks it. A message when that fails.
 */
async function fetchFromRemote({ workspaceRoot, remote, id, branchLeft }: { workspaceRoot: string; remote: string; id: string; branchLeft?: string }): Promise<string | undefined> {
  if (branchLeft) {
    const fetched = await fetchBranch({ cwd: workspaceRoot, remote, branch: branchLeft });
    if (!fetched.ok) return `${id}: ${fetched.error.message}`;
    const local = await gitOk({ cwd: workspaceRoot, args: ['rev-parse', '--verify', '--quiet', `refs/heads/${branchLeft}`] });
    if (!local.ok && fetched.value) {
      const created = await gitOk({ cwd: workspaceRoot, args: ['branch', branchLeft, fetched.value] });
      if (!created.ok) return `${id}: cannot create ${branchLeft} from ${remote}/${branchLeft}: ${created.error.message}`;
    }
    return undefined;
  }
  const current = await getCurrentBranch({ cwd: workspaceRoot });
  if (!current.ok || current.value === null) return undefined;
  const branch = current.value;
  const synced = await createSqliteLock({ file: join(workspaceRoot, '.vtm', 'locks.db') }).withLock('integrate', () => syncFromRemote({ repoRoot: workspaceRoot, remote, branch }));
  return synced.ok ? undefined : `${id}: cannot bring ${branch} up to ${remote}/${branch} before restoring its cached result: ${synced.error.message}`;
}

/** Make sure a completed task's accepted work is in the checked-out integration branch; apply its patch if not. */
export async function ensureTaskIntegrated({
  workspaceRoot,
  task,
  ignorePaths,
  remote,
}: {
  workspaceRoot: string;
  task: Task;
  ignorePaths: readonly string[];
  /** The shared git remote (option `remote`): a result cached by another machine is looked up there first. */
  remote?: string;
}): Promise<RestoreOutcome> {
  const id = task.task_id;
  const result = readRestoredResult(workspaceRoot, id);
  if (!result) return { status: 'no-result' };
  const integration = result.integration ?? {};
  if (remote) {
    // The result may come from another machine (a shared Nx cache): its work is on the remote, pushed before the task
    // was recorded completed. Fetched first, so it is recognised instead of being applied again as a second commit.
    const fetched = await fetchFromRemote({ workspaceRoot, remote, id, branchLeft: integration.status === 'branch_left' ? (integration.branch ?? `vtm/${id}`) : undefined });
    if (fetched) return { status: 'failed', message: fetched };
  }
  if (integration.status === 'branch_left') {
    const branch = integration.branch ?? `vtm/${id}`;
    const exists = await gitOk({ cwd: workspaceRoot, args: ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`] });
    if (exists.ok) return { status: 'branch-left', branch };
    // Another clone's branch: the work is only in the cached patch, which "branch" integration never applies here.
    return { status: 'failed', message: `${id}: its cached result lives on branch ${branch}, which this clone does not have; fetch it (git fetch origin ${branch}:${branch}) or re-run with --skip-nx-cache` };
  }
  if (integration.sha) {
    const known = await isAncestor({ cwd: workspaceRoot, ancestor: integration.sha, descendant: 'HEAD' });
    if (known.ok && known.value) return { status: 'integrated', sha: integration.sha, how: 'already-in-branch' };
  }
  const patchFile = join(getResultPaths(workspaceRoot, id).outcomeDir, 'task.patch');
  if (!existsSync(patchFile) || readFileSync(patchFile, 'utf8').trim() === '') {
    const head = await gitOk({ cwd: workspaceRoot, args: ['rev-parse', 'HEAD'] });
    return { status: 'integrated', sha: head.ok ? head.value.trim() : '', how: 'no-changes' };
  }
  const lock = createSqliteLock({ file: join(workspaceRoot, '.vtm', 'locks.db') });
  return lock.withLock('integrate', async (): Promise<RestoreOutcome> => {
    // Already applied (by another process, or the same change made by hand)?
    const reverse = await gitOk({ cwd: workspaceRoot, args: ['apply', '--check', '--reverse', patchFile] });
    if (reverse.ok) {
      const head = await gitOk({ cwd: workspaceRoot, args: ['rev-parse', 'HEAD'] });
      return { status: 'integrated', sha: head.ok ? head.value.trim() : '', how: 'already-in-branch' };
    }
    const clean = await isWorkingTreeClean({ cwd: workspaceRoot, ignorePaths });
    if (!clean.ok || !clean.value.clean) {
      return {
        status: 'failed',
        message: `${id}: the cached result cannot be applied: the checkout has uncommitted changes (${clean.ok ? clean.value.dirtyPaths.slice(0, 5).join(', ') : clean.error.message})`,
      };
    }
    // Checked first, so a patch that does not apply leaves the user's checkout untouched.
    const check = await gitOk({ cwd: workspaceRoot, args: ['apply', '--check', '--index', patchFile] });
    const applied = check.ok ? await gitOk({ cwd: workspaceRoot, args: ['apply', '--index', patchFile] }) : check;
    if (!applied.ok) {
      return {
        status: 'failed',
        message: `${id}: the cached patch ${patchFile} does not apply to the current branch (${applied.error.message.split('\n')[0]}); re-run the task with --skip-nx-cache`,
      };
    }
    const note = `Applied from the Nx cache${result.run_id ? ` (result of run ${result.run_id})` : ''}.`;
    const message = buildTaskCommitMessage({ taskId: id, title: task.title, acceptanceCriteria: task.acceptance_criteria }).replace(
      /\nVTM-Task:/,
      `\n${note}\n\nVTM-Task:`,
    );
    const committed = await gitOk({ cwd: workspaceRoot, args: ['commit', '--quiet', '--no-verify', '-F', '-'], input: message });
    if (!committed.ok) {
      return { status: 'failed', message: `${id}: committing the cached patch failed (it is staged in the checkout): ${committed.error.message}` };
    }
    const head = await gitOk({ cwd: workspaceRoot, args: ['rev-parse', 'HEAD'] });
    return { status: 'integrated', sha: head.ok ? head.value.trim() : '', how: 'applied' };
  });
}
