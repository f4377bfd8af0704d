/**
 * The task store's database port: the few things `TaskStore` asks of a SQL database, so that one store (its claim,
 * admission, fencing and projection logic) runs on SQLite (one checkout, embedded) or PostgreSQL (shared by every
 * machine of a team or CI fleet). Synchronous, like better-sqlite3, because the store and its callers are.
 *
 * The store writes one SQL dialect, the common subset of both engines: `?` or `@name` placeholders, `INSERT ... ON
 * CONFLICT (...) DO UPDATE/DO NOTHING`, no engine-specific functions. Each implementation maps placeholders and
 * creates its own tables (`migrate`).
 */

/** A prepared statement. Parameters are positional values or one object for `@name` placeholders. */
export interface StoreStatement {
  /** Called for writes: how many rows the statement changed. */
  run(...params: unknown[]): { changes: number };
  /** Called for a one-row read: the first row, or undefined. */
  get(...params: unknown[]): unknown;
  /** Called for a many-row read: every row. */
  all(...params: unknown[]): unknown[];
}

export interface StoreDb {
  /** Where the store lives, for messages (a file path, or a PostgreSQL server and namespace without credentials). */
  readonly location: string;
  /**
   * Whether machines other than this one share the database: then what is per checkout (task-state.json's
   * bookkeeping) is kept under keys naming this checkout, and leases are judged by the database's clock.
   */
  readonly shared: boolean;
  /** The database's clock (epoch ms), when all its users should judge leases by it rather than their own. */
  readonly now?: () => number;
  /**
   * Called for every event the store logs (inside the change's transaction when it belongs to one), after it was
   * appended to this checkout's events.jsonl: a shared database keeps every machine's events in one table too.
   */
  recordEvent?(line: string, at: number): void;
  /** Called inside the first write transaction of an open store: creates or upgrades the tables. */
  migrate(): void;
  /** Called for every statement the store runs (implementations cache them). */
  prepare(sql: string): StoreStatement;
  /**
   * Called for every change: runs `fn` holding the store's one write lock (taken before anything is read, so a
   * read-modify-write never loses an update), commits when it returns, rolls back when it throws.
   */
  transaction<T>(fn: () => T): T;
  /**
   * Whether an error thrown by `transaction` means the change was rolled back without effect because the connection
   * was lost (PostgreSQL restarted mid-change): running the whole change again is then safe. Absent: never.
   */
  isRetryable?(error: unknown): boolean;
  /** Called once when the store closes. */
  close(): void;
}
