/**
 * Independent verification: after an agent says it is done, run the task's `test_verification` files ourselves.
 * The agent's claim of passing tests is evidence; this run is the verdict.
 *
 * The command is an argv template; the element `{files}` expands to one argv element per test file, so a file name
 * can never be split, globbed or interpreted by a shell.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { err, ok, type Result } from '../manifest/problems';
import type { RunProcess } from './ports';

/** The argv element replaced by the test files. */
export const FILES_PLACEHOLDER = '{files}';

export type VerificationStatus = 'passed' | 'failed' | 'skipped' | 'missing-tests';

/** Test counts read from a runner's summary, when it printed one we recognise. */
export interface TestCounts {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  /** Which summary format they were read from. */
  source: 'node-test' | 'jest' | 'vitest';
}

export interface VerificationResult {
  status: VerificationStatus;
  /** null when nothing ran, or the process was killed. */
  exitCode: number | null;
  durationMs: number;
  /** Transcript of the run (empty runs write nothing). */
  logFile: string;
  counts?: TestCounts;
  /** Declared test files that do not exist (status `missing-tests`). */
  missing?: string[];
  timedOut: boolean;
  /** The argv that ran (or would have run). */
  argv: string[];
  /** One line for users: what happened and, on failure, what to do. */
  message: string;
}

export interface RunVerificationOptions {
  /** Where the tests run: the task's worktree. */
  cwd: string;
  /** argv template, e.g. `['node', '--test', '{files}']` or `['npx', 'jest', '--runTestsByPath', '{files}']`. */
  command: readonly string[];
  /** The task's `test_verification` paths, relative to `cwd`. */
  files: readonly string[];
  timeoutMs: number;
  logFile: string;
  /** For messages. */
  taskId?: string;
  /** Environment for the test process. Default `process.env` with `CI=true` (no watch modes, no TTY prompts). */
  env?: NodeJS.ProcessEnv;
}

export interface VerificationDeps {
  /** Runs the test command. */
  runProcess: RunProcess;
  /** Called once per declared test file before anything runs. Default: `fs.existsSync`. */
  fileExists?: (absolutePath: string) => boolean;
}

/**
 * Expand `{files}` into one argv element per file. A file starting with "-" gets a "./" prefix so that no runner
 * reads it as an option. `{files}` embedded inside a longer element is refused: joining paths into one string is
 * exactly what the template exists to avoid. Pure.
 */
export function buildVerificationArgv({ command, files }: { command: readonly string[]; files: readonly string[] }): Result<string[], string> {
  if (command.length === 0) return err('the verification command is empty');
  const embedded = command.find((a) => a !== FILES_PLACEHOLDER && a.includes(FILES_PLACEHOLDER));
  if (embedded !== undefined) {
    return err(`the verification command embeds ${FILES_PLACEHOLDER} inside ${JSON.stringify(embedded)}; make ${FILES_PLACEHOLDER} its own argv element`);
  }
  const safe = files.map((f) => (f.startsWith('-') ? `./${f}` : f));
  return ok(command.flatMap((a) => (a === FILES_PLACEHOLDER ? safe : [a])));
}

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/**
 * Read test counts from a runner's output: node --test (TAP `# pass N` or spec reporter `ℹ pass N`), jest
 * (`Tests: 1 failed, 2 passed, 3 total`) or vitest (`Tests  1 failed | 2 passed (3)`). The last summary wins (a
 * runner may print partial ones). Undefined when no summary is recognised. Pure.
 */
