/**
 * Test child for process-runner.spec: starts an "agent" under the keeper through runProcess (with the signal cleanup
 * installed, as the executor does), prints {"agent": <pid>, "keeper": <pid>} once the agent's first line arrived, and
 * waits to be SIGKILLed: the agent is then an orphan the spec adopts. argv: <dir> <agent script> [timeoutMs]
 */
import { join } from 'node:path';
import { installSignalCleanup, runProcess } from '../process-runner';

const [dir, script, timeoutMs] = process.argv.slice(2);
installSignalCleanup({ graceMs: 500 });
let agent = 0;
let keeper = 0;
void runProcess({
  argv: [process.execPath, '-e', script],
  cwd: dir,
  env: process.env,
  transcriptFile: join(dir, 'transcript.jsonl'),
  stderrFile: join(dir, 'stderr.log'),
  timeoutMs: timeoutMs ? Number(timeoutMs) : undefined,
  keeper: { exitFile: join(dir, 'agent-exit.json') },
  tagPrefix: 'agent/KEEPER--T01/run-1/',
  onSpawn: (pid, keeperPid) => ([agent, keeper] = [pid, keeperPid ?? 0]),
  onStdoutLine: () => process.stdout.write(`${JSON.stringify({ agent, keeper })}\n`),
});
