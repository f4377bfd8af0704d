/**
 * Running a set of implement tasks in this process: the glue between Nx (executors), the scheduler driver, the
 * cross-process task store and the per-task pipeline. Used by the batch executor (all tasks of a run) and by the
 * single-task executor (`nx run X:implement`, `--batch=false`), so the limits hold the same way for both, and across
 * several `nx` commands, because every admission goes through the store's write transaction.
 */
import type { NxJsonConfiguration, ProjectConfiguration, TaskGraph } from '@nx/devkit';
import { randomBytes } from 'node:crypto';
import { loadTaskRunContext, type RunContext } from './context';
import { AGENT_STARTUP_GRACE_MS, RESULTS_DIR, runTaskPipeline, settleWorktreeCleanups, type AttemptPort } from './pipeline';
import { createSpareFiller, createWorktreePrimerPorts } from './spares';
import { createPrepositioner, pickDependentsToPrime, type Prepositioner } from './prepositions';
import { createHandoffSourcePort, readDependencyHandoffs } from './handoffs';
import { integrateCachedTasks } from './cache-restore';
import { checkAgentPreconditions, checkRunPreconditions, writeRunRefusal, getIntegrationBranch, listContextFiles, pathExistsIn } from './preconditions';
import { hashTask } from '../manifest/hash';
import type { Task } from '../manifest/schema';
import type { Result } from '../manifest/problems';
import { openTaskStore, type TaskStore } from '../state/task-store';
import { blockedLeftovers, isCompletedFor, type TaskOutcome, type TaskRecord } from '../state/task-record';
import { gitOk, isAncestor } from '../workspace/git';
import { buildTaskBlockers } from '../workspace/preflight';
import { buildEstimates } from '../scheduler/estimate';
import { buildPriorities } from '../scheduler/priority';
import { buildFootprint } from '../scheduler/conflicts';
import { decideAdmission } from '../scheduler/admission';
import { streamScheduledTasks, type DriverPorts, type DriverTask, type RunControl, type TryStartOutcome } from '../scheduler/driver';
import { RateLimitGate } from '../agents/rate-limit-gate';
import { installSignalCleanup, startAgentKeeper } from '../agents/process-runner';
import { stopAgentRun } from './agent-adoption';
import { isSameProcess } from '../state/process-identity';

/** The result of one task of the run, as an Nx batch executor reports it. */
export interface TaskRunResult {
  taskId: string;
  status: 'success' | 'failure' | 'skipped';
  reason?: string;
  terminalOutput: string;
  startTime: number;
  endTime: number;
}

export interface RunTasksInput {
  workspaceRoot: string;
  nxJson: NxJsonConfiguration | undefined;
  projects: Record<string, ProjectConfiguration>;
  /** Nx's task graph of the whole command: dependencies it already handled (ran or restored from cache) are done. */
  fullTaskGraph?: TaskGraph;
  /** Manifest task ids to implement. */
  taskIds: readonly string[];
  /** Name of the implement target (for reading Nx's task graph). */
  targetName: string;
  /** Printed live; also collected per task for Nx's terminal output. */
  print?: (line: string) => void;
  /**
   * Called once per attempt, after the task store claim and before the agent runs (not for a task merged by hand):
   * the task sources record the start (Beads `bd update --claim`). Must not throw; `log` adds to the task's output.
   */
  onTaskStart?: (taskId: string, log: (line: string) => void) => Promise<void>;
  /**
   * The run context the caller already loaded for these tasks (the executors' source gate does), so the manifests
   * are listed and parsed once per run; loaded here when absent.
   */
  loaded?: Result<RunContext, string>;
}

export function createRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

let cleanupInstalled = false;

