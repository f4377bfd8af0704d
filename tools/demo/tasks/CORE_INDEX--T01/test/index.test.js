'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const api = require('../src');

test('CORE_INDEX-AC01: the package exposes slugify, countWords and truncate, and nothing else', () => {
  assert.deepEqual(Object.keys(api).sort(), ['countWords', 'slugify', 'truncate']);
  assert.equal(api.slugify('Hello World'), 'hello-world');
  assert.equal(api.countWords('a b  c'), 3);
  assert.equal(api.truncate('Hello wonderful world', 12), 'Hello…');
});

test('the package main is src/index.js', () => {
  assert.equal(require('../package.json').main, 'src/index.js');
});
