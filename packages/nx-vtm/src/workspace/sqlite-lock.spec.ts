import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startTsChild, waitForLine } from './test-support/child';
import { createSqliteLock, LockTimeoutError } from './sqlite-lock';

// Real git repositories and child processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(30_000);

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nx-vtm-lock-'));
  file = path.join(dir, '.vtm', 'locks.db');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

it('runs critical sections one at a time, even on separate connections in one process', async () => {
  const events: string[] = [];
  const section = (id: string) =>
    createSqliteLock({ file }).withLock('integrate', async () => {
      events.push(`enter ${id}`);
      await new Promise((r) => setTimeout(r, 100));
      events.push(`exit ${id}`);
      return id;
    });
  const results = await Promise.all([section('a'), section('b'), section('c')]);
  expect(results).toEqual(['a', 'b', 'c']);
  for (let i = 0; i < events.length; i += 2) {
    expect(events[i].replace('enter', '')).toBe(events[i + 1].replace('exit', ''));
  }
});

it('releases the lock when the section throws', async () => {
  const lock = createSqliteLock({ file, timeoutMs: 2000 });
  await expect(lock.withLock('integrate', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  await expect(lock.withLock('integrate', async () => 'next')).resolves.toBe('next');
});

it('excludes other processes, and dies with its holder', async () => {
  const holder = startTsChild('lock-holder-child.ts', [file]);
  try {
    await waitForLine(holder, /^locked$/);
    const waiting = createSqliteLock({ file, timeoutMs: 300 }).withLock('integrate', async () => 'got it');
    await expect(waiting).rejects.toBeInstanceOf(LockTimeoutError);
    await expect(createSqliteLock({ file, timeoutMs: 300 }).withLock('integrate', async () => 1)).rejects.toThrow(
      /Timed out after 0 s waiting for the "integrate" lock/,
    );
  } finally {
    holder.kill('SIGKILL');
  }
  // No stale lock to clean up: the kernel released it with the process.
  await expect(createSqliteLock({ file, timeoutMs: 15_000 }).withLock('integrate', async () => 'after crash')).resolves.toBe('after crash');
}, 60_000);
