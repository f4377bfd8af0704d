#!/usr/bin/env node
/**
 * Graph benchmark: for manifests of 10, 1,000 and 10,000 tasks, the time of the pure graph building (parse +
 * validate + buildGraph, and buildGraph alone) and of `nx show projects` in a real workspace with the built plugin.
 * Targets: buildGraph for 10,000 tasks < 200 ms; `nx show projects` at 10,000 tasks <= 2x its time at 10 tasks.
 *
 *   npm run bench:graph            (builds first)
 *   node tools/bench/graph.js --runs 5
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
const sizes = [10, 1000, 10000];
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

function timeShowProjects(manifest, isolate) {
  const ws = createTestWorkspace({ files: { 'docs/backlog/virtual-task-manifest.json': manifest } });
  try {
    const times = [];
    let count = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [path.join(ws.root, 'node_modules/nx/dist/bin/nx.js'), 'show', 'projects', '--json'], {
        cwd: ws.root,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', CI: 'true', NX_ISOLATE_PLUGINS: isolate ? 'true' : 'false' },
      });
      times.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(`nx show projects failed:\n${r.stderr}`);
      count = JSON.parse(r.stdout).length;
    }
    return { ms: median(times), projects: count };
  } finally {
    ws.remove();
  }
}

packPlugin('bench-pack');
const rows = [];
for (const n of sizes) {
  const manifest = generateManifest(n);
  const pure = timePure(manifest);
  const nxIso = timeShowProjects(manifest, true);
  const nxNoIso = timeShowProjects(manifest, false);
  rows.push({ n, ...pure, nx: nxIso.ms, nxNoIso: nxNoIso.ms, projects: nxIso.projects });
}
const base = rows[0];
console.log(`\nnx-vtm graph benchmark (median of ${runs} nx runs; Node ${process.version})\n`);
console.log('tasks  | parse+validate | buildGraph | nx show projects | vs 10 tasks | (plugin isolation off) | projects');
console.log('-------|----------------|------------|------------------|-------------|------------------------|---------');
for (const r of rows) {
  console.log(
    `${String(r.n).padEnd(6)} | ${r.parse.toFixed(1).padStart(11)} ms | ${r.build.toFixed(1).padStart(7)} ms | ${r.nx.toFixed(0).padStart(13)} ms | ${(r.nx / base.nx).toFixed(2).padStart(10)}x | ${r.nxNoIso.toFixed(0).padStart(19)} ms | ${r.projects}`,
  );
}
const big = rows[rows.length - 1];
console.log(`\ntarget buildGraph(10,000) < 200 ms: ${big.build.toFixed(1)} ms -> ${big.build < 200 ? 'met' : 'MISSED'}`);
console.log(`target nx show projects(10,000) <= 2x nx show projects(10): ${(big.nx / base.nx).toFixed(2)}x -> ${big.nx / base.nx <= 2 ? 'met' : 'MISSED'}`);
