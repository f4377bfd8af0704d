/**
 * Starts `store-worker.ts` in real separate Node processes running our TypeScript sources (through a transpile-only
 * require hook, `ts-register-cached.js`: the transform of tools/ts-register.js plus a disk cache) and collects the
 * JSON lines they print. Used by the cross-process specs only.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';

const WORKER = path.join(__dirname, 'store-worker.ts');
const REGISTER = path.join(__dirname, 'ts-register-cached.js');

let warm: Promise<void> | undefined;

/**
 * Runs one worker that only loads the store, so the transpile cache is filled before many workers start at once
 * (otherwise each of them would transpile everything itself). Once per test process.
 */
export function warmUp(): Promise<void> {
  warm ??= startWorker({ mode: 'warm' }).exited.then((r) => {
    if (r.code !== 0) throw new Error(`warm-up worker failed (${r.code ?? r.signal}): ${r.stderr}`);
  });
  return warm;
}

export interface Worker {
  child: ChildProcessWithoutNullStreams;
  pid: number;
  /** JSON lines printed so far. */
  lines: Record<string, unknown>[];
  /** Resolves with the first printed line matching `test` (rejects if the worker exits first). */
  waitForLine(test: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Resolves when the worker exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export function startWorker(config: object): Worker {
  const child = spawn(process.execPath, ['-r', REGISTER, WORKER, JSON.stringify(config)], { stdio: 'pipe' });
  const lines: Record<string, unknown>[] = [];
  const waiters: { test: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
      buffer = buffer.slice(nl + 1);
      lines.push(line);
      for (const w of waiters.filter((w) => w.test(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const w of waiters.splice(0)) w.reject(new Error(`worker ${child.pid} exited (${code ?? signal}) before the expected line; stderr: ${stderr}`));
      resolve({ code, signal, stderr });
    });
  });
  return {
    child,
    pid: child.pid as number,
    lines,
    exited,
    waitForLine(test) {
      const seen = lines.find(test);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => waiters.push({ test, resolve, reject }));
    },
  };
}

/** The last line a worker printed (its report). */
export function reportOf(worker: Worker): Record<string, unknown> {
  const last = worker.lines.at(-1);
  if (!last) throw new Error(`worker ${worker.pid} printed nothing`);
  return last;
}

/**
 * Waits for every worker to exit, calling `onTick` every few milliseconds meanwhile (to watch the store or its files
 * while the workers run). Returns the exit results in worker order.
 */
export async function waitForAll(
  workers: Worker[],
  onTick: () => void = () => undefined,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }[]> {
  let running = workers.length;
  const done = workers.map((w) => w.exited.finally(() => running--));
  while (running > 0) {
    onTick();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return Promise.all(done);
}

/** Wait for every worker (calling `onTick` meanwhile) and expect each to have exited 0 with nothing on stderr. */
export async function expectAllExitedCleanly(workers: Worker[], onTick: () => void = () => undefined): Promise<void> {
  for (const r of await waitForAll(workers, onTick)) expect(r).toMatchObject({ code: 0, stderr: '' });
}
