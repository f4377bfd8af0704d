/**
 * The event-driven list scheduler: runs one process's share of a run through injected ports.
 *
 * No waves, no barriers: whenever one of this process's tasks ends (or the poll interval passes, because another
 * process may have freed something), the highest-priority ready tasks that admission allows are started. Barriers
 * were the big loss in simulation (17-54 % longer on average, up to 2.8x); see the scheduling note.
 *
 * The driver owns ordering, readiness, failure propagation and this process's WIP; the cross-process coordinator
 * behind `tryStart` owns the global truth (claims of every process, reservations, results of earlier runs). The driver
 * pre-checks admission over its own running tasks with the same `decideAdmission`, so local concurrency never exceeds
 * the WIP limit and an exclusive task never starts beside one of our own tasks, whatever the store answers.
 */
import { decideAdmission, formatWaitReason, getWaitKey, orderForDispatch } from './admission';
import type { RunningTask, TaskFootprint, WaitReason } from './types';

/** A task of this run: its admission footprint and the ids it depends on. */
export interface DriverTask extends TaskFootprint {
  /** `depends_on_tasks`: ids in this run, or ids whose state is given in `externalStates`. */
  dependsOn: readonly string[];
}

/** What the cross-process coordinator answers when asked to start a task. */
export type TryStartOutcome =
  /** Claimed for this process: the driver calls `run` next. */
  | { kind: 'started' }
  /** Not admitted now (by the claims of all processes, or a reservation). */
  | { kind: 'wait'; reason: WaitReason }
  /** Another process holds a live claim on this task; ask again later and use its outcome. */
  | { kind: 'running-elsewhere'; owner: string }
  /** Already has an outcome: completed in an earlier run, or another process just finished it. */
  | { kind: 'finished'; success: boolean; reason?: string };

/** Outcome of running one task in this process. */
export interface RunOutcome {
  success: boolean;
  /** Why it failed (one line naming what was seen), or a note on success. */
  reason?: string;
}

export type DriverTaskStatus = 'success' | 'failure' | 'skipped-dependency-failed';

/** The final result of one task of the run. */
export interface DriverTaskResult {
  taskId: string;
  status: DriverTaskStatus;
  /** Failure reason; `dependency_failed:<id>` (the failed task at the root) for skipped tasks. */
  reason?: string;
  /** True when this process ran the task; false when another process or an earlier run produced the outcome. */
  ranHere: boolean;
}

/** Progress the driver reports; `line` is ready to print. */
export type DriverEvent =
  | { kind: 'started'; taskId: string; at: number; line: string }
  | { kind: 'waiting'; taskId: string; at: number; reason: WaitReason; line: string }
  | { kind: 'running-elsewhere'; taskId: string; at: number; owner: string; line: string }
  | { kind: 'finished'; taskId: string; at: number; result: DriverTaskResult; line: string };

/** The world as the driver sees it. */
export interface DriverPorts {
  /**
   * Called for a ready task that passed the local pre-check, in priority order, to claim it across processes; also
   * called with `reserveOnly` for an exclusive task the local pre-check refused, so the coordinator can reserve the
   * workspace once it has waited long enough (it must then never answer 'started').
   */
  tryStart(
    taskId: string,
    waitingSinceMs: number,
    options?: { reserveOnly?: boolean },
  ): TryStartOutcome | Promise<TryStartOutcome>;
  /**
   * Called once per task, only after `tryStart` answered 'started': runs the agent and its checks. `control` lets
   * the run free its WIP slot while its work waits in the merge queue, and take one again for a repair turn.
   */
  run(taskId: string, control: RunControl): Promise<RunOutcome>;
  /** Called whenever the driver needs the time (epoch ms, or a fake clock in tests). */
  now(): number;
  /**
   * Called when nothing more can start now: resolves after `ms`, or earlier when something may have changed
   * elsewhere. The driver aborts `signal` when one of its own tasks ends first (release timers then).
   */
  waitForChange(ms: number, signal: AbortSignal): Promise<void>;
  /** Called for every event; waiting reasons only when they change for a task. */
  report(event: DriverEvent): void;
}

