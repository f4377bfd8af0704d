import type { ExecutorContext } from '@nx/devkit';
import type { VerifyExecutorOptions } from './schema';

/** Verification arrives with the agent runner; refuse clearly until then. */
export default async function verifyExecutor(
  options: VerifyExecutorOptions,
  _context: ExecutorContext,
): Promise<{ success: boolean }> {
  console.error(`nx-vtm: "verify" is not implemented in this version: task ${options.taskId} was not verified.`);
  return { success: false };
}
