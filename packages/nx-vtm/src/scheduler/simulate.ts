/**
 * Discrete-event simulation of schedules, for the benchmark and for tests of scheduling quality.
 *
 * `simulateListSchedule` drives the very same `decideAdmission`, `shouldReserve` and `buildPriorities` as the real
 * driver: priorities come from estimates, time passes by actual durations, so estimate error is part of what is
 * measured. Two baselines reproduce what users had before: waves with a barrier between topological levels, and the
 * seed's "serial conflict groups, then parallel groups of 3", run strictly one group after another. `lowerBound` is the
 * yardstick (scheduling note): no schedule can be shorter, so makespan / LB >= 1 and 1.00 means optimal.
 *
 * The clock runs in whole milliseconds so that event times compare exactly; makespans are reported in minutes.
 */
import { createAdmissionCheck, DEFAULT_STARVATION_THRESHOLD_MS, shouldReserve } from './admission';
import { buildFootprint, footprintsConflict } from './conflicts';
import { buildEstimates, type EstimableTask } from './estimate';
import { buildPriorities } from './priority';
import type { AdmissionDecision, ExclusiveReservation, RunningTask, TaskFootprint, WaitReason } from './types';
import type { Task } from '../manifest/schema';

const MS_PER_MINUTE = 60_000;

/** A task of a simulated instance. */
export interface SimTask extends TaskFootprint {
  dependsOn: readonly string[];
  /** What the scheduler believes (priorities are computed from this). */
  estimateMinutes: number;
  /** How long the task really takes. */
  actualMinutes: number;
}

/** A scheduling problem: tasks in manifest order. */
export interface SimInstance {
  tasks: readonly SimTask[];
}

/** When one task ran, in minutes from the start. */
export interface ScheduledRun {
  taskId: string;
  start: number;
  end: number;
}

/** A complete schedule. */
export interface SimSchedule {
  /** Minutes from the first start to the last end. */
  makespan: number;
  /** One entry per task, in start order. */
  runs: ScheduledRun[];
}

/** A manifest task as the benchmark generators write it (defaults not applied). */
export type ManifestLikeTask = Pick<Task, 'task_id' | 'risk'> &
  EstimableTask & {
    depends_on_tasks?: readonly string[];
    file_scope?: readonly string[];
    conflicts_with?: readonly string[];
    parallel?: boolean;
  };

/**
 * A simulation instance from manifest tasks plus their actual durations (minutes per task id). Estimates follow the
 * same precedence as real runs (`buildEstimates`). Pure.
 */
export function buildSimInstance({
  tasks,
  actualMinutes,
}: {
  tasks: readonly ManifestLikeTask[];
  actualMinutes: Readonly<Record<string, number>> | ReadonlyMap<string, number>;
}): SimInstance {
  const estimates = buildEstimates({ tasks });
  const actual = (id: string): number => {
    const v = actualMinutes instanceof Map ? actualMinutes.get(id) : (actualMinutes as Record<string, number>)[id];
    if (typeof v !== 'number' || !(v > 0)) throw new Error(`buildSimInstance: no actual duration for task ${id}`);
    return v;
  };
  return {
    tasks: tasks.map((t) => ({
      ...buildFootprint(t),
      dependsOn: t.depends_on_tasks ?? [],
      estimateMinutes: estimates.get(t.task_id)!,
      actualMinutes: actual(t.task_id),
    })),
  };
}

/** Called whenever a ready task is refused by admission in a simulation (once per dispatch pass it stays refused). */
export type WaitObserver = (wait: { taskId: string; minute: number; reason: WaitReason }) => void;

const toMs = (minutes: number): number => Math.max(1, Math.round(minutes * MS_PER_MINUTE));

/**
 * The event-driven list-scheduling engine shared by the list scheduler and the waves baseline: whenever a task ends or
 * a waiting exclusive task crosses the reservation threshold, offer the ready tasks to admission in `order` (exclusive
 * ones first when `exclusiveFirst`, as the driver does) and start those admitted.
 *
 * Incremental, because `nx-vtm preview` runs it on whole backlogs (1 + up to 100 times): the ready tasks stay sorted by
 * priority (inserted in place, not re-sorted per pass), each pass decides against one `createAdmissionCheck` of the
 * workspace's state (rebuilt only when a start or a reservation changes it), and without an observer a pass stops
 * offering tasks once nothing more can start. Re-sorting and deciding every ready task from scratch on every pass made
 * the engine quadratic with a large constant: 160 ms per run at 1,000 tasks, ~28 s at 10,000. It makes the same
 * decisions in the same order and reports the same refusals (simulate.engine.spec.ts compares it, event for event,
 * with the straightforward engine it replaced). Exported for that spec.
 */