/** What a running task may ask of the driver about its WIP slot (this process's side of `TaskStore.setParked`). */
export interface RunControl {
  /** The task's agent is done and its work waits to be merged: its slot is free for another task (scope kept). */
  park(): void;
  /** Take a slot again (for a repair turn): resolves when one is free here, ahead of ready tasks not yet started. */
  takeSlot(): Promise<void>;
}

/** Inputs of one driver run. */
export interface DriverOptions {
  tasks: readonly DriverTask[];
  /** States of dependencies outside this run. A dependency neither in the run nor here is a caller bug (throws). */
  externalStates?: ReadonlyMap<string, 'completed' | 'failed'>;
  /** Task ids, highest priority first (`buildPriorities(...).order`); ids missing from it go last, in input order. */
  order: readonly string[];
  /** Maximum number of tasks running at once (this process; the coordinator enforces it across processes). */
  wipLimit: number;
  /** How long to wait for a change before asking the coordinator again, in ms. */
  pollMs: number;
  /** Called with each task's result as soon as it is known. */
  onResult?: (result: DriverTaskResult) => void;
}

/**
 * Refusals that hold for every non-exclusive candidate, so the rest of a pass need not ask again. Not 'reserved': a
 * shorter task further down may still backfill around the reservation.
 */
const BROAD_REASONS: ReadonlySet<WaitReason['kind']> = new Set(['wip', 'exclusive-running']);

function validate({ tasks, externalStates, wipLimit, pollMs }: DriverOptions): void {
  if (!Number.isInteger(wipLimit) || wipLimit < 1) throw new Error(`driver: wipLimit must be an integer >= 1, got ${wipLimit}`);
  if (!(pollMs > 0)) throw new Error(`driver: pollMs must be > 0, got ${pollMs}`);
  const ids = new Set<string>();
  for (const t of tasks) {
    if (ids.has(t.taskId)) throw new Error(`driver: task ${t.taskId} appears twice in the run`);
    ids.add(t.taskId);
  }
  for (const t of tasks) {
    for (const dep of t.dependsOn) {
      if (dep === t.taskId) throw new Error(`driver: task ${t.taskId} depends on itself`);
      if (!ids.has(dep) && !externalStates?.has(dep)) {
        throw new Error(`driver: task ${t.taskId} depends on ${dep}, which is neither in the run nor in externalStates`);
      }
    }
  }
  // Kahn over the in-run edges: a cycle would otherwise only show once everything else has run.
  const pending = new Map(tasks.map((t) => [t.taskId, new Set(t.dependsOn.filter((d) => ids.has(d))).size]));
  const dependents = new Map<string, string[]>(tasks.map((t) => [t.taskId, []]));
  for (const t of tasks) for (const d of new Set(t.dependsOn)) if (ids.has(d)) dependents.get(d)!.push(t.taskId);
  const queue = tasks.filter((t) => pending.get(t.taskId) === 0).map((t) => t.taskId);
  for (let k = 0; k < queue.length; k++) {
    for (const d of dependents.get(queue[k])!) {
      const left = pending.get(d)! - 1;
      pending.set(d, left);
      if (left === 0) queue.push(d);
    }
  }
  if (queue.length < tasks.length) {
    const stuck = tasks.filter((t) => pending.get(t.taskId)! > 0).map((t) => t.taskId);
    throw new Error(`driver: dependency cycle through ${stuck.join(', ')}`);
  }
}

/**
 * Run the tasks of this run to completion: each task ends as success, failure, or skipped because a dependency failed
 * (only the failed task's transitive dependents are skipped; everything else continues). Resolves with every result;
 * `onResult` and `report` see each one as it happens. Rejects on invalid input (unknown dependency, duplicate id,
 * cycle, bad limits) before starting anything, and when the coordinator throws (or claims a task it was told not to):
 * then nothing more starts, this process's running tasks finish and are reported, and the error is rethrown.
 */
