/**
 * The `coordinator` plugin option's model (pure: no database client is loaded by reading options): SQLite in
 * `.vtm/state.db` for the processes of one checkout (the default), or one PostgreSQL database shared by every machine
 * working on a backlog.
 */

/** A namespace names a PostgreSQL schema: letters, digits, `_` and `-`, so it needs no escaping beyond quotes. */
export const NAMESPACE_PATTERN = /^[A-Za-z0-9_-]{1,48}$/;

export type CoordinatorConfig =
  | { type: 'sqlite' }
  | {
      type: 'postgres';
      /** `postgres://user:password@host:port/database`, or `env:NAME` to read it from that environment variable. */
      url: string;
      /** The backlog's name: machines with the same database and namespace share one coordinator. */
      namespace: string;
    };

/** The prefix of a `url` read from the environment (`env:VTM_PG_URL`), so that no password sits in nx.json. */
export const ENV_URL_PREFIX = 'env:';

/** The connection string the `url` option stands for, or a message naming the option and what to do. */
export function resolveCoordinatorUrl(url: string, env: NodeJS.ProcessEnv = process.env): { ok: true; value: string } | { ok: false; error: string } {
  if (!url.startsWith(ENV_URL_PREFIX)) return { ok: true, value: url };
  const name = url.slice(ENV_URL_PREFIX.length);
  const value = env[name];
  if (!value) {
    return {
      ok: false,
      error: `coordinator.url is "${url}" but the environment variable ${name} is not set on this machine: set it to the postgres:// connection string of the shared database`,
    };
  }
  return { ok: true, value };
}