export function runListEngine({
  tasks,
  dependsOn,
  order,
  wipLimit,
  thresholdMs,
  exclusiveFirst,
  onWait,
}: {
  tasks: readonly SimTask[];
  dependsOn: (t: SimTask) => readonly string[];
  order: readonly string[];
  wipLimit: number;
  thresholdMs: number;
  exclusiveFirst: boolean;
  onWait?: WaitObserver;
}): SimSchedule {
  const estimatesMs = new Map(tasks.map((t) => [t.taskId, toMs(t.estimateMinutes)]));
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const rank = new Map(order.map((id, r) => [id, r]));
  const dependents = new Map<string, string[]>(tasks.map((t) => [t.taskId, []]));
  const pending = new Map<string, number>();
  for (const t of tasks) {
    const deps = [...new Set(dependsOn(t))].filter((d) => byId.has(d));
    for (const d of deps) dependents.get(d)!.push(t.taskId);
    pending.set(t.taskId, deps.length);
  }

  // Ready tasks in dispatch order: exclusive ones first (when `exclusiveFirst`), each list by priority rank.
  const readyExclusive: SimTask[] = [];
  const readyOthers: SimTask[] = [];
  const readySince = new Map<string, number>();
  const rankOf = (t: SimTask): number => rank.get(t.taskId)!;
  const makeReady = (id: string, now: number): void => {
    const task = byId.get(id)!;
    const list = exclusiveFirst && task.exclusive ? readyExclusive : readyOthers;
    const r = rankOf(task);
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (rankOf(list[mid]) < r) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, task);
    readySince.set(id, now);
  };
  for (const t of tasks) if (pending.get(t.taskId) === 0) makeReady(t.taskId, 0);

  const running: (RunningTask & { end: number })[] = [];
  let reservations: ExclusiveReservation[] = [];
  // The ids in `reservations`: asked about for every waiting High-risk task on every pass, hundreds of them at scale.
  const reserved = new Set<string>();
  const runs: ScheduledRun[] = [];
  let now = 0;
  let done = 0;

  while (done < tasks.length) {
    let check: ((candidate: SimTask) => AdmissionDecision) | undefined;
    // Each list's tasks offered in order; the refused ones stay in it.
    for (let l = 0; l < 2; l++) {
      const list = l === 0 ? readyExclusive : readyOthers;
      for (let i = 0; i < list.length; i++) {
        const task = list[i];
        const id = task.taskId;
        if (
          task.exclusive &&
          shouldReserve({ candidate: task, waitingSinceMs: readySince.get(id)!, now, thresholdMs }) &&
          !reserved.has(id)
        ) {
          reservations.push({ taskId: id, since: now });
          reserved.add(id);
          check = undefined;
        }
        // Nothing more can start in this pass (an exclusive task runs, or every slot is taken; an exclusive candidate
        // needs an empty workspace): without an observer the refusals are not needed, so the rest is not decided.
        if (!onWait && running.length > 0 && (task.exclusive || running.length >= wipLimit || running.some((r) => r.exclusive))) {
          // The rest of the non-exclusive list: none can start and none reserves, so all of them stay as they are.
          if (task.exclusive || !exclusiveFirst) continue;
          break;
        }
        check ??= createAdmissionCheck({ running, reservations, wipLimit, now, estimatesMs });
        const decision = check(task);
        if (!decision.admit) {
          onWait?.({ taskId: id, minute: now / MS_PER_MINUTE, reason: decision.reason });
          continue;
        }
        // Started: out of the ready list (a few per pass, each a move of the rest of the list).
        list.splice(i--, 1);
        if (reserved.delete(id)) reservations = reservations.filter((r) => r.taskId !== id);
        running.push({ ...task, startedAt: now, end: now + toMs(task.actualMinutes) });
        check = undefined;
      }
    }

    let next = Infinity;
    for (const r of running) next = Math.min(next, r.end);
    for (const list of exclusiveFirst ? [readyExclusive] : [readyOthers]) {
      for (const task of list) {
        if (!task.exclusive || reserved.has(task.taskId)) continue;
        const due = readySince.get(task.taskId)! + thresholdMs;
        if (due > now) next = Math.min(next, due);
      }
    }
    if (next === Infinity) {
      const ready = [...readyExclusive, ...readyOthers].map((t) => t.taskId);
      throw new Error(`simulate: no progress possible at ${now} ms with ready ${ready.join(', ')} (dependency cycle?)`);
    }
    now = next;
    for (let i = running.length - 1; i >= 0; i--) {
      const r = running[i];
      if (r.end > now) continue;
      running.splice(i, 1);
      runs.push({ taskId: r.taskId, start: r.startedAt / MS_PER_MINUTE, end: r.end / MS_PER_MINUTE });
      done++;
      for (const d of dependents.get(r.taskId)!) {
        const left = pending.get(d)! - 1;
        pending.set(d, left);
        if (left === 0) makeReady(d, now);
      }
    }
  }
  runs.sort((a, b) => a.start - b.start || a.end - b.end);
  return { makespan: runs.reduce((m, r) => Math.max(m, r.end), 0), runs };
}

