#!/usr/bin/env node
/**
 * Scheduling-pass micro-benchmark: what one dispatch pass of the driver (`src/scheduler/driver.ts`) costs with 10,
 * 1,000 and 10,000 ready tasks, in process, with a fake single-process coordinator (no SQLite, no agents), so the
 * numbers are the driver's own work.
 *
 *   node tools/bench/scheduler-pass.js
 *   node tools/bench/scheduler-pass.js --sizes 10,1000,10000 --finishes 200
 *   node tools/bench/scheduler-pass.js --src /tmp/main-src/packages/nx-vtm/src   # another version's sources
 *
 * The backlog: N ready tasks plus one dependent behind each of the first tasks (so every finish makes one task ready
 * and the ready count stays about N), wipLimit 3, 6 % exclusive (High-risk) tasks, 30 % of tasks in directory scopes
 * shared by 20 tasks, the rest one file each, estimates known (1 min). Measured, in ms:
 *  - "finish -> idle": a running task ends; the driver records it, releases its dependent, runs a pass (starting the
 *    next task: one claim), and goes back to sleep. This is what every finish costs, at every size.
 *  - "quiet poll": the poll interval passes with nothing changed (the coordinator's version unchanged).
 *  - "coordinator asks per finish": calls of `tryStart` per finish (each is a SQLite transaction in the plugin).
 *  - "pass under a reservation": an exclusive task holds a starvation reservation (the coordinator refuses every
 *    other task with `reserved`, none can backfill), two of the three running tasks end (two free slots) and other
 *    processes' changes (a new coordinator version) make the driver look again: the pass's time and its asks.
 */
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const root = path.resolve(__dirname, '../..');
const argv = process.argv.slice(2);
const value = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const src = path.resolve(value('--src', path.join(root, 'packages/nx-vtm/src')));
const sizes = value('--sizes', '10,1000,10000').split(',').map(Number);
const finishes = Number(value('--finishes', 200));
const polls = Number(value('--polls', 50));

require('../ts-register');
const { runScheduledTasks } = require(path.join(src, 'scheduler/driver.ts'));
const { decideAdmission } = require(path.join(src, 'scheduler/admission.ts'));

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

function backlog(n, extra) {
  const tasks = [];
  const isExclusive = (i) => i < n && i % 17 === 5;
  for (let i = 0; i < n + extra; i++) {
    const exclusive = isExclusive(i);
    const shared = i % 10 < 3;
    tasks.push({
      taskId: `T${i}`,
      fileScope: shared ? [`src/g${Math.floor(i / 67)}/`] : [`src/t${i}.ts`],
      conflictsWith: [],
      exclusive,
      // Task i >= n waits for task i - n, so each finish makes about one task ready (not behind an exclusive task:
      // with all slots kept busy, the fake coordinator never lets one run).
      // Exclusive tasks wait for T0, so the first pass fills the slots with others and the workspace never empties
      // (the fake coordinator has no reservations): the measured passes are the steady state of a busy backlog.
      dependsOn: exclusive ? ['T0'] : i >= n && !isExclusive(i - n) ? [`T${i - n}`] : [],
      estimateMs: 60_000,
    });
  }
  return tasks;
}

