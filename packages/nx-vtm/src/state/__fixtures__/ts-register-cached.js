/** Kept for the specs that name it: the one require hook lives in tools/ts-register.js (cached transpilation). */
require('../../../../../tools/ts-register.js');
