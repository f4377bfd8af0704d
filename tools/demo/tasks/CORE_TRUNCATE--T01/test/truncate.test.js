'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { truncate } = require('../src/truncate');

test('CORE_TRUNCATE-AC01: long text is cut after the last whole word that fits', () => {
  assert.equal(truncate('Hello wonderful world', 12), 'Hello…');
});

test('CORE_TRUNCATE-AC02: text that fits is returned unchanged', () => {
  assert.equal(truncate('Hello', 5), 'Hello');
  assert.equal(truncate('', 1), '');
});

test('the result is never longer than maxLength, even for one long word', () => {
  assert.equal(truncate('Supercalifragilistic', 6), 'Super…');
  for (let n = 1; n <= 25; n++) assert.ok(truncate('Hello wonderful world', n).length <= n, `maxLength ${n}`);
});

test('maxLength must be a positive integer', () => {
  for (const bad of [0, -3, 1.5, '12']) {
    assert.throws(() => truncate('Hello', bad), { name: 'TypeError', message: /maxLength must be a positive integer/ });
  }
});
