import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { taskSchema, type Task, type TaskInput } from '../manifest/schema';
import { agentConfigSchema, type AgentConfig } from './config';
import { FAKE_AGENT_COMMAND, ensureFakeAgentsExecutable, fakeAgentEnv } from './__fixtures__/fake-agents';
import type { ProcessResult, RunProcessOptions } from './process-runner';
import { computeBackoffMs, defaultRunAgentDeps, runAgent, shouldRetry, type RunAgentDeps } from './run-agent';

const makeTask = (overrides: Partial<TaskInput> = {}): Task =>
  taskSchema.parse({
    task_id: 'CONTENT_HASH--T01',
    title: 'Implement the content hash',
    description: 'Hash it.',
    risk: 'Medium',
    acceptance_criteria: [
      { id: 'AC1', text: 'stable' },
      { id: 'AC2', text: 'CRLF = LF' },
    ],
    file_scope: ['packages/hash/src/hash.ts', 'packages/hash/test/'],
    ...overrides,
  });
const cfg = (c: Record<string, unknown>): AgentConfig => agentConfigSchema.parse(c);

let root: string;
let n = 0;
const freshDirs = () => {
  n++;
  const cwd = join(root, `ws-${n}`);
  mkdirSync(cwd);
  return { cwd, resultDir: join(root, `results-${n}`) };
};
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'vtm-run-agent-'));
  ensureFakeAgentsExecutable();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('computeBackoffMs / shouldRetry', () => {
  it('doubles per attempt with equal jitter, capped', () => {
    expect(computeBackoffMs({ attempt: 1, baseMs: 1000, random: 0 })).toBe(500);
    expect(computeBackoffMs({ attempt: 1, baseMs: 1000, random: 1 })).toBe(1000);
    expect(computeBackoffMs({ attempt: 3, baseMs: 1000, random: 0.5 })).toBe(3000);
    expect(computeBackoffMs({ attempt: 30, baseMs: 1000, random: 1, maxMs: 60_000 })).toBe(60_000);
  });

  it('retries transient failures only, never rate limits or a missing binary', () => {
    const o = { status: 'failed' as const, reason: '', transient: true, durationMs: 0, exitCode: 1 };
    expect(shouldRetry(o, 1, 1)).toBe(true);
    expect(shouldRetry(o, 2, 1)).toBe(false);
    expect(shouldRetry({ ...o, transient: false }, 1, 3)).toBe(false);
    expect(shouldRetry({ ...o, status: 'rate_limited' }, 1, 3)).toBe(false);
    expect(shouldRetry({ ...o, unavailable: true }, 1, 3)).toBe(false);
  });
});

/** Deps whose process runner replays scripted outputs instead of starting anything. */
function scriptedDeps(script: { lines?: string[]; stderr?: string[]; result?: Partial<ProcessResult>; resultFile?: string }[]) {
  const files = new Map<string, string>();
  const calls: RunProcessOptions[] = [];
  const sleeps: number[] = [];
  const removed: string[] = [];
  let i = 0;
  const deps: RunAgentDeps = {
    ...defaultRunAgentDeps,
    ensureDir: async () => undefined,
    writeFile: async (p, c) => void files.set(p, c),
    readFile: async (p) => files.get(p),
    removeFile: async (p) => {
      removed.push(p);
      files.delete(p);
    },
    sleep: async (ms) => void sleeps.push(ms),
    now: () => new Date('2026-01-01T10:00:00Z'),
    random: () => 0,
    baseEnv: { PATH: '/usr/bin', HOME: '/home/u' },
    runProcess: async (options) => {
      calls.push(options);
      const step = script[Math.min(i++, script.length - 1)];
      for (const l of step.lines ?? []) options.onStdoutLine?.(l);
      for (const l of step.stderr ?? []) options.onStderrLine?.(l);
      if (step.resultFile !== undefined) files.set(join('/res', 'result.json'), step.resultFile);
      return { exitCode: 0, signal: null, timedOut: false, stalled: false, aborted: false, durationMs: 5, stdoutTail: '', stderrTail: '', pid: 123, ...step.result };
    },
  };
  return { deps, files, calls, sleeps, removed };
}

