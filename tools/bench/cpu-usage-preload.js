/**
 * Loaded into every Nx process of a benchmark run (NODE_OPTIONS=--require, which the CLI's forked plugin workers
 * inherit): appends this process's CPU time (user + system, ms) to $NX_VTM_BENCH_CPU_FILE when it ends. On a loaded
 * machine wall time moves by 2x between identical runs while CPU time moves by a few percent, so the graph benchmark
 * compares CPU time (docs/benchmarks.md).
 */
const fs = require('node:fs');

const out = process.env.NX_VTM_BENCH_CPU_FILE;
if (out) {
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    const u = process.cpuUsage();
    fs.appendFileSync(out, `${process.pid} ${((u.user + u.system) / 1000).toFixed(1)}\n`);
  };
  process.on('exit', write);
  // Nx ends plugin workers with a signal; without a handler no 'exit' event would fire.
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]]) {
    process.once(signal, () => {
      write();
      process.exit(code);
    });
  }
}
