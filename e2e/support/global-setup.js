/**
 * Pack the built plugin once per e2e run, as a user would install it (`npm pack` honours the package's files and
 * package.json), and hand the tarball path to the tests.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

module.exports = async function globalSetup() {
  const root = path.resolve(__dirname, '../..');
  const dist = path.join(root, 'dist/packages/nx-vtm');
  if (!fs.existsSync(path.join(dist, 'package.json'))) {
    throw new Error('e2e: dist/packages/nx-vtm is missing; run `npm run build` first (npm test does).');
  }
  const dest = path.join(root, 'tmp/e2e-pack');
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(dest, { recursive: true });
  const out = execFileSync('npm', ['pack', dist, '--pack-destination', dest, '--json', '--ignore-scripts'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const [{ filename }] = JSON.parse(out);
  process.env.NX_VTM_E2E_TARBALL = path.join(dest, filename);
};
