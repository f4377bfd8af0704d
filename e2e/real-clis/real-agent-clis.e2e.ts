/**
 * The real agent CLIs (Claude Code 2.1.197, Codex 0.171.0, Gemini CLI 0.61.0, opencode 1.18.33, pinned and installed
 * by tools/agent-clis/install.js) run by the real plugin through `nx run-many -t implement`, in real worktrees,
 * against the scripted model server on 127.0.0.1 (tools/agent-clis/model-server.js). Each CLI's home and config live
 * in a temp folder (tools/agent-clis/cli-env.js); nothing reaches the internet or the user's own CLI settings.
 *
 * Per CLI, one nx run with a task per case: a write inside the scope (completed, merged, with cost, tokens and session
 * id), a write outside it (scope_violation), a 401 (failed, not retried), a 500 (retried, then failed; not for
 * opencode, whose starts are slow: its real recording is in the parser spec), and what the CLI can produce of a
 * permission denial (permission_denied) and of a budget or turn limit (`EXTRA`). Then a second run: a usage limit
 * with a reset time pauses dispatch until the reset, and the task completes after it. The CLIs' own retries are
 * turned down (tools/agent-clis/cli-env.js), so every error case takes seconds.
 */
import { join } from 'node:path';
import { createAgentWorkspace, task, type AgentWorkspace } from '../support/vtm';

import { ensureAgentClis, geminiQuotaError, prepareCliHome, startModelServer, type Cli, type ModelServer } from '../support/agent-clis';

// A real CLI run through nx takes 5-40 s idle, minutes on a loaded machine; the bounds are the agent timeouts above.
jest.setTimeout(600_000);

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream'];
const workspaces: AgentWorkspace[] = [];
afterAll(() => workspaces.forEach((w) => w.remove()));

let bins: Record<Cli, string>;
beforeAll(() => {
  // Cached in tmp/agent-clis by the lock's hash: about 90 s the first time, milliseconds afterwards.
  bins = ensureAgentClis({ log: () => undefined }).bins;
}, 900_000);

const slug = (id: string) => id.toLowerCase().replace(/[^a-z0-9]+/g, '-');
/** The agent's return JSON, as the prompt asks for it. */
const report = (id: string) =>
  '```json\n' +
  JSON.stringify({ task_id: id, status: 'completed', acs_completed: [`${id}-AC01`], acs_remaining: [], files_modified: [`src/${slug(id)}.js`], blockers: [] }) +
  '\n```';
/** A verification test that passes once the task's file exists. */
const existsTest = (file: string) =>
  `const test = require('node:test');\nconst assert = require('node:assert');\nconst fs = require('node:fs');\n` +
  `test('${file} exists', () => assert.ok(fs.existsSync(${JSON.stringify(file)})));\n`;

/** A private folder for one CLI home. */
const cliDir = (cli: Cli, name: string) => `${require('node:os').tmpdir()}/vtm-real-${cli}-${process.pid}-${workspaces.length}${name}`;

function makeWorkspace(
  cli: Cli,
  server: ModelServer,
  ids: string[],
  { auth = 'key', settings, rules = [] }: { auth?: 'key' | 'oauth'; settings?: Record<string, unknown>; rules?: unknown[] } = {},
) {
  const tasks = ids.map((id) => task(id));
  const files = Object.fromEntries(ids.map((id) => [`test/${slug(id)}.test.js`, existsTest(`src/${slug(id)}.js`)]));
  const { env, model } = prepareCliHome(cli, { dir: cliDir(cli, ''), serverUrl: server.url, auth, settings });
  const ws = createAgentWorkspace({
    tasks,
    files,
    options: {
      // opencode processes sharing one home failed at start once in CI (exit 1, "params:") when three ran at once;
      // run them one at a time here (docs/agents.md, known problems).
      ...(cli === 'opencode' ? { wipLimit: 1 } : {}),
      agent: {
        adapter: cli,
        bin: bins[cli],
        model,
        env,
        retries: 1,
        backoffMs: 200,
        // Generous: on a loaded 2-core machine opencode 1.18 takes over a minute to start (1-11 s when idle).
        timeoutMs: 240_000,
        idleTimeoutMs: 180_000,
        // Codex and Gemini report tokens only; a price for the scripted model makes the computed cost checkable.
        prices: { [model]: { input: 1, cachedInput: 0.1, output: 4 } },
        // Per-task settings (a turn limit, a permission mode) through the plugin's own routing rules.
        rules,
      },
    },
  });
  workspaces.push(ws);
  const worktree = (id: string) => join(ws.root, '.vtm/worktrees', id);
  return { ws, worktree };
}

/** Write `rel` inside the task's worktree, then give the return JSON. */
const writes = (worktree: string, rel: string, id: string) => ({
  write: { path: join(worktree, rel), relPath: rel, content: `module.exports = ${JSON.stringify(id)};\n` },
  finalText: report(id),
});