/**
 * Our scheduler: event-driven list scheduling by critical-path priority (computed from estimates), exclusive tasks
 * offered first (`orderForDispatch`), admission by `decideAdmission` with backfilling on estimates, reservations for
 * exclusive tasks that waited `thresholdMs`. Pure.
 */
export function simulateListSchedule(
  instance: SimInstance,
  {
    wipLimit,
    thresholdMs = DEFAULT_STARVATION_THRESHOLD_MS,
    order = buildPriorities({
      tasks: instance.tasks.map((t) => ({ task_id: t.taskId, depends_on_tasks: t.dependsOn })),
      estimates: new Map(instance.tasks.map((t) => [t.taskId, t.estimateMinutes])),
    }).order,
    onWait,
  }: {
    wipLimit: number;
    thresholdMs?: number;
    /** Priority order to use instead of critical-path priorities (for experiments: other orderings, random search). */
    order?: readonly string[];
    /** Sees every admission refusal (the preview shows why a task waits). */
    onWait?: WaitObserver;
  },
): SimSchedule {
  return runListEngine({ tasks: instance.tasks, dependsOn: (t) => t.dependsOn, order, wipLimit, thresholdMs, exclusiveFirst: true, onWait });
}

/** Topological level per task: 0 for tasks without dependencies, else 1 + the deepest dependency. Pure. */
export function buildLevels(instance: SimInstance): Map<string, number> {
  const ids = new Set(instance.tasks.map((t) => t.taskId));
  const dependents = new Map<string, string[]>(instance.tasks.map((t) => [t.taskId, []]));
  const pending = new Map<string, number>();
  for (const t of instance.tasks) {
    const deps = [...new Set(t.dependsOn)].filter((d) => ids.has(d));
    for (const d of deps) dependents.get(d)!.push(t.taskId);
    pending.set(t.taskId, deps.length);
  }
  const level = new Map<string, number>();
  const queue = instance.tasks.filter((t) => pending.get(t.taskId) === 0).map((t) => t.taskId);
  for (const id of queue) level.set(id, 0);
  for (let k = 0; k < queue.length; k++) {
    const id = queue[k];
    for (const d of dependents.get(id)!) {
      level.set(d, Math.max(level.get(d) ?? 0, level.get(id)! + 1));
      const left = pending.get(d)! - 1;
      pending.set(d, left);
      if (left === 0) queue.push(d);
    }
  }
  if (queue.length < instance.tasks.length) throw new Error('buildLevels: dependency cycle');
  return level;
}

/**
 * Baseline: topological levels as waves with a barrier between them. Inside a wave, tasks start greedily in manifest
 * order whenever a slot is free and admission allows (conflicts serialised, exclusive tasks alone); the next wave
 * starts only when every task of this one has ended. Pure.
 */
export function simulateWavesWithBarrier(instance: SimInstance, { wipLimit }: { wipLimit: number }): SimSchedule {
  const level = buildLevels(instance);
  const byLevel = new Map<number, string[]>();
  for (const t of instance.tasks) {
    const l = level.get(t.taskId)!;
    if (!byLevel.has(l)) byLevel.set(l, []);
    byLevel.get(l)!.push(t.taskId);
  }
  // The barrier is a dependency of every task on every task of the previous level.
  const barrierDeps = (t: SimTask): readonly string[] => byLevel.get(level.get(t.taskId)! - 1) ?? [];
  const order = [...instance.tasks]
    .map((t, i) => ({ id: t.taskId, l: level.get(t.taskId)!, i }))
    .sort((a, b) => a.l - b.l || a.i - b.i)
    .map((x) => x.id);
  return runListEngine({
    tasks: instance.tasks,
    dependsOn: barrierDeps,
    order,
    wipLimit,
    thresholdMs: Infinity,
    exclusiveFirst: false,
  });
}

