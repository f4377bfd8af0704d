#!/usr/bin/env node
/**
 * End-to-end benchmark at backlog scale: a generated manifest of N tasks (tools/bench/manifest-gen.js, default 10,000)
 * through the real plugin and the real `nx run-many -t implement`, with a trivial agent, in a real temporary workspace.
 *
 * Reports total wall time (nx start to exit), the makespan of the agents, per-task slot time outside the agent (the
 * store's claim -> agent start and agent end -> finish), peak RSS of the nx process and of the batch executor
 * (VmHWM from /proc, polled every --poll-ms), RSS at checkpoints (default 1,000 / 5,000 / 10,000 agents done, clipped
 * to N) so that growth with the number of tasks done is visible, and the size of `.vtm/`.
 *
 * Setup (stated in the output):
 *   - isolation "none" (agents in the checkout; no worktree per task), verification off, wipLimit 3;
 *   - the agent: tools/bench/trivial-agent.sh (POSIX sh: appends one line to a log, prints the completed-task JSON;
 *     changes no file, so every task runs with agent.allowNoChanges). `--agent node` uses tools/bench/trivial-agent.js
 *     instead (the same in node, whose start-up costs ~150 ms of CPU per task: the agent's cost, not ours).
 *     `--writes` (node agent) makes it write one file of its scope (each task then commits that file).
 *   - the generated manifest as is: phases, slices, dependencies on earlier tasks, shared directory scopes (conflicts
 *     serialise), 6% High-risk tasks (run alone). Its related spec files are created so no task is blocked for them.
 *
 *   npm run bench:e2e10k                          (builds first; N = 10,000)
 *   node tools/bench/e2e10k.js --tasks 1000       (a smaller backlog)
 *   node tools/bench/e2e10k.js --tasks 2000 --checkpoints 500,1000,2000 --keep
 *   node tools/bench/e2e10k.js --agent node          (the node agent)
 *   node tools/bench/e2e10k.js --max-minutes 30      (stop nx after 30 minutes; report what was done until then)
 *
 * Also the CPU time per task done of the nx process, of the batch executor itself, and of the processes it started
 * (git and the agents; /proc's cutime + cstime): on a shared machine wall time follows the load, CPU time much less.
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const value = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const N = Number(value('--tasks', 10000));
const checkpoints = value('--checkpoints', '1000,5000,10000')
  .split(',')
  .map(Number)
  .filter((c) => c > 0 && c <= N);
if (!checkpoints.includes(N)) checkpoints.push(N);
const pollMs = Number(value('--poll-ms', 250));
const writes = flag('--writes');
const keep = flag('--keep');
const maxMinutes = Number(value('--max-minutes', 0));
const agentKind = writes ? 'node' : value('--agent', 'sh');
if (!['sh', 'node'].includes(agentKind)) throw new Error('--agent must be sh or node');
if (!(N >= 1)) throw new Error('--tasks must be >= 1');

require('../lib/pack-plugin').packPlugin('bench-e2e10k-pack');
require('../ts-register');
const { createTestWorkspace } = require('../../e2e/support/workspace.ts');
const { generateManifest } = require('./manifest-gen');

const AGENT_COMMAND = agentKind === 'sh' ? ['/bin/sh', path.join(__dirname, 'trivial-agent.sh')] : [process.execPath, path.join(__dirname, 'trivial-agent.js')];
const MANIFEST = 'docs/backlog/virtual-task-manifest.json';

function makeWorkspace() {
  const manifest = generateManifest(N);
  const files = { [MANIFEST]: manifest };
  for (const t of manifest.tasks) for (const s of t.related_specs) files[s] ??= `# ${s}\n`;
  const ws = createTestWorkspace({
    plugins: [
      {
        plugin: 'nx-vtm',
        options: {
          isolation: 'none',
          verify: false,
          wipLimit: 3,
          agent: { adapter: 'command', command: AGENT_COMMAND, timeoutMs: 60_000, allowNoChanges: !writes },
        },
      },
    ],
    files,
  });
  return ws;
}

const MS_PER_TICK = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim() || 100);

/** VmRSS and VmHWM (kB), CPU time (ms) and the command line of a process, or undefined once it is gone. */
function readProc(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    // utime stime cutime cstime: fields 14-17, counted after the ")" that ends the command name (which may hold spaces).
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    const cpu = { self: (f[11] + f[12]) * MS_PER_TICK, children: (f[13] + f[14]) * MS_PER_TICK };
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), cmd, cpu };
  } catch {
    return undefined;
  }
}

/** Every process below `root` (children of children), from /proc's parent links. */
function descendants(root) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {
      // gone
    }
  }
  const out = [];
  const stack = [root];
  while (stack.length) for (const c of children.get(stack.pop()) ?? []) out.push(c), stack.push(c);
  return out;
}

function dirSize(dir) {
  let bytes = 0;
  let files = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) (bytes += fs.statSync(p).size), files++;
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return { bytes, files };
}

