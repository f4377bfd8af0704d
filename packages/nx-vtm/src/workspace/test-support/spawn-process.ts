/**
 * A minimal `RunProcess` for specs: spawn without a shell in its own process group, append output to the
 * transcript, kill the group on timeout. The production runner is `src/agents/process-runner.ts`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunProcess } from '../ports';

const TAIL = 64 * 1024;
const tail = (s: string) => (s.length > TAIL ? s.slice(-TAIL) : s);

export const spawnProcess: RunProcess = ({ argv, cwd, env, timeoutMs, transcriptFile }) =>
  new Promise((resolve) => {
    const started = Date.now();
    fs.mkdirSync(path.dirname(transcriptFile), { recursive: true });
    const transcript = fs.createWriteStream(transcriptFile, { flags: 'a' });
    let stdoutTail = '';
    let stderrTail = '';
    let timedOut = false;
    const child = spawn(argv[0], argv.slice(1), { cwd, env, shell: false, detached: true });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      transcript.write(d);
      stdoutTail = tail(stdoutTail + d.toString('utf8'));
    });
    child.stderr.on('data', (d: Buffer) => {
      transcript.write(d);
      stderrTail = tail(stderrTail + d.toString('utf8'));
    });
    let finished = false;
    const done = (exitCode: number | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      transcript.end(() => resolve({ exitCode, timedOut, durationMs: Date.now() - started, stdoutTail, stderrTail }));
    };
    child.on('error', (e) => {
      stderrTail += `spawn failed: ${e.message}`;
      done(null);
    });
    child.on('close', (code) => done(timedOut ? null : code));
  });
