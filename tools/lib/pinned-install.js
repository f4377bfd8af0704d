/**
 * A cached install of CLIs pinned by a package.json + package-lock.json pair (tools/agent-clis, tools/source-clis):
 * installed into a folder under tmp/ (ignored by git) and keyed by a hash of the two files, the npm arguments and
 * the platform, so a second run only reads the stamp. After an install, every CLI's binary must exist and its
 * installed version must be the pinned one.
 */
'use strict';
const { createHash } = require('node:crypto');
const { execFileSync } = require('node:child_process');
const { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

/**
 * @param {{ label: string, sourceDir: string, installDir: string, clis: Record<string, { pkg: string, bin: string }>, npmArgs: string[], note?: string }} spec
 */
function createPinnedInstaller({ label, sourceDir, installDir, clis, npmArgs, note = '' }) {
  const script = `tools/${require('node:path').basename(sourceDir)}/install.js`;
  const lockHash = () => {
    const h = createHash('sha256');
    h.update(readFileSync(join(sourceDir, 'package.json')));
    h.update(readFileSync(join(sourceDir, 'package-lock.json')));
    h.update(npmArgs.join(' ')); // the flags are part of what is installed
    h.update(process.platform + process.arch);
    return h.digest('hex').slice(0, 16);
  };
  const pinnedVersions = () => {
    const pkg = JSON.parse(readFileSync(join(sourceDir, 'package.json'), 'utf8'));
    return Object.fromEntries(Object.entries(clis).map(([name, c]) => [name, pkg.dependencies[c.pkg]]));
  };
  /** Install (when the stamp is stale) and return where the binaries are. Throws with npm's output on failure. */
  const ensure = ({ log = (m) => process.stderr.write(`${m}\n`) } = {}) => {
    const stampFile = join(installDir, '.installed');
    const hash = lockHash();
    const binDir = join(installDir, 'node_modules', '.bin');
    const bins = Object.fromEntries(Object.entries(clis).map(([name, c]) => [name, join(binDir, c.bin)]));
    const fresh = existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === hash && Object.values(bins).every((b) => existsSync(b));
    let installSeconds;
    if (!fresh) {
      mkdirSync(installDir, { recursive: true });
      copyFileSync(join(sourceDir, 'package.json'), join(installDir, 'package.json'));
      copyFileSync(join(sourceDir, 'package-lock.json'), join(installDir, 'package-lock.json'));
      log(`nx-vtm: installing the real ${label} into ${installDir} (npm ${npmArgs[0]} of the lock${note}, once per lock change)`);
      const started = Date.now();
      execFileSync('npm', npmArgs, { cwd: installDir, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, npm_config_update_notifier: 'false' } });
      const pinned = pinnedVersions();
      for (const [name, b] of Object.entries(bins)) {
        if (!existsSync(b)) throw new Error(`${script}: ${name} binary missing after install: ${b}`);
        const installed = JSON.parse(readFileSync(join(installDir, 'node_modules', clis[name].pkg, 'package.json'), 'utf8')).version;
        if (installed !== pinned[name]) throw new Error(`${script}: ${clis[name].pkg} ${installed} installed, ${pinned[name]} pinned`);
      }
      writeFileSync(stampFile, `${hash}\n`);
      installSeconds = Math.round((Date.now() - started) / 1000);
      log(`nx-vtm: ${label} installed in ${installSeconds} s`);
    }
    return { dir: installDir, binDir, bins, versions: pinnedVersions(), installSeconds };
  };
  /** The script's command line: install, then print the bin folder (--print-bin-dir) or everything as JSON. */
  const main = () => {
    const r = ensure();
    process.stdout.write(process.argv.includes('--print-bin-dir') ? `${r.binDir}\n` : `${JSON.stringify(r, null, 2)}\n`);
  };
  return { ensure, pinnedVersions, main };
}

module.exports = { createPinnedInstaller };
