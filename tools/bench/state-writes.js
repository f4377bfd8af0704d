#!/usr/bin/env node
/**
 * State-write benchmark: the cost of one task-state transition (claim, stage advance, finish, invalidate), including
 * the task-state.json projection it causes, in stores of 10, 1,000 and 10,000 tasks. Half of each store's tasks are
 * seeded `completed` with a realistic outcome (acceptance criteria, files, tests, cost, verification, integration), so
 * the projection has the size a real backlog's has. Target: p50 <= 2 ms per transition at every size.
 *
 *   npm run bench:state            (builds first)
 *   node tools/bench/state-writes.js --cycles 50
 *
 * Every cycle runs claim -> advanceStage x2 -> finish(completed) -> invalidate on one task of the pending half, so
 * each size measures the same operations; the projection is checked (valid JSON, every task listed, the last
 * transition visible) after the run.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const root = path.resolve(__dirname, '../..');
// --dist <dir>: another build of the package (e.g. of main, for before/after numbers).
const dist = process.argv.includes('--dist') ? path.resolve(process.argv[process.argv.indexOf('--dist') + 1]) : path.join(root, 'dist/packages/nx-vtm');
const { openTaskStore } = require(path.join(dist, 'src/state/task-store'));
const Database = require('better-sqlite3');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const cycles = arg('--cycles', 40);
// Unmeasured pause after each timed call in tick mode: in a run, transitions are separated by the agents' and git's
// work (the 10,000-task end-to-end run: ~20 ms apart at 3 slots). 0 = back to back, the harshest case for anything
// the store prepares between writes.
const gapMs = arg('--gap-ms', 0);
const sizes = process.argv.includes('--sizes')
  ? process.argv[process.argv.indexOf('--sizes') + 1].split(',').map(Number)
  : [10, 1000, 10000];

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
};
const id = (i) => `CAP_${Math.floor(i / 4)}--T${String(i % 4).padStart(2, '0')}`;

/** A finished task's outcome, shaped like the pipeline's (see docs/state-and-reports.md). */
function outcome(taskId) {
  return {
    result_dir: `.vtm/results/${taskId}`,
    cost: { adapter: 'command', usd: null, tokens: null, session_id: null, attempts: 1, duration_ms: 318 },
    agent_status: 'completed',
    worktree: null,
    acs_completed: [`${taskId}-AC01`, `${taskId}-AC02`],
    acs_remaining: [],
    files_modified: [`packages/p1/src/${taskId}.ts`, `packages/p1/test/${taskId}.spec.ts`],
    test_results: { total: 4, passing: 4, failing: 0 },
    blockers: [],
    verification: { status: 'passed', log: `.vtm/results/${taskId}/verify.log`, argv: ['node', '--test'] },
    integration: { strategy: 'merge', status: 'merged', sha: 'd41d37a602c42a838930dc72edf1f503af4d7b13', branch: `vtm/${taskId}`, into: 'main' },
  };
}

/** Seeds half the tasks as completed straight into the database (the store's own writes would take minutes at the old cost). */
function seed(dir, n) {
  const store = openTaskStore({ workspaceRoot: dir });
  store.checkManifestHash('a'.repeat(64));
  store.registerTasks({ taskIds: Array.from({ length: n }, (_, i) => id(i)) });
  store.close();
  const db = new Database(path.join(dir, '.vtm/state.db'));
  const update = db.prepare(
    `UPDATE tasks SET status = 'completed', attempts = 1, started_at = ?, completed_at = ?, task_hash = ?, outcome = ? WHERE task_id = ?`,
  );
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < n; i += 2) update.run(now - 60_000, now, 'b'.repeat(64), JSON.stringify({ ...outcome(id(i)), duration_minutes: 1 }), id(i));
  })();
  db.close();
}

const admit = () => ({ admit: true });

const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * One cycle of transitions on `taskId`. `after` runs after each call: in `tick` mode it yields to the event loop (as
 * the runtime does between transitions, which are separated by process I/O), so the projection write the call
 * deferred happens inside the measured time; in `burst` mode the calls follow each other synchronously.
 */
