'use strict';

/** countWords(text): how many whitespace-separated words `text` holds (tabs and newlines count as spaces). */
function countWords(text) {
  if (typeof text !== 'string') throw new TypeError(`countWords: expected a string, got ${typeof text}`);
  const trimmed = text.trim();
  return trimmed === '' ? 0 : trimmed.split(/\s+/).length;
}

module.exports = { countWords };