async function measure(n) {
  const wipLimit = 3;
  const tasks = backlog(n, finishes + polls + wipLimit + 5);
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const running = new Map();
  let version = 0;
  let asks = 0;
  let reservedBy;
  const runners = [];
  let sleeping;
  let onSleep = () => {};
  const ports = {
    tryStart(taskId, _since, options) {
      asks++;
      if (reservedBy && taskId !== reservedBy) return { kind: 'wait', reason: byId.get(taskId).exclusive ? { kind: 'needs-exclusive', running: [...running.keys()] } : { kind: 'reserved', by: reservedBy } };
      const decision = decideAdmission({ candidate: byId.get(taskId), running: [...running.values()], wipLimit });
      if (!decision.admit) return { kind: 'wait', reason: decision.reason };
      if (options?.reserveOnly) return { kind: 'wait', reason: { kind: 'needs-exclusive', running: [...running.keys()] } };
      running.set(taskId, { ...byId.get(taskId), startedAt: 0 });
      version++;
      return { kind: 'started' };
    },
    run(taskId) {
      return new Promise((resolve) => runners.push({ taskId, end: () => resolve({ success: true }) }));
    },
    now: () => 0,
    waitForChange(_ms, signal) {
      return new Promise((resolve) => {
        sleeping = { at: performance.now(), poll: resolve };
        signal.addEventListener('abort', () => resolve());
        onSleep();
      });
    },
    report() {},
    storeVersion: () => version,
  };
  const nextSleep = () => new Promise((r) => (onSleep = r));

  const t0 = performance.now();
  let asleep = nextSleep();
  const run = runScheduledTasks({ tasks, order: tasks.map((t) => t.taskId), wipLimit, pollMs: 1000 }, ports);
  run.catch((e) => {
    console.error(e);
    process.exit(1);
  });
  await asleep;
  const first = performance.now() - t0;

  const finishMs = [];
  const asksPer = [];
  for (let k = 0; k < finishes; k++) {
    const r = runners.shift();
    asleep = nextSleep();
    const before = asks;
    const start = performance.now();
    running.delete(r.taskId);
    version++;
    r.end();
    await asleep;
    finishMs.push(performance.now() - start);
    asksPer.push(asks - before);
  }
  const pollMs = [];
  for (let k = 0; k < polls; k++) {
    asleep = nextSleep();
    const start = performance.now();
    sleeping.poll();
    await asleep;
    pollMs.push(performance.now() - start);
  }
  // The workspace drains for the reservation: two of the three running tasks end, so two slots are free and every
  // ready task passes the driver's own check; then other processes' changes make it look again.
  reservedBy = tasks.find((t) => t.exclusive).taskId;
  const reservedMs = [];
  const reservedAsks = [];
  for (let k = 0; k < polls; k++) {
    asleep = nextSleep();
    const before = asks;
    const start = performance.now();
    if (k < 2) {
      const r = runners.shift();
      running.delete(r.taskId);
      version++;
      r.end();
    } else {
      version++;
      sleeping.poll();
    }
    await asleep;
    reservedMs.push(performance.now() - start);
    reservedAsks.push(asks - before);
  }
  return { n, first, finishMs, pollMs, asks: mean(asksPer), reservedMs, reservedAsks: mean(reservedAsks) };
}

(async () => {
  console.log(`scheduler pass benchmark (${path.relative(root, src) || src}): ${finishes} finishes and ${polls} quiet polls per size, wipLimit 3\n`);
  console.log('| ready tasks | first pass ms | finish -> idle ms, p50 / p95 / max | quiet poll ms, p50 / max | coordinator asks per finish | pass under a reservation ms, p50 / max | asks per pass under a reservation |');
  console.log('|---|---|---|---|---|---|---|');
  for (const n of sizes) {
    // Warm the JIT on a small run first so the first size is not penalised.
    if (n === sizes[0]) await measure(Math.min(n, 100));
    const m = await measure(n);
    const f = (x) => x.toFixed(x < 10 ? 3 : 1);
    console.log(`| ${n} | ${f(m.first)} | ${f(pct(m.finishMs, 0.5))} / ${f(pct(m.finishMs, 0.95))} / ${f(Math.max(...m.finishMs))} | ${f(pct(m.pollMs, 0.5))} / ${f(Math.max(...m.pollMs))} | ${m.asks.toFixed(1)} | ${f(pct(m.reservedMs, 0.5))} / ${f(Math.max(...m.reservedMs))} | ${m.reservedAsks.toFixed(1)} |`);
  }
  process.exit(0);
})();
