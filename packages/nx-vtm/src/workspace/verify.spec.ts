import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RunProcess } from './ports';
import { spawnProcess } from './test-support/spawn-process';
import { buildVerificationArgv, judgeVerification, parseTestCounts, runVerification } from './verify';

// Real git repositories and child processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(30_000);

describe('buildVerificationArgv', () => {
  it('expands {files} to one argv element per file, never joined', () => {
    expect(buildVerificationArgv({ command: ['node', '--test', '{files}'], files: ['a b.test.js', 'c;rm -rf.test.js'] })).toEqual({
      ok: true,
      value: ['node', '--test', 'a b.test.js', 'c;rm -rf.test.js'],
    });
    expect(buildVerificationArgv({ command: ['npm', 'test'], files: ['x'] })).toEqual({ ok: true, value: ['npm', 'test'] });
  });

  it('keeps a file that looks like an option from being read as one', () => {
    expect(buildVerificationArgv({ command: ['node', '--test', '{files}'], files: ['-x.test.js'] })).toEqual({
      ok: true,
      value: ['node', '--test', './-x.test.js'],
    });
  });

  it('refuses {files} embedded in a longer argument, and an empty command', () => {
    const r = buildVerificationArgv({ command: ['jest', '--testPathPattern={files}'], files: ['a'] });
    expect(r).toEqual({ ok: false, error: expect.stringMatching(/embeds \{files\} inside "--testPathPattern=\{files\}"/) });
    expect(buildVerificationArgv({ command: [], files: [] }).ok).toBe(false);
  });
});

describe('parseTestCounts', () => {
  it('reads node --test TAP summaries', () => {
    const out = 'TAP version 13\nok 1 - a\n1..3\n# tests 3\n# suites 0\n# pass 2\n# fail 1\n# cancelled 0\n# skipped 0\n# todo 0\n';
    expect(parseTestCounts(out)).toEqual({ total: 3, passed: 2, failed: 1, skipped: 0, source: 'node-test' });
  });

  it('reads the node --test spec reporter', () => {
    const out = 'ℹ tests 4\nℹ suites 1\nℹ pass 3\nℹ fail 0\nℹ cancelled 0\nℹ skipped 1\nℹ todo 0\n';
    expect(parseTestCounts(out)).toEqual({ total: 4, passed: 3, failed: 0, skipped: 1, source: 'node-test' });
  });

  it('reads jest summaries, colours and all', () => {
    const out = 'Test Suites: 1 failed, 1 passed, 2 total\n\x1b[1mTests:\x1b[22m       \x1b[31m1 failed\x1b[39m, 1 skipped, 5 passed, 7 total\nSnapshots:   0 total\n';
    expect(parseTestCounts(out)).toEqual({ total: 7, passed: 5, failed: 1, skipped: 1, source: 'jest' });
  });

  it('reads vitest summaries', () => {
    const out = ' Test Files  1 failed | 1 passed (2)\n      Tests  2 failed | 9 passed (11)\n';
    expect(parseTestCounts(out)).toEqual({ total: 11, passed: 9, failed: 2, skipped: 0, source: 'vitest' });
  });

  it('returns undefined when there is no recognisable summary', () => {
    expect(parseTestCounts('all good\n')).toBeUndefined();
  });
});

describe('judgeVerification', () => {
  const base = { timedOut: false, timeoutMs: 60_000, taskId: 'T1', logFile: '/l/verify.log' };
  it('goes by the exit code, made stricter by the counts', () => {
    expect(judgeVerification({ ...base, exitCode: 0 }).status).toBe('passed');
    expect(judgeVerification({ ...base, exitCode: 1 })).toEqual({
      status: 'failed',
      message: 'Task T1: verification failed: the test command exited with 1; see /l/verify.log, fix the code or the tests in the task worktree, then re-run T1',
    });
    const failures = { total: 2, passed: 1, failed: 1, skipped: 0, source: 'jest' as const };
    expect(judgeVerification({ ...base, exitCode: 0, counts: failures }).status).toBe('failed');
    const none = { total: 0, passed: 0, failed: 0, skipped: 0, source: 'node-test' as const };
    expect(judgeVerification({ ...base, exitCode: 0, counts: none }).message).toMatch(/ran no tests/);
    expect(judgeVerification({ ...base, exitCode: null, timedOut: true }).message).toMatch(/timed out after 60 s/);
  });
});

