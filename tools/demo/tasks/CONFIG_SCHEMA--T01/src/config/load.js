'use strict';

const KNOWN_OPTIONS = ['maxLength'];

/**
 * loadConfig(input): the validated configuration, frozen. Invalid input throws a TypeError that names the option,
 * at load time rather than deep inside a command (ADR-0001).
 */
function loadConfig(input) {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new TypeError('config: expected an object such as { "maxLength": 80 }');
  }
  const unknown = Object.keys(input).filter((key) => !KNOWN_OPTIONS.includes(key));
  if (unknown.length > 0) {
    throw new TypeError(`config: unknown option ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: ${KNOWN_OPTIONS.join(', ')})`);
  }
  const { maxLength } = input;
  if (!Number.isInteger(maxLength) || maxLength <= 0) {
    throw new TypeError(`config.maxLength must be a positive integer, got ${JSON.stringify(maxLength)}`);
  }
  return Object.freeze({ maxLength });
}

module.exports = { loadConfig };
