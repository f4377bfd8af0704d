'use strict';

/** The text `node src/cli.js --help` prints (src/cli.js calls this when the module exists). */
function usage() {
  return [
    'usage: node src/cli.js [--max-length=N] <command> <text>',
    '',
    'commands:',
    '  slug <text>       print the slug of <text>        ("Hello World" -> hello-world)',
    '  words <text>      print how many words <text> has',
    '  truncate <text>   print <text> cut to maxLength, ending with "…" when cut',
    '',
    'options:',
    '  --max-length=N    maxLength for truncate (default 80)',
    '  -h, --help        show this help',
  ].join('\n');
}

module.exports = { usage };
