/**
 * Test child for process-runner.spec: installs the signal cleanup, starts an "agent" (a node process that starts a
 * grandchild and never ends) through runProcess, prints {"ready", "agentPid", "grandchild"} and waits to be killed.
 */
import { installSignalCleanup, runProcess } from '../process-runner';

installSignalCleanup({ graceMs: 500 });
let started = 0;
const script = `
  const { spawn } = require('node:child_process');
  const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  console.log(JSON.stringify({ grandchild: g.pid }));
  setInterval(() => {}, 1000);
`;
void runProcess({
  argv: [process.execPath, '-e', script],
  cwd: process.cwd(),
  env: process.env,
  onStdoutLine: (line) => {
    const { grandchild } = JSON.parse(line) as { grandchild: number };
    process.stdout.write(`${JSON.stringify({ ready: true, agentPid: started, grandchild })}\n`);
  },
  onSpawn: (pid) => (started = pid),
});