describe('runVerification', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nx-vtm-verify-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (rel: string, body: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), `const test = require('node:test');\nconst assert = require('node:assert');\n${body}\n`);
  };
  const run = (files: string[], timeoutMs = 60_000, runProcess: RunProcess = spawnProcess) =>
    runVerification(
      { cwd: dir, command: [process.execPath, '--test', '{files}'], files, timeoutMs, logFile: path.join(dir, 'logs/verify.log'), taskId: 'T1' },
      { runProcess },
    );

  it('passes with a real passing node --test file (a name with a space stays one argument)', async () => {
    write('tests/a ok.test.js', "test('one', () => assert.equal(1, 1));\ntest('two', () => {});");
    const r = await run(['tests/a ok.test.js']);
    expect(r).toMatchObject({ status: 'passed', exitCode: 0, timedOut: false, counts: { total: 2, passed: 2, failed: 0 } });
    expect(r.message).toBe('Task T1: verification passed (2 passed, 0 failed of 2)');
    expect(fs.readFileSync(r.logFile, 'utf8')).toMatch(/# pass 2/);
  });

  it('fails with a real failing file and reports the counts', async () => {
    write('tests/ok.test.js', "test('fine', () => {});");
    write('tests/bad.test.js', "test('broken', () => assert.equal(1, 2));");
    const r = await run(['tests/ok.test.js', 'tests/bad.test.js']);
    expect(r).toMatchObject({ status: 'failed', exitCode: 1, counts: { total: 2, passed: 1, failed: 1 } });
    expect(r.argv.slice(-2)).toEqual(['tests/ok.test.js', 'tests/bad.test.js']);
  });

  it('reports missing test files and runs nothing', async () => {
    write('tests/ok.test.js', "test('fine', () => {});");
    const calls: unknown[] = [];
    const r = await run(['tests/ok.test.js', 'tests/missing.test.js'], 60_000, async (o) => {
      calls.push(o);
      return spawnProcess(o);
    });
    expect(r).toMatchObject({ status: 'missing-tests', missing: ['tests/missing.test.js'], exitCode: null });
    expect(r.message).toBe('Task T1: test_verification file missing: tests/missing.test.js; the agent must write it, or fix the paths in the manifest');
    expect(calls).toEqual([]);
  });

  it('skips when no test files are declared', async () => {
    const r = await run([]);
    expect(r).toMatchObject({ status: 'skipped', exitCode: null });
  });

  it('fails a run that outlives its timeout', async () => {
    write('tests/hang.test.js', "test('hangs', () => new Promise(() => setInterval(() => {}, 1000)));");
    const r = await run(['tests/hang.test.js'], 1500);
    expect(r).toMatchObject({ status: 'failed', timedOut: true });
    expect(r.message).toMatch(/^Task T1: verification timed out after 2 s/);
  });

  it('hands the port the expanded argv, the cwd and the log file as transcript', async () => {
    write('a.test.js', '');
    const seen: Parameters<RunProcess>[0][] = [];
    const fake: RunProcess = async (o) => {
      seen.push(o);
      return { exitCode: 0, timedOut: false, durationMs: 5, stdoutTail: '# tests 1\n# pass 1\n# fail 0\n', stderrTail: '' };
    };
    const r = await run(['a.test.js'], 1000, fake);
    expect(seen[0]).toMatchObject({ argv: [process.execPath, '--test', 'a.test.js'], cwd: dir, timeoutMs: 1000, transcriptFile: path.join(dir, 'logs/verify.log') });
    expect(r).toMatchObject({ status: 'passed', durationMs: 5, counts: { source: 'node-test', total: 1 } });
  });
});
