/**
 * A real PostgreSQL server for tests: a fresh cluster in a temporary folder, listening on 127.0.0.1 and a free port,
 * trusting local connections, and removed by `stop`. Uses the machine's PostgreSQL binaries (Debian's `postgresql`
 * package, installed by .ci/run), found under /usr/lib/postgresql/<version>/bin or through VTM_PG_BIN.
 *
 * PostgreSQL refuses to run as root. CI and these machines run as root, so there the server runs as the `postgres`
 * system user the Debian package creates (or `nobody` when it is absent), through the spawn options' uid/gid: no
 * sudo, no su, and the temporary folder is handed to that user.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface PostgresServer {
  /** Connection string of the `vtm` superuser's `postgres` database. */
  url: string;
  port: number;
  dir: string;
  /** Stops the server (fast shutdown) without removing its data: `start` brings it back on the same port. */
  stopServer(): Promise<void>;
  /** Starts the server again after `stopServer`. */
  startServer(): Promise<void>;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

/** The bin folder of the newest PostgreSQL installed, or undefined. */
export function findPostgresBin(): string | undefined {
  if (process.env.VTM_PG_BIN) return process.env.VTM_PG_BIN;
  const base = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = fs.readdirSync(base);
  } catch {
    return undefined;
  }
  const found = versions
    .filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return found[0] ? path.join(base, found[0], 'bin') : undefined;
}

function lookupUser(name: string): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Who runs the server: this process, or (as root) an unprivileged system user. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const user = lookupUser('postgres') ?? lookupUser('nobody');
  if (!user) throw new Error('running as root and neither a "postgres" nor a "nobody" user exists to run PostgreSQL as');
  return user;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = findPostgresBin();
  if (!bin) {
    throw new Error(
      'PostgreSQL is not installed: the coordinator specs need initdb and postgres (Debian: apt-get install -y postgresql, as .ci/run does; or set VTM_PG_BIN)',
    );
  }
  const user = serverUser();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-pg-'));
  const data = path.join(dir, 'data');
  if (user) fs.chownSync(dir, user.uid, user.gid);
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  const init = spawnSync(
    path.join(bin, 'initdb'),
    ['-D', data, '-U', 'vtm', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C'],
    { encoding: 'utf8', cwd: dir, ...asUser },
  );
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`);
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = '';

  const startServer = async () => {
    log = '';
    const server = spawn(
      path.join(bin, 'postgres'),
      // Durability is not under test: no fsync keeps a loaded 2-core machine fast. The socket stays in the folder.
      ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', dir, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], ...asUser },
    );
    child = server;
    server.stdout?.on('data', (d) => (log += d));
    server.stderr?.on('data', (d) => (log += d));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`postgres exited (${server.exitCode}): ${log}`);
      const ready = spawnSync(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'vtm', '-d', 'postgres'], { encoding: 'utf8' });
      if (ready.status === 0) return;
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 30 s: ${log}`);
      await sleep(100);
    }
  };

  const stopServer = async () => {
    const server = child;
    child = undefined;
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, transactions rolled back.
    server.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 15_000)))]);
    clearTimeout(timer);
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  };

  await startServer();
  // A test process that dies without `stop` must not leave a server behind.
  const onExit = () => child?.kill('SIGKILL');
  process.once('exit', onExit);
  return {
    url: `postgres://vtm@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stopServer,
    startServer,
    async stop() {
      process.removeListener('exit', onExit);
      await stopServer();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