export function parseTestCounts(output: string): TestCounts | undefined {
  const text = output.replace(ANSI, '');

  const jest = lastMatch(text, /^Tests:\s+(.*\d+ total.*)$/gm);
  if (jest) {
    const n = (word: string) => Number(new RegExp(`(\\d+) ${word}`).exec(jest[1])?.[1] ?? 0);
    return { total: n('total'), passed: n('passed'), failed: n('failed'), skipped: n('skipped') + n('todo'), source: 'jest' };
  }

  const node: Record<string, number> = {};
  for (const m of text.matchAll(/^(?:#|ℹ)\s*(tests|pass|fail|cancelled|skipped|todo)\s+(\d+)\s*$/gm)) node[m[1]] = Number(m[2]);
  if (node.tests !== undefined && node.pass !== undefined) {
    return {
      total: node.tests,
      passed: node.pass,
      failed: (node.fail ?? 0) + (node.cancelled ?? 0),
      skipped: (node.skipped ?? 0) + (node.todo ?? 0),
      source: 'node-test',
    };
  }

  const vitest = lastMatch(text, /^\s*Tests\s+(.*?)\s*\((\d+)\)\s*$/gm);
  if (vitest && /\d+ (passed|failed|skipped)/.test(vitest[1])) {
    const n = (word: string) => Number(new RegExp(`(\\d+) ${word}`).exec(vitest[1])?.[1] ?? 0);
    return { total: Number(vitest[2]), passed: n('passed'), failed: n('failed'), skipped: n('skipped') + n('todo'), source: 'vitest' };
  }
  return undefined;
}

function lastMatch(text: string, re: RegExp): RegExpMatchArray | undefined {
  let last: RegExpMatchArray | undefined;
  for (const m of text.matchAll(re)) last = m;
  return last;
}

/**
 * The verdict of a finished run. Exit code first; recognised counts can only make it stricter (failures reported
 * with exit 0, or a run that executed no test at all, are failures). Pure.
 */
export function judgeVerification({
  exitCode,
  timedOut,
  counts,
  timeoutMs,
  taskId,
  logFile,
}: {
  exitCode: number | null;
  timedOut: boolean;
  counts?: TestCounts;
  timeoutMs: number;
  taskId?: string;
  logFile: string;
}): { status: 'passed' | 'failed'; message: string } {
  const who = taskId ? `Task ${taskId}: verification` : 'Verification';
  const tally = counts ? ` (${counts.passed} passed, ${counts.failed} failed of ${counts.total})` : '';
  const fix = `; see ${logFile}, fix the code or the tests in the task worktree, then re-run${taskId ? ` ${taskId}` : ''}`;
  if (timedOut) return { status: 'failed', message: `${who} timed out after ${Math.round(timeoutMs / 1000)} s${tally}${fix}` };
  if (exitCode === null) return { status: 'failed', message: `${who} was killed by a signal${tally}${fix}` };
  if (exitCode !== 0) return { status: 'failed', message: `${who} failed: the test command exited with ${exitCode}${tally}${fix}` };
  if (counts && counts.failed > 0) return { status: 'failed', message: `${who} failed: exit 0 but the summary reports failures${tally}${fix}` };
  if (counts && counts.total === 0) return { status: 'failed', message: `${who} ran no tests${fix}` };
  return { status: 'passed', message: `${who} passed${tally}` };
}

/**
 * Run the task's verification tests. No declared files: `skipped`. Any declared file missing: `missing-tests`
 * (nothing runs). Otherwise the expanded command runs through `deps.runProcess` and is judged by
 * `judgeVerification`.
 */
export async function runVerification(options: RunVerificationOptions, deps: VerificationDeps): Promise<VerificationResult> {
  const { cwd, command, files, timeoutMs, logFile, taskId } = options;
  const fileExists = deps.fileExists ?? fs.existsSync;
  const who = taskId ? `Task ${taskId}` : 'The task';
  const argv = buildVerificationArgv({ command, files });
  const base = { exitCode: null, durationMs: 0, logFile, timedOut: false, argv: argv.ok ? argv.value : [...command] };

  if (files.length === 0) {
    return { ...base, status: 'skipped', message: `${who} declares no test_verification files; verification skipped` };
  }
  if (!argv.ok) return { ...base, status: 'failed', message: `${who}: ${argv.error}` };
  const missing = files.filter((f) => !fileExists(path.resolve(cwd, f)));
  if (missing.length > 0) {
    return {
      ...base,
      status: 'missing-tests',
      missing,
      message: `${who}: test_verification file${missing.length === 1 ? '' : 's'} missing: ${missing.join(', ')}; the agent must write ${missing.length === 1 ? 'it' : 'them'}, or fix the paths in the manifest`,
    };
  }

  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const run = await deps.runProcess({
    argv: argv.value,
    cwd,
    env: options.env ?? { ...process.env, CI: 'true' },
    timeoutMs,
    transcriptFile: logFile,
  });
  const counts = parseTestCounts(`${run.stdoutTail}\n${run.stderrTail}`);
  const verdict = judgeVerification({ exitCode: run.exitCode, timedOut: run.timedOut, counts, timeoutMs, taskId, logFile });
  return {
    status: verdict.status,
    exitCode: run.exitCode,
    durationMs: run.durationMs,
    logFile,
    ...(counts ? { counts } : {}),
    timedOut: run.timedOut,
    argv: argv.value,
    message: verdict.message,
  };
}