const claudeResult = (extra: Record<string, unknown>) =>
  JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: '{"status":"completed"}', total_cost_usd: 0.5, permission_denials: [], ...extra });

describe('runAgent (scripted process runner)', () => {
  const input = (config: AgentConfig, extra = {}) => ({ task: makeTask(), config, cwd: '/ws', runId: 'run-1', resultDir: '/res', ...extra });

  it('puts the dependencies\' handoffs in the prompt, within the routed agent\'s handoffBudgetChars', async () => {
    const handoffs = [
      { taskId: 'DEP--T01', direct: true, completedAt: 1, commit: 'c'.repeat(40), files: ['src/dep.ts'], acsCompleted: [], notes: ['n'.repeat(3000)] },
    ];
    const promptWith = async (c: Record<string, unknown>) => {
      const { deps, files, calls } = scriptedDeps([{ lines: [claudeResult({})] }]);
      await runAgent(input(cfg({ adapter: 'claude', ...c }), { handoffs }), deps);
      expect(calls[0].stdin).toBe(files.get('/res/prompt.md'));
      return files.get('/res/prompt.md') ?? '';
    };
    const full = await promptWith({});
    expect(full).toContain(`- commit: ${'c'.repeat(40)}`);
    expect(full).toContain('n'.repeat(2900));
    const small = await promptWith({ handoffBudgetChars: 500 });
    expect(small).toContain(`- commit: ${'c'.repeat(40)}`);
    expect(small).not.toContain('n'.repeat(500));
    expect(small).toContain('(Handoffs trimmed to the 500-character budget; shortened: DEP--T01.');
    expect(await promptWith({ handoffBudgetChars: 0 })).not.toContain('DEP--T01');
  });

  it('fails a run whose keeper was lost (its end unknown) as transient, naming the keeper, even after a result line', async () => {
    const lost = 'the agent keeper (pid 4321) was killed (SIGKILL)';
    const { deps, calls } = scriptedDeps([
      { lines: [claudeResult({})], result: { exitCode: null, signal: 'SIGKILL', keeperLost: lost } },
      { lines: [claudeResult({})] },
    ]);
    const outcome = await runAgent(input(cfg({ adapter: 'claude', retries: 1 })), deps);
    expect(calls).toHaveLength(2);
    expect(outcome).toMatchObject({ status: 'completed', attempts: 2 });
    const once = await runAgent(input(cfg({ adapter: 'claude', retries: 0 })), scriptedDeps([{ result: { exitCode: null, signal: 'SIGKILL', keeperLost: lost } }]).deps);
    expect(once).toMatchObject({ status: 'failed', transient: true, reason: `task CONTENT_HASH--T01: claude was stopped: ${lost} while it ran` });
  });

  it("adopts a dead process's agent run: its transcript and end make the outcome, and the agent is not started again", async () => {
    const { deps, calls } = scriptedDeps([{ lines: [claudeResult({ total_cost_usd: 0.2 })] }]);
    const adopted: string[] = [];
    deps.adoptProcess = async (options) => {
      adopted.push(options.exitFile);
      options.onStdoutLine?.(claudeResult({ total_cost_usd: 0.7 }));
      return { exitCode: 0, signal: null, timedOut: false, stalled: false, aborted: false, durationMs: 9000, stdoutTail: '', stderrTail: '', pid: 4242 };
    };
    const run = { adapter: 'claude', attempt: 2, exitFile: '/res/agent-exit.attempt-2.json', transcriptFile: '/res/transcript.attempt-2.jsonl', stderrFile: '/res/stderr.attempt-2.log' };
    const outcome = await runAgent(input(cfg({ adapter: 'claude' }), { adopt: { pid: 4242, keeperPid: 4241, run, isAlive: () => true } }), deps);
    expect(outcome).toMatchObject({ status: 'completed', attempts: 2, costUsd: 0.7, adopted: true, durationMs: 9000 });
    expect(adopted).toEqual(['/res/agent-exit.attempt-2.json']);
    expect(calls).toHaveLength(0);
  });

  it('runs the agent again, from clean files, when the adopted run left no record of its end', async () => {
    const { deps, calls, removed } = scriptedDeps([{ lines: [claudeResult({})] }]);
    deps.adoptProcess = async () => undefined;
    const spawned: Array<{ pid: number; attempt: number; exitFile: string }> = [];
    const run = { adapter: 'claude', attempt: 1, exitFile: '/res/agent-exit.json', transcriptFile: '/res/transcript.jsonl', stderrFile: '/res/stderr.log' };
    const outcome = await runAgent(
      input(cfg({ adapter: 'claude' }), { adopt: { pid: 4242, keeperPid: 4241, run, isAlive: () => false }, onSpawn: (pid: number, r: { attempt: number; exitFile: string }) => spawned.push({ pid, attempt: r.attempt, exitFile: r.exitFile }) }),
      deps,
    );
    expect(outcome).toMatchObject({ status: 'completed', attempts: 1 });
    expect(outcome.adopted).toBeUndefined();
    expect(removed).toEqual(expect.arrayContaining(['/res/transcript.jsonl', '/res/stderr.log', '/res/result.json']));
    expect(calls).toHaveLength(1);
    expect(calls[0].keeper).toEqual({ exitFile: '/res/agent-exit.json' });
  });

  it('does not adopt a run of another adapter', async () => {
    const { deps, calls } = scriptedDeps([{ lines: [claudeResult({})] }]);
    let asked = false;
    deps.adoptProcess = async () => {
      asked = true;
      return undefined;
    };
    const run = { adapter: 'codex', attempt: 1, exitFile: '/res/agent-exit.json', transcriptFile: '/res/transcript.jsonl' };
    await runAgent(input(cfg({ adapter: 'claude' }), { adopt: { pid: 4242, keeperPid: 4241, run, isAlive: () => true } }), deps);
    expect(asked).toBe(false);
    expect(calls).toHaveLength(1);
  });

  it('writes prompt and task, runs the adapter argv with the VTM env, records the outcome', async () => {
    const { deps, files, calls, removed } = scriptedDeps([{ lines: [claudeResult({})] }]);
    const outcome = await runAgent(input(cfg({ adapter: 'claude', timeoutMs: 1000, idleTimeoutMs: 500 })), deps);
    expect(outcome).toMatchObject({ status: 'completed', attempts: 1, adapter: 'claude', costUsd: 0.5 });
    expect(outcome.reason).toMatch(/^task CONTENT_HASH--T01: claude reported completed/);
    expect(files.get('/res/prompt.md')).toContain('You are implementing task CONTENT_HASH--T01');
    expect(JSON.parse(files.get('/res/task.json') ?? '')).toMatchObject({ task_id: 'CONTENT_HASH--T01' });
    expect(JSON.parse(files.get('/res/outcome.json') ?? '')).toEqual(JSON.parse(JSON.stringify(outcome)));
    expect(removed).toEqual(['/res/result.json']);
    expect(calls[0]).toMatchObject({
      argv: ['claude', '-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits'],
      cwd: '/ws',
      stdin: files.get('/res/prompt.md'),
      timeoutMs: 1000,
      idleTimeoutMs: 500,
      transcriptFile: '/res/transcript.jsonl',
      stderrFile: '/res/stderr.log',
    });
    expect(calls[0].env).toMatchObject({ PATH: '/usr/bin', HOME: '/home/u', VTM_TASK_ID: 'CONTENT_HASH--T01', VTM_RESULT_FILE: '/res/result.json', VTM_WORKSPACE_ROOT: '/ws' });
  });

  it('retries a transient failure with backoff, summing the cost of all attempts', async () => {
    const { deps, calls, sleeps } = scriptedDeps([
      { lines: [claudeResult({ is_error: true, result: 'API Error: 500', total_cost_usd: 0.25 })] },
      { lines: [claudeResult({ is_error: true, result: 'API Error: 500', total_cost_usd: 0.25 })] },
      { lines: [claudeResult({})] },
    ]);
    const outcome = await runAgent(input(cfg({ adapter: 'claude', retries: 2, backoffMs: 1000 })), deps);
    expect(outcome).toMatchObject({ status: 'completed', attempts: 3, costUsd: 1 });
    expect(sleeps).toEqual([500, 1000]); // random() = 0: half of 1000, half of 2000
    expect(calls.map((c) => c.transcriptFile)).toEqual(['/res/transcript.jsonl', '/res/transcript.attempt-2.jsonl', '/res/transcript.attempt-3.jsonl']);
  });

  it('stops retrying after agent.retries and returns the last failure', async () => {
    const { deps, calls } = scriptedDeps([{ lines: [claudeResult({ is_error: true, result: 'API Error: 500' })] }]);
    const outcome = await runAgent(input(cfg({ adapter: 'claude', retries: 1, backoffMs: 0 })), deps);
    expect(outcome).toMatchObject({ status: 'failed', attempts: 2, transient: true });
    expect(calls).toHaveLength(2);
  });

  it('returns a rate limit at once (the scheduler pauses dispatch), without retrying', async () => {
    const { deps, calls } = scriptedDeps([{ lines: [claudeResult({ is_error: true, result: 'Claude AI usage limit reached|1767272400' })] }]);
    const outcome = await runAgent(input(cfg({ adapter: 'claude', retries: 3 })), deps);
    expect(outcome).toMatchObject({ status: 'rate_limited', resetAt: '2026-01-01T13:00:00.000Z', attempts: 1 });
    expect(calls).toHaveLength(1);
  });

  it('reports a missing binary as unavailable and falls back', async () => {
    const { deps, calls } = scriptedDeps([
      { result: { exitCode: null, pid: undefined, spawnError: { code: 'ENOENT', message: 'spawn claude ENOENT' } } },
      { lines: ['{"status":"completed"}'] },
    ]);
    const alone = await runAgent(input(cfg({ adapter: 'claude' })), scriptedDeps([{ result: { exitCode: null, spawnError: { code: 'ENOENT', message: '' } } }]).deps);
    expect(alone).toMatchObject({ status: 'failed', unavailable: true, transient: false, attempts: 1 });
    expect(alone.reason).toBe("task CONTENT_HASH--T01: agent binary 'claude' not found on PATH; install it, set agent.bin, or configure agent.fallback");

    const outcome = await runAgent(input(cfg({ adapter: 'claude' }), { fallback: cfg({ adapter: 'command', command: ['my-agent'] }) }), deps);
    expect(outcome).toMatchObject({ status: 'completed', fallbackUsed: true, adapter: 'command' });
    expect(outcome.reason).toContain("(fallback command; agent binary 'claude' not found on PATH");
    expect(calls.map((c) => c.argv[0])).toEqual(['claude', 'my-agent']);
  });

  it('does not fall back when the working directory is missing (not the agent\'s fault)', async () => {
    const { deps, calls } = scriptedDeps([{ result: { exitCode: null, pid: undefined, spawnError: { code: 'ENOCWD', message: 'working directory /ws does not exist' } } }]);
    const outcome = await runAgent(input(cfg({ adapter: 'claude' }), { fallback: cfg({ adapter: 'codex' }) }), deps);
    expect(outcome).toMatchObject({ status: 'failed', transient: false });
    expect(outcome.unavailable).toBeUndefined();
    expect(outcome.reason).toBe("task CONTENT_HASH--T01: could not start 'claude': working directory /ws does not exist");
    expect(calls).toHaveLength(1);
  });

  it('asks a command agent for the result file and reads it', async () => {
    const { deps, files } = scriptedDeps([{ lines: ['no json here'], resultFile: '{"status":"partial","acs_remaining":["AC2"]}' }]);
    const outcome = await runAgent(input(cfg({ adapter: 'command', command: ['agent'] })), deps);
    expect(outcome).toMatchObject({ status: 'partial', reported: { acs_remaining: ['AC2'] } });
    expect(files.get('/res/prompt.md')).toContain('/res/result.json');
  });

  it('does not retry or blame the agent when the run is stopped', async () => {
    const { deps, calls } = scriptedDeps([{ result: { exitCode: null, signal: 'SIGTERM', aborted: true } }]);
    const outcome = await runAgent(input(cfg({ adapter: 'codex', retries: 3 })), deps);
    expect(outcome).toMatchObject({ status: 'failed', transient: false, attempts: 1 });
    expect(outcome.reason).toContain('stopped before it finished');
    expect(calls).toHaveLength(1);
  });

  it('runs replay without a process', async () => {
    const { deps, calls } = scriptedDeps([]);
    deps.replay = {
      readFile: async (p) => (p.endsWith('.patch') ? '--- a/x.ts\n+++ b/x.ts\n' : undefined),
      applyPatch: async () => ({ ok: true }),
      sleep: async () => undefined,
    };
    const outcome = await runAgent(input(cfg({ adapter: 'replay', replayDir: 'recordings' })), deps);
    expect(outcome).toMatchObject({ status: 'completed', filesTouched: ['x.ts'], adapter: 'replay' });
    expect(calls).toHaveLength(0);
  });
});

