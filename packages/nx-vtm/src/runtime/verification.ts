/** The verification command of a task: the task's own override (manifest field `verification_command`) or the plugin's. */
import type { Task } from '../manifest/schema';

export function getVerificationCommand(task: Task, fallback: readonly string[]): readonly string[] {
  const own = (task as Record<string, unknown>).verification_command;
  if (Array.isArray(own) && own.length > 0 && own.every((a) => typeof a === 'string' && a.length > 0)) return own as string[];
  return fallback;
}
