/**
 * The task store's contract suite runs against both coordinators: the same specs, once on SQLite and once on a real
 * PostgreSQL server started for the spec file (see postgres-server.ts). Each test gets a fresh namespace, so two
 * stores opened in one test share one database exactly as two processes (or machines) of one backlog do.
 */
import type { CoordinatorConfig } from '../db/coordinator';
import { startPostgresServer, type PostgresServer } from './postgres-server';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'postgres'];

let server: PostgresServer | undefined;
let starting: Promise<PostgresServer> | undefined;
let namespaces = 0;

/** Starts the spec file's PostgreSQL server once (call from beforeAll; stop with `stopSharedPostgres` in afterAll). */
export async function startSharedPostgres(): Promise<PostgresServer> {
  starting ??= startPostgresServer();
  server = await starting;
  return server;
}

export async function stopSharedPostgres(): Promise<void> {
  const s = server;
  server = undefined;
  starting = undefined;
  await s?.stop();
}

/** A coordinator option for a fresh namespace on the shared server (undefined: SQLite, the default). */
export function freshCoordinator(kind: StoreKind): CoordinatorConfig | undefined {
  if (kind === 'sqlite') return undefined;
  if (!server) throw new Error('startSharedPostgres() must run first (in beforeAll)');
  return { type: 'postgres', url: server.url, namespace: `t${process.pid}_${++namespaces}` };
}
