/**
 * Writes an agent made in the main checkout instead of its worktree (worktree isolation).
 *
 * An agent works in `.vtm/worktrees/<id>`, but nothing stops it from writing elsewhere: a CLI that follows an absolute
 * path it read (its task file lives under the main checkout's `.vtm/`), or a command agent that writes under
 * `$VTM_WORKSPACE_ROOT`, which is the main checkout. Such writes are not in the task's commit (so the task found "no
 * changes" or was judged on half its work), and they left the main checkout dirty, so every later merge of the run
 * refused with `dirty_worktree` and told the user to commit what the agent wrote there, unaudited.
 *
 * The run starts only from a clean main checkout, so a path that became dirty there while the task's agent ran was
 * written during that run. Inside the task's scope it is the task's agent's (scopes of tasks running at once never
 * overlap): it is saved under a ref, taken out of the main checkout, and the task's turn is not accepted
 * (`wrote_outside_worktree`, a repair turn tells the agent where to write). Outside the scope the writer is unknown
 * (the user, another task's agent): the paths are only named.
 */
import { join } from 'node:path';
import { ok, type Result } from '../manifest/problems';
import { isPathInScope } from '../manifest/paths';
import { getCurrentBranch, gitOk, isWorkingTreeClean, type GitError } from '../workspace/git';
import { INTEGRATION_LOCK, restoreBranchMovedUnderCheckout } from '../workspace/integrate';
import { createSqliteLock } from '../workspace/sqlite-lock';
import { commitPaths, saveRef } from '../workspace/work-commit';

/**
 * The main checkout's changed paths outside the run-time paths (the dirty check merges make), or undefined when git
 * cannot say. Read without the optional index refresh: a merge may be running in the same checkout.
 */
export async function readCheckoutChanges(root: string, ignorePaths: readonly string[]): Promise<Set<string> | undefined> {
  const r = await isWorkingTreeClean({ cwd: root, ignorePaths, noOptionalLocks: true });
  return r.ok ? new Set(r.value.dirtyPaths) : undefined;
}

/** The paths changed since `before`, split by whether they lie in the task's scope. Pure. */
export function findStrayWrites({ before, after, scope }: { before: ReadonlySet<string>; after: ReadonlySet<string>; scope: readonly string[] }): {
  inScope: string[];
  elsewhere: string[];
} {
  const fresh = findNew(before, after);
  return { inScope: fresh.filter((p) => isPathInScope(p, scope)), elsewhere: fresh.filter((p) => !isPathInScope(p, scope)) };
}

/** What `settleCheckout` found and did. */
export interface CheckoutSettlement {
  /** The integration branch had been moved without its checkout, and was put back (see integrate.ts). */
  notice?: string;
  /** New changes inside the task's scope: the agent's, taken out of the checkout (`taken`) unless that failed. */
  inScope: string[];
  /** New changes outside it: left alone. */
  elsewhere: string[];
  taken?: Result<{ ref: string; sha: string }, GitError>;
}

/**
 * After an agent's run: the main checkout's changes since `before`. Only when there are some, and under the
 * integration lock (no merge runs in the checkout meanwhile): a branch moved under the checkout is put back first
 * (its "changes" are the reverse of the commits put on it, not writes), then what changed inside the task's scope is
 * taken out. Undefined when git cannot say.
 */
export async function settleCheckout({
  root,
  taskId,
  before,
  scope,
  ignorePaths,
}: {
  root: string;
  taskId: string;
  before: ReadonlySet<string>;
  scope: readonly string[];
  ignorePaths: readonly string[];
}): Promise<CheckoutSettlement | undefined> {
  const first = await readCheckoutChanges(root, ignorePaths);
  if (!first) return undefined;
  if (findNew(before, first).length === 0) return { inScope: [], elsewhere: [] };
  return createSqliteLock({ file: join(root, '.vtm', 'locks.db') }).withLock(INTEGRATION_LOCK, async () => {
    const branch = await getCurrentBranch({ cwd: root });
    const notice = branch.ok && branch.value ? await restoreBranchMovedUnderCheckout({ repoRoot: root, branch: branch.value }) : undefined;
    const after = notice ? await readCheckoutChanges(root, ignorePaths) : first;
    if (!after) return undefined;
    const found = findStrayWrites({ before, after, scope });
    const taken = found.inScope.length > 0 ? await takeBackStrayWrites({ root, taskId, paths: found.inScope }) : undefined;
    return { ...(notice ? { notice } : {}), ...found, ...(taken ? { taken } : {}) };
  });
}

const findNew = (before: ReadonlySet<string>, after: ReadonlySet<string>): string[] => [...after].filter((p) => !before.has(p)).sort();

/**
 * Save `paths` as they are in the main checkout (a commit on its HEAD, under `refs/vtm/attempts/<id>/main-checkout-*`)
 * and put them back as HEAD has them: tracked ones restored, new ones removed. Called under the integration lock.
 * Returns the ref.
 */
async function takeBackStrayWrites({ root, taskId, paths }: { root: string; taskId: string; paths: readonly string[] }): Promise<Result<{ ref: string; sha: string }, GitError>> {
  const head = await gitOk({ cwd: root, args: ['rev-parse', 'HEAD'] });
  if (!head.ok) return head;
  const saved = await commitPaths({ cwd: root, parent: head.value.trim(), paths, message: `nx-vtm: what the agent of ${taskId} wrote in the main checkout\n` });
  if (!saved.ok) return saved;
  const ref = `refs/vtm/attempts/${taskId}/main-checkout-${Date.now()}`;
  const kept = await saveRef({ cwd: root, ref, sha: saved.value });
  if (!kept.ok) return kept;
  const listed = await gitOk({ cwd: root, args: ['ls-tree', '-z', '--name-only', 'HEAD', '--', ...paths.map((p) => `:(literal)${p}`)] });
  if (!listed.ok) return listed;
  const tracked = new Set(listed.value.split('\0').filter(Boolean));
  const fresh = paths.filter((p) => !tracked.has(p));
  if (fresh.length > 0) {
    // Out of the index too, in case the agent staged them; then off the disk.
    const unstaged = await gitOk({ cwd: root, args: ['rm', '-q', '-r', '--cached', '--ignore-unmatch', '--', ...fresh.map((p) => `:(literal)${p}`)] });
    if (!unstaged.ok) return unstaged;
    const removed = await gitOk({ cwd: root, args: ['clean', '-q', '-f', '--', ...fresh.map((p) => `:(literal)${p}`)] });
    if (!removed.ok) return removed;
  }
  if (tracked.size > 0) {
    const restored = await gitOk({ cwd: root, args: ['checkout', '-q', 'HEAD', '--', ...[...tracked].map((p) => `:(literal)${p}`)] });
    if (!restored.ok) return restored;
  }
  return ok({ ref, sha: saved.value });
}
