/**
 * Admission under real concurrency: separate Node processes claiming from one store, as when Nx forks one process per
 * task (SQLite) or several machines share one coordinator (PostgreSQL). The WIP limit must hold across all of them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openTaskStore } from './task-store';
import type { CoordinatorConfig } from './db/coordinator';
import { freshCoordinator, startSharedPostgres, stopSharedPostgres, STORE_KINDS } from './test-support/store-kinds';
import { expectAllExitedCleanly, reportOf, startWorker, warmUp } from './__fixtures__/workers';

jest.setTimeout(90_000);

beforeAll(async () => {
  await startSharedPostgres();
  await warmUp();
}, 90_000);
afterAll(() => stopSharedPostgres());

describe.each(STORE_KINDS)('%s store', (kind) => {
  let root: string;
  let coordinator: CoordinatorConfig | undefined;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-wip-'));
    coordinator = freshCoordinator(kind);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));


  it('8 processes competing for 30 tasks never run more than the WIP limit of 3 at once', async () => {
    const taskIds = Array.from({ length: 30 }, (_, i) => `T${String(i).padStart(2, '0')}`);
    const setup = openTaskStore({ workspaceRoot: root, coordinator });
    setup.registerTasks({ taskIds });

    const goFile = path.join(root, 'go');
    // Half of the workers pretend to be another machine (judged by their lease only, like a remote runner).
    const workers = Array.from({ length: 8 }, (_, worker) =>
      startWorker({ mode: 'wip', root, worker, holdMs: 60, wipLimit: 3, goFile, coordinator, ...(worker % 2 ? { host: 'other-machine' } : {}) }),
    );
    await Promise.all(workers.map((w) => w.waitForLine((l) => l.ready === true)));
    fs.writeFileSync(goFile, '');

    // Watch the store from outside too, as a status command would.
    let watched = 0;
    await expectAllExitedCleanly(workers, () => {
      watched = Math.max(watched, setup.listTasks().filter((t) => t.status === 'in-progress').length);
    });
    setup.close();

    const reports = workers.map(reportOf);
    const claimed = reports.flatMap((r) => r.claimed as string[]);
    expect(claimed.sort()).toEqual(taskIds);
    const seenByWorkers = Math.max(...reports.map((r) => r.maxRunning as number));
    expect(seenByWorkers).toBeLessThanOrEqual(3);
    expect(watched).toBeLessThanOrEqual(3);
    // The workers really did run side by side (otherwise the limit was never tested).
    expect(Math.max(seenByWorkers, watched)).toBeGreaterThanOrEqual(2);

    const store = openTaskStore({ workspaceRoot: root, coordinator });
    expect(store.listTasks().every((t) => t.status === 'completed' && t.attempts === 1)).toBe(true);
    store.close();
  });
});
