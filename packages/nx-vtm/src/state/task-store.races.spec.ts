/**
 * No lost updates under real concurrency: separate Node processes read-modify-writing one store (a SQLite file, as when
 * Nx forks one process per task; a PostgreSQL namespace, as several machines), while task-state.json is read
 * continuously from outside.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readEventLog } from './event-log';
import { buildStateSnapshot, taskStateFileSchema } from './state-file';
import { openTaskStore } from './task-store';
import type { CoordinatorConfig } from './db/coordinator';
import { freshCoordinator, startSharedPostgres, stopSharedPostgres, STORE_KINDS } from './test-support/store-kinds';
import { expectAllExitedCleanly, reportOf, startWorker, warmUp } from './__fixtures__/workers';

jest.setTimeout(120_000);

beforeAll(async () => {
  await startSharedPostgres();
  await warmUp();
}, 90_000);
afterAll(() => stopSharedPostgres());

describe.each(STORE_KINDS)('%s store', (kind) => {
  let root: string;
  let coordinator: CoordinatorConfig | undefined;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-races-'));
    coordinator = freshCoordinator(kind);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));


  // Each PostgreSQL statement is a round trip through the worker thread and the network (about 1 ms here, against
  // microseconds for SQLite), so fewer cycles keep the spec's time similar; the contention is the same.
  const cycles = kind === 'sqlite' ? 200 : 40;

  it(`8 processes x ${cycles} claim+finish cycles lose no update; task-state.json stays valid and ends equal to the store`, async () => {
    const tasks = ['A', 'B', 'C', 'D'];
    const workers = Array.from({ length: 8 }, (_, worker) => startWorker({ mode: 'updates', root, worker, count: cycles, tasks, coordinator }));

    // Read the projection as often as possible while the workers run: it must never be torn.
    const stateFile = path.join(root, '.vtm', 'task-state.json');
    let reads = 0;
    const invalid: string[] = [];
    await expectAllExitedCleanly(workers, () => {
      let text: string;
      try {
        text = fs.readFileSync(stateFile, 'utf8');
      } catch {
        return; // not created yet
      }
      reads++;
      try {
        if (!taskStateFileSchema.safeParse(JSON.parse(text)).success) invalid.push(text);
      } catch {
        invalid.push(text);
      }
    });
    expect(reads).toBeGreaterThan(0);
    expect(invalid).toEqual([]);

    const fences = workers.flatMap((w) => reportOf(w).fences as number[]);
    const total = 8 * cycles;
    // Each claim read-modify-wrote the task's attempt count and the global fence counter.
    expect(fences).toHaveLength(total);
    expect(new Set(fences).size).toBe(total);
    expect(Math.max(...fences)).toBe(total);

    const store = openTaskStore({ workspaceRoot: root, coordinator });
    const records = store.listTasks();
    expect(records.map((r) => r.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(records.reduce((sum, r) => sum + r.attempts, 0)).toBe(total);
    const projection = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    const expected = buildStateSnapshot({ records, manifestHash: null, now: 0 });
    expect({ ...projection, last_updated: null }).toEqual({ ...expected, last_updated: null });

    const { events, badLines } = readEventLog(store.eventsFile);
    expect(badLines).toEqual([]);
    expect(events.filter((e) => e.type === 'claim')).toHaveLength(total);
    expect(events.filter((e) => e.type === 'finish')).toHaveLength(total);
    // Claims and finishes are logged inside the transaction, so in the log each claim's fence is the next one.
    expect(events.filter((e) => e.type === 'claim').map((e) => e.fence)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    store.close();
  });
});
