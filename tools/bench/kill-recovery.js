#!/usr/bin/env node
/**
 * Kill-recovery benchmark: a 6-task slice through the real plugin (real nx, git, worktrees, agent processes), killed
 * with SIGKILL again and again, then run to the end. Half of the kills hit a stage boundary of the pipeline exactly
 * (NX_VTM_FAILPOINT: after-worktree, after-agent, after-saved, after-audited, after-verified, after-integrated,
 * after-merge, before-finish, cycling over points and tasks), half a random instant (mid-agent, mid-verification,
 * mid-merge, mid-`git worktree add`). Prints one line per round and a summary table:
 *
 *   - agent invocations per completed task (1.00 = every agent paid for once; a kill that cuts an agent's own run
 *     short, before the store recorded its end, makes that run count again, and is shown apart)
 *   - agents called again after the store recorded their finished run (stage "agent"): target 0
 *   - agents a later run adopted (a killed run's agent still working or finished unrecorded, taken over, not re-run)
 *   - tasks left unfinished after the final re-run (target 0); tasks merged twice (target 0)
 *   - whether the final tree of main equals an uninterrupted run's
 *
 *   npm run bench:kill -- --rounds 25 --kills 2
 *   npm run bench:kill -- --isolation none   (the agents share the user's checkout; commits replayed onto main)
 *   --window-ms N: random kills land within N ms of the executor's start (default 4000)
 *   --sleep-ms N: each agent works N ms (default 300); long enough, the agents of a killed run still work when the
 *   next run starts, and the WIP limit must count them
 */
const { spawn } = require('node:child_process');
const path = require('node:path');

const arg = (name, dflt) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt);
const rounds = arg('--rounds', 25);
const killsPerRound = arg('--kills', 2);
// Random kills land up to this long after the run's executor started (a shorter run needs a shorter window).
const killWindowMs = arg('--window-ms', 4000);
const isolation = process.argv.includes('--isolation') ? process.argv[process.argv.indexOf('--isolation') + 1] : 'worktree';
if (!['worktree', 'none'].includes(isolation)) throw new Error(`--isolation: "worktree" or "none", not ${JSON.stringify(isolation)}`);
require('../lib/pack-plugin').packPlugin('kill-pack');
require('../ts-register');
const { createAgentWorkspace, getIntervals, getMaxConcurrency, task } = require('../../e2e/support/vtm.ts');

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream', '--skip-nx-cache'];
const letters = ['A', 'B', 'C', 'D', 'E', 'F'];
const ids = letters.map((x) => `K_${x}--T01`);
const POINTS = ['after-worktree', 'agent-spawned', 'after-agent', 'after-saved', 'after-audited', 'after-verified', 'after-integrated', 'after-merge', 'before-finish'];
// A task's work lands on main as a merge commit (worktree) or as one commit with a VTM-Task trailer (none).
const landedOnMain = (ws, id) =>
  isolation === 'none'
    ? ws.git(['log', '--first-parent', '--format=%B%x00', 'main']).split('\0').filter((m) => m.includes(`VTM-Task: ${id}\n`)).length
    : ws.git(['log', '--first-parent', '--format=%s', 'main']).split('\n').filter((m) => m.startsWith(`Merge vtm/${id}:`)).length;
// --sleep-ms: longer agents outlive the killed run into the next one (orphans working beside it: the WIP limit).
const PLAN = { '*': { sleepMs: arg('--sleep-ms', 300) } };

const makeWorkspace = () =>
  createAgentWorkspace({
    tasks: ids.map((id, i) => task(id, { depends_on_tasks: i > 0 && i % 2 === 0 ? [ids[i - 1]] : [] })),
    options: isolation === 'none' ? { isolation: 'none' } : {},
  });

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
    // A random kill lands a random time after the run's executor started (killing nx before it forks changes nothing).
    const runStarts = () => ws.events().filter((e) => e.type === 'run-start').length;
    const before = runStarts();
    let timer;
    const poll =
      killAfterMs !== undefined
        ? setInterval(() => {
            if (runStarts() === before) return;
            clearInterval(poll);
            timer = setTimeout(() => {
              killedAt = Date.now();
              try {
                process.kill(-child.pid, 'SIGKILL');
              } catch {
                // finished already
              }
            }, killAfterMs);
          }, 25)
        : undefined;
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      const hit = /failpoint (\S+) reached for ([^\s:]+)/.exec(output);
      resolve({ code: code ?? (signal ? 128 : 1), killedAt: failpoint ? (hit ? killedAt ?? Date.now() : undefined) : killedAt, hit: hit ? `${hit[1]}@${hit[2]}` : undefined, output });
    });
  });
}

const treeOf = (ws) => ws.git(['rev-parse', 'main^{tree}']);