/** A task's recorded state, with the run's output when it is not what the test expects (to see why). */
const expectTask = (t: Record<string, unknown> | undefined, expected: Record<string, unknown>, output: string) => {
  const picked = Object.fromEntries(Object.keys(expected).map((k) => [k, t?.[k]]));
  if (JSON.stringify(picked) !== JSON.stringify({ ...picked, ...expected })) {
    throw new Error(`expected ${JSON.stringify(expected)}, got ${JSON.stringify(t)}\n--- nx output (tail) ---\n${output.slice(-4000)}`);
  }
};

const onMain = (ws: AgentWorkspace, file: string) => ws.git(['ls-tree', '-r', '--name-only', 'main']).split('\n').includes(file);

/** A task whose agent the scripted model asks to run `npm test` (each CLI's settings below refuse it), then report. */
const runsNpmTest = (id: string) => ({ bash: 'npm test', finalText: report(id) });
/** Routes one task to extra agent settings through the plugin's own routing rules. */
const ruleFor = (id: string, agent: Record<string, unknown>) => ({ match: { taskIdPattern: `^${id}$` }, agent });

/**
 * What each CLI can produce of a permission denial and of a budget or turn limit, how we provoke it, and the outcome
 * recorded (docs/agents.md, "Tested versions"). Not possible: a Codex turn or budget limit (`codex exec` 0.171 has
 * neither); an opencode step limit that can be told from a normal end (its `steps` setting forces a text-only last
 * step and the run ends like any other, see the parser spec on real-turn-limit.jsonl).
 */
interface ExtraCase {
  id: string;
  scenario: (worktree: (id: string) => string) => Record<string, unknown>;
  rule?: (server: ModelServer) => Record<string, unknown>;
  expected: Record<string, unknown>;
  /** Part of the recorded `error`, naming what was denied or which limit. */
  error: string;
}
const EXTRA: Record<Cli, { settings?: Record<string, unknown>; cases: ExtraCase[] }> = {
  claude: {
    cases: [
      // acceptEdits (our default) allows edits, not `npm test`: listed in the result's permission_denials.
      { id: 'CLAUDE_PERM--T01', scenario: () => runsNpmTest('CLAUDE_PERM--T01'), expected: { status: 'blocked', reason: 'permission_denied' }, error: 'Bash: npm test' },
      {
        id: 'CLAUDE_BUDGET--T01',
        scenario: (wt) => writes(wt('CLAUDE_BUDGET--T01'), 'src/claude-budget-t01.js', 'CLAUDE_BUDGET--T01'),
        // One scripted call costs about $0.004 at the model's list price.
        rule: () => ({ maxBudgetUsd: 0.001 }),
        expected: { status: 'blocked', reason: 'budget_exceeded' },
        error: '--max-budget-usd',
      },
      {
        id: 'CLAUDE_TURNS--T01',
        scenario: (wt) => writes(wt('CLAUDE_TURNS--T01'), 'src/claude-turns-t01.js', 'CLAUDE_TURNS--T01'),
        rule: () => ({ args: ['--max-turns', '1'] }),
        expected: { status: 'blocked', reason: 'agent_failed' },
        error: 'used up its turns',
      },
    ],
  },
  // An execpolicy rule (CODEX_HOME/rules) forbidding npm: Codex tells only stderr, and the turn completes.
  codex: {
    settings: { rules: 'prefix_rule(pattern = ["npm"], decision = "forbidden")\n' },
    cases: [{ id: 'CODEX_PERM--T01', scenario: () => runsNpmTest('CODEX_PERM--T01'), expected: { status: 'blocked', reason: 'permission_denied' }, error: 'policy forbids commands starting with `npm`' }],
  },
  gemini: {
    // A policy-engine rule denying npm. auto_edit (our default) offers no shell tool headless, so the task runs yolo.
    settings: { policies: '[[rule]]\ntoolName = "run_shell_command"\ncommandPrefix = "npm"\ndecision = "deny"\npriority = 500\ndenyMessage = "npm is not allowed here"\n' },
    cases: [
      { id: 'GEMINI_PERM--T01', scenario: () => runsNpmTest('GEMINI_PERM--T01'), rule: () => ({ permissionMode: 'yolo' }), expected: { status: 'blocked', reason: 'permission_denied' }, error: 'denied by policy' },
      {
        id: 'GEMINI_TURNS--T01',
        scenario: (wt) => writes(wt('GEMINI_TURNS--T01'), 'src/gemini-turns-t01.js', 'GEMINI_TURNS--T01'),
        // model.maxSessionTurns lives in the settings file: this task gets a home of its own (exit 53).
        rule: (server) => ({ env: prepareCliHome('gemini', { dir: cliDir('gemini', '-turns'), serverUrl: server.url, settings: { model: { maxSessionTurns: 1 } } }).env }),
        expected: { status: 'blocked', reason: 'agent_failed' },
        error: 'session turn limit',
      },
    ],
  },
  // `"bash": "ask"` in the suite's opencode config: headless, opencode auto-rejects the call.
  opencode: {
    cases: [{ id: 'OPENCODE_PERM--T01', scenario: () => runsNpmTest('OPENCODE_PERM--T01'), expected: { status: 'blocked', reason: 'permission_denied' }, error: '(bash)' }],
  },
};

