#!/usr/bin/env node
/**
 * `npm run demo`: build the plugin, create (or reuse) the example repository tmp/demo with a Virtual Task Manifest,
 * and run it through the real nx CLI.   `npm run demo -- --fresh` starts from a new repository.
 */
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const demoDir = path.join(root, 'tmp/demo');
const fresh = process.argv.includes('--fresh');
const step = (text) => console.log(`\n\x1b[1m== ${text}\x1b[0m`);

step('Building the plugin');
const build = spawnSync(process.execPath, [path.join(__dirname, 'build.js')], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const packDir = path.join(root, 'tmp/demo-pack');
fs.rmSync(packDir, { recursive: true, force: true });
fs.mkdirSync(packDir, { recursive: true });
const packed = JSON.parse(
  execFileSync('npm', ['pack', path.join(root, 'dist/packages/nx-vtm'), '--pack-destination', packDir, '--json', '--ignore-scripts'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }),
);
process.env.NX_VTM_E2E_TARBALL = path.join(packDir, packed[0].filename);

require('./ts-register');
const { createTestWorkspace } = require('../e2e/support/workspace.ts');

if (fresh) fs.rmSync(demoDir, { recursive: true, force: true });
const exists = fs.existsSync(path.join(demoDir, '.git'));
step(exists ? `Reusing ${path.relative(root, demoDir)} (use --fresh to start over)` : `Creating ${path.relative(root, demoDir)}`);
if (exists) {
  // Reinstall the freshly built plugin into the existing demo repository.
  const target = path.join(demoDir, 'node_modules/nx-vtm');
  fs.rmSync(target, { recursive: true, force: true });
  fs.mkdirSync(target, { recursive: true });
  execFileSync('tar', ['-xzf', process.env.NX_VTM_E2E_TARBALL, '-C', target, '--strip-components=1']);
} else {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, 'demo/manifest.json'), 'utf8'));
  createTestWorkspace({
    root: demoDir,
    plugins: [{ plugin: 'nx-vtm', options: { manifest: 'docs/backlog/virtual-task-manifest.json', wipLimit: 3 } }],
    files: {
      'package.json': { name: 'text-utils-demo', private: true, scripts: { test: 'node --test test/' } },
      'README.md': '# text-utils (nx-vtm demo)\n\nA tiny library built task by task by coding agents.\n',
      'docs/specs/text-utils.md': '# text-utils\n\nslugify(text), countWords(text), a validated configuration and a CLI.\n',
      'docs/adr/0001-config-validation.md': '# ADR-0001: Configuration is validated at load time\n',
      'docs/backlog/virtual-task-manifest.json': manifest,
    },
  });
}

const nx = (args) =>
  spawnSync(process.execPath, [path.join(demoDir, 'node_modules/nx/dist/bin/nx.js'), ...args], {
    cwd: demoDir,
    encoding: 'utf8',
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' },
  });

step('nx show projects');
const shown = nx(['show', 'projects', '--json']);
if (shown.status !== 0) {
  console.error(shown.stdout, shown.stderr);
  process.exit(1);
}
const projects = JSON.parse(shown.stdout);
console.log(projects.join('\n'));

step('nx graph --targets=implement (the plan)');
const graphFile = path.join(demoDir, 'tmp-graph.json');
const g = nx(['graph', `--file=${graphFile}`, '--targets=implement']);
if (g.status !== 0) {
  console.error(g.stdout, g.stderr);
  process.exit(1);
}
const graph = JSON.parse(fs.readFileSync(graphFile, 'utf8'));
fs.rmSync(graphFile);
for (const [id, deps] of Object.entries(graph.tasks.dependencies)) {
  console.log(`${id.padEnd(34)} <- ${deps.map((d) => d.id).join(', ') || '(ready)'}`);
}

console.log(`
The demo repository is ${path.relative(process.cwd(), demoDir) || '.'}; try:
  cd ${path.relative(process.cwd(), demoDir)} && npx nx show project CONFIG_SCHEMA--T01
  cd ${path.relative(process.cwd(), demoDir)} && npx nx graph`);
