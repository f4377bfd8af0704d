'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { loadConfig } = require('../src/config/load');

test('CONFIG_SCHEMA-AC01: a valid configuration is returned as given', () => {
  assert.deepEqual(loadConfig({ maxLength: 10 }), { maxLength: 10 });
});

test('CONFIG_SCHEMA-AC02: a negative maxLength throws a TypeError naming maxLength', () => {
  assert.throws(() => loadConfig({ maxLength: -1 }), { name: 'TypeError', message: /maxLength/ });
});

test('zero, fractions, strings and a missing maxLength are refused too', () => {
  for (const maxLength of [0, 2.5, '10', undefined]) {
    assert.throws(() => loadConfig({ maxLength }), { name: 'TypeError', message: /config\.maxLength must be a positive integer/ });
  }
});

test('CONFIG_SCHEMA-AC03: an unknown option is refused by name', () => {
  assert.throws(() => loadConfig({ maxLength: 10, maxLenght: 5 }), { name: 'TypeError', message: /unknown option "maxLenght"/ });
});

test('anything but a plain object is refused', () => {
  for (const input of [null, [], 'maxLength=10']) assert.throws(() => loadConfig(input), TypeError);
});

test('the loaded configuration cannot be changed afterwards', () => {
  assert.ok(Object.isFrozen(loadConfig({ maxLength: 10 })));
});
