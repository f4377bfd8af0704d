'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { DEFAULTS } = require('../src/config/defaults');

test('CONFIG_DEFAULTS-AC01: slugs are at most 80 characters by default', () => {
  assert.equal(DEFAULTS.maxLength, 80);
});

test('CONFIG_DEFAULTS-AC02: the defaults are frozen', () => {
  assert.ok(Object.isFrozen(DEFAULTS));
  assert.throws(() => {
    DEFAULTS.maxLength = 1; // strict mode: writing a frozen property throws
  }, TypeError);
});
