#!/usr/bin/env node
/**
 * Graph benchmark: for manifests of 10, 1,000 and 10,000 tasks, the time of the pure graph building (parse +
 * validate + buildGraph, and buildGraph alone) and of `nx show projects` in a real workspace with the built plugin,
 * beside Nx's own floor: the same workspace with a trivial plugin (installed as a package, as nx-vtm is) that
 * returns the same projects (names and roots, read from a prepared JSON file) with one no-op target each.
 * Targets at 10,000 tasks: parse + validate + buildGraph <= 200 ms; `nx show projects` <= 1.3x the floor.
 *
 * Besides wall time, the CPU time of every Nx process of a command (the CLI and each plugin worker, through
 * cpu-usage-preload.js): the number to compare on a loaded machine.
 *
 *   npm run bench:graph            (builds first)
 *   node tools/bench/graph.js --runs 5 --sizes 10,1000
 *   node tools/bench/graph.js --sizes 10000 --runs 3 --baseline /tmp/old-dist --no-isolation-off
 *
 *   --runs N             nx runs per workspace (default 3); the pure timing takes max(N, 5) calls
 *   --sizes a,b,c        task counts (default 10,1000,10000)
 *   --baseline DIR       another build of the plugin (a dist/packages/nx-vtm folder, e.g. built from main) run in
 *                        turn with this one and the floor plugin: before/after on the same machine state
 *   --no-isolation-off   skip the extra run with NX_ISOLATE_PLUGINS=false (saves a third of the time)
 *   --cpu-prof DIR       write V8 CPU profiles of the pure timing into DIR (one per size)
 *   --verbose            print each nx run's CPU time per process (the CLI first, then its plugin workers)
 *   --options JSON       nx-vtm's plugin options in its workspace (and for the pure timing's target names), e.g.
 *                        '{"verifyTargetName":false}'
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const root = path.resolve(__dirname, '../..');
const dist = path.join(root, 'dist/packages/nx-vtm');
const { parseManifestText, buildGraph } = require(dist);
const { generateManifest } = require('./manifest-gen');
require('../ts-register');
const { createTestWorkspace } = require('../../e2e/support/workspace.ts');

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 3;
const sizes = process.argv.includes('--sizes')
  ? process.argv[process.argv.indexOf('--sizes') + 1].split(',').map(Number)
  : [10, 1000, 10000];
const argValue = (flag) => (process.argv.includes(flag) ? process.argv[process.argv.indexOf(flag) + 1] : undefined);
const baselineDist = argValue('--baseline') && path.resolve(argValue('--baseline'));
const isolationOff = !process.argv.includes('--no-isolation-off');
const cpuProfDir = argValue('--cpu-prof') && path.resolve(argValue('--cpu-prof'));
const verbose = process.argv.includes('--verbose');
// nx-vtm's plugin options in the benchmark workspace, e.g. --options '{"verifyTargetName":false}' (no verify targets).
const pluginOptions = JSON.parse(argValue('--options') || '{}');
const targetNames = { implement: pluginOptions.implementTargetName ?? 'implement', verify: pluginOptions.verifyTargetName ?? 'verify' };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const CPU_PRELOAD = path.join(__dirname, 'cpu-usage-preload.js');

const { packPlugin } = require('../lib/pack-plugin');

function timePure(manifest) {
  const text = JSON.stringify(manifest);
  let session;
  if (cpuProfDir) {
    session = new (require('node:inspector').Session)();
    session.connect();
    session.post('Profiler.enable');
    session.post('Profiler.start');
  }
  const parseTimes = [];
  const buildTimes = [];
  const cpuTimes = [];
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (let i = 0; i < Math.max(runs, 5); i++) {
    const c0 = cpuNow();
    const t0 = performance.now();
    const parsed = parseManifestText({ text, file: 'docs/backlog/virtual-task-manifest.json' });
    const t1 = performance.now();
    if (!parsed.ok) throw new Error(`generated manifest invalid: ${JSON.stringify(parsed.error.slice(0, 3))}`);
    buildGraph({ manifests: [{ file: 'docs/backlog/virtual-task-manifest.json', status: 'OK', tasks: parsed.value.tasks }], targetNames });
    const t2 = performance.now();
    cpuTimes.push(cpuNow() - c0);
    parseTimes.push(t1 - t0);
    buildTimes.push(t2 - t1);
  }
  if (session) {
    session.post('Profiler.stop', (e, { profile }) => {
      fs.mkdirSync(cpuProfDir, { recursive: true });
      fs.writeFileSync(path.join(cpuProfDir, `pure-${manifest.tasks.length}.cpuprofile`), JSON.stringify(profile));
    });
    session.disconnect();
  }
  // CPU time of the process (including V8's garbage-collection threads): steadier than wall time on a loaded machine.
  return { parse: median(parseTimes), build: median(buildTimes), pureCpu: median(cpuTimes), pureMin: Math.min(...parseTimes.map((p, k) => p + buildTimes[k])) };
}

/**
 * Nx's floor: a plugin doing as little as a plugin can (parse one JSON file, return its projects with one no-op
 * target each). Explicit inputs, as nx-vtm's aggregates have, because the roots are virtual.
 */
