/**
 * A separate process driving the task store for the cross-process specs:
 *   node -r ./ts-register-cached.js store-worker.ts '<json config>'   (see workers.ts)
 * Prints exactly one JSON line (its report) on stdout when done; `hold` prints a line once it holds its claim and then
 * stays alive until killed.
 */
import * as fs from 'node:fs';
import type { AdmitFn, IdentityPort } from '../task-store';
import type { CoordinatorConfig } from '../db/coordinator';
import type { TaskFootprint } from '../../scheduler/types';

// Loaded lazily: each mode transpiles only what it uses, which keeps process start-up short on a busy machine.
const loadStore = async () => (await import('../task-store')).openTaskStore;

type Config =
  | { mode: 'warm' }
  | { mode: 'updates'; root: string; worker: number; count: number; tasks: string[] }
  | { mode: 'hold'; root: string; taskId: string; leaseMs: number }
  | { mode: 'reclaim'; root: string; taskId: string; goFile: string }
  | { mode: 'wip'; root: string; worker: number; holdMs: number; wipLimit: number; goFile: string }
  | { mode: 'append'; file: string; worker: number; count: number; size: number }
  | { mode: 'churn'; root: string; tasks: string[] };

/** Every mode may name a coordinator (default SQLite in root) and pretend to run on another host (`host`). */
const config = JSON.parse(process.argv[2] ?? '{}') as Config & { coordinator?: CoordinatorConfig; host?: string };

/** This process as the store sees it; on a pretended host it is judged like a remote machine: by its lease only. */
async function identityFor(host: string | undefined): Promise<IdentityPort | undefined> {
  if (!host) return undefined;
  const { systemIdentity } = await import('../task-store');
  return {
    self: () => ({ ...systemIdentity.self(), host }),
    isAlive: (o) => systemIdentity.isAlive(o),
    identify: (pid) => ({ ...systemIdentity.identify(pid), host }),
  };
}

const openStore = async (root: string) =>
  (await loadStore())({ workspaceRoot: root, coordinator: config.coordinator, identity: await identityFor(config.host) });

const footprint = (taskId: string): TaskFootprint => ({ taskId, fileScope: [`src/${taskId}/`], conflictsWith: [], exclusive: false });
const admitAll: AdmitFn = () => ({ admit: true });
/** WIP limit only: enough to check that the limit holds across processes. */
const admitWip: AdmitFn = ({ running, wipLimit }) =>
  running.length < wipLimit ? { admit: true } : { admit: false, reason: { kind: 'wip', running: running.length, limit: wipLimit } };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const report = (value: unknown) => process.stdout.write(JSON.stringify(value) + '\n');

/** Says it is ready, then polls for the go file, so that all workers hit the store at about the same moment. */
async function startTogether(goFile: string): Promise<void> {
  report({ ready: true, pid: process.pid });
  while (!fs.existsSync(goFile)) await sleep(5);
}

