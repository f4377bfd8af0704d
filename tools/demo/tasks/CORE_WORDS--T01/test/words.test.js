'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { countWords } = require('../src/words');

test('CORE_WORDS-AC01: repeated spaces do not make extra words', () => {
  assert.equal(countWords('a b  c'), 3);
});

test('CORE_WORDS-AC02: the empty string has no words', () => {
  assert.equal(countWords(''), 0);
});

test('whitespace only has no words; tabs and newlines separate words', () => {
  assert.equal(countWords(' \t\n '), 0);
  assert.equal(countWords('one\ttwo\nthree '), 3);
});

test('anything but a string is refused', () => {
  assert.throws(() => countWords(null), { name: 'TypeError', message: /expected a string, got object/ });
});
