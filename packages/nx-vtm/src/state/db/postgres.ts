/**
 * The task store on PostgreSQL: one database shared by every machine working on a backlog (developers, CI runners,
 * Nx Agents), so that one WIP limit, one set of claims, reservations, fences and dispatch pauses hold across all of
 * them, as SQLite's do across one checkout's processes.
 *
 * Synchronous to its caller, like better-sqlite3: the `pg` client runs in a worker thread and the store's thread
 * blocks on `Atomics.wait` until each answer arrives (synckit). Every change is one transaction that first takes a
 * transaction-scoped advisory lock on the namespace (`pg_advisory_xact_lock`): the equivalent of SQLite's
 * `BEGIN IMMEDIATE`, taken before anything is read, so admission decisions see every machine's claims and no update is
 * lost. The server releases the lock when the transaction ends or the connection dies, so a machine that crashes
 * mid-transaction never leaves the namespace locked.
 *
 * Each namespace (one backlog) is its own PostgreSQL schema (`vtm_<namespace>`), created with its tables on first use.
 * Leases are judged by the server's clock (`clock_timestamp()`), never by the machines' drifting ones.
 */
import * as path from 'node:path';
import { createSyncFn } from 'synckit';
import { NAMESPACE_PATTERN } from './coordinator-options';
import type { StoreDb, StoreStatement } from './port';


/** First key of the advisory lock: nx-vtm's ("vtm"), so another application's advisory locks never collide. */
const LOCK_CLASS = 0x76746d;

type WorkerCall = {
  (
    op: 'open',
    arg: { url: string; schema: string; lockTimeoutMs: number; queryTimeoutMs: number; connectTimeoutMs: number; reconnectMs: number; openRetryMs: number },
  ): number;
  (op: 'query', arg: { id: number; text: string; values: unknown[] }): { rows: unknown[]; rowCount: number };
  (op: 'close', arg: { id: number }): null;
};

let worker: WorkerCall | undefined;
function getWorker(): WorkerCall {
  // One worker per process, shared by every open store (each has its own connection in it). The worker is unref'd by
  // synckit: it never keeps a process alive.
  worker ??= createSyncFn(path.join(__dirname, 'postgres-worker.js')) as unknown as WorkerCall;
  return worker;
}

/** A statement in the store's dialect (`?` and `@name` placeholders) rewritten with PostgreSQL's `$n`. */
export function toPostgresSql(sql: string): { text: string; names: string[] } {
  let text = '';
  const names: string[] = [];
  let positional = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      // Copy a quoted literal or identifier whole: placeholders are never inside one.
      const end = sql.indexOf(c, i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      text += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      text += `$${++positional}`;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1))![0];
      let index = names.indexOf(name);
      if (index < 0) index = names.push(name) - 1;
      text += `$${index + 1}`;
      i += name.length;
    } else {
      text += c;
    }
  }
  if (positional > 0 && names.length > 0) throw new Error(`nx-vtm: a statement mixes ? and @name placeholders: ${sql}`);
  return { text, names };
}

/** The server and database of a connection string, without user or password (for messages). */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    return `postgres://${u.host}${u.pathname}`;
  } catch {
    return 'postgres://(unparsable url)';
  }
}

