/**
 * Pre-positioned worktrees for the tasks a dependency unblocks (issue 12: a dependency's integration -> its dependent's
 * agent start, target p50 <= 150 ms). The dependent's checkout used to start at its claim: 6-8 git processes on the
 * path (list, save an earlier tip, move a spare in, `checkout -B`, `clean`, the links' ignore file). Now:
 *
 *   dependency saved (sha)       -> prime: a spare checked out at that commit, detached, cleaned, linked (off the path:
 *                                   the dependency's audit, verification and merge run meanwhile)
 *   dependency integrated (tip)  -> position: `checkout -b vtm/<dependent> <tip>` (the merge commit has the saved
 *                                   commit's tree when nothing else was merged meanwhile: no file is written)
 *   dependent claimed            -> take: verified (integration tip == the primed commit, branch, HEAD) and moved into
 *                                   place, one git process (workspace/worktree.ts `takePrimedWorktree`)
 *
 * A primed worktree whose base went stale (another task merged in between) is never started on: the claim falls back
 * to `createTaskWorktree`'s usual path, which uses it as a spare at the new base. One instance per run; the git side
 * is behind `PrimerPorts`, so the bookkeeping here is tested without git.
 */
import type { Result } from '../manifest/problems';
import type { PrimedWorktree } from '../workspace/worktree';

/** The git side of pre-positioning (workspace/worktree.ts in production). */
export interface PrimerPorts {
  /** Check out a spare for `taskId` at `sha` (detached). */
  prime(taskId: string, sha: string): Promise<Result<PrimedWorktree, string>>;
  /**
   * Put a primed worktree on its task's branch at `tip`. `lockHeld`: the caller holds the worktree lock already (the
   * integration lock is the same lock: `.vtm/locks.db`).
   */
  position(primed: PrimedWorktree, tip: string, opts?: { lockHeld?: boolean }): Promise<Result<PrimedWorktree, string>>;
  /** Remove a primed worktree no task took (and its branch, when it is still where the primer put it). */
  discard(primed: PrimedWorktree): Promise<void>;
}

export interface Prepositioner {
  /** `taskId`'s work is saved at `sha`: prime worktrees for the dependents it unblocks (in the background). */
  workSaved(taskId: string, sha: string): void;
  /**
   * `taskId` is (about to be) merged and the integration branch at `tip`: put its dependents' primed worktrees on their
   * branches there. Again with another tip (a repair turn's merge): they are moved to it.
   */
  integrated(taskId: string, tip: string): void;
  /**
   * The merge queue built `sha` (the commit the integration branch moves to if its test passes) and holds the lock:
   * position the dependents' primed worktrees there now, under that lock, while the test runs. Only those whose
   * preparation is done (one still waiting for the lock would wait for us). Resolves when done; never rejects.
   */
  mergeCommitReady(taskId: string, sha: string): Promise<void>;
  /** The worktree primed for `taskId` (waits for its preparation), or undefined; the table forgets it. Never rejects. */
  take(taskId: string): Promise<PrimedWorktree | undefined>;
  /** Waits for every preparation, then discards the primed worktrees no task took. */
  settle(): Promise<void>;
}

interface Entry {
  /** The dependency whose save primed it. */
  from: string;
  /** The commit it was last asked to be positioned at. */
  tip?: string;
  /** Whether `ready` has settled (nothing of it is running or waiting for the lock). */
  idle: boolean;
  /** Settles with the primed worktree, or undefined when it could not be made; never rejects. */
  ready: Promise<PrimedWorktree | undefined>;
}

