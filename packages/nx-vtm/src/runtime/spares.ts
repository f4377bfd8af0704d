/**
 * Keeps spare worktrees checked out while agents work (workspace/worktree.ts `fillSpareWorktrees`), so the next task
 * to start moves a ready checkout into place instead of writing every file of the repository on the critical path.
 * One filler per run: a request while one is filling is remembered and runs once it is done.
 */
import type { PluginOptions } from '../config/plugin-options';
import { fillSpareWorktrees } from '../workspace/worktree';
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