interface SeedGroup {
  type: 'serial' | 'parallel';
  tasks: SimTask[];
}

/**
 * Baseline: the seed's task-batch coordinator, applied level by level. Per level, `detectConflicts` puts each task
 * with its conflicting tasks in a serial group (one at a time) and every other task in a parallel group of one;
 * `mergeParallelGroups` merges adjacent parallel groups up to `maxConcurrent`; groups run strictly in order, each
 * waiting for the previous one. Two departures from the seed's code, both in its favour: a task joins only one group
 * (the seed can list a task twice), and conflicts use our overlap rule (the seed's plain `startsWith` also makes
 * `src/a` overlap `src/ab.ts`). High-risk and `parallel: false` tasks get a serial group of their own, as in the
 * seed's example plan ("High risk - requires isolation"). Pure.
 */
export function simulateSeedGroups(instance: SimInstance, { maxConcurrent = 3 }: { maxConcurrent?: number } = {}): SimSchedule {
  const level = buildLevels(instance);
  const maxLevel = Math.max(-1, ...level.values());
  const runs: ScheduledRun[] = [];
  let now = 0;
  for (let l = 0; l <= maxLevel; l++) {
    const batch = instance.tasks.filter((t) => level.get(t.taskId) === l);
    for (const group of mergeParallelGroups(detectConflictGroups(batch), maxConcurrent)) {
      if (group.type === 'parallel') {
        let end = now;
        for (const t of group.tasks) {
          runs.push({ taskId: t.taskId, start: now, end: now + t.actualMinutes });
          end = Math.max(end, now + t.actualMinutes);
        }
        now = end;
      } else {
        for (const t of group.tasks) {
          runs.push({ taskId: t.taskId, start: now, end: now + t.actualMinutes });
          now += t.actualMinutes;
        }
      }
    }
  }
  return { makespan: now, runs };
}

function detectConflictGroups(batch: readonly SimTask[]): SeedGroup[] {
  const groups: SeedGroup[] = [];
  const processed = new Set<string>();
  for (const task of batch) {
    if (processed.has(task.taskId)) continue;
    processed.add(task.taskId);
    if (task.exclusive) {
      groups.push({ type: 'serial', tasks: [task] });
      continue;
    }
    const conflicting = batch.filter((o) => !processed.has(o.taskId) && footprintsConflict(task, o));
    for (const o of conflicting) processed.add(o.taskId);
    groups.push(conflicting.length > 0 ? { type: 'serial', tasks: [task, ...conflicting] } : { type: 'parallel', tasks: [task] });
  }
  return groups;
}

function mergeParallelGroups(groups: readonly SeedGroup[], maxConcurrent: number): SeedGroup[] {
  const merged: SeedGroup[] = [];
  for (const g of groups) {
    const last = merged[merged.length - 1];
    if (g.type === 'parallel' && last?.type === 'parallel' && last.tasks.length + g.tasks.length <= maxConcurrent) {
      last.tasks.push(...g.tasks);
    } else {
      merged.push({ type: g.type, tasks: [...g.tasks] });
    }
  }
  return merged;
}

/** The lower bound and its terms, in minutes of actual duration. */
export interface LowerBound {
  value: number;
  /** Longest duration-weighted dependency path. */
  criticalPath: number;
  /** Total duration / W. */
  workPerSlot: number;
  /** Exclusive tasks run alone: their total + the rest / W. */
  exclusiveBound: number;
  /** Heaviest set of tasks that pairwise conflict through one path (each declares the path or a directory above it). */
  clique: number;
}

const stripSlash = (p: string): string => (p.endsWith('/') ? p.slice(0, -1) : p);

/**
 * LB = max(CP, Work/W, Work_HR + (Work - Work_HR)/W, heaviest conflict clique), with actual durations, exactly as in
 * the scheduling note. The clique is the cheap one: for every declared path p, the tasks declaring p or a directory
 * above p pairwise overlap, so they run one at a time. Pure.
 */
