/** Opening the database the `coordinator` plugin option names (see coordinator-options.ts). */
import { resolveCoordinatorUrl, type CoordinatorConfig } from './coordinator-options';
import type { StoreDb } from './port';
import { openSqliteDb } from './sqlite';

/** Opens the database a coordinator option names (throws with a message naming the option when it cannot). */
export function openCoordinatorDb({
  coordinator,
  sqliteFile,
  busyTimeoutMs,
  env = process.env,
}: {
  coordinator: CoordinatorConfig;
  sqliteFile: string;
  busyTimeoutMs: number;
  env?: NodeJS.ProcessEnv;
}): StoreDb {
  if (coordinator.type === 'sqlite') return openSqliteDb({ file: sqliteFile, busyTimeoutMs });
  const url = resolveCoordinatorUrl(coordinator.url, env);
  if (!url.ok) throw new Error(url.error);
  // Loaded only when asked for: a workspace on SQLite never loads the worker-thread machinery.
  const { openPostgresDb } = require('./postgres') as typeof import('./postgres');
  return openPostgresDb({ url: url.value, namespace: coordinator.namespace, lockTimeoutMs: busyTimeoutMs });
}

export type { CoordinatorConfig } from './coordinator-options';
