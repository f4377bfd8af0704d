/**
 * The worker thread behind the PostgreSQL task store (see postgres.ts): it owns the `pg` connections and answers one
 * request at a time while the store's thread waits (synckit: `Atomics.wait` on a shared buffer), which keeps the
 * store synchronous like better-sqlite3. Plain CommonJS, not TypeScript: a worker thread is loaded by path, outside
 * ts-jest's transform and the build's compile step (the build copies it beside postgres.js).
 */
'use strict';
const { runAsWorker } = require('synckit');
const { Client, types } = require('pg');

// BIGINT (epoch ms, counts): JavaScript numbers, as better-sqlite3 returns them. Epoch milliseconds stay far below
// 2^53, so nothing is lost.
types.setTypeParser(20, (value) => Number(value));

/** Open connections by id; a connection that failed while idle keeps its error to report at its next use. */
const clients = new Map();
let nextId = 1;

/** Connects one client for `options` (the search path names the namespace's schema). */
async function connect(options) {
  const { url, schema, lockTimeoutMs, queryTimeoutMs, connectTimeoutMs } = options;
  // reconnectMs, openRetryMs: see connectRetrying and query.
  const client = new Client({
    connectionString: url,
    application_name: 'nx-vtm',
    connectionTimeoutMillis: connectTimeoutMs,
    // A server that stops answering (network partition) fails the call instead of blocking the caller forever.
    query_timeout: queryTimeoutMs,
    keepAlive: true,
  });
  const entry = { client, options, error: null, inTransaction: false };
  // Without a listener an idle connection's failure (server restart) would crash the worker.
  client.on('error', (e) => {
    entry.error = e;
  });
  try {
    await client.connect();
    await client.query(`SET lock_timeout = ${Number(lockTimeoutMs)}`);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`).catch((e) => {
      // Two first users creating the schema at once: one of them sees a unique violation; the schema is there.
      if (e.code !== '23505' && e.code !== '42P06') throw e;
    });
    await client.query(`SET search_path TO ${schema}`);
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  return entry;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Connects, retrying while the server is unavailable (refused, starting up, shutting down: a restart or failover) for
 * up to `budgetMs`, with backoff from 100 ms to 1 s. Anything else (bad credentials, no such database) fails at once.
 * When the budget runs out the error says so (`vtmUnreachable`, `vtmWaitedMs`), for the store's message.
 */
async function connectRetrying(options, budgetMs) {
  const started = Date.now();
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await connect(options);
    } catch (e) {
      const waited = Date.now() - started;
      if (!isConnectionError(e)) throw e;
      if (waited + delay > budgetMs) throw Object.assign(e, { vtmUnreachable: true, vtmWaitedMs: waited });
      await sleep(delay);
    }
  }
}

async function open(options) {
  const id = nextId++;
  // A first connection gets a short budget: a wrong host or port should fail fast, but a store opened while the
  // server restarts (a new task process of a run) should wait for it.
  clients.set(id, await connectRetrying(options, options.openRetryMs ?? 0));
  return id;
}

/**
 * Runs one statement. A connection lost BETWEEN transactions (a restarted server, a dropped idle connection) is
 * re-established, retrying for up to `reconnectMs`, and the statement runs on the new one: nothing was in flight, and
 * outside a transaction the store only reads or renews a heartbeat (a conditional update that may run twice). A connection lost INSIDE a transaction lost that transaction (the server
 * rolled it back): the statement fails with `vtmRolledBack` (the whole change may be run again), or, when the lost
 * statement was the COMMIT, with `vtmCommitUnknown` (the server may or may not have committed it).
 */
async function query({ id, text, values }) {
  // Once again at most: a statement that keeps losing fresh connections (or timed out on a server that stopped
  // answering) fails rather than retrying forever.
  for (let attempt = 1; ; attempt++) {
    let entry = clients.get(id);
    if (!entry) throw new Error(`nx-vtm: PostgreSQL connection ${id} is closed`);
    if (entry.error) {
      if (entry.inTransaction && text !== 'ROLLBACK') throw Object.assign(entry.error, { vtmRolledBack: true });
      await entry.client.end().catch(() => undefined);
      if (text === 'ROLLBACK') {
        // The server already rolled the transaction back (and released its locks) when the connection died.
        entry.inTransaction = false;
        return { rows: [], rowCount: 0 };
      }
      entry = await connectRetrying(entry.options, entry.options.reconnectMs ?? 60_000);
      clients.set(id, entry);
    }
    const inTransaction = entry.inTransaction;
    if (text === 'BEGIN') entry.inTransaction = true;
    try {
      const result = await entry.client.query(text, values);
      if (text === 'COMMIT' || text === 'ROLLBACK') entry.inTransaction = false;
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    } catch (e) {
      // A failed statement on a healthy connection is the caller's to handle.
      if (!isConnectionError(e)) throw e;
      entry.error ??= e;
      if (inTransaction) {
        // The ROLLBACK the caller sends next finds the error and ends the transaction locally.
        throw Object.assign(e, text === 'COMMIT' ? { vtmCommitUnknown: true } : { vtmRolledBack: true });
      }
      // BEGIN or a read outside a transaction: nothing happened on the server; run it again on a new connection.
      entry.inTransaction = false;
      if (attempt >= 2) throw e;
    }
  }
}

/** Errors that mean the connection is gone (not a failed statement on a healthy one). */
function isConnectionError(e) {
  const code = e && e.code;
  if (typeof code === 'string' && /^(08|57P)/.test(code)) return true;
  return /Connection terminated|ECONNRESET|ECONNREFUSED|EPIPE|Query read timeout|not queryable/i.test(String(e && e.message));
}

async function close({ id }) {
  const entry = clients.get(id);
  clients.delete(id);
  if (entry) await entry.client.end().catch(() => undefined);
  return null;
}

runAsWorker(async (op, arg) => {
  if (op === 'open') return open(arg);
  if (op === 'query') return query(arg);
  if (op === 'close') return close(arg);
  throw new Error(`nx-vtm: unknown PostgreSQL worker request ${String(op)}`);
});
