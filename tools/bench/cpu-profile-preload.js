/**
 * A V8 CPU profile of one kind of Nx process for the whole of its life, for finding where a benchmark's time goes:
 *
 *   NX_VTM_PROFILE=batch NX_VTM_PROFILE_DIR=/tmp/prof NODE_OPTIONS="--require $PWD/tools/bench/cpu-profile-preload.js" \
 *     node tools/bench/e2e10k.js --tasks 2000
 *   node tools/bench/profile-summary.js /tmp/prof/batch-*.cpuprofile --per 2000      (ms per task done)
 *
 * NX_VTM_PROFILE picks the process: `batch` (the batch executor, Nx's run-batch.js: the scheduler and every task's
 * pipeline), `nx` (the CLI running the tasks: graph, hashing, Nx's lifecycles) or `worker` (nx-vtm's plugin worker:
 * createNodes). Node refuses `--cpu-prof` in NODE_OPTIONS, hence the inspector from a preload. The profile is written
 * at exit and on SIGTERM/SIGINT; a process ended with SIGKILL leaves none. Sampling every NX_VTM_PROFILE_US
 * microseconds (default 1000).
 */
const kind = process.env.NX_VTM_PROFILE;
const argv = process.argv.join(' ');
const matches =
  (kind === 'batch' && /run-batch\.js/.test(argv)) ||
  (kind === 'nx' && /nx\/dist\/bin\/nx\.js/.test(argv)) ||
  (kind === 'worker' && /plugin-worker\.js/.test(argv) && / nx-vtm /.test(`${argv} `));
if (matches) {
  const fs = require('node:fs');
  const path = require('node:path');
  const inspector = require('node:inspector');
  const dir = process.env.NX_VTM_PROFILE_DIR || process.cwd();
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: Number(process.env.NX_VTM_PROFILE_US) || 1000 });
  session.post('Profiler.start');
  let written = false;
  // The main thread's inspector session answers synchronously, so this completes inside an 'exit' handler.
  const write = () => {
    if (written) return;
    written = true;
    session.post('Profiler.stop', (error, result) => {
      if (error || !result) return;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `${kind}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  };
  process.on('exit', write);
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, () => {
      write();
      process.kill(process.pid, signal); // the default action, now that the profile is written
    });
  }
}
