import type { TaskRecord } from '../task-record';

/** A stored task record for pure specs: a never-claimed pending task, with `over` applied. */
export const buildTaskRecord = (taskId: string, over: Partial<TaskRecord> = {}): TaskRecord => ({
  taskId,
  status: 'pending',
  reason: null,
  taskHash: null,
  attempts: 0,
  startedAt: null,
  completedAt: null,
  updatedAt: 0,
  outcome: {},
  claim: null,
  progress: null,
  ...over,
});