export function lowerBound(instance: SimInstance, wipLimit: number): LowerBound {
  const tasks = instance.tasks;
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const level = buildLevels(instance);
  const topo = [...tasks].sort((a, b) => level.get(a.taskId)! - level.get(b.taskId)!);
  const finish = new Map<string, number>();
  let criticalPath = 0;
  for (const t of topo) {
    let start = 0;
    for (const d of t.dependsOn) if (byId.has(d)) start = Math.max(start, finish.get(d)!);
    finish.set(t.taskId, start + t.actualMinutes);
    criticalPath = Math.max(criticalPath, start + t.actualMinutes);
  }

  let work = 0;
  let workExclusive = 0;
  for (const t of tasks) {
    work += t.actualMinutes;
    if (t.exclusive) workExclusive += t.actualMinutes;
  }

  // declaring.get(path): indices of the tasks declaring exactly that path (directory slash ignored).
  const declaring = new Map<string, Set<number>>();
  tasks.forEach((t, i) => {
    for (const entry of t.fileScope) {
      const p = stripSlash(entry);
      if (!declaring.has(p)) declaring.set(p, new Set());
      declaring.get(p)!.add(i);
    }
  });
  let clique = 0;
  for (const p of declaring.keys()) {
    const members = new Set<number>();
    const segments = p.split('/');
    for (let k = 1; k <= segments.length; k++) {
      for (const i of declaring.get(segments.slice(0, k).join('/')) ?? []) members.add(i);
    }
    let sum = 0;
    for (const i of members) sum += tasks[i].actualMinutes;
    clique = Math.max(clique, sum);
  }

  const workPerSlot = work / wipLimit;
  const exclusiveBound = workExclusive + (work - workExclusive) / wipLimit;
  return {
    value: Math.max(criticalPath, workPerSlot, exclusiveBound, clique),
    criticalPath,
    workPerSlot,
    exclusiveBound,
    clique,
  };
}

/**
 * Every way `schedule` breaks the rules of `instance` (empty when it is valid): each task once and for its actual
 * duration, after its dependencies, at most `wipLimit` at once, no two conflicting tasks and nothing beside an exclusive
 * task at the same time. Pure; O(n^2), meant for tests.
 */
export function findScheduleViolations(instance: SimInstance, schedule: SimSchedule, wipLimit: number): string[] {
  const problems: string[] = [];
  const eps = 1e-6;
  const runOf = new Map<string, ScheduledRun>();
  for (const r of schedule.runs) {
    if (runOf.has(r.taskId)) problems.push(`${r.taskId} runs twice`);
    runOf.set(r.taskId, r);
  }
  for (const t of instance.tasks) {
    const r = runOf.get(t.taskId);
    if (!r) {
      problems.push(`${t.taskId} never runs`);
      continue;
    }
    if (Math.abs(r.end - r.start - t.actualMinutes) > 1e-3) problems.push(`${t.taskId} runs ${r.end - r.start} min, not ${t.actualMinutes}`);
    for (const d of t.dependsOn) {
      const dr = runOf.get(d);
      if (dr && dr.end > r.start + eps) problems.push(`${t.taskId} starts at ${r.start} before its dependency ${d} ends at ${dr.end}`);
    }
  }
  const tasks = instance.tasks.filter((t) => runOf.has(t.taskId));
  const overlaps = (a: ScheduledRun, b: ScheduledRun): boolean => a.start < b.end - eps && b.start < a.end - eps;
  for (let i = 0; i < tasks.length; i++) {
    const a = tasks[i];
    const ra = runOf.get(a.taskId)!;
    let concurrent = 1;
    for (let j = 0; j < tasks.length; j++) {
      if (i === j) continue;
      const b = tasks[j];
      const rb = runOf.get(b.taskId)!;
      // Count tasks running at a's start instant, to check the WIP limit.
      if (rb.start <= ra.start + eps && rb.end > ra.start + eps) concurrent++;
      if (j < i || !overlaps(ra, rb)) continue;
      if (a.exclusive || b.exclusive) problems.push(`${a.taskId} and ${b.taskId} overlap but one must run alone`);
      else if (footprintsConflict(a, b)) problems.push(`${a.taskId} and ${b.taskId} conflict but overlap in time`);
    }
    if (concurrent > wipLimit) problems.push(`${concurrent} tasks run at ${ra.start} (limit ${wipLimit})`);
  }
  if (Math.abs(schedule.makespan - Math.max(0, ...schedule.runs.map((r) => r.end))) > 1e-6) {
    problems.push(`makespan ${schedule.makespan} is not the last end`);
  }
  return problems;
}
