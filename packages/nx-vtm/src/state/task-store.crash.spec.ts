/**
 * Crashed and suspended claim owners, with real processes: a SIGKILLed owner is replaced at once, a suspended
 * (SIGSTOPped) one is never replaced while it lives, however long past its lease, and carries on when woken; exactly
 * one of several concurrent reclaimers wins.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readEventLog } from './event-log';
import { isProcessAlive } from './process-identity';
import { openTaskStore, type AdmitFn, type TaskStore } from './task-store';
import { startWorker, warmUp, type Worker } from './__fixtures__/workers';

jest.setTimeout(60_000);

beforeAll(() => warmUp());

let root: string;
let store: TaskStore | undefined;
const started: Worker[] = [];
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-crash-'));
});
afterEach(() => {
  store?.close();
  store = undefined;
  for (const w of started.splice(0)) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  fs.rmSync(root, { recursive: true, force: true });
});

const admitAll: AdmitFn = () => ({ admit: true });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function claimArgs(taskId: string, leaseMs = 600_000) {
  return {
    taskId,
    footprint: { taskId, fileScope: [`src/${taskId}/`], conflictsWith: [], exclusive: false },
    taskHash: 'h',
    runId: 'run-test',
    leaseMs,
    wipLimit: 3,
    admit: admitAll,
    waitingSinceMs: Date.now(),
    reserveAfterMs: 600_000,
  };
}

/** Starts a worker that claims `taskId` and then holds it without heartbeating. */
async function holder(taskId: string, leaseMs: number): Promise<Worker> {
  const w = startWorker({ mode: 'hold', root, taskId, leaseMs });
  started.push(w);
  const line = await w.waitForLine((l) => 'kind' in l);
  expect(line).toMatchObject({ kind: 'claimed', pid: w.pid });
  return w;
}

async function kill(w: Worker): Promise<void> {
  w.child.kill('SIGKILL');
  expect(await w.exited).toMatchObject({ signal: 'SIGKILL' });
}

it('reclaims at once the claim of an owner that was SIGKILLed, reporting its pid', async () => {
  const w = await holder('A', 600_000);
  store = openTaskStore({ workspaceRoot: root });
  expect(store.tryClaim(claimArgs('A'))).toMatchObject({ kind: 'held', owner: { pid: w.pid } });

  await kill(w);
  expect(isProcessAlive(w.pid)).toBe(false);
  const result = store.tryClaim(claimArgs('A'));
  expect(result).toMatchObject({
    kind: 'claimed',
    attempt: 2,
    previousOwner: { taskId: 'A', cause: 'owner-dead', owner: { pid: w.pid }, onThisHost: true },
  });
  expect(store.getTask('A')?.claim?.owner.pid).toBe(process.pid);
});

it('exactly one of 6 concurrent reclaimers wins the claim of a killed owner', async () => {
  const w = await holder('A', 600_000);
  await kill(w);

  const goFile = path.join(root, 'go');
  const reclaimers = Array.from({ length: 6 }, () => startWorker({ mode: 'reclaim', root, taskId: 'A', goFile }));
  started.push(...reclaimers);
  await Promise.all(reclaimers.map((r) => r.waitForLine((l) => l.ready === true)));
  fs.writeFileSync(goFile, '');
  const results = await Promise.all(reclaimers.map((r) => r.waitForLine((l) => 'kind' in l)));
  const winners = results.filter((r) => r.kind === 'claimed');
  expect(winners).toHaveLength(1);
  expect(winners[0]).toMatchObject({ previousPid: w.pid, released: [w.pid] });
  expect(results.filter((r) => r.kind === 'held')).toHaveLength(5);
  // The losers saw the winner's claim, not a stale one: nobody else released anything.
  expect(results.filter((r) => r.kind === 'held').every((r) => (r.released as number[]).length === 0)).toBe(true);

  store = openTaskStore({ workspaceRoot: root });
  expect(store.getTask('A')).toMatchObject({ status: 'in-progress', attempts: 2, claim: { owner: { pid: winners[0]?.pid } } });
  const events = readEventLog(store.eventsFile).events;
  expect(events.filter((e) => e.type === 'reclaim')).toHaveLength(1);
  expect(events.filter((e) => e.type === 'claim')).toHaveLength(2);
});

it('never takes over a suspended (stopped) owner on this host, even long after its lease; woken, it carries on', async () => {
  const leaseMs = 1_000;
  const w = await holder('A', leaseMs);
  w.child.kill('SIGSTOP');
  try {
    store = openTaskStore({ workspaceRoot: root });
    expect(store.getTask('A')?.claim?.owner.pid).toBe(w.pid);
    await sleep(3 * leaseMs);
    // Alive (only stopped, as a laptop lid closed): its claim stands.
    expect(isProcessAlive(w.pid)).toBe(true);
    expect(store.tryClaim(claimArgs('A'))).toMatchObject({ kind: 'held', owner: { pid: w.pid } });
    expect(store.tryClaim(claimArgs('B'))).toMatchObject({ kind: 'claimed', released: [] });

    // Woken, the owner goes on: every write of it still counts.
    w.child.kill('SIGCONT');
    w.child.kill('SIGUSR2');
    const line = await w.waitForLine((l) => 'heartbeat' in l);
    expect(line).toEqual({ heartbeat: true, progress: true, finish: 'ok' });
    expect(store.getTask('A')).toMatchObject({ status: 'completed' });
    expect(readEventLog(store.eventsFile).events.filter((e) => e.type === 'heartbeat-lost')).toEqual([]);
  } finally {
    w.child.kill('SIGCONT');
  }
});
