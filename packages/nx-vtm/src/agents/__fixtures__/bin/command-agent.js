#!/usr/bin/env node
// Fake agent for the generic "command" adapter: reads the prompt on stdin, edits files, returns the seed-000 JSON
// as its last stdout line (or in $VTM_RESULT_FILE when FAKE_AGENT_RESULT_VIA=file). Modes: see lib/fake-agent.js.
'use strict';
const fs = require('node:fs');
const { main } = require('./lib/fake-agent');

main('command', (s) => {
  switch (s.mode) {
    case 'hang':
      return s.hang(false);
    case 'chatty-hang':
      return s.hang(true, () => s.print('working...'));
    case 'garbage':
    case 'no_result':
      s.print('done, I think');
      return 0;
    case 'is_error':
      process.stderr.write('agent: upstream API returned 503\n');
      return 75;
    case 'rate_limit':
      process.stderr.write('Error: 429 Too Many Requests: rate limit reached, try again in 5 minutes\n');
      return 1;
    default:
      s.print('thinking about the task...');
      if (process.env.FAKE_AGENT_RESULT_VIA === 'file') {
        fs.writeFileSync(process.env.VTM_RESULT_FILE, JSON.stringify(s.report));
        s.print('wrote the result file');
      } else {
        s.print(JSON.stringify(s.report));
      }
      return 0;
  }
});
