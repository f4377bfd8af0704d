/** Start a TypeScript child of the specs through the repo's transpile-only require hook. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';

const TS_REGISTER = path.resolve(__dirname, '../../../../../tools/ts-register.js');

export function startTsChild(script: string, args: readonly string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['-r', TS_REGISTER, path.join(__dirname, script), ...args], { stdio: 'pipe' });
}

/** Resolve with the first stdout line matching `re` (rejects if the child exits first or the deadline passes). */
export function waitForLine(child: ChildProcessWithoutNullStreams, re: RegExp, deadlineMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let errBuf = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${deadlineMs} ms; stderr: ${errBuf}`)), deadlineMs);
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      const line = buf.split('\n').find((l) => re.test(l));
      if (line !== undefined) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (errBuf += d.toString('utf8')));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before printing a line matching ${re}; stderr: ${errBuf}`));
    });
  });
}
