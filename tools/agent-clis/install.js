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
const { createHash } = require('node:crypto');
const { execFileSync } = require('node:child_process');
const { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join, resolve } = require('node:path');

const SOURCE_DIR = __dirname;
const REPO_ROOT = resolve(__dirname, '../..');
const INSTALL_DIR = process.env.NX_VTM_AGENT_CLIS_DIR || join(REPO_ROOT, 'tmp', 'agent-clis');

/** The CLIs, the package that ships each binary, and the version the suite pins (checked against the lock). */
const AGENT_CLIS = {
  claude: { pkg: '@anthropic-ai/claude-code', bin: 'claude' },
  codex: { pkg: '@openai/codex', bin: 'codex' },
  gemini: { pkg: '@google/gemini-cli', bin: 'gemini' },
  opencode: { pkg: 'opencode-ai', bin: 'opencode' },
};

function lockHash() {
  const h = createHash('sha256');
  h.update(readFileSync(join(SOURCE_DIR, 'package.json')));
  h.update(readFileSync(join(SOURCE_DIR, 'package-lock.json')));
  h.update(process.platform + process.arch);
  return h.digest('hex').slice(0, 16);
}

function pinnedVersions() {
  const pkg = JSON.parse(readFileSync(join(SOURCE_DIR, 'package.json'), 'utf8'));
  return Object.fromEntries(Object.entries(AGENT_CLIS).map(([name, c]) => [name, pkg.dependencies[c.pkg]]));
}

/** Install (when the stamp is stale) and return where the binaries are. Throws with the npm output on failure. */
function ensureAgentClis({ log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const stampFile = join(INSTALL_DIR, '.installed');
  const hash = lockHash();
  const binDir = join(INSTALL_DIR, 'node_modules', '.bin');
  const bins = Object.fromEntries(Object.entries(AGENT_CLIS).map(([name, c]) => [name, join(binDir, c.bin)]));
  const fresh =
    existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === hash && Object.values(bins).every((b) => existsSync(b));
  if (!fresh) {
    mkdirSync(INSTALL_DIR, { recursive: true });
    copyFileSync(join(SOURCE_DIR, 'package.json'), join(INSTALL_DIR, 'package.json'));
    copyFileSync(join(SOURCE_DIR, 'package-lock.json'), join(INSTALL_DIR, 'package-lock.json'));
    log(`nx-vtm: installing the real agent CLIs into ${INSTALL_DIR} (npm install of the lock; about 1 GB, once per lock change)`);
    const started = Date.now();
    // Not `npm ci`: the registry mirror this was locked against has only the linux-x64 builds of opencode's
    // platform packages, so the lock cannot list the others and `npm ci` refuses it as "out of sync". `npm install`
    // with the lock present installs exactly the locked versions and integrity hashes (checked below).
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error'], {
      cwd: INSTALL_DIR,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, npm_config_update_notifier: 'false' },
    });
    const pinned = pinnedVersions();
    for (const [name, b] of Object.entries(bins)) {
      if (!existsSync(b)) throw new Error(`tools/agent-clis/install.js: ${name} binary missing after install: ${b}`);
      const installed = JSON.parse(
        readFileSync(join(INSTALL_DIR, 'node_modules', AGENT_CLIS[name].pkg, 'package.json'), 'utf8'),
      ).version;
      if (installed !== pinned[name]) {
        throw new Error(`tools/agent-clis/install.js: ${AGENT_CLIS[name].pkg} ${installed} installed, ${pinned[name]} pinned`);
      }
    }
    writeFileSync(stampFile, `${hash}\n`);
    log(`nx-vtm: agent CLIs installed in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  return { dir: INSTALL_DIR, binDir, bins, versions: pinnedVersions() };
}

module.exports = { ensureAgentClis, AGENT_CLIS, INSTALL_DIR, pinnedVersions };

if (require.main === module) {
  const r = ensureAgentClis();
  if (process.argv.includes('--print-bin-dir')) process.stdout.write(`${r.binDir}\n`);
  else process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
}