const FLOOR_PLUGIN = `
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const nodes = (files, _options, context) =>
  files.map((file) => {
    const projects = {};
    for (const p of JSON.parse(readFileSync(join(context.workspaceRoot, file), 'utf8'))) {
      projects[p.root] = { name: p.name, root: p.root, targets: { implement: { executor: 'nx:noop', inputs: [{ env: 'FLOOR' }] } } };
    }
    return [file, { projects }];
  });
exports.createNodesV2 = ['floor-projects.json', nodes];
`;

function makeWorkspace(manifest, floor, tarball) {
  const files = { 'docs/backlog/virtual-task-manifest.json': manifest };
  let plugins;
  if (floor) {
    const parsed = parseManifestText({ text: JSON.stringify(manifest), file: 'docs/backlog/virtual-task-manifest.json' });
    const graph = buildGraph({ manifests: [{ file: 'docs/backlog/virtual-task-manifest.json', status: 'OK', tasks: parsed.value.tasks }] });
    files['floor-projects.json'] = graph.projects.map((p) => ({ name: p.config.name, root: p.root }));
    // Installed as a package, as nx-vtm is: a plugin given as a local path ('./tools/floor-plugin.js') makes Nx start
    // two more plugin workers (measured: 7 Nx processes against 5, ~1.2 s more CPU at 10 tasks), which made the floor
    // dearer and the ratio to it look better than it was.
    files['node_modules/nx-vtm-bench-floor/index.js'] = FLOOR_PLUGIN;
    files['node_modules/nx-vtm-bench-floor/package.json'] = { name: 'nx-vtm-bench-floor', version: '1.0.0', main: 'index.js' };
    plugins = ['nx-vtm-bench-floor'];
  } else {
    plugins = [{ plugin: 'nx-vtm', options: pluginOptions }];
  }
  const own = process.env.NX_VTM_E2E_TARBALL;
  if (tarball) process.env.NX_VTM_E2E_TARBALL = tarball;
  try {
    return createTestWorkspace({ files, ...(plugins ? { plugins } : {}) });
  } finally {
    process.env.NX_VTM_E2E_TARBALL = own;
  }
}

