/**
 * Child process for the cross-process integration spec:
 *   node -r tools/ts-register.js integrate-child.ts <repoRoot> <taskId> <lockFile> <logFile>
 * Prints "ready", waits for a line on stdin (so both children start together), integrates under the SQLite lock
 * and prints the result as JSON. The critical section logs "enter"/"exit" lines so the spec can see whether two
 * integrations overlapped; the pause inside widens the window in which an overlap would show.
 */
import * as fs from 'node:fs';
import { integrateTaskBranch } from '../integrate';
import type { LockPort } from '../ports';
import { createSqliteLock } from '../sqlite-lock';

const [repoRoot, taskId, lockFile, logFile] = process.argv.slice(2);
const inner = createSqliteLock({ file: lockFile, timeoutMs: 60_000 });
const lock: LockPort = {
  withLock: (name, fn) =>
    inner.withLock(name, async () => {
      fs.appendFileSync(logFile, `enter ${taskId}\n`);
      try {
        await new Promise((r) => setTimeout(r, 300));
        return await fn();
      } finally {
        fs.appendFileSync(logFile, `exit ${taskId}\n`);
      }
    }),
};

process.stdout.write('ready\n');
process.stdin.once('data', async () => {
  const r = await integrateTaskBranch({ repoRoot, taskId, title: `task ${taskId}`, strategy: 'merge', lock });
  process.stdout.write(`${JSON.stringify(r.ok ? r.value : { error: r.error.reason, message: r.error.message })}\n`);
  process.exit(0);
});
