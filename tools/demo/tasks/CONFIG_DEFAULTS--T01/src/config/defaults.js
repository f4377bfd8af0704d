'use strict';

/** The configuration used when the caller sets nothing. Frozen: a command cannot change it for the next one. */
const DEFAULTS = Object.freeze({ maxLength: 80 });

module.exports = { DEFAULTS };
