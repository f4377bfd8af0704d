/**
 * Admission under real concurrency: separate Node processes claiming from one SQLite file, as when Nx forks one
 * process per task. The WIP limit must hold across all of them.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openTaskStore } from './task-store';
import { reportOf, startWorker, waitForAll, warmUp, type Worker } from './__fixtures__/workers';

jest.setTimeout(60_000);

beforeAll(() => warmUp());

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-wip-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

async function allExited(workers: Worker[], onTick: () => void): Promise<void> {
  for (const r of await waitForAll(workers, onTick)) expect(r).toMatchObject({ code: 0, stderr: '' });
}

it('8 processes competing for 30 tasks never run more than the WIP limit of 3 at once', async () => {
  const taskIds = Array.from({ length: 30 }, (_, i) => `T${String(i).padStart(2, '0')}`);
  const setup = openTaskStore({ workspaceRoot: root });
  setup.registerTasks({ taskIds });
  setup.close();

  const goFile = path.join(root, 'go');
  const workers = Array.from({ length: 8 }, (_, worker) => startWorker({ mode: 'wip', root, worker, holdMs: 60, wipLimit: 3, goFile }));
  await Promise.all(workers.map((w) => w.waitForLine((l) => l.ready === true)));
  fs.writeFileSync(goFile, '');

  // Watch the store from outside too, as a status command would.
  const reader = new Database(path.join(root, '.vtm', 'state.db'), { readonly: true });
  const count = reader.prepare(`SELECT COUNT(*) AS n FROM tasks WHERE status = 'in-progress'`);
  let watched = 0;
  await allExited(workers, () => {
    watched = Math.max(watched, (count.get() as { n: number }).n);
  });
  reader.close();

  const reports = workers.map(reportOf);
  const claimed = reports.flatMap((r) => r.claimed as string[]);
  expect(claimed.sort()).toEqual(taskIds);
  const seenByWorkers = Math.max(...reports.map((r) => r.maxRunning as number));
  expect(seenByWorkers).toBeLessThanOrEqual(3);
  expect(watched).toBeLessThanOrEqual(3);
  // The workers really did run side by side (otherwise the limit was never tested).
  expect(Math.max(seenByWorkers, watched)).toBeGreaterThanOrEqual(2);

  const store = openTaskStore({ workspaceRoot: root });
  expect(store.listTasks().every((t) => t.status === 'completed' && t.attempts === 1)).toBe(true);
  store.close();
});
