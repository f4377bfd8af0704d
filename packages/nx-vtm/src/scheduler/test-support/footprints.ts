/** Fixture builders for scheduler specs. */
import type { RunningTask, TaskFootprint } from '../types';

/** A footprint; `exclusive` defaults to false, lists to empty. */
export function fp(taskId: string, fileScope: string[] = [], extra: Partial<Omit<TaskFootprint, 'taskId'>> = {}): TaskFootprint {
  return { taskId, fileScope, conflictsWith: [], exclusive: false, ...extra };
}

/** The same footprint, claimed at `startedAt`. */
export function running(f: TaskFootprint, startedAt = 0): RunningTask {
  return { ...f, startedAt };
}

/** An exclusive (High-risk) footprint. */
export const exclusive = (taskId: string, fileScope: string[] = []): TaskFootprint => fp(taskId, fileScope, { exclusive: true });
