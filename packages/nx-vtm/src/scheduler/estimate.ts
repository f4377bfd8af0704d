/**
 * Duration estimates (minutes) for critical-path priorities.
 *
 * Estimates only order the work; they never limit it. That is why an unknown estimate is assumed long: a task we know
 * nothing about may sit on the critical path, and starting it late costs more than starting a short task early
 * (scheduling note: "Unknown estimate = assume long"). Priorities stay good with estimates off by a lognormal factor of
 * sigma 1.0, so rough sizes are enough.
 */
import type { Task } from '../manifest/schema';
import { SIZES } from '../manifest/schema';

type Size = (typeof SIZES)[number];

/** Minutes assumed for each T-shirt size when a task has neither explicit minutes nor measured history. */
export const SIZE_MINUTES: Readonly<Record<Size, number>> = { XS: 5, S: 15, M: 30, L: 60, XL: 120 };

/** Minutes assumed for a task without any estimate when no other task of the run has one either. */
export const DEFAULT_UNKNOWN_MINUTES = 60;

/** The part of a manifest task that estimates read. */
export type EstimableTask = Pick<Task, 'task_id'> & { est?: { size?: Size; minutes?: number } };

/** Measured durations (minutes) of earlier runs, per task id, in any order. */
export type DurationHistory = ReadonlyMap<string, readonly number[]>;

/** Median of the positive finite values, or undefined when there are none. Pure. */
export function getMedian(values: readonly number[]): number | undefined {
  const sorted = values.filter((v) => Number.isFinite(v) && v > 0).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Estimated minutes per task id. Precedence: explicit `est.minutes` (the planner's word), then the median of earlier
 * measured durations, then `est.size` ({@link SIZE_MINUTES}); a task with none of these gets the largest estimate known
 * in this run, or {@link DEFAULT_UNKNOWN_MINUTES} when none is known. Pure.
 */
export function buildEstimates({
  tasks,
  history = new Map(),
}: {
  tasks: readonly EstimableTask[];
  history?: DurationHistory;
}): Map<string, number> {
  const estimates = new Map<string, number>();
  const unknown: string[] = [];
  for (const task of tasks) {
    const minutes = task.est?.minutes;
    const known =
      (typeof minutes === 'number' && Number.isFinite(minutes) && minutes > 0 ? minutes : undefined) ??
      getMedian(history.get(task.task_id) ?? []) ??
      (task.est?.size ? SIZE_MINUTES[task.est.size] : undefined);
    if (known === undefined) unknown.push(task.task_id);
    else estimates.set(task.task_id, known);
  }
  let longest = 0;
  for (const m of estimates.values()) longest = Math.max(longest, m);
  const assumed = longest > 0 ? longest : DEFAULT_UNKNOWN_MINUTES;
  for (const id of unknown) estimates.set(id, assumed);
  return estimates;
}
