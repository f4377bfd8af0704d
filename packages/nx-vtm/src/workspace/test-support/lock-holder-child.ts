/**
 * Child process that takes the SQLite lock and holds it until killed:
 *   node -r tools/ts-register.js lock-holder-child.ts <lockFile>
 * Prints "locked" once it holds the lock.
 */
import { createSqliteLock } from '../sqlite-lock';

const [lockFile] = process.argv.slice(2);
void createSqliteLock({ file: lockFile }).withLock('integrate', async () => {
  process.stdout.write('locked\n');
  await new Promise(() => setInterval(() => undefined, 60_000));
});
