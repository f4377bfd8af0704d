/**
 * A cross-process lock held as an open SQLite `BEGIN IMMEDIATE` transaction.
 *
 * Why SQLite and not a lock file: SQLite's lock is a kernel fcntl lock, released by the kernel when the holder dies,
 * so a crashed integration can never leave a stale lock behind, and there is no "is the holder still alive" guess
 * to get wrong (measured in shared/notes/state-integrity.md: O_EXCL lock files with pid checks let two holders in at
 * once in 13 of 40 crash trials, SQLite in 0 of 40).
 *
 * Waiting polls with a zero busy timeout instead of SQLite's blocking busy handler: better-sqlite3 is synchronous,
 * and a blocking wait of minutes would freeze the whole Nx batch process, including other tasks' agent output.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { LockPort } from './ports';

/** The lock could not be taken within the deadline; another process holds it. */
export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
  constructor(
    readonly lockName: string,
    readonly file: string,
    readonly waitedMs: number,
  ) {
    super(
      `Timed out after ${Math.round(waitedMs / 1000)} s waiting for the "${lockName}" lock (${file}); another nx-vtm process is integrating. Wait for it to finish, then re-run.`,
    );
  }
}

export interface SqliteLockOptions {
  /** The lock database, e.g. `<workspace>/.vtm/locks.db`. Its directory is created when missing. */
  file: string;
  /** How long `withLock` waits before rejecting with `LockTimeoutError`. Default 10 minutes. */
  timeoutMs?: number;
  /** Poll interval bounds in ms; each wait is random in [min, max] so two waiters do not retry in lockstep. */
  pollMs?: { min: number; max: number };
}

const isBusy = (e: unknown): boolean => {
  const code = (e as { code?: string }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A `LockPort` whose locks are `BEGIN IMMEDIATE` transactions on one SQLite file. All names share the file, so two
 * different names also exclude each other; that is fine for the one critical section the plugin has (integration).
 * Not re-entrant: calling `withLock` from inside `fn` waits for itself until the timeout.
 */
export function createSqliteLock({ file, timeoutMs = 10 * 60_000, pollMs = { min: 20, max: 120 } }: SqliteLockOptions): LockPort {
  return {
    async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const db = new Database(file, { timeout: 0 });
      const started = Date.now();
      try {
        for (;;) {
          try {
            db.exec('BEGIN IMMEDIATE');
            break;
          } catch (e) {
            if (!isBusy(e)) throw e;
            const waited = Date.now() - started;
            if (waited >= timeoutMs) throw new LockTimeoutError(name, file, waited);
            await sleep(pollMs.min + Math.random() * (pollMs.max - pollMs.min));
          }
        }
        try {
          return await fn();
        } finally {
          // Nothing was written; ending the transaction is what releases the lock.
          db.exec('ROLLBACK');
        }
      } finally {
        db.close();
      }
    },
  };
}
