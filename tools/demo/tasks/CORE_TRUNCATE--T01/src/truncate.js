'use strict';

/**
 * truncate(text, maxLength): `text` when it fits, else cut after the last whole word that fits and ended with '…'.
 * The result is never longer than maxLength; a single word longer than that is cut mid-word.
 */
function truncate(text, maxLength) {
  if (typeof text !== 'string') throw new TypeError(`truncate: expected a string, got ${typeof text}`);
  if (!Number.isInteger(maxLength) || maxLength < 1) {
    throw new TypeError(`truncate: maxLength must be a positive integer, got ${JSON.stringify(maxLength)}`);
  }
  if (text.length <= maxLength) return text;
  const room = text.slice(0, maxLength - 1); // one character is kept for the ellipsis
  const lastSpace = room.lastIndexOf(' ');
  return `${(lastSpace > 0 ? room.slice(0, lastSpace) : room).trimEnd()}…`;
}

module.exports = { truncate };
