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
import { decideAdmission, formatWaitReason, getWaitKey } from './admission';
import type { RunningTask, TaskFootprint, WaitReason } from './types';

/** A task of this run: its admission footprint and the ids it depends on. */
export interface DriverTask extends TaskFootprint {
  /** `depends_on_tasks`: ids in this run, or ids whose state is given in `externalStates`. */
  dependsOn: readonly string[];
  /**
   * Estimated duration in ms, when known. Only used to skip asking the coordinator about tasks that cannot backfill
   * around a reservation: when it refused a task of estimate E with `reserved`, it refuses every task of estimate
   * >= E in the same pass (backfilling admits a task only if it ends before the running ones). Without it the task
   * is always asked.
   */
  estimateMs?: number;
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
  /**
   * Optional: a value that changes whenever another process may have freed something (a claim, finish or park in the
   * shared store). With it, a poll that finds nothing changed here or in the store runs only the starvation check of
   * one exclusive task instead of a full pass; a full pass still runs every `FULL_PASS_EVERY_POLLS` polls, for what
   * changes with time alone (an expired lease of a dead process, the end of a rate-limit pause). Without it every poll
   * runs a full pass.
   */
  storeVersion?(): unknown;
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
const BROAD_REASONS: ReadonlySet<WaitReason['kind']> = new Set(['wip', 'exclusive-running', 'rate-limited']);

/** Without a store change, a full pass runs every this many polls (what changes with time alone: see `storeVersion`). */
export const FULL_PASS_EVERY_POLLS = 10;

/**
 * Task ids kept sorted (by rank, or by estimate then rank): insert, remove and find the next one after a position in
 * O(log n) comparisons (plus the array move), so a pass never sorts or copies the ready set.
 */
class SortedIds {
  readonly ids: string[] = [];
  /** `key(id)` orders the ids: [primary, rank]; rank is unique, so equal keys mean the same id. */
  constructor(private readonly key: (id: string) => readonly [number, number]) {}
  private less(a: readonly [number, number], b: readonly [number, number]): boolean {
    return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  }
  /** Index of the first id whose key is >= k. */
  lowerBound(k: readonly [number, number]): number {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.less(this.key(this.ids[mid]), k)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  /** Adds many ids at once: one sort instead of an insertion (and an array move) each; the start of a run. */
  insertMany(ids: readonly string[]): void {
    const keyed = [...this.ids, ...ids].map((id) => ({ id, k: this.key(id) }));
    keyed.sort((a, b) => (this.less(a.k, b.k) ? -1 : this.less(b.k, a.k) ? 1 : 0));
    this.ids.length = 0;
    for (const { id } of keyed) this.ids.push(id);
  }
  insert(id: string): void {
    const at = this.lowerBound(this.key(id));
    if (this.ids[at] !== id) this.ids.splice(at, 0, id);
  }
  remove(id: string): boolean {
    const at = this.lowerBound(this.key(id));
    if (this.ids[at] !== id) return false;
    this.ids.splice(at, 1);
    return true;
  }
  get length(): number {
    return this.ids.length;
  }
}

/** Ready ids by rank, highest priority first. */
class RankedList extends SortedIds {
  constructor(rank: ReadonlyMap<string, number>) {
    super((id) => [0, rank.get(id)!]);
  }
  /** The first id ranked after `r` (or the first of all with r = -1). */
  after(r: number): string | undefined {
    return this.ids[this.lowerBound([0, r + 1])];
  }
}

/**
 * The last wait key shown for each ready task, indexed by key per class (exclusive or not), so that a reason holding
 * for every remaining task of a class (all slots busy, an exclusive task running) is shown only to the tasks not
 * already showing it, without visiting the others: the cost follows what changed, not how many tasks are ready.
 */
class WaitBook {
  private readonly keyOf = new Map<string, string>();
  private readonly byKey: [Map<string, Set<string>>, Map<string, Set<string>>] = [new Map(), new Map()];
  constructor(private readonly exclusive: (id: string) => boolean) {}
  get(id: string): string | undefined {
    const k = this.keyOf.get(id);
    return k === '' ? undefined : k;
  }
  /** Track a ready task with nothing shown yet. */
  add(id: string): void {
    if (!this.keyOf.has(id)) this.set(id, '');
  }
  set(id: string, key: string): void {
    this.delete(id);
    this.keyOf.set(id, key);
    const index = this.byKey[this.exclusive(id) ? 1 : 0];
    let ids = index.get(key);
    if (!ids) index.set(key, (ids = new Set()));
    ids.add(id);
  }
  delete(id: string): void {
    const key = this.keyOf.get(id);
    if (key === undefined) return;
    this.keyOf.delete(id);
    const index = this.byKey[this.exclusive(id) ? 1 : 0];
    const ids = index.get(key)!;
    ids.delete(id);
    if (ids.size === 0) index.delete(key);
  }
  /** Tracked tasks of the class whose shown key is not `key`. */
  notShowing(exclusive: boolean, key: string): string[] {
    const out: string[] = [];
    for (const [k, ids] of this.byKey[exclusive ? 1 : 0]) if (k !== key) out.push(...ids);
    return out;
  }
}

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
  /** Ready tasks not yet started here, by rank; exclusive ones apart (a pass offers them first, see `pass`). */
  const readyExclusive = new RankedList(rank);
  const readyOther = new RankedList(rank);
  /** The same tasks by estimate (unknown first), then rank: who may still backfill around a reservation. */
  const readyOtherByEstimate = new SortedIds((id) => [byId.get(id)!.estimateMs ?? -Infinity, rank.get(id)!]);
  /** Exclusive ready tasks in the order they became ready: the first has waited longest (the starvation candidate). */
  const exclusiveSince = new Set<string>();
  const readySince = new Map<string, number>();
  const runningHere = new Map<string, RunningTask>();
  const waits = new WaitBook((id) => byId.get(id)!.exclusive);
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