/** The tables of one namespace; the same columns as SQLite's (store-rows.ts), times and fences as BIGINT. */
function buildSchemaSql(schema: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${schema}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ${schema}.tasks (
  task_id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  reason TEXT,
  task_hash TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at BIGINT,
  completed_at BIGINT,
  updated_at BIGINT NOT NULL,
  outcome TEXT NOT NULL DEFAULT '{}',
  claim TEXT,
  claim_token TEXT,
  fence BIGINT,
  heartbeat_at BIGINT,
  agent TEXT,
  progress TEXT,
  rev BIGINT
);
CREATE INDEX IF NOT EXISTS tasks_by_status ON ${schema}.tasks(status);
CREATE INDEX IF NOT EXISTS tasks_by_status_reason ON ${schema}.tasks(status, reason);
CREATE INDEX IF NOT EXISTS tasks_by_rev ON ${schema}.tasks(rev);
-- Every machine's events, in commit order (each machine also keeps its own .vtm/events.jsonl).
CREATE TABLE IF NOT EXISTS ${schema}.events (id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ${schema}.waiters (
  task_id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  since BIGINT NOT NULL,
  reason TEXT NOT NULL,
  reserved_at BIGINT,
  owner TEXT NOT NULL,
  refreshed_at BIGINT NOT NULL,
  lease_ms BIGINT NOT NULL
);
-- Row revisions for each checkout's task-state.json, as SQLite's triggers (store-rows.ts REVISION_SCHEMA): every
-- insert, and every update that sets a projected column, stamps the row above all others. All writers hold the
-- namespace lock, so revisions follow commit order.
CREATE OR REPLACE FUNCTION ${schema}.stamp_rev() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.rev := (SELECT COALESCE(MAX(rev), 0) + 1 FROM ${schema}.tasks);
  RETURN NEW;
END
$fn$;
DROP TRIGGER IF EXISTS tasks_rev_on_insert ON ${schema}.tasks;
CREATE TRIGGER tasks_rev_on_insert BEFORE INSERT ON ${schema}.tasks FOR EACH ROW EXECUTE FUNCTION ${schema}.stamp_rev();
DROP TRIGGER IF EXISTS tasks_rev_on_update ON ${schema}.tasks;
CREATE TRIGGER tasks_rev_on_update
BEFORE UPDATE OF status, reason, task_hash, attempts, started_at, completed_at, outcome, claim ON ${schema}.tasks
FOR EACH ROW EXECUTE FUNCTION ${schema}.stamp_rev();
`;
}

/** Tables version of a namespace, kept apart from the store's own `schema_version` (which both engines share). */
const PG_TABLES_VERSION = '1';

export interface OpenPostgresDbOptions {
  /** A `postgres://` connection string (credentials included, never printed). */
  url: string;
  /** The backlog's namespace: its own schema, lock and tables. */
  namespace: string;
  /** How long a change waits for another machine's transaction before failing. */
  lockTimeoutMs: number;
  /** How long any one statement may take before the call fails (a server that stopped answering). Default 60 s. */
  queryTimeoutMs?: number;
  /** How long connecting may take. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * How long a connection lost between changes (a server restart or failover) is retried before a call fails.
   * Default 60 s: a restart takes seconds, and the run pauses meanwhile instead of failing its tasks.
   */
  reconnectMs?: number;
  /** How long the first connection is retried while the server refuses it (restarting). Default 5 s. */
  openRetryMs?: number;
}

/** What the worker attaches to a failed call (see postgres-worker.js). */
type WorkerFailure = Error & { vtmUnreachable?: boolean; vtmWaitedMs?: number; vtmRolledBack?: boolean; vtmCommitUnknown?: boolean };

/**
 * A failed call in words that name the coordinator (never its password) and say what happened to the change: a
 * change rolled back by a lost connection is marked `vtmRolledBack` (running it again is safe).
 */
export function describePostgresFailure(e: unknown, location: string): unknown {
  const failure = e as WorkerFailure;
  if (!failure || typeof failure !== 'object') return e;
  if (failure.vtmUnreachable) {
    const waited = Math.round((failure.vtmWaitedMs ?? 0) / 1000);
    return Object.assign(
      new Error(
        `the coordinator database ${location} is unreachable (retried for ${waited} s): ${failure.message}. ` +
          'Nothing more is recorded until it answers; run again once it is back (claims of this run are taken over after their lease)',
      ),
      { cause: e, vtmUnreachable: true },
    );
  }
  if (failure.vtmCommitUnknown) {
    return Object.assign(
      new Error(
        `lost the connection to the coordinator database ${location} while committing a change: ${failure.message}; ` +
          'the server may or may not have recorded it. Run again: a claim it recorded is taken over after its lease',
      ),
      { cause: e },
    );
  }
  if (failure.vtmRolledBack) {
    return Object.assign(new Error(`lost the connection to the coordinator database ${location} during a change (the server rolled it back): ${failure.message}`), {
      cause: e,
      vtmRolledBack: true,
    });
  }
  return e;
}

export function openPostgresDb(options: OpenPostgresDbOptions): StoreDb {
  const { url, namespace, lockTimeoutMs } = options;
  if (!NAMESPACE_PATTERN.test(namespace)) {
    throw new Error(
      `coordinator.namespace "${namespace}" is not a valid namespace: use 1-48 letters, digits, "_" or "-"`,
    );
  }
  const schema = `"vtm_${namespace}"`;
  const location = `${describePostgresUrl(url)} (namespace ${namespace})`;
  const call = getWorker();
  let id: number;
  try {
    id = call('open', {
      url,
      schema,
      lockTimeoutMs,
      queryTimeoutMs: options.queryTimeoutMs ?? 60_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      reconnectMs: options.reconnectMs ?? 60_000,
      openRetryMs: options.openRetryMs ?? 5_000,
    });
  } catch (e) {
    const message = (e as Error).message;
    throw Object.assign(new Error(`cannot connect to the coordinator database ${location}: ${message}`), { cause: e });
  }
  const query = (text: string, values: unknown[] = []) => {
    try {
      return call('query', { id, text, values });
    } catch (e) {
      throw describePostgresFailure(e, location);
    }
  };
  const statements = new Map<string, StoreStatement>();
  let depth = 0;
  let closed = false;

  return {
    location,
    shared: true,
    isRetryable: (e) => !!(e && typeof e === 'object' && (e as WorkerFailure).vtmRolledBack),
    now: () => (query('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now').rows[0] as { now: number }).now,
    migrate() {
      const meta = query(`SELECT to_regclass('${schema}.meta') AS t`).rows[0] as { t: string | null };
      const version = meta.t
        ? (query(`SELECT value FROM ${schema}.meta WHERE key = 'pg_tables_version'`).rows[0] as { value: string } | undefined)?.value
        : undefined;
      // Only a namespace without tables (or from an older layout) runs the DDL: it locks the tables it touches, and
      // readers outside the write lock should not wait on every store's open.
      if (version === PG_TABLES_VERSION) return;
      query(buildSchemaSql(schema));
      query(
        `INSERT INTO ${schema}.meta (key, value) VALUES ('pg_tables_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [PG_TABLES_VERSION],
      );
    },
    recordEvent(line: string, at: number) {
      // The line as written to events.jsonl (JSON with its newline): one format for both logs.
      query('INSERT INTO events (at, line) VALUES ($1, $2)', [at, line.trimEnd()]);
    },
    prepare(sql: string): StoreStatement {
      let statement = statements.get(sql);
      if (!statement) {
        const { text, names } = toPostgresSql(sql);
        const values = (params: unknown[]): unknown[] => {
          if (names.length === 0) return params;
          const named = params[0] as Record<string, unknown>;
          return names.map((n) => named[n] ?? null);
        };
        statement = {
          run: (...params) => ({ changes: query(text, values(params)).rowCount }),
          get: (...params) => query(text, values(params)).rows[0],
          all: (...params) => query(text, values(params)).rows,
        };
        statements.set(sql, statement);
      }
      return statement;
    },
    transaction<T>(fn: () => T): T {
      // The store never nests changes, but a nested call joins the open transaction rather than committing it early.
      if (depth > 0) return fn();
      query('BEGIN');
      depth++;
      try {
        query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, namespace]);
        const result = fn();
        query('COMMIT');
        return result;
      } catch (e) {
        try {
          query('ROLLBACK');
        } catch {
          // The connection itself failed: the server rolls back and releases the lock when it notices.
        }
        throw e;
      } finally {
        depth--;
      }
    },
    close() {
      if (closed) return;
      closed = true;
      call('close', { id });
    },
  };
}

export interface PostgresLockOptions {
  url: string;
  namespace: string;
  /** How long `withLock` waits for another machine before failing (`LockTimeoutError`). Default 10 minutes. */
  timeoutMs?: number;
  /** Poll interval bounds in ms (random in between, so waiting machines do not retry in lockstep). */
  pollMs?: { min: number; max: number };
}

/**
 * A lock held across machines: a session-level advisory lock (`pg_advisory_lock` semantics, taken with
 * `pg_try_advisory_lock` and polled, so this thread never blocks on the server) on a connection of its own, opened for
 * the critical section and closed after. The server releases it when the connection drops, so a machine that dies
 * while integrating never leaves it held. Keys: nx-vtm's class, and the namespace with the lock's name, so each
 * backlog has its own. A lost connection also loses the lock silently: callers keep their own guarantee (the
 * integration's push is never forced, so the remote refuses a second writer), the lock only makes contention rare.
 */
export function createPostgresLock({ url, namespace, timeoutMs = 10 * 60_000, pollMs = { min: 100, max: 400 } }: PostgresLockOptions) {
  const location = `${describePostgresUrl(url)} (namespace ${namespace})`;
  return {
    async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
      const call = getWorker();
      let id: number;
      try {
        id = call('open', { url, schema: `"vtm_${namespace}"`, lockTimeoutMs: 30_000, queryTimeoutMs: 60_000, connectTimeoutMs: 10_000, reconnectMs: 60_000, openRetryMs: 5_000 });
      } catch (e) {
        throw Object.assign(new Error(`cannot connect to the coordinator database ${location} for the "${name}" lock: ${(e as Error).message}`), { cause: e });
      }
      const key = `${namespace}:${name}`;
      const started = Date.now();
      try {
        for (;;) {
          const row = call('query', { id, text: 'SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', values: [LOCK_CLASS, key] }).rows[0] as { ok: boolean };
          if (row.ok) break;
          const waited = Date.now() - started;
          if (waited >= timeoutMs) {
            const { LockTimeoutError } = require('../../workspace/sqlite-lock') as typeof import('../../workspace/sqlite-lock');
            throw new LockTimeoutError(name, location, waited);
          }
          await new Promise<void>((r) => setTimeout(r, pollMs.min + Math.random() * (pollMs.max - pollMs.min)));
        }
        try {
          return await fn();
        } finally {
          try {
            call('query', { id, text: 'SELECT pg_advisory_unlock($1, hashtext($2))', values: [LOCK_CLASS, key] });
          } catch {
            // The connection is gone, and with it the lock (closing below ends the session either way).
          }
        }
      } finally {
        try {
          call('close', { id });
        } catch {
          // Already closed by the server.
        }
      }
    },
  };
}