describe.each<Cli>(['claude', 'codex', 'opencode', 'gemini'])('%s (real CLI, scripted model server)', (cli) => {
  let server: ModelServer;
  const servers: ModelServer[] = [];
  afterAll(() => Promise.all(servers.map((s) => s.close())));

  it('write in scope -> completed and merged with cost, tokens and session id; out of scope -> scope_violation; 401 -> not retried; 500 -> retried; a permission denial and a budget or turn limit -> their outcomes', async () => {
    const ok = `${cli.toUpperCase()}_OK--T01`;
    const scope = `${cli.toUpperCase()}_SCOPE--T01`;
    const auth = `${cli.toUpperCase()}_AUTH--T01`;
    const down = `${cli.toUpperCase()}_DOWN--T01`;
    const extra = EXTRA[cli];
    // opencode runs its tasks one at a time, each start taking 10-25 s on a loaded 2-core machine: its 500 (two
    // more starts) is left to the parser spec on its real recording (real-http-500), to keep the suite's time down.
    const withDown = cli !== 'opencode';
    const ids = [ok, scope, auth, ...(withDown ? [down] : []), ...extra.cases.map((c) => c.id)];
    server = await startModelServer({ maxRequests: 100, maxSeconds: 540 });
    servers.push(server);
    const { ws, worktree } = makeWorkspace(cli, server, ids, {
      settings: extra.settings,
      rules: extra.cases.filter((c) => c.rule).map((c) => ruleFor(c.id, c.rule!(server))),
    });
    server.scenario = {
      byTask: {
        [ok]: writes(worktree(ok), `src/${slug(ok)}.js`, ok),
        [scope]: writes(worktree(scope), 'lib/outside.js', scope),
        [auth]: { error: { status: 401, message: 'invalid x-api-key' } },
        // Gemini gives up at once with general.maxAttempts 1 (else it retries for minutes).
        [down]: { error: { status: 500, message: 'Internal server error' } },
        ...Object.fromEntries(extra.cases.map((c) => [c.id, c.scenario(worktree)])),
      },
    };
    const started = Date.now();
    const r = await ws.runAsync(SLICE);
    const seconds = (Date.now() - started) / 1000;
    const tasks = ws.state().tasks;
    const why = `${cli} run (${seconds.toFixed(1)} s):\n${r.output.slice(-3000)}`;
    expect(server.overLimit).toBe(false);

    // In scope: completed, merged, and the run's accounting recorded.
    expectTask(tasks[ok], { status: 'completed' }, why);
    expect(onMain(ws, `src/${slug(ok)}.js`)).toBe(true);
    const cost = tasks[ok].cost as { usd: number | null; tokens: Record<string, number> | null; session_id: string | null; adapter: string };
    expect(cost.adapter).toBe(cli);
    expect(cost.usd).toBeGreaterThan(0);
    expect(cost.session_id).toEqual(expect.any(String));
    // The server sends 1200 prompt tokens per call, 200 of them cached: `input` includes the cached part for every
    // CLI (docs/agents.md, "Tokens"), so input is always six times cacheRead.
    expect(cost.tokens).toMatchObject({ input: expect.any(Number), cacheRead: expect.any(Number), output: expect.any(Number) });
    expect(cost.tokens!.input).toBeGreaterThan(0);
    expect(cost.tokens!.input).toBe(6 * cost.tokens!.cacheRead);

    // Out of scope: blocked by the audit, never merged.
    expectTask(tasks[scope], { status: 'blocked', reason: 'scope_violation', outside_scope: ['lib/outside.js'] }, why);
    expect(onMain(ws, 'lib/outside.js')).toBe(false);

    // 401: failed once, not retried although retries is 1.
    expectTask(tasks[auth], { status: 'blocked', reason: 'agent_failed' }, why);
    expect((tasks[auth].cost as { attempts: number }).attempts).toBe(1);
    if (withDown) {
      // 500: a transient API error, retried once, then failed.
      expectTask(tasks[down], { status: 'blocked', reason: 'agent_failed' }, why);
      expect((tasks[down].cost as { attempts: number }).attempts).toBe(2);
    }

    // Permission denials and limits: recorded as such, never retried, never merged.
    for (const c of extra.cases) {
      expectTask(tasks[c.id], c.expected, why);
      expect(tasks[c.id].error).toContain(c.error);
      expect((tasks[c.id].cost as { attempts: number }).attempts).toBe(1);
      expect(onMain(ws, `src/${slug(c.id)}.js`)).toBe(false);
    }
    expect(r.code).not.toBe(0);
  });

  /**
   * A limit whose reset time the CLI passes on. Absolute (`resetMs`, chosen per CLI: Claude gives epoch seconds, Codex
   * prints a clock time rounded to the minute, so its reset is put on a minute boundary; the first request is
   * refused): the pause ends exactly then. Relative (`relativeMs`: Gemini's and opencode's "retry in 8s"; the server
   * refuses every request for that long, as a real quota does, so the CLIs' own retries meet it too): the pause ends
   * that long after the CLI printed it.
   */
  type Limit = { auth?: 'oauth'; error: (resetMs: number) => Record<string, unknown> } & ({ resetMs: () => number } | { relativeMs: number });
  const limitScenario: Record<Cli, Limit> = {
    // A subscriber's session limit: the reset time comes in the rate-limit headers.
    claude: {
      auth: 'oauth',
      resetMs: () => Math.ceil((Date.now() + 6000) / 1000) * 1000,
      error: (resetMs) => ({
        status: 429,
        message: 'Rate limited',
        headers: {
          'anthropic-ratelimit-unified-status': 'rejected',
          'anthropic-ratelimit-unified-reset': String(resetMs / 1000),
          'anthropic-ratelimit-unified-representative-claim': 'five_hour',
        },
      }),
    },
    // Codex: "You've hit your usage limit ... try again at 1:26 AM."
    codex: {
      resetMs: () => Math.ceil((Date.now() + 8000) / 60_000) * 60_000,
      error: (resetMs) => ({
        status: 429,
        type: 'usage_limit_reached',
        message: 'The usage limit has been reached',
        // Per request (the server calls it): Codex adds resets_in_seconds to the time the answer arrives; rounded up
        // so that the reset it computes is never before the minute boundary it then prints.
        extra: () => ({ plan_type: 'plus', resets_at: resetMs / 1000, resets_in_seconds: Math.ceil((resetMs - Date.now()) / 1000) }),
      }),
    },
    // Gemini: RESOURCE_EXHAUSTED with a RetryInfo delay; exit 173 at once (general.maxAttempts 1).
    gemini: { relativeMs: 8000, error: () => geminiQuotaError(8) },
    // opencode: retries five times (retry-after-ms 100), all inside the limit, then passes the message on.
    opencode: { relativeMs: 8000, error: () => ({ status: 429, message: 'Rate limit reached for requests. Please try again in 8s.' }) },
  };
  const limit = limitScenario[cli];
  it('a usage limit with a reset time pauses dispatch until then; the task is not failed and completes after it', async () => {
    const id = `${cli.toUpperCase()}_LIMIT--T01`;
    server = await startModelServer({ maxRequests: 40, maxSeconds: 420 });
    servers.push(server);
    const { ws, worktree } = makeWorkspace(cli, server, [id], { auth: limit.auth });
    const resetAt = 'resetMs' in limit ? limit.resetMs() : 0;
    const refusal = 'resetMs' in limit ? { errorTimes: 1 } : { errorForMs: limit.relativeMs };
    server.scenario = { byTask: { [id]: { ...writes(worktree(id), `src/${slug(id)}.js`, id), error: limit.error(resetAt), ...refusal } } };
    const r = await ws.runAsync(SLICE);
    expectTask(ws.state().tasks[id], { status: 'completed' }, r.output);
    const pausedUntil = /rate-limited until (\d{4}-\d\d-\d\dT[\d:.]+Z)/.exec(r.output)?.[1];
    expect(pausedUntil).toBeDefined();
    const until = Date.parse(pausedUntil!);
    const mine = server.requests.filter((q) => q.raw.includes(id));
    if ('resetMs' in limit) {
      // The pause lasts exactly until the reset the CLI gave.
      expect(until).toBe(resetAt);
    } else {
      // "retry in 8s", counted from when the CLI printed it: after its last refused request, 8 s or a little more.
      const firstRefused = mine[0].at;
      expect(until).toBeGreaterThanOrEqual(firstRefused + limit.relativeMs);
      expect(until).toBeLessThan(firstRefused + limit.relativeMs + 120_000);
      // No request of the task during the pause: all before it came from the refused attempt.
      for (const q of mine.filter((m) => m.at < until)) expect(q.at).toBeLessThanOrEqual(until - limit.relativeMs);
    }
    // The agent was started again only after the reset.
    expect(mine.filter((q) => q.at >= until).length).toBeGreaterThan(0);
    expect(r.code).toBe(0);
  });
});
