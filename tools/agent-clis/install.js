#!/usr/bin/env node
/**
 * Install the real agent CLIs (Claude Code, Codex, Gemini, opencode) at the exact versions pinned by
 * tools/agent-clis/package.json and package-lock.json into tmp/agent-clis (ignored by git), for the real-CLI e2e
 * suite. Idempotent and cheap when nothing changed: the install is keyed by a hash of the lock file, so a second run
 * only checks the stamp. The lock pins every version and integrity hash; the CLIs' native binaries come inside their
 * platform packages (nothing is downloaded by install scripts).
 *
 * Usage: node tools/agent-clis/install.js [--print-bin-dir]
 * Exports `ensureAgentClis()` → { dir, bins: { claude, codex, gemini, opencode }, versions } for the test setup.
 */
'use strict';
const { join, resolve } = require('node:path');
const { createPinnedInstaller } = require('../lib/pinned-install');

const REPO_ROOT = resolve(__dirname, '../..');
const INSTALL_DIR = process.env.NX_VTM_AGENT_CLIS_DIR || join(REPO_ROOT, 'tmp', 'agent-clis');

/** The CLIs, the package that ships each binary, and the version the suite pins (checked against the lock). */
const AGENT_CLIS = {
  claude: { pkg: '@anthropic-ai/claude-code', bin: 'claude' },
  codex: { pkg: '@openai/codex', bin: 'codex' },
  gemini: { pkg: '@google/gemini-cli', bin: 'gemini' },
  opencode: { pkg: 'opencode-ai', bin: 'opencode' },
};

const installer = createPinnedInstaller({
  label: 'agent CLIs',
  sourceDir: __dirname,
  installDir: INSTALL_DIR,
  clis: AGENT_CLIS,
  // Not `npm ci`: the registry mirror this was locked against has only the linux-x64 builds of opencode's platform
  // packages, so the lock cannot list the others and `npm ci` refuses it as "out of sync". `npm install` with the
  // lock present installs exactly the locked versions and integrity hashes (checked after the install).
  npmArgs: ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error'],
  note: '; about 1 GB',
});

module.exports = { ensureAgentClis: installer.ensure, AGENT_CLIS, INSTALL_DIR, pinnedVersions: installer.pinnedVersions };

if (require.main === module) installer.main();
