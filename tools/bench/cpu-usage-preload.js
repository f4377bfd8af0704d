/**
 * Loaded into every Nx process of a benchmark run (NODE_OPTIONS=--require, which the CLI's forked plugin workers
 * inherit): keeps this process's CPU time (user + system, ms) in $NX_VTM_BENCH_CPU_DIR/<pid>. On a loaded machine
 * wall time moves by 2x between identical runs while CPU time moves much less, so the graph benchmark compares CPU
 * time (docs/benchmarks.md).
 *
 * Written every 50 ms as well as at exit: Nx may end a plugin worker with SIGKILL, which runs no handler, and a
 * worker that was only counted when it exited cleanly made the total depend on how each one ended.
 */
const fs = require('node:fs');
const path = require('node:path');

const dir = process.env.NX_VTM_BENCH_CPU_DIR;
if (dir) {
  const file = path.join(dir, String(process.pid));
  const write = () => {
    const u = process.cpuUsage();
    try {
      // Whole or not at all (rename), so the benchmark never reads a half-written value.
      fs.writeFileSync(`${file}.tmp`, `${process.argv[1] ?? ''} ${((u.user + u.system) / 1000).toFixed(1)}\n`);
      fs.renameSync(`${file}.tmp`, file);
    } catch {
      // The benchmark removed the folder: nothing to report to.
    }
  };
  setInterval(write, 50).unref();
  process.on('exit', write);
}
