/**
 * Legal status transitions of a task (pure). The store checks every change against this table, so a task never jumps
 * from `pending` to `completed` without a run (or an Nx cache hit) that shows it was done.
 */
import { err, ok, type Result } from '../manifest/problems';
import type { TaskStatus } from './task-record';

/** Why a transition is refused, with a message that names the task and both statuses. */
export interface IllegalTransition {
  taskId: string;
  from: TaskStatus;
  to: TaskStatus;
  message: string;
}

/**
 * from -> to. `cache` marks targets allowed only for an Nx cache hit (`fromCache`): the cache holds only successful
 * results of the same task hash, which is the evidence a run would otherwise give.
 */
const TABLE: Record<TaskStatus, Partial<Record<TaskStatus, 'always' | 'cache'>>> = {
  // pending -> blocked: a dependency failed or context is missing, decided before any start.
  pending: { pending: 'always', 'in-progress': 'always', blocked: 'always', abandoned: 'always', completed: 'cache' },
  // in-progress -> pending: the run gave the task back (cancelled, owner lost) without a verdict.
  'in-progress': { completed: 'always', blocked: 'always', pending: 'always', abandoned: 'always' },
  // blocked -> blocked: a later run records a new reason.
  blocked: { blocked: 'always', 'in-progress': 'always', pending: 'always', abandoned: 'always', completed: 'cache' },
  // completed -> pending is the deliberate invalidation; completed -> completed a cache replay of the same result.
  completed: { pending: 'always', completed: 'cache' },
  abandoned: { abandoned: 'always', pending: 'always' },
};

const HINTS: Partial<Record<`${TaskStatus}->${TaskStatus}`, string>> = {
  'completed->in-progress': 'reset it to pending (invalidate) to run it again',
  'abandoned->in-progress': 'reset it to pending to run it again',
  'abandoned->completed': 'reset it to pending first',
  'abandoned->blocked': 'reset it to pending first',
  'completed->blocked': 'reset it to pending (invalidate) first',
  'completed->abandoned': 'reset it to pending (invalidate) first',
  'in-progress->in-progress': 'it is already claimed; wait for that claim to finish or expire',
  'pending->completed': 'a task is completed by a run that claimed it, or from the Nx cache (fromCache)',
  'blocked->completed': 'a task is completed by a run that claimed it, or from the Nx cache (fromCache)',
  'completed->completed': 'it is already completed; only an Nx cache replay (fromCache) may record it again',
};

/** Checks one transition; the error message names the task, both statuses and what to do instead. */
export function checkTransition({
  taskId,
  from,
  to,
  fromCache = false,
}: {
  taskId: string;
  from: TaskStatus;
  to: TaskStatus;
  fromCache?: boolean;
}): Result<void, IllegalTransition> {
  const rule = TABLE[from][to];
  if (rule === 'always' || (rule === 'cache' && fromCache)) return ok(undefined);
  const hint = HINTS[`${from}->${to}`];
  return err({
    taskId,
    from,
    to,
    message: `task ${taskId}: cannot change status from "${from}" to "${to}"${hint ? `; ${hint}` : ''}`,
  });
}

/** Statuses reachable from `from` (for help texts and tests). */
export function getAllowedTargets(from: TaskStatus, { fromCache = false }: { fromCache?: boolean } = {}): TaskStatus[] {
  return (Object.entries(TABLE[from]) as [TaskStatus, 'always' | 'cache'][])
    .filter(([, rule]) => rule === 'always' || fromCache)
    .map(([to]) => to);
}
