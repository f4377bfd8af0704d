'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');
const { usage } = require('../src/help');

test('CLI_HELP-AC01: the usage text names every command and option', () => {
  const text = usage();
  for (const word of ['slug <text>', 'words <text>', 'truncate <text>', '--max-length=N', '--help']) assert.ok(text.includes(word), word);
});

test('CLI_HELP-AC02: --help prints the usage text and exits 0', () => {
  const r = spawnSync(process.execPath, [join(__dirname, '../src/cli.js'), '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${usage()}\n`);
});
