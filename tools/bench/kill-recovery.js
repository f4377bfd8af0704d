#!/usr/bin/env node
/**
 * Crash-recovery stress: run a 6-task slice through the real plugin, SIGKILL the whole nx process group at a random
 * moment (mid-agent, mid-verification, mid-commit, mid-merge, mid-`git worktree add`), then re-run and check that
 * the re-run completes every task. Prints one line per round and a summary.
 *
 *   npm run build && node tools/bench/kill-recovery.js --rounds 20
 */
const { spawn } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 10;
require('../lib/pack-plugin').packPlugin('kill-pack');
require('../ts-register');
const { createAgentWorkspace, task } = require('../../e2e/support/vtm.ts');

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream'];
const ids = ['A', 'B', 'C', 'D', 'E', 'F'];

(async () => {
  let ok = 0;
  for (let round = 0; round < rounds; round++) {
    const tasks = ids.map((x, i) => task(`K_${x}--T01`, { depends_on_tasks: i > 0 && i % 2 === 0 ? [`K_${ids[i - 1]}--T01`] : [] }));
    const ws = createAgentWorkspace({ tasks });
    const child = spawn(process.execPath, [path.join(ws.root, 'node_modules/nx/dist/bin/nx.js'), ...SLICE], {
      cwd: ws.root,
      env: { ...process.env, NX_DAEMON: 'false', CI: 'true', ...ws.env({ '*': { sleepMs: 0 } }) },
      stdio: 'ignore',
      detached: true,
    });
    const killAt = 2000 + Math.random() * 2500;
    await new Promise((r) => setTimeout(r, killAt));
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already finished
    }
    await new Promise((r) => setTimeout(r, 300));
    const finishedBefore = ws.events().filter((e) => e.type === 'finish' && e.status === 'completed').length;
    const again = ws.run(SLICE, { '*': { sleepMs: 0 } });
    const state = ws.state().tasks;
    const done = Object.values(state).filter((t) => t.status === 'completed').length;
    const success = again.code === 0 && done === tasks.length;
    if (success) ok++;
    console.log(`round ${round}: killed after ${Math.round(killAt)} ms with ${finishedBefore} task(s) finished; re-run exit ${again.code}, ${done}/${tasks.length} completed ${success ? 'OK' : 'FAILED'}`);
    if (!success) {
      console.log(again.output.split('\n').filter((l) => /BLOCK|rror|fatal|lock|fail|worktree/i.test(l)).slice(0, 20).join('\n'));
      console.log(`workspace kept: ${ws.root}`);
    } else ws.remove();
  }
  console.log(`\nkill -9 recovery: ${ok}/${rounds} rounds recovered completely`);
  process.exitCode = ok === rounds ? 0 : 1;
})();