/** The baseline build packed as a tarball, as packPlugin packs this one. */
function packBaseline() {
  const dest = path.join(root, 'tmp', 'bench-pack-baseline');
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(dest, { recursive: true });
  const out = spawnSync('npm', ['pack', baselineDist, '--pack-destination', dest, '--json', '--ignore-scripts'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`npm pack ${baselineDist} failed:\n${out.stderr}`);
  return path.join(dest, JSON.parse(out.stdout)[0].filename);
}

/** One `nx show projects` in `ws`: wall ms, CPU ms of all its Nx processes, and the number of projects printed. */
function showProjects(ws, isolate, label = '') {
  // Outside the workspace: a file written there during the command would be a workspace change to Nx.
  const cpuDir = path.join(require('node:os').tmpdir(), `nx-vtm-bench-cpu-${process.pid}`);
  fs.rmSync(cpuDir, { recursive: true, force: true });
  fs.mkdirSync(cpuDir);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(ws.root, 'node_modules/nx/dist/bin/nx.js'), 'show', 'projects', '--json'], {
    cwd: ws.root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: {
      ...process.env,
      NX_DAEMON: 'false',
      NX_NO_CLOUD: 'true',
      CI: 'true',
      NX_ISOLATE_PLUGINS: isolate ? 'true' : 'false',
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${CPU_PRELOAD}`.trim(),
      NX_VTM_BENCH_CPU_DIR: cpuDir,
    },
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`nx show projects failed:\n${r.stderr}`);
  // Plugin workers may outlive the CLI by a moment: give them time to write their last value.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
  const entries = fs.readdirSync(cpuDir).filter((f) => !f.endsWith('.tmp')).map((pid) => {
    const [script, value] = fs.readFileSync(path.join(cpuDir, pid), 'utf8').trim().split(' ');
    return { pid: Number(pid), script: path.basename(script), cpu: Number(value) };
  });
  const cpu = entries.reduce((a, e) => a + e.cpu, 0);
  const lines = entries.length;
  if (verbose) {
    const cli = entries.filter((e) => e.pid === r.pid).map((e) => e.cpu.toFixed(0));
    const others = entries.filter((e) => e.pid !== r.pid).map((e) => `${e.script === 'plugin-worker.js' ? '' : `${e.script} `}${e.cpu.toFixed(0)}`);
    console.log(`  ${label.padEnd(10)} wall ${ms.toFixed(0)} ms, CPU ${cpu.toFixed(0)} ms: CLI ${cli.join('+')} ms, others ${others.join(', ')} ms`);
  }
  return { ms, cpu, processes: lines, projects: JSON.parse(r.stdout).length };
}

/**
 * nx-vtm (isolation on and off), the floor plugin and, with --baseline, the other build, run in turn (A, B, C, A, B,
 * C, ...) rather than one after the other, so that a change in the machine's load during the benchmark weighs on all
 * alike: the ratio to the floor is the number that matters, and it is only meaningful when both sides saw the same
 * machine.
 */
function timeShowProjects(manifest, baselineTarball) {
  const vtm = makeWorkspace(manifest, false);
  const floorWs = makeWorkspace(manifest, true);
  const baseWs = baselineTarball ? makeWorkspace(manifest, false, baselineTarball) : undefined;
  try {
    const times = { nx: [], nxCpu: [], nxNoIso: [], floor: [], floorCpu: [], base: [], baseCpu: [] };
    let projects = 0;
    let floorProjects = 0;
    for (let i = 0; i < runs; i++) {
      const a = showProjects(vtm, true, 'nx-vtm');
      times.nx.push(a.ms);
      times.nxCpu.push(a.cpu);
      projects = a.projects;
      if (isolationOff) times.nxNoIso.push(showProjects(vtm, false).ms);
      const f = showProjects(floorWs, true, 'floor');
      times.floor.push(f.ms);
      times.floorCpu.push(f.cpu);
      floorProjects = f.projects;
      if (baseWs) {
        const b = showProjects(baseWs, true, 'baseline');
        times.base.push(b.ms);
        times.baseCpu.push(b.cpu);
      }
    }
    if (floorProjects !== projects) throw new Error(`floor plugin returned ${floorProjects} projects, nx-vtm ${projects}`);
    // The ratio per round (same load for both), then its median: steadier than the ratio of two medians.
    const perRound = (a, b) => median(a.map((t, k) => t / b[k]));
    return {
      nx: median(times.nx),
      nxCpu: median(times.nxCpu),
      nxNoIso: isolationOff ? median(times.nxNoIso) : NaN,
      floor: median(times.floor),
      floorCpu: median(times.floorCpu),
      ratio: perRound(times.nx, times.floor),
      cpuRatio: perRound(times.nxCpu, times.floorCpu),
      ...(baseWs
        ? { base: median(times.base), baseCpu: median(times.baseCpu), baseRatio: perRound(times.base, times.floor), baseCpuRatio: perRound(times.baseCpu, times.floorCpu) }
        : {}),
      projects,
    };
  } finally {
    vtm.remove();
    floorWs.remove();
    baseWs?.remove();
  }
}

packPlugin('bench-pack');
const baselineTarball = baselineDist ? packBaseline() : undefined;
const rows = [];
for (const n of sizes) {
  const manifest = generateManifest(n);
  const pure = timePure(manifest);
  const shown = timeShowProjects(manifest, baselineTarball);
  rows.push({ n, ...pure, ...shown });
}
const base = rows[0];
const fmtS = (ms) => `${(ms / 1000).toFixed(2)} s`;
console.log(`\nnx-vtm graph benchmark (median of ${runs} nx runs, nx-vtm and the floor plugin in turn; load average at the end ${require('node:os').loadavg()[0].toFixed(1)}; Node ${process.version})\n`);
console.log('tasks  | parse+validate | buildGraph | both     | nx show projects | floor plugin | vs floor | vs 10 tasks | (isolation off) | projects');
console.log('-------|----------------|------------|----------|------------------|--------------|----------|-------------|-----------------|---------');
for (const r of rows) {
  console.log(
    `${String(r.n).padEnd(6)} | ${r.parse.toFixed(1).padStart(11)} ms | ${r.build.toFixed(1).padStart(7)} ms | ${(r.parse + r.build).toFixed(0).padStart(5)} ms | ${r.nx.toFixed(0).padStart(13)} ms | ${r.floor.toFixed(0).padStart(9)} ms | ${r.ratio.toFixed(2).padStart(7)}x | ${(r.nx / base.nx).toFixed(2).padStart(10)}x | ${Number.isNaN(r.nxNoIso) ? '-'.padStart(15) : `${r.nxNoIso.toFixed(0).padStart(12)} ms`} | ${r.projects}`,
  );
}
console.log('\nCPU time of all Nx processes of `nx show projects` (the CLI and its plugin workers), median, and per-round ratio to the floor:\n');
console.log(`tasks  | nx-vtm    | floor     | vs floor${baselineTarball ? ' | baseline  | baseline vs floor | baseline wall | baseline wall vs floor' : ''}`);
for (const r of rows) {
  console.log(
    `${String(r.n).padEnd(6)} | ${fmtS(r.nxCpu).padStart(9)} | ${fmtS(r.floorCpu).padStart(9)} | ${r.cpuRatio.toFixed(2).padStart(7)}x` +
      (baselineTarball ? ` | ${fmtS(r.baseCpu).padStart(9)} | ${r.baseCpuRatio.toFixed(2).padStart(16)}x | ${fmtS(r.base).padStart(13)} | ${r.baseRatio.toFixed(2).padStart(21)}x` : ''),
  );
}
const big = rows[rows.length - 1];
const pureMs = big.parse + big.build;
console.log(`\ntarget parse + validate + buildGraph (${big.n}) <= 200 ms: ${pureMs.toFixed(1)} ms (median wall; fastest call ${big.pureMin.toFixed(1)} ms, median CPU ${big.pureCpu.toFixed(1)} ms) -> ${pureMs <= 200 ? 'met' : 'MISSED'}`);
console.log(`target nx show projects (${big.n}) <= 1.3x the floor plugin (median of the per-round ratios): wall ${big.ratio.toFixed(2)}x -> ${big.ratio <= 1.3 ? 'met' : 'MISSED'}; CPU ${big.cpuRatio.toFixed(2)}x -> ${big.cpuRatio <= 1.3 ? 'met' : 'MISSED'}`);
