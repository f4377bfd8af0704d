#!/usr/bin/env node
/**
 * Kill-recovery benchmark: a 6-task slice through the real plugin (real nx, git, worktrees, agent processes), killed
 * with SIGKILL again and again, then run to the end. Half of the kills hit a stage boundary of the pipeline exactly
 * (NX_VTM_FAILPOINT: after-worktree, after-agent, after-saved, after-audited, after-verified, after-integrated,
 * after-merge, before-finish, cycling over points and tasks), half a random instant (mid-agent, mid-verification,
 * mid-merge, mid-`git worktree add`). Prints one line per round and a summary table:
 *
 *   - agent invocations per completed task (1.00 = every agent paid for once; a kill that cuts an agent's own run
 *     short makes that run count again, and is shown apart)
 *   - finished agents called again (an agent that had exited before the kill and ran again: target 0)
 *   - tasks left unfinished after the final re-run (target 0); tasks merged twice (target 0)
 *   - whether the final tree of main equals an uninterrupted run's
 *
 *   npm run bench:kill -- --rounds 25 --kills 2
 */
const { spawn } = require('node:child_process');
const path = require('node:path');

const arg = (name, dflt) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt);
const rounds = arg('--rounds', 25);
const killsPerRound = arg('--kills', 2);
require('../lib/pack-plugin').packPlugin('kill-pack');
require('../ts-register');
const { createAgentWorkspace, task } = require('../../e2e/support/vtm.ts');

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream', '--skip-nx-cache'];
const letters = ['A', 'B', 'C', 'D', 'E', 'F'];
const ids = letters.map((x) => `K_${x}--T01`);
const POINTS = ['after-worktree', 'after-agent', 'after-saved', 'after-audited', 'after-verified', 'after-integrated', 'after-merge', 'before-finish'];
const PLAN = { '*': { sleepMs: 300 } };

const makeWorkspace = () =>
  createAgentWorkspace({ tasks: ids.map((id, i) => task(id, { depends_on_tasks: i > 0 && i % 2 === 0 ? [ids[i - 1]] : [] })) });

/** Run nx in `ws`; resolves with { code, killedAt } (killedAt: when the kill happened, from our side). */
function runNx(ws, { failpoint, killAfterMs }) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ws.root, 'node_modules/nx/dist/bin/nx.js'), ...SLICE], {
      cwd: ws.root,
      env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', CI: 'true', ...ws.env(PLAN), ...(failpoint ? { NX_VTM_FAILPOINT: failpoint } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    let killedAt;
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => {
      output += d;
      if (failpoint && killedAt === undefined && /failpoint \S+ reached/.test(output)) killedAt = Date.now();
    });
    const timer =
      killAfterMs !== undefined
        ? setTimeout(() => {
            killedAt = Date.now();
            try {
              process.kill(-child.pid, 'SIGKILL');
            } catch {
              // finished already
            }
          }, killAfterMs)
        : undefined;
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const hit = /failpoint (\S+) reached for ([^\s:]+)/.exec(output);
      resolve({ code: code ?? (signal ? 128 : 1), killedAt: failpoint ? (hit ? killedAt ?? Date.now() : undefined) : killedAt, hit: hit ? `${hit[1]}@${hit[2]}` : undefined, output });
    });
  });
}

const treeOf = (ws) => ws.git(['rev-parse', 'main^{tree}']);

