/**
 * The cross-machine integration lock on a real PostgreSQL server: two locks of one namespace (two machines; each
 * opens its own connection) exclude each other, other namespaces do not, and a holder's release lets the waiter in.
 */
import { startPostgresServer, type PostgresServer } from '../test-support/postgres-server';
import { LockTimeoutError } from '../../workspace/sqlite-lock';
import { createPostgresLock } from './postgres';

jest.setTimeout(60_000);

let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgresServer();
}, 60_000);
afterAll(() => pg?.stop());

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

it('holds one namespace\'s lock on one machine at a time, and releases it after the critical section', async () => {
  const machineA = createPostgresLock({ url: pg.url, namespace: 'lock-spec' });
  const machineB = createPostgresLock({ url: pg.url, namespace: 'lock-spec', timeoutMs: 300, pollMs: { min: 20, max: 50 } });
  const elsewhere = createPostgresLock({ url: pg.url, namespace: 'other-backlog', timeoutMs: 300 });
  const order: string[] = [];
  let release!: () => void;
  const held = machineA.withLock('integrate', async () => {
    order.push('A in');
    await new Promise<void>((r) => (release = r));
    order.push('A out');
  });
  await sleep(200);
  // B cannot get in while A holds it; another namespace is independent.
  await expect(machineB.withLock('integrate', async () => order.push('B in'))).rejects.toBeInstanceOf(LockTimeoutError);
  await expect(elsewhere.withLock('integrate', async () => 'other namespace')).resolves.toBe('other namespace');
  const patient = createPostgresLock({ url: pg.url, namespace: 'lock-spec', pollMs: { min: 20, max: 50 } });
  const waiting = patient.withLock('integrate', async () => order.push('B in'));
  await sleep(200);
  release();
  await held;
  await waiting;
  expect(order).toEqual(['A in', 'A out', 'B in']);
});

it('names the server (without the password) when it cannot connect', async () => {
  const lock = createPostgresLock({ url: 'postgres://vtm:secret@127.0.0.1:1/none', namespace: 'x' });
  await expect(lock.withLock('integrate', async () => 1)).rejects.toThrow(/cannot connect to the coordinator database postgres:\/\/127\.0\.0\.1:1\/none \(namespace x\) for the "integrate" lock/);
});