export function createPrepositioner({
  ports,
  dependentsToPrime,
  log,
}: {
  ports: PrimerPorts;
  /**
   * The tasks that `taskId` is the last unfinished dependency of and that are still to start in this run (each gets
   * a primed worktree), most urgent first. Asked at the dependency's save.
   */
  dependentsToPrime: (taskId: string) => readonly string[];
  log: (taskId: string, line: string) => void;
}): Prepositioner {
  const entries = new Map<string, Entry>();
  const chain = (entry: Entry, next: Promise<PrimedWorktree | undefined>): Promise<PrimedWorktree | undefined> => {
    entry.idle = false;
    const ready = next.finally(() => {
      if (entry.ready === ready) entry.idle = true;
    });
    entry.ready = ready;
    return ready;
  };
  const position = (dependent: string, entry: Entry, tip: string, lockHeld: boolean) => {
    entry.tip = tip;
    return chain(
      entry,
      quiet(
        entry.ready.then(async (primed) => {
          if (!primed) return undefined;
          const r = await ports.position(primed, tip, { lockHeld });
          if (r.ok) return r.value;
          // Still a detached spare (or on its branch at an earlier commit): the claim's usual path uses it as a spare.
          log(dependent, `pre-positioned worktree not put on its branch (${r.error}); it is used as a spare`);
          return primed;
        }),
        undefined,
      ),
    );
  };
  const quiet = async <T>(p: Promise<T>, fallback: T): Promise<T> => {
    try {
      return await p;
    } catch {
      return fallback;
    }
  };
  return {
    workSaved(taskId, sha) {
      for (const dependent of dependentsToPrime(taskId)) {
        // A repair turn saves again: the worktree primed at the first save is positioned at the merge all the same.
        if (entries.has(dependent)) continue;
        const entry: Entry = { from: taskId, ready: Promise.resolve(undefined), idle: true };
        entries.set(dependent, entry);
        chain(
          entry,
          quiet(
            ports.prime(dependent, sha).then((r) => {
              if (r.ok) return r.value;
              log(dependent, `no worktree pre-positioned (${r.error}); it is checked out at the claim`);
              return undefined;
            }),
            undefined,
          ),
        );
      }
    },
    integrated(taskId, tip) {
      for (const [dependent, entry] of entries) {
        // Told twice about the same merge commit (the merge queue's tested commit, then the merged tip): once is enough.
        if (entry.from !== taskId || entry.tip === tip) continue;
        void position(dependent, entry, tip, false);
      }
    },
    async mergeCommitReady(taskId, sha) {
      const running: Promise<unknown>[] = [];
      for (const [dependent, entry] of entries) {
        if (entry.from !== taskId || entry.tip === sha || !entry.idle) continue;
        running.push(position(dependent, entry, sha, true));
      }
      await Promise.all(running);
    },
    async take(taskId) {
      const entry = entries.get(taskId);
      if (!entry) return undefined;
      entries.delete(taskId);
      return entry.ready;
    },
    async settle() {
      while (entries.size > 0) {
        const left = [...entries.values()];
        entries.clear();
        for (const e of left) {
          const primed = await e.ready;
          if (primed) await quiet(ports.discard(primed), undefined);
        }
      }
    },
  };
}

/**
 * The dependents a dependency's save should prime worktrees for: in the run, not started, never attempted (an earlier
 * attempt's branch is judged at its claim, not here), with every other dependency done; most urgent first, at most
 * `limit`. Pure.
 */
export function pickDependentsToPrime({
  taskId,
  dependents,
  dependenciesOf,
  isDone,
  isStartable,
  limit,
}: {
  taskId: string;
  /** Tasks of the run that depend on `taskId`, in priority order. */
  dependents: readonly string[];
  dependenciesOf: (taskId: string) => readonly string[];
  /** Whether a dependency is done (completed, or finished outside the run). */
  isDone: (taskId: string) => boolean;
  /** Whether a task is still to start in this run and was never attempted. */
  isStartable: (taskId: string) => boolean;
  limit: number;
}): string[] {
  return dependents
    .filter((d) => isStartable(d) && dependenciesOf(d).every((x) => x === taskId || isDone(x)))
    .slice(0, Math.max(0, limit));
}