describe('runAgent with the stand-in CLIs (real processes)', () => {
  const real = async (config: Record<string, unknown>, task = makeTask()) => {
    const dirs = freshDirs();
    const outcome = await runAgent({ task, config: cfg(config), runId: 'run-9', ...dirs });
    return { outcome, ...dirs };
  };

  it.each(['claude', 'codex', 'gemini', 'opencode'])('%s: success edits the scope files and reports completed', async (adapter) => {
    const recordDir = join(root, `rec-${adapter}`);
    const { outcome, cwd, resultDir } = await real({ adapter, retries: 0, env: fakeAgentEnv({ mode: 'success', recordDir }) });
    expect(outcome).toMatchObject({ status: 'completed', adapter, exitCode: 0, transient: false });
    expect(outcome.filesTouched).toEqual(['packages/hash/src/hash.ts', 'packages/hash/test/CONTENT_HASH--T01.txt']);
    expect(outcome.reported?.acs_completed).toEqual(['AC1', 'AC2']);
    expect(readFileSync(join(cwd, 'packages/hash/src/hash.ts'), 'utf8')).toBe(`// edited by fake ${adapter} for CONTENT_HASH--T01\n`);
    // The agent got exactly the prompt that was written, on stdin, and its task in the environment.
    expect(readFileSync(join(recordDir, `${adapter}-CONTENT_HASH--T01.stdin.txt`), 'utf8')).toBe(readFileSync(join(resultDir, 'prompt.md'), 'utf8'));
    expect(JSON.parse(readFileSync(join(recordDir, `${adapter}-CONTENT_HASH--T01.env.json`), 'utf8'))).toMatchObject({
      VTM_TASK_ID: 'CONTENT_HASH--T01',
      VTM_RUN_ID: 'run-9',
      VTM_TASK_FILE: join(resultDir, 'task.json'),
      cwd,
    });
    expect(readFileSync(join(resultDir, 'transcript.jsonl'), 'utf8').split('\n').filter(Boolean).every((l) => JSON.parse(l))).toBe(true);
    expect(existsSync(join(resultDir, 'outcome.json'))).toBe(true);
  });

  it('shell metacharacters in task text reach the agent verbatim and are never executed', async () => {
    const recordDir = join(root, 'rec-meta');
    const marker = join(root, 'pwned');
    const nasty = `Run $(touch ${marker}) and \`touch ${marker}\`; "$HOME" 'x' | sh && rm -rf ~ #`;
    const task = makeTask({ title: nasty, description: nasty, acceptance_criteria: [{ id: 'AC1', text: nasty }] });
    const { outcome } = await real({ adapter: 'command', command: FAKE_AGENT_COMMAND, retries: 0, env: fakeAgentEnv({ recordDir }) }, task);
    expect(outcome.status).toBe('completed');
    const stdin = readFileSync(join(recordDir, 'command-CONTENT_HASH--T01.stdin.txt'), 'utf8');
    expect(stdin).toContain(`**Description:**\n${nasty}\n`);
    expect(stdin).toContain(`- AC1: ${nasty}`);
    expect(existsSync(marker)).toBe(false);
  });

  it('command agent: result via VTM_RESULT_FILE, and garbage output fails with its own reason', async () => {
    const viaFile = await real({ adapter: 'command', command: FAKE_AGENT_COMMAND, retries: 0, env: fakeAgentEnv({ resultViaFile: true }) });
    expect(viaFile.outcome).toMatchObject({ status: 'completed', reported: { files_modified: ['packages/hash/src/hash.ts', 'packages/hash/test/CONTENT_HASH--T01.txt'] } });
    const garbage = await real({ adapter: 'command', command: FAKE_AGENT_COMMAND, retries: 0, env: fakeAgentEnv({ mode: 'garbage' }) });
    expect(garbage.outcome.reason).toContain('exited 0 without a return JSON (last stdout line: "done, I think")');
  });

  it('retries a transient claude failure (is_error with exit 0), then gives up', async () => {
    const { outcome, resultDir } = await real({ adapter: 'claude', retries: 1, backoffMs: 0, env: fakeAgentEnv({ mode: 'is_error' }) });
    expect(outcome).toMatchObject({ status: 'failed', transient: true, attempts: 2 });
    expect(existsSync(join(resultDir, 'transcript.attempt-2.jsonl'))).toBe(true);
  });

  it('reports out-of-scope edits as touched files (the diff audit decides)', async () => {
    const { outcome } = await real({ adapter: 'claude', retries: 0, env: fakeAgentEnv({ mode: 'edit-out-of-scope', outOfScopeFile: 'README.md' }) });
    expect(outcome.filesTouched).toContain('README.md');
  });

  it('kills a hung agent as stalled, grandchild included', async () => {
    const pidFile = join(root, 'hang-pids.json');
    const { outcome } = await real({ adapter: 'codex', retries: 0, idleTimeoutMs: 2000, timeoutMs: 20_000, env: fakeAgentEnv({ mode: 'hang', pidFile }) });
    expect(outcome).toMatchObject({ status: 'stalled', transient: true, exitCode: null });
    const { pid, grandchild } = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number; grandchild: number };
    for (const p of [pid, grandchild]) {
      const state = existsSync(`/proc/${p}/stat`) ? readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.[0] : undefined;
      expect(state === undefined || state === 'Z').toBe(true);
    }
  });

  it('kills an agent that keeps talking but never finishes as timed_out', async () => {
    const { outcome } = await real({ adapter: 'gemini', retries: 0, idleTimeoutMs: 5_000, timeoutMs: 1_200, env: fakeAgentEnv({ mode: 'chatty-hang' }) });
    expect(outcome).toMatchObject({ status: 'timed_out', transient: false });
    expect(outcome.reason).toContain('ran longer than 1.2 s');
  });

  it('falls back when the binary is not installed', async () => {
    const env = { PATH: '/nonexistent-bin' };
    const dirs = freshDirs();
    const outcome = await runAgent({
      task: makeTask(),
      config: cfg({ adapter: 'opencode', env }),
      fallback: cfg({ adapter: 'command', command: FAKE_AGENT_COMMAND, retries: 0 }),
      runId: 'run-9',
      ...dirs,
    });
    expect(outcome).toMatchObject({ status: 'completed', fallbackUsed: true, adapter: 'command' });
    expect(outcome.reason).toContain("agent binary 'opencode' not found on PATH");
  });
});
