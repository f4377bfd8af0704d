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
const dist = path.join(root, 'dist/packages/nx-vtm');
const { openTaskStore } = require(path.join(dist, 'src/state/task-store'));
const Database = require('better-sqlite3');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const cycles = arg('--cycles', 40);
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

function bench(n) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-bench-state-'));
  try {
    seed(dir, n);
    const store = openTaskStore({ workspaceRoot: dir });
    // The first write of a process loads what it needs; it is reported apart from the steady state.
    const t0 = performance.now();
    store.registerTasks({ taskIds: [id(1)] });
    store.invalidate({ taskId: id(1) });
    const firstWrite = performance.now() - t0;
    const times = { claim: [], stage: [], finish: [], invalidate: [] };
    const timed = (kind, fn) => {
      const t = performance.now();
      const r = fn();
      times[kind].push(performance.now() - t);
      return r;
    };
    const pendingHalf = Array.from({ length: Math.ceil(n / 2) }, (_, k) => id(2 * k + 1));
    let last;
    for (let c = 0; c < cycles; c++) {
      const taskId = pendingHalf[c % pendingHalf.length];
      const claim = timed('claim', () =>
        store.tryClaim({
          taskId,
          footprint: { taskId, files: [], exclusive: false, conflictsWith: [] },
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
      timed('stage', () => store.advanceStage({ ...cas, stage: 'agent', data: { agent: { status: 'completed' } } }));
      timed('stage', () => store.advanceStage({ ...cas, stage: 'verified', data: { verification: { status: 'passed' } } }));
      const fin = timed('finish', () => store.finish({ taskId, token: claim.token, outcome: { status: 'completed', ...outcome(taskId) } }));
      if (!fin.ok) throw new Error(fin.error.message);
      if (c < cycles - 1) timed('invalidate', () => store.invalidate({ taskId }));
      last = taskId;
    }
    if (typeof store.flushProjection === 'function') store.flushProjection();
    store.close();
    const file = JSON.parse(fs.readFileSync(path.join(dir, '.vtm/task-state.json'), 'utf8'));
    const listed = Object.keys(file.tasks).length;
    if (listed !== n) throw new Error(`task-state.json lists ${listed} tasks, expected ${n}`);
    if (file.tasks[last].status !== 'completed') throw new Error(`task-state.json misses the last finish of ${last}`);
    const bytes = fs.statSync(path.join(dir, '.vtm/task-state.json')).size;
    const transitions = [...times.claim, ...times.finish, ...times.invalidate];
    return { n, times, transitions, firstWrite, bytes };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const rows = sizes.map(bench);
const f = (x) => x.toFixed(2).padStart(7);
console.log(`\nnx-vtm state-write benchmark (${cycles} cycles per size; Node ${process.version}; ${os.cpus().length} CPUs; load ${os.loadavg()[0].toFixed(1)})\n`);
console.log('tasks  | transition p50 | p95     | claim p50 | finish p50 | invalidate p50 | stage p50 | p95     | first write | task-state.json');
console.log('-------|----------------|---------|-----------|------------|----------------|-----------|---------|-------------|----------------');
for (const r of rows) {
  console.log(
    `${String(r.n).padEnd(6)} | ${f(pct(r.transitions, 50))} ms     | ${f(pct(r.transitions, 95))} | ${f(pct(r.times.claim, 50))}   | ${f(pct(r.times.finish, 50))}    | ${f(pct(r.times.invalidate, 50))}        | ${f(pct(r.times.stage, 50))}   | ${f(pct(r.times.stage, 95))} | ${f(r.firstWrite)} ms  | ${(r.bytes / 1024).toFixed(0)} KiB`,
  );
}
const worst = Math.max(...rows.map((r) => pct(r.transitions, 50)));
console.log(`\ntarget p50 per transition <= 2 ms at every size: worst ${worst.toFixed(2)} ms -> ${worst <= 2 ? 'met' : 'MISSED'}`);
