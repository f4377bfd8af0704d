#!/usr/bin/env node
/**
 * Build the installable plugin package at dist/packages/nx-vtm: compile TypeScript, copy executor/generator
 * metadata and schemas, and write a package.json whose runtime dependencies are the root's exact versions (one source
 * of truth: the root package.json that CI installs and tests against).
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pkgDir = path.join(root, 'packages/nx-vtm');
const out = path.join(root, 'dist/packages/nx-vtm');

fs.rmSync(out, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(pkgDir, 'tsconfig.lib.json')], {
  stdio: 'inherit',
});
// On type errors tsc still emits JavaScript; finish the package so the failure is the only problem to look at, and
// report it through the exit code below.
const typeErrors = tsc.status !== 0;

function copy(rel) {
  const from = path.join(pkgDir, rel);
  const to = path.join(out, rel);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
}
function walk(dir, onFile) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== '__fixtures__') walk(p, onFile);
    } else onFile(p);
  }
}

for (const f of ['executors.json', 'generators.json', 'manifest.schema.json', 'README.md']) {
  if (fs.existsSync(path.join(pkgDir, f))) copy(f);
}
// schema.json of executors/generators, and any other non-TS asset under src (templates, agent bins for the demo).
walk(path.join(pkgDir, 'src'), (file) => {
  const rel = path.relative(pkgDir, file);
  if (!/\.(ts)$/.test(file) || /\.d\.ts$/.test(file)) {
    if (!/\.spec\./.test(file) && !/\.d\.ts$/.test(file)) copy(rel);
  }
});

const rootPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
pkg.dependencies = { ...rootPkg.dependencies, '@nx/devkit': rootPkg.devDependencies['@nx/devkit'] };
fs.writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);

const cli = path.join(out, 'src/cli/main.js');
if (fs.existsSync(cli)) fs.chmodSync(cli, 0o755);
if (typeErrors) {
  console.error(`built ${path.relative(root, out)} WITH TYPE ERRORS (see above)`);
  process.exit(1);
}
console.log(`built ${path.relative(root, out)}`);
