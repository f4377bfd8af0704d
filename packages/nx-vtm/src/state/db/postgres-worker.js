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

async function open(options) {
  const id = nextId++;
  clients.set(id, await connect(options));
  return id;
}

async function query({ id, text, values }) {
  let entry = clients.get(id);
  if (!entry) throw new Error(`nx-vtm: PostgreSQL connection ${id} is closed`);
  if (entry.error) {
    // A connection lost inside a transaction lost that transaction: the store's change fails (the server rolled it
    // back) and the caller sees why. Between transactions (a restarted server, a dropped idle connection) the next
    // statement simply runs on a new connection: nothing was in flight.
    if (entry.inTransaction && !/^(ROLLBACK)$/.test(text)) throw entry.error;
    await entry.client.end().catch(() => undefined);
    if (text === 'ROLLBACK') {
      entry.inTransaction = false;
      return { rows: [], rowCount: 0 };
    }
    entry = await connect(entry.options);
    clients.set(id, entry);
  }
  if (text === 'BEGIN') entry.inTransaction = true;
  try {
    const result = await entry.client.query(text, values);
    if (text === 'COMMIT' || text === 'ROLLBACK') entry.inTransaction = false;
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  } catch (e) {
    // A statement that failed on a connection that broke under it: reconnect next time.
    if (!entry.error && isConnectionError(e)) entry.error = e;
    throw e;
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
