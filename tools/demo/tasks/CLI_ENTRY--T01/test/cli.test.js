'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const cli = (...args) => spawnSync(process.execPath, [join(__dirname, '../src/cli.js'), ...args], { encoding: 'utf8' });

test('CLI_ENTRY-AC01: slug prints the slug of its text', () => {
  const r = cli('slug', 'Hello World');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'hello-world\n');
});

test('words prints the number of words', () => {
  const r = cli('words', 'a b  c');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '3\n');
});

test('truncate cuts to the default maxLength (80), or to --max-length', () => {
  const cut = cli('truncate', 'word '.repeat(30).trim()).stdout.trimEnd();
  assert.ok(cut.length <= 80 && cut.length > 70, cut);
  assert.ok(cut.endsWith('…'), cut);
  const r = cli('--max-length=12', 'truncate', 'Hello wonderful world');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'Hello…\n');
});

test('CLI_ENTRY-AC02: an unknown command exits 2 and says which', () => {
  const r = cli('shout', 'hello');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command "shout"/);
});

test('a command without text exits 2', () => {
  assert.equal(cli('slug').status, 2);
});

test('CLI_ENTRY-AC03: --max-length=0 is refused, naming maxLength', () => {
  const r = cli('--max-length=0', 'truncate', 'Hello World');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /maxLength/);
});
