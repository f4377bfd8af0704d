#!/usr/bin/env node
/**
 * registerTasks benchmark: how long a run's first store call takes to enter a backlog of N tasks into a fresh store
 * (what every `nx run-many -t implement` does before scheduling), on SQLite and on a real PostgreSQL server started in
 * a temporary folder (as the coordinator specs do). On PostgreSQL each statement is a round trip through the worker
 * thread and the server, so the number of statements decides the time.
 *
 *   node tools/bench/register-tasks.js --tasks 1000 --reps 3
 *
 * Prints the median of the repetitions per engine (a fresh namespace / database file each time).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
require('../ts-register');
const { openTaskStore } = require('../../packages/nx-vtm/src/state/task-store');
const { startPostgresServer } = require('../../packages/nx-vtm/src/state/test-support/postgres-server');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const tasks = arg('--tasks', 1000);
const reps = arg('--reps', 3);
const ids = Array.from({ length: tasks }, (_, i) => `BENCH--T${String(i).padStart(5, '0')}`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const pg = await startPostgresServer();
  try {
    for (const engine of ['sqlite', 'postgres']) {
      const times = [];
      for (let r = 0; r < reps; r++) {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-bench-register-'));
        const coordinator = engine === 'sqlite' ? { type: 'sqlite' } : { type: 'postgres', url: pg.url, namespace: `bench-${process.pid}-${r}` };
        const store = openTaskStore({ workspaceRoot: root, coordinator });
        try {
          const t0 = performance.now();
          const added = store.registerTasks({ taskIds: ids });
          times.push(performance.now() - t0);
          if (added !== tasks) throw new Error(`registered ${added} of ${tasks}`);
          if (store.listTasks().length !== tasks) throw new Error('not every task is in the store');
        } finally {
          store.close();
          fs.rmSync(root, { recursive: true, force: true });
        }
      }
      console.log(`${engine}: registerTasks of ${tasks} tasks: median ${median(times).toFixed(1)} ms (${times.map((t) => t.toFixed(0)).join(', ')} ms)`);
    }
  } finally {
    await pg.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