  /** Set when the ready set changes (a task became ready or left it): the next loop turn runs a full pass. */
  let readyChanged = false;
  const insertReady = (id: string, bulk?: string[]): void => {
    if (byId.get(id)!.exclusive) {
      readyExclusive.insert(id);
      exclusiveSince.add(id);
    } else if (bulk) bulk.push(id);
    else {
      readyOther.insert(id);
      readyOtherByEstimate.insert(id);
    }
    readySince.set(id, ports.now());
    waits.add(id);
    readyChanged = true;
  };
  const removeReady = (id: string): void => {
    if (byId.get(id)!.exclusive) {
      readyExclusive.remove(id);
      exclusiveSince.delete(id);
    } else {
      readyOther.remove(id);
      readyOtherByEstimate.remove(id);
    }
    waits.delete(id);
  };

  /** Record a result and release (or skip, transitively) the task's dependents. Iterative: chains may be long. */
  const finish = (first: DriverTaskResult): void => {
    const stack: DriverTaskResult[] = [first];
    while (stack.length > 0) {
      const result = stack.pop()!;
      if (results.has(result.taskId)) continue;
      results.set(result.taskId, result);
      removeReady(result.taskId);
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
    if (waits.get(id) === key) return;
    waits.set(id, key);
    emit({ kind: 'waiting', taskId: id, at: ports.now(), reason, line: formatWaitReason(reason) });
  };

  /**
   * Show `reason` (which holds for every remaining ready task of the class) to the tasks of the class not visited in
   * this pass, visiting only those that show something else, in priority order (what one walk would have shown).
   */
  const showToRest = (exclusive: boolean, reason: WaitReason, visited: ReadonlySet<string>): void => {
    const ids = waits.notShowing(exclusive, getWaitKey(reason)).filter((id) => !visited.has(id));
    ids.sort((a, b) => rank.get(a)! - rank.get(b)!);
    for (const id of ids) setWaiting(id, reason);
  };

  const start = (task: DriverTask): void => {
    removeReady(task.taskId);
    runningHere.set(task.taskId, { ...task, startedAt: ports.now() });
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
  const initial: string[] = [];
  for (const t of tasks) if (!results.has(t.taskId) && pendingDeps.get(t.taskId) === 0) insertReady(t.taskId, initial);
  readyOther.insertMany(initial);
  readyOtherByEstimate.insertMany(initial);

  const drainCompletions = (): boolean => {
    const any = completions.length > 0;
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
    return any;
  };

  /** Resolves true when woken by a change here (a task ended, a park, a slot request), false after the poll interval. */
  const sleep = (): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const controller = new AbortController();
      wakeUp = () => {
        controller.abort();
        resolve(true);
      };
      // Only a sleep: a failing wait must not end the run while agents are running.
      ports.waitForChange(pollMs, controller.signal).then(
        () => resolve(false),
        () => resolve(false),
      );
    }).finally(() => {
      wakeUp = () => {};
    });

  /** A coordinator error ends the run, but only after this process's running agents have finished and been recorded. */
  let fatal: { error: unknown } | undefined;

