/**
 * Pack the built plugin once per e2e run, as a user would install it (`npm pack` honours the package's files and
 * package.json), and hand the tarball path to the tests.
 */

const { packPlugin } = require('../../tools/lib/pack-plugin');

module.exports = async function globalSetup() {
  packPlugin('e2e-pack');
};
