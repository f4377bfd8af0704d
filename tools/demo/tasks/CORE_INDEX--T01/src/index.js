'use strict';

/** The public API of text-utils (the package's "main"). */
const { slugify } = require('./slug');
const { countWords } = require('./words');
const { truncate } = require('./truncate');

module.exports = { slugify, countWords, truncate };