  /** Asks the coordinator; a throw ends the run (recorded in `fatal`, answered as undefined). */
  const ask = async (id: string, waitingSinceMs: number, reserveOnly: boolean): Promise<TryStartOutcome | undefined> => {
    try {
      const outcome = await ports.tryStart(id, waitingSinceMs, reserveOnly ? { reserveOnly } : undefined);
      if (outcome.kind === 'started' && reserveOnly) {
        fatal = { error: new Error(`driver: the coordinator claimed ${id} although asked with reserveOnly`) };
        return undefined;
      }
      return outcome;
    } catch (error) {
      fatal = { error };
      return undefined;
    }
  };

  /** Applies a coordinator answer other than 'started' to a task. */
  const applyRefusal = (id: string, outcome: Exclude<TryStartOutcome, { kind: 'started' }>): void => {
    switch (outcome.kind) {
      case 'wait':
        setWaiting(id, outcome.reason);
        break;
      case 'running-elsewhere': {
        const line = `waiting: running in another process (${outcome.owner})`;
        if (waits.get(id) !== line) {
          waits.set(id, line);
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
  };

  /**
   * The exclusive ready tasks' turn: they go first (an empty workspace otherwise costs a drain with idle slots; about 4
   * points of makespan / LB on the backlog simulation). Every refusal of an exclusive task depends on what runs (here
   * or anywhere), not on the task, so at most two are shown to the coordinator per pass: the first in priority order
   * when nothing runs here (asked to start), and the one that has waited longest (asked with `reserveOnly` when
   * something runs here, so its waiting time counts towards the reservation every process honours). Only the
   * longest-waiting one is shown its real waiting time: the others are asked as if they had just become ready, so this
   * process never holds more than one reservation (one at a time is all the workspace can grant; dozens piled up on a
   * 4,000-task backlog, bench:e2e10k). Returns a reason that holds for every non-exclusive task, if one was learned.
   */
  const exclusiveTurn = async (visited: Set<string>, onlyCandidate: boolean): Promise<WaitReason | undefined> => {
    let broad: WaitReason | undefined;
    let refusal: WaitReason | undefined;
    const candidate = exclusiveSince.values().next().value as string | undefined;
    for (let id = onlyCandidate ? candidate : readyExclusive.after(-1); id !== undefined && !fatal; ) {
      const task = byId.get(id)!;
      const local = decideAdmission({ candidate: task, running: runningForAdmission(), wipLimit });
      if (!local.admit) {
        // Whatever runs here refuses every exclusive task alike: ask for the starvation candidate only (the longest
        // waiting now: the one picked at the start of the pass may have just started).
        refusal = local.reason;
        if (BROAD_REASONS.has(local.reason.kind)) broad ??= local.reason;
        const now = exclusiveSince.values().next().value as string | undefined;
        if (now === undefined || visited.has(now)) break;
        visited.add(now);
        const outcome = await ask(now, readySince.get(now)!, true);
        if (!outcome) break;
        applyRefusal(now, outcome as Exclude<TryStartOutcome, { kind: 'started' }>);
        if (outcome.kind === 'wait' && BROAD_REASONS.has(outcome.reason.kind)) broad = outcome.reason;
        break;
      }
      visited.add(id);
      const since = id === candidate ? readySince.get(id)! : ports.now();
      const outcome = await ask(id, since, false);
      if (!outcome) break;
      if (outcome.kind === 'started') {
        start(task);
      } else {
        applyRefusal(id, outcome);
        if (outcome.kind === 'wait') {
          if (BROAD_REASONS.has(outcome.reason.kind)) broad ??= outcome.reason;
          // Refused for what runs elsewhere or a reservation: that holds for the others too, except for the holder of
          // the oldest reservation (if it is one of ours, it may start now) and for the starvation candidate's
          // waiting time, which must still reach the coordinator. At most three asks in all.
          refusal = outcome.reason;
          const holder = outcome.reason.kind === 'reserved' ? outcome.reason.by : undefined;
          const next = [holder, candidate].find((x) => x !== undefined && exclusiveSince.has(x) && !visited.has(x));
          if (next === undefined || onlyCandidate) break;
          id = next;
          continue;
        }
      }
      if (onlyCandidate) break;
      id = readyExclusive.after(rank.get(id)!);
      while (id !== undefined && visited.has(id)) id = readyExclusive.after(rank.get(id)!);
    }
    if (refusal && !fatal && !onlyCandidate) showToRest(true, refusal, visited);
    return broad;
  };

  /**
   * One full pass: exclusive tasks, then the others in priority order until a reason holding for all the rest is
   * found (all slots busy, an exclusive task running, a rate limit); the rest are shown that reason without a visit.
   * A refused task never holds back lower-priority ones: a slot left idle while a ready task could run is what list
   * scheduling avoids. So the cost of a pass is the tasks refused for their own files before the slots fill, not the
   * number of ready tasks.
   */
  const pass = async (): Promise<void> => {
    const visited = new Set<string>();
    let broad = await exclusiveTurn(visited, false);
    /** Set by a `reserved` refusal: tasks estimated at least this long cannot backfill either. */
    let reservedCut: { estimate: number; reason: WaitReason } | undefined;
    /** Offers one task to admission (here, then the coordinator). */
    const visit = async (id: string): Promise<void> => {
      visited.add(id);
      const task = byId.get(id)!;
      const local = decideAdmission({ candidate: task, running: runningForAdmission(), wipLimit });
      if (!local.admit) {
        setWaiting(id, local.reason);
        if (BROAD_REASONS.has(local.reason.kind)) broad = local.reason;
        return;
      }
      const estimate = task.estimateMs;
      if (reservedCut && estimate !== undefined && estimate >= reservedCut.estimate) {
        setWaiting(id, reservedCut.reason);
        return;
      }
      const outcome = await ask(id, readySince.get(id)!, false);
      if (!outcome) return;
      if (outcome.kind === 'started') return start(task);
      applyRefusal(id, outcome);
      if (outcome.kind === 'wait') {
        if (BROAD_REASONS.has(outcome.reason.kind)) broad = outcome.reason;
        else if (outcome.reason.kind === 'reserved' && estimate !== undefined && (!reservedCut || estimate < reservedCut.estimate)) {
          reservedCut = { estimate, reason: outcome.reason };
        }
      }
    };
    let r = -1;
    while (!fatal && !broad && !reservedCut) {
      const id = readyOther.after(r);
      if (id === undefined) break;
      r = rank.get(id)!;
      if (!visited.has(id)) await visit(id);
    }
    if (reservedCut && !broad && !fatal) {
      // While a reservation holds, only tasks estimated shorter than the shortest refused one (or without an
      // estimate) may still backfill: find them by estimate instead of walking the ready set.
      const below = readyOtherByEstimate.ids.slice(0, readyOtherByEstimate.lowerBound([reservedCut.estimate, -1]));
      const rest = below.filter((id) => rank.get(id)! > r && !visited.has(id)).sort((a, b) => rank.get(a)! - rank.get(b)!);
      for (const id of rest) {
        if (fatal || broad) break;
        if (!results.has(id) && !runningHere.has(id)) await visit(id);
      }
    }
    if (fatal) return;
    if (broad) showToRest(false, broad, visited);
    else if (reservedCut) showToRest(false, reservedCut.reason, visited);
  };

  let lastStoreVersion: unknown = ports.storeVersion?.();
  let quietPolls = 0;
  /** Whether the next turn runs a full pass: always on the first turn and after a change here. */
  let full = true;
  while (results.size < tasks.length && !fatal) {
    if (drainCompletions()) full = true;
    if (poked) full = true;
    poked = false;
    grantSlots();
    if (readyChanged) full = true;
    readyChanged = false;

    const resultsBefore = results.size;
    if (full) {
      quietPolls = 0;
      await pass();
    } else {
      // A poll with nothing changed here or in the store: only time has passed, which matters to the starvation
      // candidate (its reservation may fall due).
      await exclusiveTurn(new Set(), true);
    }
    full = false;

    if (results.size >= tasks.length || fatal) break;
    // New results (tasks finished elsewhere or skipped) may have made tasks ready: look again before sleeping.
    if (completions.length > 0 || results.size > resultsBefore || poked || readyChanged) {
      full = true;
      continue;
    }
    if (runningHere.size === 0 && readyExclusive.length === 0 && readyOther.length === 0) {
      // Unreachable after validate(): kept so that a bookkeeping bug ends in an error, not a silent endless wait.
      const stuck = tasks.filter((t) => !results.has(t.taskId)).map((t) => t.taskId);
      throw new Error(`driver: tasks ${stuck.join(', ')} can never become ready`);
    }
    const woken = await sleep();
    // Nothing runs here: a full pass is as cheap as the starvation check (every task is refused for the same reason).
    if (woken || runningHere.size === 0) full = true;
    else if (!ports.storeVersion) full = true;
    else {
      const version = ports.storeVersion();
      if (version !== lastStoreVersion || ++quietPolls >= FULL_PASS_EVERY_POLLS) full = true;
      lastStoreVersion = version;
    }
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
