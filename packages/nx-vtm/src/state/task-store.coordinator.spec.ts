/**
 * The coordinator's guarantees between separate processes, on both stores: what one process (or, on PostgreSQL, one
 * machine) holds, every other one honours. Holders marked with another `host` are judged as a remote machine would be:
 * by their lease alone, on the database's clock (PostgreSQL) — a dead process there cannot be seen.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decideAdmission } from '../scheduler/admission';
import type { TaskFootprint } from '../scheduler/types';
import { readEventLog } from './event-log';
import { openTaskStore, type AdmitFn, type TaskStore } from './task-store';
import type { CoordinatorConfig } from './db/coordinator';
import { freshCoordinator, startSharedPostgres, stopSharedPostgres, STORE_KINDS } from './test-support/store-kinds';
import { startWorker, warmUp, type Worker } from './__fixtures__/workers';

jest.setTimeout(90_000);

beforeAll(async () => {
  await startSharedPostgres();
  await warmUp();
}, 90_000);
afterAll(() => stopSharedPostgres());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const admit: AdmitFn = (input) => decideAdmission(input);
const fp = (taskId: string, over: Partial<TaskFootprint> = {}): TaskFootprint => ({
  taskId,
  fileScope: [`src/${taskId}/`],
  conflictsWith: [],
  exclusive: false,
  ...over,
});

describe.each(STORE_KINDS)('%s store', (kind) => {
  let root: string;
  let coordinator: CoordinatorConfig | undefined;
  const stores: TaskStore[] = [];
  const started: Worker[] = [];
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-coord-'));
    coordinator = freshCoordinator(kind);
  });
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
    for (const w of started.splice(0)) {
      if (w.child.exitCode === null && w.child.signalCode === null) {
        w.child.kill('SIGCONT');
        w.child.kill('SIGKILL');
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  const open = () => {
    const store = openTaskStore({ workspaceRoot: root, coordinator });
    stores.push(store);
    return store;
  };
  const claimArgs = (taskId: string, footprint = fp(taskId)) => ({
    taskId,
    footprint,
    taskHash: 'h',
    runId: 'run-test',
    leaseMs: 600_000,
    wipLimit: 3,
    admit,
    waitingSinceMs: Date.now(),
    reserveAfterMs: 600_000,
  });

  /** A process that claims `taskId` and holds it without heartbeating (on `host`, when given). */
  async function holder(taskId: string, leaseMs: number, host?: string): Promise<Worker> {
    const w = startWorker({ mode: 'hold', root, taskId, leaseMs, coordinator, ...(host ? { host } : {}) });
    started.push(w);
    expect(await w.waitForLine((l) => 'kind' in l)).toMatchObject({ kind: 'claimed', pid: w.pid });
    return w;
  }

  it('scope, declared conflicts and exclusivity held by another process are honoured', async () => {
    await holder('A', 600_000, 'machine-b');
    const store = open();
    expect(store.tryClaim(claimArgs('A'))).toMatchObject({ kind: 'held', owner: { host: 'machine-b' } });
    expect(store.tryClaim(claimArgs('B', fp('B', { fileScope: ['src/A/deep/file.ts'] })))).toMatchObject({
      kind: 'wait',
      reason: { kind: 'scope', heldBy: 'A' },
    });
    expect(store.tryClaim(claimArgs('C', fp('C', { conflictsWith: ['A'] })))).toMatchObject({
      kind: 'wait',
      reason: { kind: 'declared-conflict', heldBy: 'A' },
    });
    expect(store.tryClaim(claimArgs('D', fp('D', { exclusive: true })))).toMatchObject({ kind: 'wait', reason: { kind: 'needs-exclusive' } });
    expect(store.tryClaim(claimArgs('E'))).toMatchObject({ kind: 'claimed' });
    expect(store.waitingSummary().map((w) => w.taskId)).toEqual(['B', 'C', 'D']);
  });

  it('a remote owner that stopped heartbeating loses its claim after the lease, to exactly one of 6 processes; its late writes are refused (fencing)', async () => {
    const leaseMs = 1_500;
    const w = await holder('A', leaseMs, 'machine-b');
    // Hung, not dead: only its lease can tell, and it must not write anything once it lost the claim.
    w.child.kill('SIGSTOP');
    const store = open();
    expect(store.tryClaim(claimArgs('A'))).toMatchObject({ kind: 'held' });
    expect(store.getRunningClaims()[0]?.verdict).toEqual({ stale: false });
    await sleep(leaseMs + 300);
    expect(store.getRunningClaims()[0]?.verdict).toEqual({ stale: true, cause: 'lease-expired' });

    const goFile = path.join(root, 'go');
    const reclaimers = Array.from({ length: 6 }, () => startWorker({ mode: 'reclaim', root, taskId: 'A', goFile, coordinator }));
    started.push(...reclaimers);
    await Promise.all(reclaimers.map((r) => r.waitForLine((l) => l.ready === true)));
    fs.writeFileSync(goFile, '');
    const results = await Promise.all(reclaimers.map((r) => r.waitForLine((l) => 'kind' in l)));
    const winners = results.filter((r) => r.kind === 'claimed');
    expect(winners).toHaveLength(1);
    expect(winners[0]).toMatchObject({ previousPid: w.pid, released: [w.pid] });
    expect(results.filter((r) => r.kind === 'held')).toHaveLength(5);

    w.child.kill('SIGCONT');
    w.child.kill('SIGUSR2');
    expect(await w.waitForLine((l) => 'heartbeat' in l)).toEqual({ heartbeat: false, progress: false, finish: 'claim-lost' });
    expect(store.getTask('A')).toMatchObject({ status: 'in-progress', attempts: 2, claim: { owner: { pid: winners[0]?.pid } } });
    const reclaims = readEventLog(store.eventsFile).events.filter((e) => e.type === 'reclaim');
    expect(reclaims).toHaveLength(1);
    expect(reclaims[0]).toMatchObject({ task_id: 'A', cause: 'lease-expired', previous_host: 'machine-b' });
  });

  it('a dispatch pause set through one connection holds for every other store of the backlog', async () => {
    const store = open();
    const until = Date.now() + 60_000;
    store.pauseDispatchUntil({ untilMs: until, reason: 'T1: usage limit' });
    const other = open();
    expect(other.getDispatchPause()).toEqual({ untilMs: until, reason: 'T1: usage limit' });
  });
});
