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
const { join, resolve } = require('node:path');
const { createPinnedInstaller } = require('../lib/pinned-install');

const REPO_ROOT = resolve(__dirname, '../..');
const INSTALL_DIR = process.env.NX_VTM_SOURCE_CLIS_DIR || join(REPO_ROOT, 'tmp', 'source-clis');

/** The CLIs, the package that ships each binary, and its bin name. */
const SOURCE_CLIS = {
  taskMaster: { pkg: 'task-master-ai', bin: 'task-master' },
};

const installer = createPinnedInstaller({
  label: 'task-source CLIs',
  sourceDir: __dirname,
  installDir: INSTALL_DIR,
  clis: SOURCE_CLIS,
  // `npm ci` of the lock, without the optional packages and install scripts (see the header).
  npmArgs: ['ci', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
});

module.exports = { ensureSourceClis: installer.ensure, SOURCE_CLIS, INSTALL_DIR, pinnedVersions: installer.pinnedVersions };

if (require.main === module) installer.main();