/** Run the tasks; results are yielded as soon as each is known. Never throws for expected failures. */
export async function* runImplementTasks(input: RunTasksInput): AsyncGenerator<TaskRunResult> {
  const print = input.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const started = Date.now();
  const outputs = new Map<string, string[]>(input.taskIds.map((id) => [id, []]));
  const log = (taskId: string | undefined, line: string) => {
    print(taskId ? `[${taskId}] ${line}` : line);
    if (taskId) outputs.get(taskId)?.push(line);
    else for (const lines of outputs.values()) lines.push(line);
  };
  const failAll = function* (message: string): Generator<TaskRunResult> {
    log(undefined, message);
    for (const taskId of input.taskIds) {
      yield { taskId, status: 'failure', reason: message, terminalOutput: outputs.get(taskId)!.join('\n'), startTime: started, endTime: Date.now() };
    }
  };

  const loaded = input.loaded ?? (await loadTaskRunContext({ workspaceRoot: input.workspaceRoot, nxJson: input.nxJson, taskIds: input.taskIds }));
  if (!loaded.ok) {
    yield* failAll(loaded.error);
    return;
  }
  const ctx = loaded.value;
  const runId = process.env.VTM_RUN_ID || createRunId();

  const unknown = input.taskIds.filter((id) => !ctx.tasks.has(id));
  if (unknown.length > 0) {
    yield* failAll(`nx-vtm: tasks ${unknown.join(', ')} are not in any manifest; the project graph is stale (run \`nx reset\`)`);
    return;
  }
  const blockedManifest = input.taskIds.map((id) => ctx.tasks.get(id)!).find((e) => e.status === 'BLOCKED');
  if (blockedManifest) {
    yield* failAll(`BLOCKED::MANIFEST-STATUS-BLOCKED: ${blockedManifest.file} has "status": "BLOCKED"; resolve its gaps and set it to "OK" before running tasks`);
    return;
  }

  // Whole-run preconditions (clean checkout, allowed branch) once per run; the preTasksExecution hook normally did it.
  const integration = await getIntegrationBranch(ctx);
  if (!integration.ok) {
    yield* failAll(integration.error);
    return;
  }
  const pre = await checkRunPreconditions({ ctx, runId });
  if (!pre.ok) {
    yield* failAll(pre.error);
    return;
  }

  if (!cleanupInstalled) {
    // Agents run in their own process groups: without this, Ctrl-C or Nx stopping the executor would orphan them.
    installSignalCleanup();
    cleanupInstalled = true;
  }

  let store: TaskStore;
  try {
    store = openTaskStore({ workspaceRoot: ctx.workspaceRoot, stateFile: ctx.options.stateFile, coordinator: ctx.options.coordinator });
  } catch (e) {
    yield* failAll(`nx-vtm: cannot open the task store in .vtm/: ${(e as Error).message}`);
    return;
  }
  try {
    // The agents of the tasks still to do can run here (same checks as `nx-vtm doctor`): checked before the store
    // records anything and before any claim, so a missing CLI leaves every task as it was.
    const due = input.taskIds.map((id) => ctx.tasks.get(id)!.task).filter((t) => {
      const record = store.getTask(t.task_id);
      return !(record && isCompletedFor(record, hashTask(t)));
    });
    const agents = await checkAgentPreconditions({ ctx, runId, tasks: due, print: (line) => log(undefined, line) });
    if (!agents.ok) {
      writeRunRefusal({ workspaceRoot: ctx.workspaceRoot, runId, taskIds: input.taskIds });
      yield* failAll(agents.error);
      return;
    }
    // Its Node start-up (~60 ms) while the run sets up, not between the first free slot and the first agent.
    if (due.length > 0) startAgentKeeper();
    const hashCheck = store.checkManifestHash(ctx.manifestHash);
    if (!hashCheck.ok) {
      // Never silently mixed: per-task hashes decide which finished tasks still count; say so once, then move on.
      print(`nx-vtm: ${hashCheck.message}; tasks whose manifest entry changed run again, unchanged completed tasks are kept`);
      store.acceptManifestHash(ctx.manifestHash);
    }
    store.registerTasks({ taskIds: [...ctx.tasks.keys()] });
    yield* runWithStore({ input, ctx, store, runId, integrationBranch: integration.value, log, print, outputs, started });
  } finally {
    store.close();
  }
}