const mb = (kb) => `${(kb / 1024).toFixed(0)} MB`;
const fmtS = (ms) => `${(ms / 1000).toFixed(1)} s`;

async function main() {
  const setupStart = Date.now();
  const ws = makeWorkspace();
  const agentLog = path.join(ws.root, '..', `${path.basename(ws.root)}.agents.log`);
  console.log(`e2e benchmark: ${N} tasks, isolation none, verification off, wipLimit 3, trivial agent (${agentKind}; ${writes ? 'writes one scope file' : 'changes nothing'}); workspace ${ws.root} (set up in ${fmtS(Date.now() - setupStart)})`);

  const started = Date.now();
  const child = spawn(process.execPath, [path.join(ws.root, 'node_modules/nx/dist/bin/nx.js'), 'run-many', '-t', 'implement', '--outputStyle=stream'], {
    cwd: ws.root,
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', CI: 'true', FORCE_COLOR: '0', TRIVIAL_AGENT_LOG: agentLog, ...(writes ? { TRIVIAL_AGENT_WRITE: '1' } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keepTail = (d) => (tail = (tail + d).slice(-20000));
  child.stdout.on('data', keepTail);
  child.stderr.on('data', keepTail);

  const peak = { nx: { hwm: 0, rss: 0 }, batch: { hwm: 0, rss: 0, pid: 0 }, others: 0 };
  const samples = [];
  let done = 0;
  let logOffset = 0;
  const reached = new Map();
  // Last seen CPU time (ms) of the nx process, the batch executor and the processes the executor waited for.
  const cpu = { nx: 0, batch: 0, children: 0 };
  let firstAgentAt;
  const sample = () => {
    // Agents done so far: lines appended to the agents' log (read incrementally).
    try {
      const fd = fs.openSync(agentLog, 'r');
      const size = fs.fstatSync(fd).size;
      if (size > logOffset) {
        const buf = Buffer.alloc(size - logOffset);
        fs.readSync(fd, buf, 0, buf.length, logOffset);
        logOffset = size;
        done += buf.toString('utf8').split('\n').filter(Boolean).length;
        firstAgentAt ??= Date.now();
      }
      fs.closeSync(fd);
    } catch {
      // no agent yet
    }
    const nx = readProc(child.pid);
    if (nx) (peak.nx.hwm = Math.max(peak.nx.hwm, nx.hwm)), (peak.nx.rss = nx.rss), (cpu.nx = nx.cpu.self);
    // The batch executor is the run-batch.js process. A process it has just forked shows the same command line until
    // it execs the agent, so of several matches the largest is the executor.
    let batch;
    for (const pid of descendants(child.pid)) {
      const p = readProc(pid);
      if (p && p.cmd.includes('run-batch') && (!batch || p.rss > batch.rss)) batch = p;
    }
    if (batch) (peak.batch = { hwm: Math.max(peak.batch.hwm, batch.hwm), rss: batch.rss }), (cpu.batch = batch.cpu.self), (cpu.children = batch.cpu.children);
    samples.push({ t: Date.now() - started, done, nxRss: nx?.rss ?? 0, batchRss: batch?.rss ?? 0 });
    for (const c of checkpoints) if (done >= c && !reached.has(c)) reached.set(c, { t: Date.now() - started, nxRss: nx?.rss ?? 0, batchRss: batch?.rss ?? 0, batchHwm: peak.batch.hwm, nxHwm: peak.nx.hwm });
  };
  const timer = setInterval(sample, pollMs);
  let lastPrint = 0;
  const progress = setInterval(() => {
    if (done !== lastPrint) console.log(`  ${fmtS(Date.now() - started)}: ${done}/${N} agents done; nx RSS ${mb(peak.nx.rss)}, batch RSS ${mb(peak.batch.rss)}; CPU so far: batch ${fmtS(cpu.batch)}, its children ${fmtS(cpu.children)}, nx ${fmtS(cpu.nx)}`);
    lastPrint = done;
  }, 30_000);
  let stoppedAt;
  const stopper =
    maxMinutes > 0
      ? setTimeout(() => {
          stoppedAt = done;
          console.log(`  --max-minutes ${maxMinutes}: stopping nx (SIGINT) at ${done} agents done`);
          child.kill('SIGINT');
        }, maxMinutes * 60_000)
      : undefined;
  const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 128 : 1))));
  if (stopper) clearTimeout(stopper);
  const wall = Date.now() - started;
  clearInterval(timer);
  clearInterval(progress);
  sample();

  // The store's view: claim and finish per task, and what ended how.
  const events = fs
    .readFileSync(path.join(ws.root, '.vtm/events.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const claimAt = new Map();
  const finishAt = new Map();
  const outcome = new Map();
  for (const e of events) {
    if (e.type === 'claim' && !claimAt.has(e.task_id)) claimAt.set(e.task_id, Date.parse(e.ts));
    if (e.type === 'finish') finishAt.set(e.task_id, Date.parse(e.ts)), outcome.set(e.task_id, e.status ?? e.outcome ?? '?');
  }
  const agentLines = fs.existsSync(agentLog)
    ? fs
        .readFileSync(agentLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
  const slot = [];
  const agentMs = [];
  for (const a of agentLines) {
    const c = claimAt.get(a.taskId);
    const f = finishAt.get(a.taskId);
    agentMs.push(a.end - a.start);
    if (c !== undefined && f !== undefined) slot.push(f - c - (a.end - a.start));
  }
  const statuses = {};
  for (const s of outcome.values()) statuses[s] = (statuses[s] ?? 0) + 1;
  const state = JSON.parse(fs.readFileSync(path.join(ws.root, 'docs/backlog/task-state.json'), 'utf8'));
  const stateCounts = {};
  for (const t of Object.values(state.tasks ?? {})) stateCounts[t.status] = (stateCounts[t.status] ?? 0) + 1;
  const vtm = dirSize(path.join(ws.root, '.vtm'));
  const nxCache = dirSize(path.join(ws.root, '.nx'));
  const stateFile = fs.statSync(path.join(ws.root, 'docs/backlog/task-state.json')).size;
  const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const pct = (xs, p) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] : NaN);
  const firstClaim = Math.min(...claimAt.values());
  const lastFinish = Math.max(...finishAt.values());

  console.log(`\nnx exit code ${code}; ${agentLines.length} agent runs; task-state.json: ${JSON.stringify(stateCounts)}; finish events: ${JSON.stringify(statuses)}`);
  if (code !== 0) console.log(`last output:\n${tail.slice(-4000)}`);
  console.log('\n| measure | value |\n|---|---|');
  console.log(`| tasks | ${N} |`);
  console.log(`| total wall time (nx start to exit) | ${fmtS(wall)} |`);
  console.log(`| nx start -> first claim | ${fmtS(firstClaim - started)} |`);
  const finished = finishAt.size;
  if (stoppedAt !== undefined) console.log(`| stopped by --max-minutes ${maxMinutes} | ${finished} of ${N} tasks finished |`);
  console.log(`| first claim -> last finish | ${fmtS(lastFinish - firstClaim)} (${((lastFinish - firstClaim) / finished).toFixed(0)} ms per task) |`);
  console.log(`| CPU per task finished: batch executor / the git and agent processes it started / nx process | ${(cpu.batch / finished).toFixed(0)} / ${(cpu.children / finished).toFixed(0)} / ${(cpu.nx / finished).toFixed(0)} ms |`);
  console.log(`| last finish -> nx exit | ${fmtS(started + wall - lastFinish)} |`);
  console.log(`| agent run (process start to end), mean / p95 | ${mean(agentMs).toFixed(0)} / ${pct(agentMs, 0.95).toFixed(0)} ms |`);
  console.log(`| slot held outside the agent per task (claim -> finish minus the agent), mean / p50 / p95 | ${mean(slot).toFixed(0)} / ${pct(slot, 0.5).toFixed(0)} / ${pct(slot, 0.95).toFixed(0)} ms |`);
  console.log(`| peak RSS (VmHWM), nx process | ${mb(peak.nx.hwm)} |`);
  console.log(`| peak RSS (VmHWM), batch executor | ${mb(peak.batch.hwm)} |`);
  console.log(`| .vtm/ | ${(vtm.bytes / 1024 / 1024).toFixed(1)} MB in ${vtm.files} files |`);
  console.log(`| task-state.json | ${(stateFile / 1024 / 1024).toFixed(1)} MB |`);
  console.log(`| .nx/ (Nx cache and workspace data) | ${(nxCache.bytes / 1024 / 1024).toFixed(1)} MB |`);
  console.log('\nRSS by agents done (bounded memory: growth should track the state, not the tasks done):\n');
  console.log('| agents done | at | nx RSS | batch RSS | batch peak so far |\n|---|---|---|---|---|');
  for (const c of checkpoints) {
    const r = reached.get(c);
    console.log(r ? `| ${c} | ${fmtS(r.t)} | ${mb(r.nxRss)} | ${mb(r.batchRss)} | ${mb(r.batchHwm)} |` : `| ${c} | not reached | | | |`);
  }
  // Superlinearity check: time per task in each tenth of the run (by agents done).
  const tenths = [];
  for (let k = 1; k <= 10; k++) {
    const target = Math.ceil((N * k) / 10);
    const s = samples.find((x) => x.done >= target);
    if (s) tenths.push(s.t);
  }
  if (tenths.length === 10) {
    const per = tenths.map((t, i) => (t - (i === 0 ? tenths[0] : tenths[i - 1])) / (N / 10));
    console.log(`\nms per task in each tenth of the run (after the first): ${per.slice(1).map((x) => x.toFixed(0)).join(', ')}`);
  }
  if (keep) console.log(`\nkept ${ws.root}`);
  else {
    ws.remove();
    fs.rmSync(agentLog, { force: true });
  }
  if (code !== 0) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
