#!/usr/bin/env node
/**
 * Graph benchmark: for manifests of 10, 1,000 and 10,000 tasks, the time of the pure graph building (parse +
 * validate + buildGraph, and buildGraph alone) and of `nx show projects` in a real workspace with the built plugin,
 * beside Nx's own floor: the same workspace with a trivial local plugin that returns the same projects (names and
 * roots, read from a prepared JSON file) with one no-op target each.
 * Targets at 10,000 tasks: parse + validate + buildGraph <= 200 ms; `nx show projects` <= 1.3x the floor.
 *
 *   npm run bench:graph            (builds first)
 *   node tools/bench/graph.js --runs 5 --sizes 10,1000
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
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const { packPlugin } = require('../lib/pack-plugin');

function timePure(manifest) {
  const text = JSON.stringify(manifest);
  const parseTimes = [];
  const buildTimes = [];
  for (let i = 0; i < Math.max(runs, 5); i++) {
    const t0 = performance.now();
    const parsed = parseManifestText({ text, file: 'docs/backlog/virtual-task-manifest.json' });
    const t1 = performance.now();
    if (!parsed.ok) throw new Error(`generated manifest invalid: ${JSON.stringify(parsed.error.slice(0, 3))}`);
    buildGraph({ manifests: [{ file: 'docs/backlog/virtual-task-manifest.json', status: 'OK', tasks: parsed.value.tasks }] });
    const t2 = performance.now();
    parseTimes.push(t1 - t0);
    buildTimes.push(t2 - t1);
  }
  return { parse: median(parseTimes), build: median(buildTimes) };
}

/**
 * Nx's floor: a local plugin doing as little as a plugin can (parse one JSON file, return its projects with one no-op
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

function makeWorkspace(manifest, floor) {
  const files = { 'docs/backlog/virtual-task-manifest.json': manifest };
  let plugins;
  if (floor) {
    const parsed = parseManifestText({ text: JSON.stringify(manifest), file: 'docs/backlog/virtual-task-manifest.json' });
    const graph = buildGraph({ manifests: [{ file: 'docs/backlog/virtual-task-manifest.json', status: 'OK', tasks: parsed.value.tasks }] });
    files['floor-projects.json'] = graph.projects.map((p) => ({ name: p.config.name, root: p.root }));
    files['tools/floor-plugin.js'] = FLOOR_PLUGIN;
    plugins = ['./tools/floor-plugin.js'];
  }
  return createTestWorkspace({ files, ...(plugins ? { plugins } : {}) });
}

/** One `nx show projects` in `ws`: wall ms and the number of projects printed. */
function showProjects(ws, isolate) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(ws.root, 'node_modules/nx/dist/bin/nx.js'), 'show', 'projects', '--json'], {
    cwd: ws.root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', CI: 'true', NX_ISOLATE_PLUGINS: isolate ? 'true' : 'false' },
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`nx show projects failed:\n${r.stderr}`);
  return { ms, projects: JSON.parse(r.stdout).length };
}

/**
 * nx-vtm (isolation on and off) and the floor plugin, run in turn (A, B, C, A, B, C, ...) rather than one after the
 * other, so that a change in the machine's load during the benchmark weighs on all three alike: the ratio to the floor
 * is the number that matters, and it is only meaningful when both sides saw the same machine.
 */
function timeShowProjects(manifest) {
  const vtm = makeWorkspace(manifest, false);
  const floorWs = makeWorkspace(manifest, true);
  try {
    const times = { nx: [], nxNoIso: [], floor: [] };
    let projects = 0;
    let floorProjects = 0;
    for (let i = 0; i < runs; i++) {
      const a = showProjects(vtm, true);
      times.nx.push(a.ms);
      projects = a.projects;
      times.nxNoIso.push(showProjects(vtm, false).ms);
      const f = showProjects(floorWs, true);
      times.floor.push(f.ms);
      floorProjects = f.projects;
    }
    if (floorProjects !== projects) throw new Error(`floor plugin returned ${floorProjects} projects, nx-vtm ${projects}`);
    // The ratio per round (same load for both), then its median: steadier than the ratio of two medians.
    const ratios = times.nx.map((t, k) => t / times.floor[k]);
    return { nx: median(times.nx), nxNoIso: median(times.nxNoIso), floor: median(times.floor), ratio: median(ratios), projects };
  } finally {
    vtm.remove();
    floorWs.remove();
  }
}

packPlugin('bench-pack');
const rows = [];
for (const n of sizes) {
  const manifest = generateManifest(n);
  const pure = timePure(manifest);
  const shown = timeShowProjects(manifest);
  rows.push({ n, ...pure, ...shown });
}
const base = rows[0];
console.log(`\nnx-vtm graph benchmark (median of ${runs} nx runs, nx-vtm and the floor plugin in turn; load average at the end ${require('node:os').loadavg()[0].toFixed(1)}; Node ${process.version})\n`);
console.log('tasks  | parse+validate | buildGraph | both     | nx show projects | floor plugin | vs floor | vs 10 tasks | (isolation off) | projects');
console.log('-------|----------------|------------|----------|------------------|--------------|----------|-------------|-----------------|---------');
for (const r of rows) {
  console.log(
    `${String(r.n).padEnd(6)} | ${r.parse.toFixed(1).padStart(11)} ms | ${r.build.toFixed(1).padStart(7)} ms | ${(r.parse + r.build).toFixed(0).padStart(5)} ms | ${r.nx.toFixed(0).padStart(13)} ms | ${r.floor.toFixed(0).padStart(9)} ms | ${r.ratio.toFixed(2).padStart(7)}x | ${(r.nx / base.nx).toFixed(2).padStart(10)}x | ${r.nxNoIso.toFixed(0).padStart(12)} ms | ${r.projects}`,
  );
}
const big = rows[rows.length - 1];
const pureMs = big.parse + big.build;
console.log(`\ntarget parse + validate + buildGraph (${big.n}) <= 200 ms: ${pureMs.toFixed(1)} ms -> ${pureMs <= 200 ? 'met' : 'MISSED'}`);
console.log(`target nx show projects (${big.n}) <= 1.3x the floor plugin (median of the per-round ratios): ${big.ratio.toFixed(2)}x -> ${big.ratio <= 1.3 ? 'met' : 'MISSED'}`);