export async function runScheduledTasks(options: DriverOptions, ports: DriverPorts): Promise<Map<string, DriverTaskResult>> {
  validate(options);
  const { tasks, externalStates = new Map(), order, wipLimit, pollMs, onResult } = options;

  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const rank = new Map<string, number>();
  order.forEach((id, r) => byId.has(id) && !rank.has(id) && rank.set(id, r));
  tasks.forEach((t, i) => rank.has(t.taskId) || rank.set(t.taskId, order.length + i));

  const dependents = new Map<string, string[]>(tasks.map((t) => [t.taskId, []]));
  const pendingDeps = new Map<string, number>();
  for (const t of tasks) {
    const inRun = [...new Set(t.dependsOn)].filter((d) => byId.has(d));
    for (const d of inRun) dependents.get(d)!.push(t.taskId);
    pendingDeps.set(t.taskId, inRun.length);
  }

  const results = new Map<string, DriverTaskResult>();
  /** Ready tasks not yet started here, sorted by rank. */
  const ready: string[] = [];
  const readySince = new Map<string, number>();
  const runningHere = new Map<string, RunningTask>();
  const lastLine = new Map<string, string>();
  const completions: { taskId: string; outcome: RunOutcome }[] = [];
  let wakeUp: () => void = () => {};
  /** Something changed while the loop was not asleep (a park, a slot request): look again before sleeping. */
  let poked = false;
  const poke = (): void => {
    poked = true;
    wakeUp();
  };
  /** Parked tasks asking for a slot back, in request order; they go before ready tasks not yet started. */
  const slotRequests: { taskId: string; grant: () => void }[] = [];

  /** The running tasks as admission sees them: a parked task with a pending slot request already counts. */
  const runningForAdmission = (): RunningTask[] =>
    [...runningHere.values()].map((r) => (r.parked && slotRequests.some((q) => q.taskId === r.taskId) ? { ...r, parked: false } : r));

  const grantSlots = (): void => {
    while (slotRequests.length > 0) {
      const busy = [...runningHere.values()].filter((r) => !r.parked).length;
      if (busy >= wipLimit) return;
      const { taskId, grant } = slotRequests.shift()!;
      const r = runningHere.get(taskId);
      if (r) runningHere.set(taskId, { ...r, parked: false });
      grant();
    }
  };

  const controlFor = (taskId: string): RunControl => ({
    park: () => {
      const r = runningHere.get(taskId);
      if (!r || r.parked) return;
      runningHere.set(taskId, { ...r, parked: true });
      poke();
    },
    takeSlot: () =>
      new Promise<void>((resolve) => {
        const r = runningHere.get(taskId);
        if (!r || !r.parked) return resolve();
        slotRequests.push({ taskId, grant: resolve });
        poke();
      }),
  });

  const emit = (event: DriverEvent): void => ports.report(event);

  const insertReady = (id: string): void => {
    const r = rank.get(id)!;
    let lo = 0;
    let hi = ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rank.get(ready[mid])! < r) lo = mid + 1;
      else hi = mid;
    }
    ready.splice(lo, 0, id);
    readySince.set(id, ports.now());
  };

  /** Record a result and release (or skip, transitively) the task's dependents. Iterative: chains may be long. */
  const finish = (first: DriverTaskResult): void => {
    const stack: DriverTaskResult[] = [first];
    while (stack.length > 0) {
      const result = stack.pop()!;
      if (results.has(result.taskId)) continue;
      results.set(result.taskId, result);
      const at = ready.indexOf(result.taskId);
      if (at >= 0) ready.splice(at, 1);
      lastLine.delete(result.taskId);
      const line =
        result.status === 'success'
          ? `${result.taskId}: success`
          : `${result.taskId}: ${result.status === 'failure' ? 'failed' : 'skipped'}${result.reason ? ` (${result.reason})` : ''}`;
      emit({ kind: 'finished', taskId: result.taskId, at: ports.now(), result, line });
      onResult?.(result);
      const root =
        result.status === 'skipped-dependency-failed' && result.reason?.startsWith('dependency_failed:')
          ? result.reason.slice('dependency_failed:'.length)
          : result.taskId;
      for (const d of dependents.get(result.taskId) ?? []) {
        if (results.has(d)) continue;
        if (result.status !== 'success') {
          stack.push({ taskId: d, status: 'skipped-dependency-failed', reason: `dependency_failed:${root}`, ranHere: false });
        } else {
          const left = pendingDeps.get(d)! - 1;
          pendingDeps.set(d, left);
          if (left === 0) insertReady(d);
        }
      }
    }
  };

  const setWaiting = (id: string, reason: WaitReason): void => {
    const key = getWaitKey(reason);
    if (lastLine.get(id) === key) return;
    lastLine.set(id, key);
    emit({ kind: 'waiting', taskId: id, at: ports.now(), reason, line: formatWaitReason(reason) });
  };

  const start = (task: DriverTask): void => {
    const at = ready.indexOf(task.taskId);
    if (at >= 0) ready.splice(at, 1);
    runningHere.set(task.taskId, { ...task, startedAt: ports.now() });
    lastLine.delete(task.taskId);
    emit({ kind: 'started', taskId: task.taskId, at: ports.now(), line: `${task.taskId}: started` });
    const done = (outcome: RunOutcome): void => {
      completions.push({ taskId: task.taskId, outcome });
      wakeUp();
    };
    let running: Promise<RunOutcome>;
    try {
      running = ports.run(task.taskId, controlFor(task.taskId));
    } catch (e) {
      running = Promise.reject(e);
    }
    // A throwing runner is a bug elsewhere, but other agents are still running: record it as this task's failure
    // rather than abandon them.
    running.then(done, (e: unknown) => done({ success: false, reason: `run threw: ${e instanceof Error ? e.message : String(e)}` }));
  };

  // Initial state: dependencies outside the run decide first, then tasks without pending in-run dependencies are ready.
  for (const t of tasks) {
    if (results.has(t.taskId)) continue;
    const failedDep = t.dependsOn.find((d) => !byId.has(d) && externalStates.get(d) === 'failed');
    if (failedDep) {
      finish({ taskId: t.taskId, status: 'skipped-dependency-failed', reason: `dependency_failed:${failedDep}`, ranHere: false });
    }
  }
  for (const t of tasks) if (!results.has(t.taskId) && pendingDeps.get(t.taskId) === 0) insertReady(t.taskId);

  const drainCompletions = (): void => {
    while (completions.length > 0) {
      const { taskId, outcome } = completions.shift()!;
      runningHere.delete(taskId);
      const asked = slotRequests.findIndex((q) => q.taskId === taskId);
      if (asked >= 0) slotRequests.splice(asked, 1);
      finish({
        taskId,
        status: outcome.success ? 'success' : 'failure',
        ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}),
        ranHere: true,
      });
    }
  };

  const sleep = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const controller = new AbortController();
      wakeUp = () => {
        controller.abort();
        resolve();
      };
      // Only a sleep: a failing wait must not end the run while agents are running.
      ports.waitForChange(pollMs, controller.signal).then(resolve, resolve);
    }).finally(() => {
      wakeUp = () => {};
    });

  /** A coordinator error ends the run, but only after this process's running agents have finished and been recorded. */
  let fatal: { error: unknown } | undefined;

  while (results.size < tasks.length && !fatal) {
    drainCompletions();
    poked = false;
    grantSlots();

    // One pass over the ready tasks in priority order (exclusive ones first, see orderForDispatch). A refused task never
    // holds back lower-priority ones: a slot left idle while a ready task could run is what list scheduling avoids.
    let broad: WaitReason | undefined;
    // Only the first exclusive task refused here is shown to the coordinator per pass: reservations are granted one
    // at a time in waiting order anyway, and asking for every one cost a store write per waiting High-risk task per
    // pass (a 4,000-task backlog with dozens of them waiting stalled on it: bench:e2e10k).
    let reserveAsked = false;
    const resultsBefore = results.size;
    for (const task of orderForDispatch(ready.map((id) => byId.get(id)!))) {
      const id = task.taskId;
      if (results.has(id) || runningHere.has(id)) continue;
      if (broad && !task.exclusive) {
        setWaiting(id, broad);
        continue;
      }
      const local = decideAdmission({ candidate: task, running: runningForAdmission(), wipLimit });
      if (!local.admit && !task.exclusive) {
        setWaiting(id, local.reason);
        if (BROAD_REASONS.has(local.reason.kind)) broad = local.reason;
        continue;
      }
      // Exclusive tasks refused locally are still shown to the coordinator (reserveOnly): it tracks how long they have
      // waited and reserves the workspace past the threshold, which is what stops them from starving.
      const reserveOnly = !local.admit;
      if (reserveOnly) {
        if (reserveAsked) {
          setWaiting(id, local.reason);
          continue;
        }
        reserveAsked = true;
      }
      let outcome: TryStartOutcome;
      try {
        outcome = await ports.tryStart(id, readySince.get(id)!, reserveOnly ? { reserveOnly } : undefined);
      } catch (error) {
        fatal = { error };
        break;
      }
      switch (outcome.kind) {
        case 'started':
          if (reserveOnly) {
            fatal = { error: new Error(`driver: the coordinator claimed ${id} although asked with reserveOnly`) };
            break;
          }
          start(task);
          break;
        case 'wait': {
          setWaiting(id, outcome.reason);
          if (BROAD_REASONS.has(outcome.reason.kind)) broad ??= outcome.reason;
          else if (!local.admit && BROAD_REASONS.has(local.reason.kind)) broad ??= local.reason;
          break;
        }
        case 'running-elsewhere': {
          const line = `waiting: running in another process (${outcome.owner})`;
          if (lastLine.get(id) !== line) {
            lastLine.set(id, line);
            emit({ kind: 'running-elsewhere', taskId: id, at: ports.now(), owner: outcome.owner, line });
          }
          break;
        }
        case 'finished':
          finish({
            taskId: id,
            status: outcome.success ? 'success' : 'failure',
            ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}),
            ranHere: false,
          });
          break;
      }
      if (fatal) break;
    }

    if (results.size >= tasks.length || fatal) break;
    // New results (tasks finished elsewhere or skipped) may have made tasks ready: look again before sleeping.
    if (completions.length > 0 || results.size > resultsBefore || poked) continue;
    if (runningHere.size === 0 && ready.length === 0) {
      // Unreachable after validate(): kept so that a bookkeeping bug ends in an error, not a silent endless wait.
      const stuck = tasks.filter((t) => !results.has(t.taskId)).map((t) => t.taskId);
      throw new Error(`driver: tasks ${stuck.join(', ')} can never become ready`);
    }
    await sleep();
  }

  if (fatal) {
    while (runningHere.size > 0) {
      grantSlots();
      if (completions.length === 0 && !poked) await sleep();
      poked = false;
      drainCompletions();
    }
    throw fatal.error;
  }
  return results;
}

/**
 * The same run as an async iterator of results, each yielded as soon as it is known (what an Nx batch executor yields
 * per task). Errors of the run are rethrown from the iterator after the results before them.
 */
export async function* streamScheduledTasks(
  options: Omit<DriverOptions, 'onResult'>,
  ports: DriverPorts,
): AsyncGenerator<DriverTaskResult, void, undefined> {
  const queue: DriverTaskResult[] = [];
  let notify: () => void = () => {};
  let finished = false;
  let failure: { error: unknown } | undefined;
  const run = runScheduledTasks(
    {
      ...options,
      onResult: (r) => {
        queue.push(r);
        notify();
      },
    },
    ports,
  ).then(
    () => {
      finished = true;
      notify();
    },
    (error: unknown) => {
      failure = { error };
      finished = true;
      notify();
    },
  );
  while (true) {
    if (queue.length > 0) {
      yield queue.shift()!;
      continue;
    }
    if (finished) break;
    await new Promise<void>((resolve) => (notify = resolve));
    notify = () => {};
  }
  await run;
  if (failure) throw failure.error;
}