async function* runWithStore({
  input,
  ctx,
  store,
  runId,
  integrationBranch,
  log,
  print,
  outputs,
  started,
}: {
  input: RunTasksInput;
  ctx: RunContext;
  store: TaskStore;
  runId: string;
  integrationBranch: string;
  log: (taskId: string | undefined, line: string) => void;
  /** To the terminal only (`log` with no task copies a line into every task's output). */
  print: (line: string) => void;
  outputs: Map<string, string[]>;
  started: number;
}): AsyncGenerator<TaskRunResult> {
  const { options } = ctx;
  store.logEvent({ type: 'run-start', runId, extra: { tasks: input.taskIds, pid: process.pid } });
  const runSet = new Set(input.taskIds);
  const tasks = input.taskIds.map((id) => ctx.tasks.get(id)!.task);
  const taskHashes = new Map(tasks.map((t) => [t.task_id, hashTask(t)]));
  const startTimes = new Map<string, number>();
  const result = (taskId: string, status: TaskRunResult['status'], reason?: string): TaskRunResult => {
    // Ends with a newline: Nx prints it as is, and the next line must not be glued to the last one.
    const terminalOutput = `${(outputs.get(taskId) ?? []).join('\n')}\n`;
    // A finished task's lines are handed to Nx once; keeping them would grow the batch process with every task done
    // (10,000 tasks in one batch). Later lines for it (none are expected) are dropped by log().
    outputs.delete(taskId);
    const startTime = startTimes.get(taskId) ?? started;
    startTimes.delete(taskId);
    return { taskId, status, reason, terminalOutput, startTime, endTime: Date.now() };
  };

  // Per-task blockers decided before any start (missing context, no ACs, High risk without tests, provisional too
  // early). A task already completed for its current entry is done and never blocked afresh.
  const blockedBefore = new Map<string, string>();
  const due = tasks.filter((t) => {
    const record = store.getTask(t.task_id);
    return !(record && isCompletedFor(record, taskHashes.get(t.task_id)!));
  });
  const REASONS: Record<string, string> = { 'MISSING-CONTEXT': 'missing_context', 'EMPTY-AC': 'empty_ac', 'SPEC-REF-GAP': 'spec_ref_gap', PROVISIONAL: 'provisional' };
  for (const blocker of [...getTaskBlockers(ctx, due), ...getProvisionalBlockers(ctx, due, store)]) {
    const taskId = blocker.taskId!; // task blockers always name their task
    if (blockedBefore.has(taskId)) continue;
    blockedBefore.set(taskId, blocker.message);
    log(taskId, blocker.message);
    const reason = REASONS[blocker.kind] ?? 'blocked';
    const recorded = store.recordOutcome({ taskId, runId, outcome: { status: 'blocked', reason, error: blocker.message, blockers: [blocker.code] } });
    if (!recorded.ok) log(taskId, `nx-vtm: ${recorded.error.message}`);
  }

  // Dependencies outside this run: Nx handled those in its task graph (ran them, or restored them from its cache)
  // before scheduling ours; a restored one's accepted patch is applied first if the branch lacks it. Anything else
  // must already be completed in the store.
  const externalStates = new Map<string, 'completed' | 'failed'>();
  const nxHandled = new Set(Object.keys(input.fullTaskGraph?.tasks ?? {}));
  const outside = [...new Set(tasks.flatMap((t) => t.depends_on_tasks))].filter((d) => !runSet.has(d));
  const restored = await integrateCachedTasks({
    ctx,
    taskIds: outside.filter((d) => nxHandled.has(`${d}:${input.targetName}`)),
    store,
    runId,
    log,
  });
  for (const task of tasks) {
    for (const dep of task.depends_on_tasks) {
      if (runSet.has(dep) || externalStates.has(dep)) continue;
      const depTask = ctx.tasks.get(dep)?.task;
      const record = store.getTask(dep);
      const viaNx = restored.get(dep);
      const done = viaNx
        ? viaNx.status !== 'failed'
        : record !== undefined && depTask !== undefined && isCompletedFor(record, hashTask(depTask));
      externalStates.set(dep, done ? 'completed' : 'failed');
      if (!done && !viaNx) log(task.task_id, `BLOCKED::DEPENDENCY-NOT-DONE::${task.task_id}: ${dep} is ${record?.status ?? 'pending'}; run it first (or drop --exclude-task-dependencies)`);
    }
  }

  const history = new Map<string, number[]>();
  // Tasks an interrupted run left in progress: their agents may still be working (adopted by their next attempt).
  const interrupted = new Set<string>();
  for (const r of store.listTasks()) {
    const minutes = r.outcome.duration_minutes;
    if (r.status === 'completed' && typeof minutes === 'number' && minutes > 0) history.set(r.taskId, [minutes]);
    if (r.status === 'in-progress') interrupted.add(r.taskId);
  }
  const estimates = buildEstimates({ tasks, history });
  const estimatesMs = new Map([...estimates].map(([id, m]) => [id, m * 60_000]));
  const priorities = buildPriorities({ tasks, estimates });

  const driverTasks: DriverTask[] = tasks.map((t) => ({ ...buildFootprint(t), dependsOn: t.depends_on_tasks, estimateMs: estimatesMs.get(t.task_id) }));
  const claims = new Map<string, { token: string; fence: number; previous: TaskRecord | undefined }>();
  const heldElsewhere = new Set<string>();
  const gate = new RateLimitGate();
  const byId = new Map(tasks.map((t) => [t.task_id, t]));
  // Spare worktrees only while tasks of this run are still to start: a run's last task needs none.
  const spares = createSpareFiller({ workspaceRoot: ctx.workspaceRoot, integrationBranch, options, log: (l) => log(undefined, l) });
  // Topped up once the agent of a task that took a spare has started: filling one (a whole checkout) between the
  // worktree and the agent's start-up took the CPU from it (bench:schedule's handoff table).
  let ended = false;
  const onAgentStarted = () => {
    setTimeout(() => {
      if (!ended && startTimes.size < tasks.length) spares.refill();
    }, AGENT_STARTUP_GRACE_MS).unref();
  };
  // Worktrees pre-positioned for the tasks a dependency unblocks (runtime/prepositions.ts): only with spares on, and
  // with merges (the "branch" integration starts a task from its dependencies' branches, not from a merge commit).
  const dependents = new Map<string, string[]>();
  for (const id of priorities.order) {
    for (const dep of byId.get(id)?.depends_on_tasks ?? []) if (runSet.has(dep)) dependents.set(dep, [...(dependents.get(dep) ?? []), id]);
  }
  const primer: Prepositioner | undefined =
    options.isolation === 'worktree' && options.worktree.spares > 0 && options.integration === 'merge' && !options.worktree.setupCommand?.length
      ? createPrepositioner({
          ports: createWorktreePrimerPorts({ workspaceRoot: ctx.workspaceRoot, options }),
          dependentsToPrime: (taskId) =>
            pickDependentsToPrime({
              taskId,
              dependents: dependents.get(taskId) ?? [],
              dependenciesOf: (id) => byId.get(id)?.depends_on_tasks ?? [],
              isDone: (id) => (runSet.has(id) ? store.getTask(id)?.status === 'completed' : externalStates.get(id) === 'completed'),
              isStartable: (id) => {
                const status = store.getTask(id)?.status ?? 'pending';
                return !startTimes.has(id) && !claims.has(id) && !blockedBefore.has(id) && status === 'pending';
              },
              limit: options.wipLimit,
            }),
          log,
        })
      : undefined;

  const ports: DriverPorts = {
    tryStart: (taskId, waitingSinceMs, opts) => {
      const blockedMessage = blockedBefore.get(taskId);
      if (blockedMessage) return { kind: 'finished', success: false, reason: blockedMessage };
      // A rate limit seen by any process of the workspace pauses every process's new dispatches.
      const pause = store.getDispatchPause();
      if (pause) return { kind: 'wait', reason: { kind: 'rate-limited', until: new Date(pause.untilMs).toISOString() } };
      if (!gate.isOpen()) return { kind: 'wait', reason: { kind: 'rate-limited', until: gate.blockedUntil!.toISOString() } };
      const task = byId.get(taskId)!;
      const before = store.getTask(taskId);
      // Another run held this task while we waited, and it ended blocked: use that outcome rather than paying an
      // agent a second time for the same failure (a later, deliberate run retries it).
      if (heldElsewhere.has(taskId) && before?.status === 'blocked' && before.updatedAt >= started) {
        return { kind: 'finished', success: false, reason: `${before.reason ?? 'blocked'} (in another run)` };
      }
      const claim = store.tryClaim({
        taskId,
        footprint: buildFootprint(task),
        taskHash: taskHashes.get(taskId)!,
        runId,
        leaseMs: options.leaseMs,
        wipLimit: options.wipLimit,
        admit: (a) => decideAdmission({ ...a, now: Date.now(), estimatesMs }),
        waitingSinceMs,
        reserveAfterMs: options.exclusiveWaitMs,
        reserveOnly: opts?.reserveOnly === true,
      });
      for (const stale of claim.released) {
        // Said in the task's own output when it is in this run; otherwise on the terminal only: copied into every
        // task's output, as run-wide lines are, a 10,000-task run re-run after a kill held 10,000 such lines per task.
        const takeover = `nx-vtm: took over the stale claim of ${stale.taskId} (${stale.cause}; pid ${stale.owner.pid} on ${stale.owner.host})`;
        if (outputs.has(stale.taskId)) log(stale.taskId, takeover);
        else print(takeover);
        // The pid may have been reused since: only the very agent process the dead owner started counts. It works on
        // under its keeper, keeping its WIP slot and scope in the store until it ends, and the task's next attempt (in
        // this run or a later one) takes over its run: paid once (see agent-adoption.ts, which stops it instead when
        // it cannot take it over). Stopping it here would pay it again whenever the task is run next.
        const agentAlive = stale.onThisHost && stale.agent !== null && isSameProcess(stale.agent);
        if (agentAlive) {
          log(
            stale.taskId,
            byId.has(stale.taskId)
              ? `its agent (pid ${stale.agent!.pid}) is still running: the task's next attempt takes over its run`
              : `its agent (pid ${stale.agent!.pid}) is still running: it keeps its WIP slot until it ends, and the task's next run takes over its work`,
          );
          continue;
        }
        // What the ended agent left running outside its group (setsid): found by its tag, however its pid was reused.
        if (stale.onThisHost) {
          const escaped = stopAgentRun({ pid: undefined, taskId: stale.taskId, runId: stale.runId });
          if (escaped > 0) log(stale.taskId, `killed ${escaped} process${escaped === 1 ? '' : 'es'} the interrupted attempt's agent left running`);
        }
      }
      if (claim.kind === 'claimed') {
        claims.set(taskId, { token: claim.token, fence: claim.fence, previous: before });
        if (claim.resume) log(taskId, `continuing the attempt of ${claim.previousOwner ? `pid ${claim.previousOwner.owner.pid}` : 'an earlier run'} after its stage "${claim.resume.stage}"`);
      }
      if (claim.kind === 'held') heldElsewhere.add(taskId);
      return toTryStart(claim, opts?.reserveOnly === true);
    },
    run: async (taskId, control) => {
      const claim = claims.get(taskId);
      if (!claim) return { success: false, reason: `internal: no claim for ${taskId}` };
      startTimes.set(taskId, Date.now());
      const task = byId.get(taskId)!;
      const byHand = await findMergedByHand({ ctx, task, previous: claim.previous, integrationBranch });
      if (byHand) {
        const finished = store.finish({ taskId, token: claim.token, outcome: byHand });
        log(taskId, `vtm/${taskId} was merged by hand after its merge conflict: completed, no agent called`);
        return finished.ok ? { success: true } : { success: false, reason: finished.error.message };
      }
      await input.onTaskStart?.(taskId, (l) => log(taskId, l));
      return runClaimedTask({ ctx, store, runId, integrationBranch, task, token: claim.token, fence: claim.fence, gate, control, onAgentStarted, primer, log: (l) => log(taskId, l) });
    },
    now: () => Date.now(),
    // Claims, finishes and parks of every process bump it: a poll that finds it unchanged skips the full pass.
    storeVersion: () => store.getChangeVersion(),
    waitForChange: (ms, signal) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      }),
    report: (event) => {
      // Waits decided by this process's own pre-check never reach the store; log them (the store logs its own refusals).
      if (event.kind === 'waiting') store.logEvent({ type: 'wait', runId, taskId: event.taskId, status: 'pending', reason: event.reason.kind, extra: { wait: event.reason, line: event.line } });
      if (event.kind === 'finished' && !event.result.ranHere && event.result.status === 'success') {
        log(event.taskId, `${event.taskId}: already completed; not run again (no agent called)`);
      } else log(event.taskId, event.line);
    },
  };

  for await (const r of streamScheduledTasks(
    {
      tasks: driverTasks,
      externalStates,
      // Interrupted attempts first: an agent a dead run left working still takes a WIP slot until its task's next
      // attempt adopts it, so adopting it before starting anything else keeps the agents at work within the limit.
      order: interrupted.size === 0 ? priorities.order : [...priorities.order.filter((id) => interrupted.has(id)), ...priorities.order.filter((id) => !interrupted.has(id))],
      wipLimit: options.wipLimit,
      pollMs: options.pollMs,
    },
    ports,
  )) {
    if (r.status === 'skipped-dependency-failed') {
      const reason = r.reason ?? 'dependency_failed';
      if (store.getTask(r.taskId)?.status === 'completed') {
        // Done earlier against an older version of the dependency, and already integrated: it stays completed.
        log(r.taskId, `not re-checked: ${reason}; it stays completed from an earlier run`);
      } else {
        const recorded = store.recordOutcome({ taskId: r.taskId, runId, outcome: { status: 'blocked', reason, error: `not started: ${reason}` } });
        if (!recorded.ok) log(r.taskId, `nx-vtm: ${recorded.error.message}`);
        log(r.taskId, `not started: ${reason}`);
      }
      yield result(r.taskId, 'skipped', reason);
    } else {
      yield result(r.taskId, r.status, r.reason);
    }
  }
  ended = true;
  await primer?.settle();
  await spares.settle();
  await settleWorktreeCleanups();
}