(async () => {
  console.log(`kill-recovery: ${rounds} rounds x ${killsPerRound} kills, 6 tasks per round, agents sleep ${PLAN['*'].sleepMs} ms, isolation ${isolation}`);
  const reference = makeWorkspace();
  const ref = await runNx(reference, {});
  if (ref.code !== 0) throw new Error(`the uninterrupted reference run failed:\n${ref.output.slice(-3000)}`);
  const referenceTree = treeOf(reference);
  reference.remove();

  const totals = { maxAtOnce: 0, kills: 0, atPoints: 0, random: 0, noKill: 0, invocations: 0, completed: 0, cut: 0, adopted: 0, finishedAgain: 0, unfinished: 0, doubleMerged: 0, treeEqual: 0 };
  let pointCursor = 0;
  for (let round = 0; round < rounds; round++) {
    const ws = makeWorkspace();
    const kills = [];
    let adopted = 0;
    const countAdoptions = (r) => (adopted += (r.output.match(/its run is taken over, not repeated/g) ?? []).length);
    for (let k = 0; k < killsPerRound; k++) {
      const atPoint = (round * killsPerRound + k) % 2 === 0;
      let r;
      if (atPoint) {
        const point = POINTS[pointCursor % POINTS.length];
        const id = ids[Math.floor(pointCursor / POINTS.length) % ids.length];
        pointCursor++;
        r = await runNx(ws, { failpoint: `${point}@${id}` });
      } else {
        r = await runNx(ws, { killAfterMs: Math.random() * killWindowMs });
      }
      countAdoptions(r);
      if (r.killedAt !== undefined) {
        kills.push({ at: r.killedAt, what: atPoint ? r.hit : 'random' });
        totals.kills++;
        atPoint ? totals.atPoints++ : totals.random++;
      } else totals.noKill++;
      await new Promise((res) => setTimeout(res, 200)); // orphaned agents of a killed run may still be writing
    }
    const last = await runNx(ws, {});
    countAdoptions(last);
    totals.adopted += adopted;
    const state = ws.state().tasks;
    const events = ws.agentEvents();
    const starts = events.filter((e) => e.event === 'start');
    const completed = ids.filter((id) => state[id]?.status === 'completed').length;
    // Paid twice: an agent started again for a task after the store had recorded a finished agent run for it (stage
    // "agent"). Every other extra run is one a kill cut short, or one whose exit the killed process never recorded.
    const agentRecorded = new Map();
    for (const e of ws.events()) {
      if (e.type === 'stage' && e.stage === 'agent' && !agentRecorded.has(e.task_id)) agentRecorded.set(e.task_id, Date.parse(e.ts));
    }
    const finishedAgain = starts.filter((s) => agentRecorded.has(s.taskId) && s.at > agentRecorded.get(s.taskId)).length;
    const cut = starts.length - completed - finishedAgain;
    const doubleMerged = ids.filter((id) => landedOnMain(ws, id) > 1).length;
    const equal = treeOf(ws) === referenceTree;
    // Agents at work at once over the whole round, the killed runs' orphans included (WIP limit 3).
    const atOnce = getMaxConcurrency(getIntervals(events));
    totals.maxAtOnce = Math.max(totals.maxAtOnce, atOnce);
    totals.invocations += starts.length;
    totals.completed += completed;
    totals.cut += cut;
    totals.finishedAgain += finishedAgain;
    totals.unfinished += ids.length - completed;
    totals.doubleMerged += doubleMerged;
    if (equal) totals.treeEqual++;
    const ok = last.code === 0 && completed === ids.length && finishedAgain === 0 && doubleMerged === 0 && equal && atOnce <= 3;
    console.log(
      `round ${String(round).padStart(2)}: kills ${kills.map((k) => k.what).join(', ') || '(none)'}; agent runs ${starts.length} (${cut} cut by a kill, ${adopted} adopted), finished agents again ${finishedAgain}, completed ${completed}/${ids.length}, merged twice ${doubleMerged}, at once ${atOnce}, tree ${equal ? 'equal' : 'DIFFERENT'} ${ok ? 'OK' : 'FAILED'}`,
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
  console.log(`| agent runs whose end no store had recorded when the kill came (cut short, or exited but unrecorded): run again | ${totals.cut} | |`);
  console.log(`| agent invocations per completed task, not counting those | ${per(totals.invocations - totals.cut)} | 1.00 |`);
  console.log(`| agents a later run adopted (its killed run's agent, still working or ended unrecorded: taken over, not run again) | ${totals.adopted} | |`);
  console.log(`| agents called again after their finished run was recorded | ${totals.finishedAgain} | 0 |`);
  console.log(`| tasks unfinished after the final re-run | ${totals.unfinished} | 0 |`);
  console.log(`| tasks merged twice | ${totals.doubleMerged} | 0 |`);
  console.log(`| final tree equal to an uninterrupted run's | ${totals.treeEqual}/${rounds} | ${rounds}/${rounds} |`);
  console.log(`| agents at work at once, most in any round (killed runs' orphans included) | ${totals.maxAtOnce} | ≤ 3 (the WIP limit) |`);
  process.exitCode = totals.maxAtOnce <= 3 && totals.finishedAgain === 0 && totals.unfinished === 0 && totals.doubleMerged === 0 && totals.treeEqual === rounds ? 0 : 1;
})();