async function cycle(store, taskId, times, mode, last) {
  const timed = async (kind, fn) => {
    const t = performance.now();
    const r = fn();
    const called = performance.now();
    if (mode === 'tick') await tick();
    const done = performance.now();
    times[kind].push(done - t);
    times.call.push(called - t);
    if (mode === 'tick' && gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    return r;
  };
  const claim = await timed('claim', () =>
    store.tryClaim({
      taskId,
      footprint: { taskId, fileScope: [`src/${taskId}/`], exclusive: false, conflictsWith: [] },
      taskHash: 'c'.repeat(64),
      runId: 'bench',
      leaseMs: 60_000,
      wipLimit: 3,
      admit,
      waitingSinceMs: Date.now(),
      reserveAfterMs: 60_000,
    }),
  );
  if (claim.kind !== 'claimed') throw new Error(`claim of ${taskId}: ${claim.kind}`);
  const cas = { taskId, token: claim.token, fence: claim.fence };
  await timed('stage', () => store.advanceStage({ ...cas, stage: 'agent', data: { agent: { status: 'completed' } } }));
  await timed('stage', () => store.advanceStage({ ...cas, stage: 'verified', data: { verification: { status: 'passed' } } }));
  const fin = await timed('finish', () => store.finish({ taskId, token: claim.token, outcome: { status: 'completed', ...outcome(taskId) } }));
  if (!fin.ok) throw new Error(fin.error.message);
  if (!last) await timed('invalidate', () => store.invalidate({ taskId }));
}

async function bench(n) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-bench-state-'));
  try {
    seed(dir, n);
    const store = openTaskStore({ workspaceRoot: dir });
    // The first projection write of a process loads every task's line; it is reported apart from the steady state.
    const t0 = performance.now();
    store.invalidate({ taskId: id(1) });
    if (typeof store.flushProjection === 'function') store.flushProjection();
    const firstWrite = performance.now() - t0;
    const pendingHalf = Array.from({ length: Math.ceil(n / 2) }, (_, k) => id(2 * k + 1));
    const result = { n, firstWrite };
    let c = 0;
    for (const mode of ['tick', 'burst']) {
      const times = { claim: [], stage: [], finish: [], invalidate: [], call: [] };
      const t = performance.now();
      for (let k = 0; k < cycles; k++) await cycle(store, pendingHalf[c++ % pendingHalf.length], times, mode, mode === 'burst' && k === cycles - 1);
      if (typeof store.flushProjection === 'function') store.flushProjection();
      const elapsed = performance.now() - t;
      const transitions = [...times.claim, ...times.finish, ...times.invalidate];
      result[mode] = { times, transitions, meanPerTransition: (elapsed - times.stage.reduce((a, b) => a + b, 0)) / transitions.length };
    }
    const last = pendingHalf[(c - 1) % pendingHalf.length];
    store.close();
    const file = JSON.parse(fs.readFileSync(path.join(dir, '.vtm/task-state.json'), 'utf8'));
    const listed = Object.keys(file.tasks).length;
    if (listed !== n) throw new Error(`task-state.json lists ${listed} tasks, expected ${n}`);
    if (file.tasks[last].status !== 'completed') throw new Error(`task-state.json misses the last finish of ${last}`);
    result.bytes = fs.statSync(path.join(dir, '.vtm/task-state.json')).size;
    return result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

(async () => {
  const rows = [];
  for (const n of sizes) rows.push(await bench(n));
  const f = (x) => x.toFixed(2).padStart(7);
  console.log(`\nnx-vtm state-write benchmark (${cycles} cycles per size; ${gapMs} ms between transitions in tick mode; Node ${process.version}; ${os.cpus().length} CPUs; load ${os.loadavg()[0].toFixed(1)})`);
  console.log('transition = claim, finish or invalidate, each with the task-state.json write it causes; stage = advanceStage\n');
  console.log('tasks  | transition p50 | p95     | call only p50 | stage p50 | burst p50 | burst mean | first write | task-state.json');
  console.log('-------|----------------|---------|---------------|-----------|-----------|------------|-------------|----------------');
  for (const r of rows) {
    const t = r.tick;
    const b = r.burst;
    console.log(
      `${String(r.n).padEnd(6)} | ${f(pct(t.transitions, 50))} ms     | ${f(pct(t.transitions, 95))} | ${f(pct(t.times.call, 50))} ms    | ${f(pct(t.times.stage, 50))}   | ${f(pct(b.transitions, 50))}   | ${f(b.meanPerTransition)} ms | ${f(r.firstWrite)} ms  | ${(r.bytes / 1024).toFixed(0)} KiB`,
    );
  }
  const worst = Math.max(...rows.map((r) => pct(r.tick.transitions, 50)));
  console.log(`\ntarget p50 per transition (with its projection write) <= 2 ms at every size: worst ${worst.toFixed(2)} ms -> ${worst <= 2 ? 'met' : 'MISSED'}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