/** The store's answer to a claim, in the driver's terms. */
function toTryStart(claim: ReturnType<TaskStore['tryClaim']>, reserveOnly: boolean): TryStartOutcome {
  switch (claim.kind) {
    case 'claimed':
      if (reserveOnly) throw new Error('internal: the store started a task asked only to reserve');
      return { kind: 'started' };
    case 'completed':
      return { kind: 'finished', success: true, reason: 'completed earlier' };
    case 'held':
      return { kind: 'running-elsewhere', owner: `pid ${claim.owner.pid} on ${claim.owner.host} (run ${claim.runId})` };
    case 'wait':
      return { kind: 'wait', reason: claim.reason };
    case 'refused':
      return { kind: 'finished', success: false, reason: claim.error.message };
  }
}

/**
 * A task blocked by a merge conflict whose kept branch the user has since merged by hand is done: record it completed
 * (with the earlier attempt's results) instead of running its agent again.
 */
async function findMergedByHand({
  ctx,
  task,
  previous,
  integrationBranch,
}: {
  ctx: RunContext;
  task: Task;
  previous: TaskRecord | undefined;
  integrationBranch: string;
}): Promise<TaskOutcome | undefined> {
  if (previous?.status !== 'blocked' || previous.reason !== 'merge_conflict') return undefined;
  const branch = `vtm/${task.task_id}`;
  const exists = await gitOk({ cwd: ctx.workspaceRoot, args: ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`] });
  if (!exists.ok) return undefined;
  const merged = await isAncestor({ cwd: ctx.workspaceRoot, ancestor: branch, descendant: integrationBranch });
  if (!merged.ok || !merged.value) return undefined;
  // The acceptance criteria stay as the agent reported them in that attempt (merging by hand claims none).
  return {
    ...previous.outcome,
    status: 'completed',
    reason: null,
    error: null,
    integration: { strategy: 'merge', status: 'merged_by_hand', branch, sha: exists.value.trim() },
  };
}

/** Run one claimed task: heartbeat the claim, run the pipeline, wait out rate limits, record the outcome. */
async function runClaimedTask({
  ctx,
  store,
  runId,
  integrationBranch,
  task,
  token,
  fence,
  gate,
  control,
  onAgentStarted,
  primer,
  log,
}: {
  ctx: RunContext;
  store: TaskStore;
  runId: string;
  integrationBranch: string;
  task: Task;
  token: string;
  fence: number;
  gate: RateLimitGate;
  /** The driver's side of the WIP slot (absent when a caller runs one task outside the driver). */
  control?: RunControl;
  onAgentStarted?: () => void;
  primer?: Prepositioner;
  log: (line: string) => void;
}): Promise<{ success: boolean; reason?: string }> {
  const { options } = ctx;
  const abort = new AbortController();
  let agentPid: number | undefined;
  const heartbeat = setInterval(() => {
    let held: boolean;
    try {
      held = store.heartbeat({ taskId: task.task_id, token, agentPid });
    } catch (e) {
      // The coordinator did not answer (a PostgreSQL restart longer than its reconnect budget). Thrown from a timer
      // this would end the whole process; the claim stands until its lease expires, so try again next time.
      log(`heartbeat not recorded: ${(e as Error).message}`);
      return;
    }
    if (!held) {
      log('claim lost (another process took it over); stopping the agent');
      abort.abort();
    }
  }, options.heartbeatMs);
  heartbeat.unref();
  const taskId = task.task_id;
  // The pipeline's view of the claim: every stage is a compare-and-set on (token, fence).
  const attemptPort: AttemptPort = {
    progress: () => {
      const p = store.getTask(taskId)?.progress ?? null;
      return p && p.fence === fence ? p : null;
    },
    advance: (stage, data) => store.advanceStage({ taskId, token, fence, stage, data, runId }),
    holds: () => store.holdsClaim({ taskId, token, fence }),
    park: () => {
      // Local first (the driver may start another task at once), then across processes.
      control?.park();
      if (store.setParked({ taskId, token, fence, parked: true, wipLimit: options.wipLimit, runId }) === 'lost') abort.abort();
    },
    takeSlot: async () => {
      await control?.takeSlot();
      for (let waited = false; ; waited = true) {
        const r = store.setParked({ taskId, token, fence, parked: false, wipLimit: options.wipLimit, runId });
        if (r !== 'wait') return r === 'ok';
        if (!waited) log(`repair turn waits for a WIP slot (${options.wipLimit} agents at work in other processes)`);
        if (abort.signal.aborted) return false;
        await new Promise((resolve) => setTimeout(resolve, options.pollMs));
      }
    },
  };
  try {
    for (let attempt = 1; ; attempt++) {
      const r = await runTaskPipeline({
        workspaceRoot: ctx.workspaceRoot,
        task,
        options,
        runId,
        integrationBranch,
        stateFile: options.stateFile,
        signal: abort.signal,
        attempt: attemptPort,
        ...(primer
          ? {
              onWorkSaved: (sha: string) => primer.workSaved(taskId, sha),
              onIntegrated: (tip: string) => primer.integrated(taskId, tip),
              onMergeCommit: (sha: string) => primer.mergeCommitReady(taskId, sha),
              takePrimedWorktree: () => primer.take(taskId),
            }
          : {}),
        getPathsOwnedElsewhere: (sinceMs) => getPathsOwnedElsewhere({ ctx, store, taskId, sinceMs }),
        getHandoffs: () =>
          readDependencyHandoffs({
            task,
            port: createHandoffSourcePort({ workspaceRoot: ctx.workspaceRoot, resultsDir: RESULTS_DIR, getTask: (id) => ctx.tasks.get(id)?.task, getRecord: (id) => store.getTask(id) }),
          }),
        onAgentStarting: (keeperPid) => {
          agentPid = keeperPid;
          store.heartbeat({ taskId: task.task_id, token, agentPid: keeperPid });
        },
        onAgentSpawn: (pid) => {
          store.logEvent({ type: 'start', runId, taskId: task.task_id, status: 'in-progress', extra: { agent_pid: pid } });
          agentPid = pid;
          store.heartbeat({ taskId: task.task_id, token, agentPid: pid });
          onAgentStarted?.();
        },
        log,
      });
      const resetAt = r.outcome.reason === 'rate_limited' ? (r.outcome.reset_at as string | undefined) : undefined;
      if (r.outcome.reason === 'rate_limited' && attempt <= MAX_RATE_LIMIT_WAITS && !abort.signal.aborted) {
        // A usage limit pauses new dispatches until it lifts, and this task runs again then; it is not a failure.
        const until = resetAt ? Date.parse(resetAt) : Date.now() + 15 * 60_000;
        gate.blockUntil(until);
        store.pauseDispatchUntil({ untilMs: until, reason: `${task.task_id}: ${r.summary}`, runId });
        log(`agent rate-limited until ${new Date(until).toISOString()}; new dispatches paused, this task retries then`);
        await gate.waitUntilOpen(abort.signal).catch(() => undefined);
        continue;
      }
      if (r.claimLost) {
        // Another process owns the task now and records its outcome; this one changed nothing after losing it.
        log(r.summary);
        return { success: false, reason: 'claim_lost' };
      }
      const finished = store.finish({ taskId: task.task_id, token, outcome: r.outcome });
      if (!finished.ok) {
        log(`result not recorded: ${finished.error.message}`);
        return { success: false, reason: finished.error.message };
      }
      const ok = r.outcome.status === 'completed';
      log(ok ? `completed: ${r.summary}` : `${r.outcome.status} (${r.outcome.reason}): ${r.summary}`);
      return { success: ok, reason: ok ? undefined : `${r.outcome.reason}` };
    }
  } catch (e) {
    if ((e as { vtmUnreachable?: boolean }).vtmUnreachable) {
      // Not the task's failure: its stages so far are recorded, and the next run continues after the last one
      // (recording "blocked" here, once the database answers again, would make that run pay its agent again).
      log(`stopped: ${(e as Error).message}`);
      return { success: false, reason: 'coordinator_unreachable' };
    }
    const message = `nx-vtm internal error: ${(e as Error).stack ?? String(e)}`;
    log(message);
    try {
      store.finish({ taskId: task.task_id, token, outcome: { status: 'blocked', reason: 'internal_error', error: (e as Error).message } });
    } catch (recordError) {
      // The store itself failed (its database unreachable): the claim stays, and a later run takes it over and
      // continues from the last stage recorded.
      log(`outcome not recorded: ${(recordError as Error).message}`);
    }
    return { success: false, reason: 'internal_error' };
  } finally {
    clearInterval(heartbeat);
  }
}

const MAX_RATE_LIMIT_WAITS = 3;

/**
 * isolation "none": the paths that are not this task's in the shared checkout. The footprints of the tasks running
 * beside it (file scope and declared test files: the audit allows both), and what the tasks that ended blocked since
 * it started left behind (their files stay uncommitted in the checkout). A completed task's files are committed, so a
 * change to them now is someone's new change and is judged normally.
 */
function getPathsOwnedElsewhere({ ctx, store, taskId, sinceMs }: { ctx: RunContext; store: TaskStore; taskId: string; sinceMs: number }): string[] {
  const running = store
    .getRunningClaims()
    .filter((c) => c.taskId !== taskId)
    .flatMap((c) => [...c.footprint.fileScope, ...(ctx.tasks.get(c.taskId)?.task.test_verification ?? [])]);
  // Released from a dead owner: its agent may still be writing (it is adopted, not killed), so its scope is not ours.
  const released = store
    .listReleased()
    .filter((r) => r.taskId !== taskId)
    .flatMap((r) => {
      const t = ctx.tasks.get(r.taskId)?.task;
      return t ? [...t.file_scope, ...t.test_verification] : [];
    });
  const leftovers = store
    .listBlockedSince(sinceMs)
    .filter((r) => r.taskId !== taskId)
    .flatMap(blockedLeftovers);
  return [...running, ...released, ...leftovers];
}

/**
 * The planners' rule: a provisional task may change, so it waits until every non-provisional High-risk task of the
 * workspace is in progress or done (risky foundations first, guesses last).
 */
function getProvisionalBlockers(ctx: RunContext, tasks: readonly Task[], store: TaskStore) {
  const open = [...ctx.tasks.values()]
    .map((e) => e.task)
    .filter((t) => t.risk === 'High' && !t.provisional)
    .filter((t) => !['in-progress', 'completed', 'abandoned'].includes(store.getTask(t.task_id)?.status ?? 'pending'))
    .map((t) => t.task_id);
  if (open.length === 0) return [];
  return tasks
    .filter((t) => t.provisional)
    .map((t) => ({
      kind: 'PROVISIONAL',
      code: `BLOCKED::PROVISIONAL::${t.task_id}`,
      taskId: t.task_id,
      message: `BLOCKED::PROVISIONAL::${t.task_id}: a provisional task waits until every non-provisional High-risk task is in progress or done (not yet: ${open.slice(0, 5).join(', ')}${open.length > 5 ? ', ...' : ''}); run those first, or set "provisional": false`,
    }));
}

function getTaskBlockers(ctx: RunContext, tasks: readonly Task[]) {
  const contextFiles = listContextFiles(ctx.workspaceRoot, ctx.options.contextDirs);
  return tasks.flatMap((task) => buildTaskBlockers({ task, pathExists: pathExistsIn(ctx.workspaceRoot), contextFiles }).blockers);
}
