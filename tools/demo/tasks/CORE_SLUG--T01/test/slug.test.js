'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { slugify } = require('../src/slug');

test('CORE_SLUG-AC01: words are lower-cased and joined by dashes', () => {
  assert.equal(slugify('Hello World'), 'hello-world');
});

test('CORE_SLUG-AC02: runs of spaces and punctuation become one dash, none at the ends', () => {
  assert.equal(slugify('  A--b!! c '), 'a-b-c');
});

test('accents are dropped, letters kept', () => {
  assert.equal(slugify('Crème brûlée'), 'creme-brulee');
});

test('text without letters or digits gives an empty slug', () => {
  assert.equal(slugify(' -- !! '), '');
});

test('anything but a string is refused', () => {
  assert.throws(() => slugify(42), { name: 'TypeError', message: /expected a string, got number/ });
});
