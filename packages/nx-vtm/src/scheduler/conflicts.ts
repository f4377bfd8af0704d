/**
 * When two tasks may not run at the same time, and why.
 *
 * Two rules, both symmetric: the paths they may write overlap (same path, or one a directory prefix of the other on a
 * "/" boundary; `findScopeOverlap`), or either names the other in `conflicts_with`. The paths a task may write are its
 * `file_scope` and its `test_verification` files: the audit lets the agent write both, so two tasks naming the same
 * test file would otherwise both be admitted and edit it at once. Whether a task must run alone
 * (High risk, `parallel: false`) is not a pairwise conflict; admission handles it.
 */
import { findScopeOverlap, isPathInScope } from '../manifest/paths';
import type { Task } from '../manifest/schema';
import type { TaskFootprint } from './types';

/** Why two footprints conflict. */
export type FootprintConflict =
  /** `entry` of the first footprint overlaps `otherEntry` of the second. */
  | { kind: 'scope'; entry: string; otherEntry: string }
  /** `declaredBy` lists the other task in its `conflicts_with`. */
  | { kind: 'declared'; declaredBy: string };

/**
 * Why `a` and `b` may not run at the same time, or undefined when they may. A scope overlap is reported in preference
 * to a declared conflict because it names the contested path. A task never conflicts with itself. Pure.
 */
export function findFootprintConflict(a: TaskFootprint, b: TaskFootprint): FootprintConflict | undefined {
  if (a.taskId === b.taskId) return undefined;
  const overlap = findScopeOverlap(a.fileScope, b.fileScope);
  if (overlap) return { kind: 'scope', entry: overlap[0], otherEntry: overlap[1] };
  if (a.conflictsWith.includes(b.taskId)) return { kind: 'declared', declaredBy: a.taskId };
  if (b.conflictsWith.includes(a.taskId)) return { kind: 'declared', declaredBy: b.taskId };
  return undefined;
}

/** Whether `a` and `b` may not run at the same time. Pure. */
export function footprintsConflict(a: TaskFootprint, b: TaskFootprint): boolean {
  return findFootprintConflict(a, b) !== undefined;
}

/** Whether a manifest task must run with nothing beside it: `risk: High` or `parallel: false`. */
export function isExclusiveTask(task: Pick<Task, 'risk'> & { parallel?: boolean }): boolean {
  return task.risk === 'High' || task.parallel === false;
}

/**
 * The admission footprint of a parsed manifest task: `file_scope` then the `test_verification` files not already
 * covered by it (so a wait reason names the scope entry when both apply). Pure.
 */
export function buildFootprint(
  task: Pick<Task, 'task_id' | 'risk'> & {
    file_scope?: readonly string[];
    test_verification?: readonly string[];
    conflicts_with?: readonly string[];
    parallel?: boolean;
  },
): TaskFootprint {
  const scope = task.file_scope ?? [];
  const tests = (task.test_verification ?? []).filter((t, i, all) => all.indexOf(t) === i && !isPathInScope(t, scope));
  return {
    taskId: task.task_id,
    fileScope: [...scope, ...tests],
    conflictsWith: task.conflicts_with ?? [],
    exclusive: isExclusiveTask(task),
  };
}
