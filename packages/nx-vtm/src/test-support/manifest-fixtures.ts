/** Fixture builders for specs: valid tasks and manifests with one thing changed at a time. */
import type { Task, TaskInput } from '../manifest/schema';
import { taskSchema } from '../manifest/schema';

export function buildTaskInput(id: string, over: Partial<TaskInput> = {}): TaskInput {
  return {
    task_id: id,
    capability_id: id.split('--')[0],
    phase: 'Phase 1',
    slice: 'Slice 1.1',
    title: `Do ${id}`,
    description: '',
    acceptance_criteria: [{ id: `${id}-AC01`, text: 'works' }],
    risk: 'Low',
    est: { size: 'M' },
    file_scope: [`src/${id.toLowerCase()}/`],
    ...over,
  };
}

/** A parsed task (defaults applied). */
export const buildTask = (id: string, over: Partial<TaskInput> = {}): Task => taskSchema.parse(buildTaskInput(id, over));
