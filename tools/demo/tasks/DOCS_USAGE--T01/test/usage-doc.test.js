'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const vm = require('node:vm');
const { slugify } = require('../src/slug');
const { countWords } = require('../src/words');
const { truncate } = require('../src/truncate');

const api = { slugify, countWords, truncate };
const doc = readFileSync(join(__dirname, '../docs/usage.md'), 'utf8');
/** The `fn(args); // => result` lines of the document. */
const examples = [...doc.matchAll(/^(\w+)\((.*)\); \/\/ => (.+)$/gm)].map(([line, fn, args, result]) => ({ line, fn, args, result }));

test('DOCS_USAGE-AC01: one section and at least one example per function', () => {
  for (const fn of Object.keys(api)) {
    assert.match(doc, new RegExp(`^## ${fn}\\(`, 'm'), `a "## ${fn}(...)" section`);
    assert.ok(examples.some((e) => e.fn === fn), `an example of ${fn}`);
  }
});

test('DOCS_USAGE-AC02: every example gives the result it shows', () => {
  const context = vm.createContext({ ...api });
  for (const { line, fn, args, result } of examples) {
    assert.ok(fn in api, `${line}: ${fn} is not part of the API`);
    assert.deepEqual(vm.runInContext(`${fn}(${args})`, context), vm.runInContext(`(${result})`, context), line);
  }
});
