import type { ExecutorContext } from '@nx/devkit';
import type { ImplementExecutorOptions } from './schema';

/**
 * This version of nx-vtm infers the task graph only; running agents arrives with the runner. Refuse clearly rather
 * than pretend: nothing here may claim that an agent ran.
 */
export default async function implementExecutor(
  options: ImplementExecutorOptions,
  _context: ExecutorContext,
): Promise<{ success: boolean }> {
  console.error(
    `nx-vtm: "implement" is not implemented in this version: task ${options.taskId} was not run and no agent was called.`,
  );
  return { success: false };
}
