/**
 * The real agent CLIs (Claude Code 2.1.197, Codex 0.171.0, Gemini CLI 0.61.0, opencode 1.18.33, pinned and installed
 * by tools/agent-clis/install.js) run by the real plugin through `nx run-many -t implement`, in real worktrees,
 * against the scripted model server on 127.0.0.1 (tools/agent-clis/model-server.js). Each CLI's home and config live
 * in a temp folder (tools/agent-clis/cli-env.js); nothing reaches the internet or the user's own CLI settings.
 *
 * Per CLI, one nx run with four tasks: a write inside the scope (completed, merged, with cost, tokens and session
 * id), a write outside it (scope_violation), a 401 (failed, not retried) and a 500 (retried, then failed). Where the
 * CLI gives a limit with a reset time quickly, a second run: the task pauses dispatch until the reset, then
 * completes. Gemini's and opencode's 500 and 429 are left out: those CLIs retry them themselves for minutes.
 */
import { join } from 'node:path';
import { createAgentWorkspace, task, type AgentWorkspace } from '../support/vtm';

// Plain CommonJS helpers shared with tools/agent-clis/record.js.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureAgentClis } = require('../../tools/agent-clis/install.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startModelServer } = require('../../tools/agent-clis/model-server.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { prepareCliHome } = require('../../tools/agent-clis/cli-env.js');

type Cli = 'claude' | 'codex' | 'gemini' | 'opencode';
interface ModelServer {
  url: string;
  scenario: Record<string, unknown>;
  requests: { at: number; raw: string; path: string }[];
  overLimit: boolean;
  close(): Promise<void>;
}

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

function makeWorkspace(cli: Cli, server: ModelServer, ids: string[], auth: 'key' | 'oauth' = 'key') {
  const tasks = ids.map((id) => task(id));
  const files = Object.fromEntries(ids.map((id) => [`test/${slug(id)}.test.js`, existsTest(`src/${slug(id)}.js`)]));
  const cliDir = `${require('node:os').tmpdir()}/vtm-real-${cli}-${process.pid}-${workspaces.length}`;
  const { env, model } = prepareCliHome(cli, { dir: cliDir, serverUrl: server.url, auth });
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

describe.each<Cli>(['claude', 'codex', 'opencode', 'gemini'])('%s (real CLI, scripted model server)', (cli) => {
  let server: ModelServer;
  const servers: ModelServer[] = [];
  afterAll(() => Promise.all(servers.map((s) => s.close())));

  it('write in scope -> completed and merged with cost, tokens and session id; out of scope -> scope_violation; 401 -> not retried; 500 -> retried', async () => {
    const ok = `${cli.toUpperCase()}_OK--T01`;
    const scope = `${cli.toUpperCase()}_SCOPE--T01`;
    const auth = `${cli.toUpperCase()}_AUTH--T01`;
    const down = `${cli.toUpperCase()}_DOWN--T01`;
    // Gemini and opencode retry a 500 themselves for minutes (measured: gemini > 150 s, opencode 123 s): left out.
    const retriesItself = cli === 'gemini' || cli === 'opencode';
    const ids = retriesItself ? [ok, scope, auth] : [ok, scope, auth, down];
    server = await startModelServer({ maxRequests: 60, maxSeconds: 420 });
    servers.push(server);
    const { ws, worktree } = makeWorkspace(cli, server, ids);
    server.scenario = {
      byTask: {
        [ok]: writes(worktree(ok), `src/${slug(ok)}.js`, ok),
        [scope]: writes(worktree(scope), 'lib/outside.js', scope),
        [auth]: { error: { status: 401, message: 'invalid x-api-key' } },
        [down]: { error: { status: 500, message: 'Internal server error' } },
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
    if (!retriesItself) {
      // 500: a transient API error, retried once, then failed.
      expectTask(tasks[down], { status: 'blocked', reason: 'agent_failed' }, why);
      expect((tasks[down].cost as { attempts: number }).attempts).toBe(2);
    }
    expect(r.code).not.toBe(0);
  });

  /**
   * A limit whose reset time the CLI passes on, as a function of "reset at" (ms, chosen per CLI: Claude gives epoch
   * seconds, Codex prints a clock time rounded to the minute, so its reset is put on a minute boundary).
   */
  const limitScenario: Partial<Record<Cli, { auth?: 'oauth'; resetMs: () => number; error: (resetMs: number) => Record<string, unknown> }>> = {
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
  };
  const limit = limitScenario[cli];
  (limit ? it : it.skip)('a usage limit with a reset time pauses dispatch until then; the task is not failed and completes after it', async () => {
    const id = `${cli.toUpperCase()}_LIMIT--T01`;
    server = await startModelServer({ maxRequests: 40, maxSeconds: 420 });
    servers.push(server);
    const { ws, worktree } = makeWorkspace(cli, server, [id], limit!.auth);
    const resetAt = limit!.resetMs();
    server.scenario = { byTask: { [id]: { ...writes(worktree(id), `src/${slug(id)}.js`, id), error: limit!.error(resetAt), errorTimes: 1 } } };
    const r = await ws.runAsync(SLICE);
    expectTask(ws.state().tasks[id], { status: 'completed' }, r.output);
    // The pause lasts exactly until the reset the CLI gave.
    expect(r.output).toContain(`rate-limited until ${new Date(resetAt).toISOString()}`);
    // The agent was started again only after the reset.
    const later = server.requests.filter((q) => q.raw.includes(id)).slice(1);
    expect(later.length).toBeGreaterThan(0);
    expect(later[0].at).toBeGreaterThanOrEqual(resetAt);
    expect(r.code).toBe(0);
  });
});