(async () => {
  console.log(`kill-recovery: ${rounds} rounds x ${killsPerRound} kills, 6 tasks per round, agents sleep ${PLAN['*'].sleepMs} ms`);
  const reference = makeWorkspace();
  const ref = await runNx(reference, {});
  if (ref.code !== 0) throw new Error(`the uninterrupted reference run failed:\n${ref.output.slice(-3000)}`);
  const referenceTree = treeOf(reference);
  reference.remove();

  const totals = { kills: 0, atPoints: 0, random: 0, noKill: 0, invocations: 0, completed: 0, cut: 0, finishedAgain: 0, unfinished: 0, doubleMerged: 0, treeEqual: 0 };
  let pointCursor = 0;
  for (let round = 0; round < rounds; round++) {
    const ws = makeWorkspace();
    const kills = [];
    for (let k = 0; k < killsPerRound; k++) {
      const atPoint = (round * killsPerRound + k) % 2 === 0;
      let r;
      if (atPoint) {
        const point = POINTS[pointCursor % POINTS.length];
        const id = ids[Math.floor(pointCursor / POINTS.length) % ids.length];
        pointCursor++;
        r = await runNx(ws, { failpoint: `${point}@${id}` });
      } else {
        r = await runNx(ws, { killAfterMs: 500 + Math.random() * 3500 });
      }
      if (r.killedAt !== undefined) {
        kills.push({ at: r.killedAt, what: atPoint ? r.hit : 'random' });
        totals.kills++;
        atPoint ? totals.atPoints++ : totals.random++;
      } else totals.noKill++;
      await new Promise((res) => setTimeout(res, 200)); // orphaned agents of a killed run may still be writing
    }
    const last = await runNx(ws, {});
    const state = ws.state().tasks;
    const events = ws.agentEvents();
    const starts = events.filter((e) => e.event === 'start');
    const completed = ids.filter((id) => state[id]?.status === 'completed').length;
    // A run cut by a kill: started before the kill, no end before it. A finished agent called again: it ended before
    // some kill and its task's agent started again after that kill.
    let cut = 0;
    let finishedAgain = 0;
    for (const s of starts) {
      const end = events.find((e) => e.event === 'end' && e.pid === s.pid);
      const killedDuring = kills.find((k) => s.at < k.at && (!end || end.at >= k.at));
      if (killedDuring) cut++;
      if (end && kills.some((k) => end.at < k.at && starts.some((o) => o.taskId === s.taskId && o.at > k.at))) finishedAgain++;
    }
    const merges = ws.git(['log', '--first-parent', '--format=%s', 'main']).split('\n').filter((l) => l.startsWith('Merge vtm/'));
    const doubleMerged = ids.filter((id) => merges.filter((m) => m.startsWith(`Merge vtm/${id}:`)).length > 1).length;
    const equal = treeOf(ws) === referenceTree;
    totals.invocations += starts.length;
    totals.completed += completed;
    totals.cut += cut;
    totals.finishedAgain += finishedAgain;
    totals.unfinished += ids.length - completed;
    totals.doubleMerged += doubleMerged;
    if (equal) totals.treeEqual++;
    const ok = last.code === 0 && completed === ids.length && finishedAgain === 0 && doubleMerged === 0 && equal;
    console.log(
      `round ${String(round).padStart(2)}: kills ${kills.map((k) => k.what).join(', ') || '(none)'}; agent runs ${starts.length} (${cut} cut by a kill), finished agents again ${finishedAgain}, completed ${completed}/${ids.length}, merged twice ${doubleMerged}, tree ${equal ? 'equal' : 'DIFFERENT'} ${ok ? 'OK' : 'FAILED'}`,
    );
    if (!ok) {
      console.log(last.output.split('\n').filter((l) => /BLOCK|rror|fatal|lock|fail|worktree|claim/i.test(l)).slice(0, 20).join('\n'));
      console.log(`workspace kept: ${ws.root}`);
    } else ws.remove();
  }
  const per = (n) => (totals.completed ? (n / totals.completed).toFixed(2) : 'n/a');
  console.log('\n| measure | value | target |');
  console.log('|---|---|---|');
  console.log(`| kills (SIGKILL of the whole nx process group) | ${totals.kills} (${totals.atPoints} at stage boundaries, ${totals.random} at random instants; ${totals.noKill} runs ended before the kill) | ≥ 50 |`);
  console.log(`| agent invocations per completed task | ${per(totals.invocations)} | 1.00 |`);
  console.log(`| ... not counting runs cut short by a kill | ${per(totals.invocations - totals.cut)} | 1.00 |`);
  console.log(`| agent runs cut short by a kill (paid again) | ${totals.cut} | |`);
  console.log(`| finished agents called again | ${totals.finishedAgain} | 0 |`);
  console.log(`| tasks unfinished after the final re-run | ${totals.unfinished} | 0 |`);
  console.log(`| tasks merged twice | ${totals.doubleMerged} | 0 |`);
  console.log(`| final tree equal to an uninterrupted run's | ${totals.treeEqual}/${rounds} | ${rounds}/${rounds} |`);
  process.exitCode = totals.finishedAgain === 0 && totals.unfinished === 0 && totals.doubleMerged === 0 && totals.treeEqual === rounds ? 0 : 1;
})();