async function main(): Promise<void> {
  switch (config.mode) {
    case 'warm': {
      await import('../task-store');
      await import('../event-log');
      report({ warm: true });
      return;
    }
    case 'updates': {
      // Each cycle is two read-modify-write transactions: a claim (attempts + 1, global fence + 1) and a finish.
      const store = await openStore(config.root);
      const fences: number[] = [];
      let held = 0;
      const began = Date.now();
      let i = config.worker;
      while (fences.length < config.count) {
        const taskId = config.tasks[i++ % config.tasks.length] as string;
        const claim = store.tryClaim({
          taskId,
          footprint: footprint(taskId),
          taskHash: 'h',
          runId: `w${config.worker}`,
          leaseMs: 60_000,
          wipLimit: 99,
          admit: admitAll,
          waitingSinceMs: Date.now(),
          reserveAfterMs: 60_000,
        });
        if (claim.kind !== 'claimed') {
          held++;
          continue;
        }
        fences.push(claim.fence);
        const done = store.finish({
          taskId,
          token: claim.token,
          outcome: { status: 'pending', last_worker: config.worker, files_modified: [`w${config.worker}-${fences.length}`] },
        });
        if (!done.ok) throw new Error(done.error.message);
      }
      store.close();
      report({ worker: config.worker, fences, held, elapsedMs: Date.now() - began });
      return;
    }
    case 'hold': {
      const store = await openStore(config.root);
      const claim = store.tryClaim({
        taskId: config.taskId,
        footprint: footprint(config.taskId),
        taskHash: 'h',
        runId: 'holder',
        leaseMs: config.leaseMs,
        wipLimit: 99,
        admit: admitAll,
        waitingSinceMs: Date.now(),
        reserveAfterMs: 60_000,
      });
      // Stay alive (holding the claim, never heartbeating) until the test kills this process. SIGUSR2 means "you were
      // hung and woke up": try to carry on with the claim and report what the store allowed. The handler is in place
      // before the report, since the test may stop this process as soon as it reads it.
      const keepAlive = setInterval(() => undefined, 1_000);
      process.on('SIGUSR2', () => {
        if (claim.kind !== 'claimed') return;
        const heartbeat = store.heartbeat({ taskId: config.taskId, token: claim.token });
        const progress = store.updateProgress({ taskId: config.taskId, token: claim.token, fields: { acs_completed: ['late'] } });
        const finish = store.finish({ taskId: config.taskId, token: claim.token, outcome: { status: 'completed' } });
        report({ heartbeat, progress, finish: finish.ok ? 'ok' : finish.error.code });
        clearInterval(keepAlive);
        store.close();
      });
      // The projection write the claim deferred to the next tick happens now, inside the store's write lock: a test
      // that stops this process right after the report must not stop it holding that lock.
      store.flushProjection();
      report({ kind: claim.kind, pid: process.pid, ...(claim.kind === 'claimed' ? { token: claim.token } : {}) });
      return;
    }
    case 'reclaim': {
      const store = await openStore(config.root);
      await startTogether(config.goFile);
      const claim = store.tryClaim({
        taskId: config.taskId,
        footprint: footprint(config.taskId),
        taskHash: 'h',
        runId: `reclaimer-${process.pid}`,
        leaseMs: 600_000,
        wipLimit: 99,
        admit: admitAll,
        waitingSinceMs: Date.now(),
        reserveAfterMs: 600_000,
      });
      report({
        pid: process.pid,
        kind: claim.kind,
        previousPid: claim.kind === 'claimed' ? (claim.previousOwner?.owner.pid ?? null) : null,
        released: claim.released.map((r) => r.owner.pid),
      });
      // Stay alive until the test ends it: a winner that exited would leave a dead owner for the next reclaimer.
      setInterval(() => undefined, 1_000);
      return;
    }
    case 'wip': {
      const store = await openStore(config.root);
      await startTogether(config.goFile);
      let maxRunning = 0;
      const claimed: string[] = [];
      for (;;) {
        // Like a driver: try one ready task, and on a refusal wait a moment before asking again.
        const open = store.listTasks().filter((t) => t.status === 'pending');
        if (open.length === 0) break;
        const taskId = (open[Math.floor(Math.random() * open.length)] as { taskId: string }).taskId;
        const claim = store.tryClaim({
          taskId,
          footprint: footprint(taskId),
          taskHash: 'h',
          runId: `w${config.worker}`,
          leaseMs: 60_000,
          wipLimit: config.wipLimit,
          admit: admitWip,
          waitingSinceMs: Date.now(),
          reserveAfterMs: 600_000,
        });
        if (claim.kind !== 'claimed') {
          await sleep(10);
          continue;
        }
        claimed.push(taskId);
        maxRunning = Math.max(maxRunning, store.getRunningClaims().length);
        await sleep(config.holdMs);
        maxRunning = Math.max(maxRunning, store.getRunningClaims().length);
        const done = store.finish({ taskId, token: claim.token, outcome: { status: 'completed' } });
        if (!done.ok) throw new Error(done.error.message);
      }
      store.close();
      report({ worker: config.worker, claimed, maxRunning });
      return;
    }
    case 'churn': {
      // Claims and finishes the tasks round-robin, without ever yielding to the event loop (so the deferred projection
      // write only happens through the next change), until the test kills this process. Each finish's outcome is
      // unique, so the projection shows which transition it is at.
      const store = await openStore(config.root);
      store.registerTasks({ taskIds: config.tasks });
      report({ churning: true, pid: process.pid });
      for (let n = 0; ; n++) {
        const taskId = config.tasks[n % config.tasks.length] as string;
        const claim = store.tryClaim({
          taskId,
          footprint: footprint(taskId),
          taskHash: 'h',
          runId: 'churn',
          leaseMs: 60_000,
          wipLimit: 99,
          admit: admitAll,
          waitingSinceMs: Date.now(),
          reserveAfterMs: 60_000,
        });
        if (claim.kind !== 'claimed') throw new Error(`churn: ${taskId} ${claim.kind}`);
        store.advanceStage({ taskId, token: claim.token, fence: claim.fence, stage: 'agent' });
        const done = store.finish({ taskId, token: claim.token, outcome: { status: 'pending', files_modified: [`n${n}`] } });
        if (!done.ok) throw new Error(done.error.message);
      }
    }
    case 'append': {
      const { appendEventLine, buildEventLine } = await import('../event-log');
      const pad = 'x'.repeat(config.size);
      for (let n = 0; n < config.count; n++) {
        appendEventLine(config.file, buildEventLine({ type: 'skip', taskId: `W${config.worker}`, extra: { n, pad } }, Date.now()));
      }
      report({ worker: config.worker, count: config.count });
      return;
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
