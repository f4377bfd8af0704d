/**
 * Task snapshot files: one committed file per task (`<manifest dir>/tasks/<task_id>.json`) holding that task's
 * manifest entry. Nx's `affected` works on changed files, and a change to the one manifest file would affect every
 * task or none (shared/notes/nx-24-facts.md); a per-task file used as that task's input makes an edit of one entry
 * affect exactly that task. The `nx-vtm:sync` generator keeps them in step with the manifest (`nx sync`, and
 * `nx sync:check` in CI).
 */
import { posix } from 'node:path';
import type { Task } from '../manifest/schema';

export const SNAPSHOT_DIR_NAME = 'tasks';

export const getSnapshotDir = (manifestFile: string): string => posix.join(posix.dirname(manifestFile), SNAPSHOT_DIR_NAME);

export const getSnapshotPath = (manifestFile: string, taskId: string): string => posix.join(getSnapshotDir(manifestFile), `${taskId}.json`);

/** The snapshot file's content: the parsed entry (defaults applied), so formatting-only edits change nothing. */
export const buildSnapshotContent = (task: Task): string => `${JSON.stringify(task, null, 2)}\n`;
