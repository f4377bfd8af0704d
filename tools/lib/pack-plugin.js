/**
 * Pack the built plugin (dist/packages/nx-vtm) with `npm pack`, as a user would install it, into tmp/<folder>, and
 * point NX_VTM_E2E_TARBALL at the tarball (what e2e/support/workspace.ts installs into test workspaces).
 * Shared by the e2e global setup, the benchmarks and the demo.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');

function packPlugin(folder) {
  const dist = path.join(root, 'dist/packages/nx-vtm');
  if (!fs.existsSync(path.join(dist, 'package.json'))) {
    throw new Error('dist/packages/nx-vtm is missing; run `npm run build` first');
  }
  const dest = path.join(root, 'tmp', folder);
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(dest, { recursive: true });
  const out = execFileSync('npm', ['pack', dist, '--pack-destination', dest, '--json', '--ignore-scripts'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const tarball = path.join(dest, JSON.parse(out)[0].filename);
  process.env.NX_VTM_E2E_TARBALL = tarball;
  return tarball;
}

module.exports = { packPlugin };
