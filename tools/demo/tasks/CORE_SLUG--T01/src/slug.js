'use strict';

/**
 * slugify(text): a URL-friendly form of `text`: lower-case letters and digits, words joined by single dashes.
 * Accents are dropped rather than the whole letter ("Crème brûlée" -> "creme-brulee").
 */
function slugify(text) {
  if (typeof text !== 'string') throw new TypeError(`slugify: expected a string, got ${typeof text}`);
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean)
    .join('-');
}

module.exports = { slugify };
