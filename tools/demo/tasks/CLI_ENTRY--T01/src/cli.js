#!/usr/bin/env node
'use strict';

const { slugify, countWords, truncate } = require('./index');
const { loadConfig } = require('./config/load');
const { DEFAULTS } = require('./config/defaults');

const COMMANDS = {
  slug: (text) => slugify(text),
  words: (text) => String(countWords(text)),
  truncate: (text, config) => truncate(text, config.maxLength),
};

/** The usage text of src/help.js (CLI_HELP--T01) when that module exists, else a one-line reminder. */
function getUsage() {
  try {
    return require('./help').usage();
  } catch (e) {
    if (e.code === 'MODULE_NOT_FOUND' && /['"]\.\/help['"]/.test(e.message)) {
      return `usage: node src/cli.js [--max-length=N] <${Object.keys(COMMANDS).join('|')}> <text>`;
    }
    throw e;
  }
}

/** Run the command line `argv` (without node and the script); returns the exit code: 0 done, 2 bad usage. */
function main(argv, out = process.stdout, err = process.stderr) {
  const options = {};
  const positional = [];
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      out.write(`${getUsage()}\n`);
      return 0;
    }
    const maxLength = /^--max-length=(.*)$/.exec(arg);
    if (maxLength) options.maxLength = Number(maxLength[1]);
    else positional.push(arg);
  }
  const [command, ...words] = positional;
  const run = Object.hasOwn(COMMANDS, command ?? '') ? COMMANDS[command] : undefined;
  if (!run || words.length === 0) {
    err.write(`${run ? `${command}: missing <text>` : `unknown command ${JSON.stringify(command ?? '')}`}\n${getUsage()}\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig({ ...DEFAULTS, ...options });
  } catch (e) {
    err.write(`${e.message}\n`);
    return 2;
  }
  out.write(`${run(words.join(' '), config)}\n`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { main };
