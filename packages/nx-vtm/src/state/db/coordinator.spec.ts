/**
 * The `coordinator` option and the PostgreSQL store's own behaviour: placeholders, credentials kept out of messages,
 * URLs from the environment, a namespace per backlog, and a server that restarts under a running store.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { parsePluginOptions } from '../../config/plugin-options';
import { checkStateStore } from '../../runtime/environment-checks';
import { openTaskStore, type TaskStore } from '../task-store';
import { startPostgresServer, type PostgresServer } from '../test-support/postgres-server';
import { resolveCoordinatorUrl } from './coordinator-options';
import { describePostgresUrl, openPostgresDb, toPostgresSql } from './postgres';

describe('toPostgresSql', () => {
  it('numbers ? placeholders and maps @name ones (a name used twice is one parameter), never inside quotes', () => {
    expect(toPostgresSql(`SELECT * FROM t WHERE a = ? AND b = '?' AND c = ?`)).toEqual({ text: `SELECT * FROM t WHERE a = $1 AND b = '?' AND c = $2`, names: [] });
    expect(toPostgresSql(`INSERT INTO t (a, b) VALUES (@a, @b) ON CONFLICT (a) DO UPDATE SET b = @b, c = '@x'`)).toEqual({
      text: `INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = $2, c = '@x'`,
      names: ['a', 'b'],
    });
  });
});

describe('the coordinator option', () => {
  it('defaults to SQLite and accepts a postgres url or env:NAME with a namespace', () => {
    expect(parsePluginOptions({})).toMatchObject({ ok: true, value: { coordinator: { type: 'sqlite' } } });
    const pg = { type: 'postgres', url: 'env:VTM_PG_URL', namespace: 'team-backlog' };
    expect(parsePluginOptions({ coordinator: pg })).toMatchObject({ ok: true, value: { coordinator: pg } });
  });

  it('names the option path of a bad namespace, url or misspelt field', () => {
    const bad = (coordinator: unknown) => {
      const r = parsePluginOptions({ coordinator });
      return r.ok ? 'accepted' : r.error;
    };
    expect(bad({ type: 'postgres', url: 'postgres://h/db', namespace: 'a b' })).toMatch(/coordinator\.namespace/);
    expect(bad({ type: 'postgres', url: 'mysql://h/db', namespace: 'x' })).toMatch(/coordinator\.url/);
    expect(bad({ type: 'postgres', url: 'postgres://h/db', namespace: 'x', password: 'p' })).toMatch(/password/);
    expect(bad({ type: 'redis' })).toMatch(/coordinator/);
  });

  it('reads env:NAME from the environment, and says which variable is missing', () => {
    expect(resolveCoordinatorUrl('postgres://h/db', {})).toEqual({ ok: true, value: 'postgres://h/db' });
    expect(resolveCoordinatorUrl('env:VTM_PG_URL', { VTM_PG_URL: 'postgres://u:p@h/db' })).toEqual({ ok: true, value: 'postgres://u:p@h/db' });
    const missing = resolveCoordinatorUrl('env:VTM_PG_URL', {});
    expect(missing).toMatchObject({ ok: false, error: expect.stringContaining('environment variable VTM_PG_URL is not set') });
  });

  it('never prints credentials of a url', () => {
    expect(describePostgresUrl('postgres://alice:s3cret@db.example:5432/vtm')).toBe('postgres://db.example:5432/vtm');
  });
});

describe('on a real PostgreSQL server', () => {
  let pg: PostgresServer;
  let root: string;
  const stores: TaskStore[] = [];
  beforeAll(async () => {
    pg = await startPostgresServer();
  }, 60_000);
  afterAll(() => pg?.stop());
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-pgdb-'));
  });
  afterEach(() => {
    for (const s of stores.splice(0)) {
      try {
        s.close();
      } catch {
        // the test broke its connection on purpose
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  });
  const open = (namespace: string, workspaceRoot = root) => {
    const store = openTaskStore({ workspaceRoot, coordinator: { type: 'postgres', url: pg.url, namespace } });
    stores.push(store);
    return store;
  };
  const claimArgs = (taskId: string) => ({
    taskId,
    footprint: { taskId, fileScope: [`src/${taskId}/`], conflictsWith: [], exclusive: false },
    taskHash: 'h',
    runId: 'run',
    leaseMs: 60_000,
    wipLimit: 1,
    admit: ({ running, wipLimit }: { running: unknown[]; wipLimit: number }) =>
      running.length < wipLimit ? { admit: true as const } : { admit: false as const, reason: { kind: 'wip' as const, running: running.length, limit: wipLimit } },
    waitingSinceMs: Date.now(),
    reserveAfterMs: 60_000,
  });

  it('keeps namespaces apart: each backlog has its own claims and WIP', () => {
    const a = open('backlog-a');
    const b = open('backlog-b');
    expect(a.tryClaim(claimArgs('T1')).kind).toBe('claimed');
    expect(b.tryClaim(claimArgs('T2')).kind).toBe('claimed');
    expect(a.listTasks().map((t) => t.taskId)).toEqual(['T1']);
    expect(b.listTasks().map((t) => t.taskId)).toEqual(['T2']);
  });

  it('judges leases by the server clock and keeps one task-state.json per checkout', () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-pgdb-other-'));
    try {
      const here = open('clock');
      const there = open('clock', other);
      const before = Date.now();
      const c = here.tryClaim(claimArgs('T1'));
      expect(c.kind).toBe('claimed');
      const claimedAt = here.getTask('T1')?.claim?.claimedAt ?? 0;
      // The server runs on this machine, so its clock and ours agree to within the test's own duration.
      expect(Math.abs(claimedAt - before)).toBeLessThan(5_000);
      there.flushProjection();
      const file = JSON.parse(fs.readFileSync(path.join(other, '.vtm', 'task-state.json'), 'utf8'));
      expect(file.tasks.T1.status).toBe('in-progress');
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it('keeps every machine\'s events in one table, in commit order, beside each checkout\'s own events.jsonl', async () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-pgdb-other-'));
    try {
      const here = open('events');
      const there = open('events', other);
      const c = here.tryClaim(claimArgs('T1'));
      if (c.kind !== 'claimed') throw new Error(c.kind);
      expect(there.tryClaim(claimArgs('T2'))).toMatchObject({ kind: 'wait' });
      here.finish({ taskId: 'T1', token: c.token, outcome: { status: 'completed' } });
      expect(there.tryClaim(claimArgs('T2')).kind).toBe('claimed');
      const client = new Client({ connectionString: pg.url });
      await client.connect();
      try {
        const { rows } = await client.query('SELECT line FROM "vtm_events".events ORDER BY id');
        const shared = rows.map((r: { line: string }) => JSON.parse(r.line) as { type: string; task_id: string | null });
        expect(shared.filter((e) => e.task_id).map((e) => `${e.type} ${e.task_id}`)).toEqual(['claim T1', 'wait T2', 'finish T1', 'claim T2']);
      } finally {
        await client.end();
      }
      const local = fs.readFileSync(path.join(other, '.vtm', 'events.jsonl'), 'utf8');
      expect(local).toMatch(/"type":"claim"[^\n]*"task_id":"T2"/);
      expect(local).not.toMatch(/"task_id":"T1"/);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it('nx-vtm doctor checks the shared coordinator: reachable, and the server clock against this machine\'s', () => {
    const coordinator = { type: 'postgres' as const, url: 'env:DOCTOR_PG_URL', namespace: 'doctor' };
    process.env.DOCTOR_PG_URL = pg.url;
    try {
      expect(checkStateStore({ workspaceRoot: root, coordinator })).toMatchObject({
        name: 'state-store',
        level: 'ok',
        detail: expect.stringMatching(/^postgres:\/\/127\.0\.0\.1:\d+\/postgres \(namespace doctor\), server clock [+-]\d+ ms$/),
      });
    } finally {
      delete process.env.DOCTOR_PG_URL;
    }
    expect(checkStateStore({ workspaceRoot: root, coordinator })).toMatchObject({
      level: 'fail',
      problems: [expect.stringContaining('environment variable DOCTOR_PG_URL is not set')],
    });
    // Nothing was written into the checkout.
    expect(fs.readdirSync(root)).toEqual([]);
  });

  it('says which database cannot be reached, without its password', () => {
    const url = `postgres://vtm:topsecret@127.0.0.1:1/postgres`;
    let message = '';
    try {
      openTaskStore({ workspaceRoot: root, coordinator: { type: 'postgres', url, namespace: 'x' } });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^cannot connect to the coordinator database postgres:\/\/127\.0\.0\.1:1\/postgres \(namespace x\)/);
    expect(message).not.toContain('topsecret');
  });

  it('a server restart: a call made while it is down waits for it, and nothing committed is lost', async () => {
    const store = open('restart');
    const c = store.tryClaim(claimArgs('T1'));
    if (c.kind !== 'claimed') throw new Error(c.kind);
    // The waiting call blocks its thread, so it runs in another process (a second "machine" renewing the claim):
    // it opens its store, then renews the claim when told, while the server is down.
    const script = `
      const { openTaskStore } = require(${JSON.stringify(path.join(__dirname, '..', 'task-store'))});
      const store = openTaskStore({ workspaceRoot: process.env.ROOT, coordinator: { type: 'postgres', url: process.env.URL, namespace: 'restart' } });
      process.stdout.write('ready\\n');
      process.stdin.once('data', () => {
        const held = store.heartbeat({ taskId: 'T1', token: process.env.TOKEN });
        process.stdout.write(String(held) + '\\n');
        store.close();
        process.exit(0);
      });`;
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-pgdb-other-'));
    const child = spawn(process.execPath, ['-r', path.join(__dirname, '../../../../../tools/ts-register.js'), '-e', script], {
      env: { ...process.env, ROOT: other, URL: pg.url, TOKEN: c.token },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => child.on('close', resolve));
    try {
      while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 50));
      await pg.stopServer();
      child.stdin.write('go\n');
      await new Promise((r) => setTimeout(r, 1_000));
      await pg.startServer();
      await exited;
      expect(out.split('\n')).toContain('true');
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(other, { recursive: true, force: true });
    }
    // The claim, its fence and the WIP it holds are all still there, and this store reconnects too.
    expect(store.tryClaim(claimArgs('T2'))).toMatchObject({ kind: 'wait', reason: { kind: 'wip' } });
    expect(store.finish({ taskId: 'T1', token: c.token, outcome: { status: 'completed' } }).ok).toBe(true);
    expect(store.tryClaim(claimArgs('T2')).kind).toBe('claimed');
  });

  it('a server down for longer than the reconnect budget: the call fails naming the coordinator, without its password, and the store works again after', async () => {
    const url = pg.url.replace('vtm@', 'vtm:topsecret@');
    const db = openPostgresDb({ url, namespace: 'gone', lockTimeoutMs: 5_000, reconnectMs: 500 });
    const store = openTaskStore({ workspaceRoot: root, db });
    stores.push(store);
    const c = store.tryClaim(claimArgs('T1'));
    if (c.kind !== 'claimed') throw new Error(c.kind);
    await pg.stopServer();
    let message = '';
    try {
      store.heartbeat({ taskId: 'T1', token: c.token });
    } catch (e) {
      message = (e as Error).message;
    }
    await pg.startServer();
    expect(message).toMatch(/^the coordinator database postgres:\/\/127\.0\.0\.1:\d+\/postgres \(namespace gone\) is unreachable \(retried for \d+ s\): /);
    expect(message).not.toContain('topsecret');
    expect(store.heartbeat({ taskId: 'T1', token: c.token })).toBe(true);
    expect(store.getTask('T1')).toMatchObject({ status: 'in-progress' });
  });

  it('a change whose connection is lost mid-transaction is rolled back by the server and run again once', () => {
    // The connection of the store's own database is killed from inside its transaction (by another session), so
    // the statement after it fails: the store reconnects and runs the whole change again.
    const db = openPostgresDb({ url: pg.url, namespace: 'midway', lockTimeoutMs: 5_000 });
    let kills = 0;
    let armed = false;
    const killer = openPostgresDb({ url: pg.url, namespace: 'midway', lockTimeoutMs: 5_000 });
    const flaky: typeof db = {
      ...db,
      transaction: (fn) =>
        db.transaction(() => {
          if (armed && kills === 0) {
            kills++;
            const pid = (db.prepare('SELECT pg_backend_pid() AS pid').get() as { pid: number }).pid;
            killer.prepare('SELECT pg_terminate_backend(?)').get(pid);
          }
          return fn();
        }),
    };
    const store = openTaskStore({ workspaceRoot: root, db: flaky });
    stores.push(store);
    armed = true;
    try {
      expect(store.tryClaim(claimArgs('T1')).kind).toBe('claimed');
      expect(kills).toBe(1);
      expect(store.listTasks().filter((t) => t.status === 'in-progress').map((t) => t.taskId)).toEqual(['T1']);
    } finally {
      killer.close();
    }
  });
});
