#!/usr/bin/env node
/**
 * Install the real task-source CLIs (Task Master, `task-master-ai`) at the exact versions pinned by
 * tools/source-clis/package.json and package-lock.json into tmp/source-clis (ignored by git), for
 * e2e/real-clis/task-master.e2e.ts. Keyed by a hash of the lock (as tools/agent-clis/install.js): a second run only
 * checks the stamp.
 *
 * Kept cheap on purpose: the suite only runs `list`, `next`, `set-status` and `--version`, which need no AI provider.
 * - `npm ci`: the lock is complete (Task Master has no platform-only packages to leave out), so `ci` is exact and
 *   skips npm's dependency resolution.
 * - `--omit=optional`: drops Task Master's optional `@anthropic-ai/claude-code` (its platform binaries are the bulk
 *   of the download) and `@biomejs/cli-*`; neither is used by the commands above.
 * - `--ignore-scripts`: nothing in the tree needs an install script for those commands, and no script may download.
 * Measured on the 2-core machine (868 packages, ~770 MB): 66 s with npm's cache warm, 81 s with an empty cache;
 * 195 s (70 s of CPU) while other jobs kept the load average at 17. Without the two flags it took 327 s.
 * What is left is mostly Task Master's own dependencies (Sentry with OpenTelemetry, googleapis, the AI SDKs), which
 * it loads at start-up, so they cannot be left out.
 *
 * Usage: node tools/source-clis/install.js [--print-bin-dir]
 * Exports `ensureSourceClis()` -> { dir, binDir, bins: { taskMaster }, versions }.
 */
'use strict';
const { createHash } = require('node:crypto');
const { execFileSync } = require('node:child_process');
const { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join, resolve } = require('node:path');

const SOURCE_DIR = __dirname;
const REPO_ROOT = resolve(__dirname, '../..');
const INSTALL_DIR = process.env.NX_VTM_SOURCE_CLIS_DIR || join(REPO_ROOT, 'tmp', 'source-clis');

/** The CLIs, the package that ships each binary, and its bin name. */
const SOURCE_CLIS = {
  taskMaster: { pkg: 'task-master-ai', bin: 'task-master' },
};

/** `npm ci` of the lock, without the optional packages and install scripts (see the header). */
const NPM_ARGS = ['ci', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'];

function lockHash() {
  const h = createHash('sha256');
  h.update(readFileSync(join(SOURCE_DIR, 'package.json')));
  h.update(readFileSync(join(SOURCE_DIR, 'package-lock.json')));
  h.update(NPM_ARGS.join(' ')); // the flags are part of what is installed
  h.update(process.platform + process.arch);
  return h.digest('hex').slice(0, 16);
}

function pinnedVersions() {
  const pkg = JSON.parse(readFileSync(join(SOURCE_DIR, 'package.json'), 'utf8'));
  return Object.fromEntries(Object.entries(SOURCE_CLIS).map(([name, c]) => [name, pkg.dependencies[c.pkg]]));
}

/** Install (when the stamp is stale) and return where the binaries are. Throws with npm's output on failure. */
function ensureSourceClis({ log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const stampFile = join(INSTALL_DIR, '.installed');
  const hash = lockHash();
  const binDir = join(INSTALL_DIR, 'node_modules', '.bin');
  const bins = Object.fromEntries(Object.entries(SOURCE_CLIS).map(([name, c]) => [name, join(binDir, c.bin)]));
  const fresh =
    existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === hash && Object.values(bins).every((b) => existsSync(b));
  let seconds;
  if (!fresh) {
    mkdirSync(INSTALL_DIR, { recursive: true });
    copyFileSync(join(SOURCE_DIR, 'package.json'), join(INSTALL_DIR, 'package.json'));
    copyFileSync(join(SOURCE_DIR, 'package-lock.json'), join(INSTALL_DIR, 'package-lock.json'));
    log(`nx-vtm: installing the real task-source CLIs into ${INSTALL_DIR} (npm ci of the lock, once per lock change)`);
    const started = Date.now();
    execFileSync('npm', NPM_ARGS, {
      cwd: INSTALL_DIR,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, npm_config_update_notifier: 'false' },
    });
    const pinned = pinnedVersions();
    for (const [name, b] of Object.entries(bins)) {
      if (!existsSync(b)) throw new Error(`tools/source-clis/install.js: ${name} binary missing after install: ${b}`);
      const installed = JSON.parse(readFileSync(join(INSTALL_DIR, 'node_modules', SOURCE_CLIS[name].pkg, 'package.json'), 'utf8')).version;
      if (installed !== pinned[name]) {
        throw new Error(`tools/source-clis/install.js: ${SOURCE_CLIS[name].pkg} ${installed} installed, ${pinned[name]} pinned`);
      }
    }
    writeFileSync(stampFile, `${hash}\n`);
    seconds = Math.round((Date.now() - started) / 1000);
    log(`nx-vtm: task-source CLIs installed in ${seconds} s`);
  }
  return { dir: INSTALL_DIR, binDir, bins, versions: pinnedVersions(), installSeconds: seconds };
}

module.exports = { ensureSourceClis, SOURCE_CLIS, INSTALL_DIR, pinnedVersions };

if (require.main === module) {
  const r = ensureSourceClis();
  if (process.argv.includes('--print-bin-dir')) process.stdout.write(`${r.binDir}\n`);
  else process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
}
