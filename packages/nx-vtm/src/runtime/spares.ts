/**
 * Keeps spare worktrees checked out while agents work (workspace/worktree.ts `fillSpareWorktrees`), so the next task
 * to start moves a ready checkout into place instead of writing every file of the repository on the critical path.
 * One filler per run: a request while one is filling is remembered and runs once it is done.
 */
import type { PluginOptions } from '../config/plugin-options';
import { existsSync } from 'node:fs';
import { gitOk } from '../workspace/git';
import { fillSpareWorktrees, getTaskBranch, positionPrimedWorktree, primeTaskWorktree } from '../workspace/worktree';
import type { PrimerPorts } from './prepositions';
import { withWorktreeLock } from './pipeline';

export interface SpareFiller {
  /** Top the spares up (in the background; never throws, never waits). */
  refill(): void;
  /** Resolves once no fill is running (the run ends without leaving a half-filled spare behind). */
  settle(): Promise<void>;
}

export function createSpareFiller({
  workspaceRoot,
  integrationBranch,
  options,
  log,
}: {
  workspaceRoot: string;
  integrationBranch: string;
  options: PluginOptions;
  log: (line: string) => void;
}): SpareFiller {
  const count = options.isolation === 'none' ? 0 : options.worktree.spares;
  let filling: Promise<void> | null = null;
  let again = false;
  const refill = (): void => {
    if (count <= 0) return;
    if (filling) {
      again = true;
      return;
    }
    again = false;
    filling = fillSpareWorktrees({ repoRoot: workspaceRoot, baseRef: integrationBranch, count, withLock: (fn) => withWorktreeLock(workspaceRoot, fn) })
      .then(
        (r) => {
          // Only a lost speed-up: the next task checks out its worktree as without spares.
          if (!r.ok) log(`nx-vtm: no spare worktree prepared (${r.error.message}); tasks check out their own`);
        },
        (e: unknown) => log(`nx-vtm: no spare worktree prepared (${e instanceof Error ? e.message : String(e)})`),
      )
      .finally(() => {
        filling = null;
        if (again) refill();
      });
  };
  const settle = async (): Promise<void> => {
    again = false;
    while (filling) await filling;
  };
  return { refill, settle };
}

/** The git side of pre-positioned worktrees (runtime/prepositions.ts), under the workspace's worktree lock. */
export function createWorktreePrimerPorts({ workspaceRoot, options }: { workspaceRoot: string; options: PluginOptions }): PrimerPorts {
  const withLock = <T>(fn: () => Promise<T>) => withWorktreeLock(workspaceRoot, fn);
  return {
    prime: (taskId, sha) => primeTaskWorktree({ repoRoot: workspaceRoot, taskId, sha, linkDirs: options.worktree.linkDirs, withLock }),
    position: (primed, tip, opts) =>
      positionPrimedWorktree({ repoRoot: workspaceRoot, primed, tip, withLock: opts?.lockHeld ? (fn) => fn() : withLock }),
    discard: (primed) =>
      withLock(async () => {
        // Under the lock, so no claim of the task takes it meanwhile; a claim that used it as its spare moved it away
        // (then neither it nor the branch, now the task's, is touched).
        if (!existsSync(primed.path)) return;
        const removed = await gitOk({ cwd: workspaceRoot, args: ['worktree', 'remove', '--force', primed.path] });
        // Only while it is where the primer put it: `update-ref -d <ref> <old>` deletes nothing that moved since.
        if (removed.ok && primed.onBranch) await gitOk({ cwd: workspaceRoot, args: ['update-ref', '-d', `refs/heads/${getTaskBranch(primed.taskId)}`, primed.sha] });
      }),
  };
}
