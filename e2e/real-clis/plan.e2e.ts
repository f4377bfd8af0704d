/**
 * `nx-vtm plan "<request>"` with the real Claude Code and Codex CLIs (pinned by tools/agent-clis) as the planner,
 * against the scripted model server on 127.0.0.1: the plan comes back in the CLI's JSON stream (Claude's `result`
 * line text, Codex's last agent message; prose around a ```json block, as models answer), is validated with the
 * manifest model and rules, and a first answer with errors goes back to a second CLI run for repair. The planner runs read-only: a write it attempts is refused.
 * Nothing reaches the internet or the user's own settings.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgentWorkspace, MANIFEST, task, type AgentWorkspace } from '../support/vtm';

import { ensureAgentClis, prepareCliHome, startModelServer, type ModelServer } from '../support/agent-clis';

jest.setTimeout(600_000);

const REQUEST = 'Add OAuth login: a provider registry, the callback route, and a login button in the header';
const workspaces: AgentWorkspace[] = [];
const servers: ModelServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  workspaces.forEach((w) => w.remove());
});

type Cli = 'claude' | 'codex';
let bins: Record<Cli, string>;
beforeAll(() => {
  bins = ensureAgentClis({ log: () => undefined }).bins;
}, 900_000);

/** A planned task as a model would write it (the manifest's required fields only). */
const planned = (id: string, over: Record<string, unknown> = {}) => ({
  task_id: id,
  title: `Implement ${id}`,
  description: `Part of: ${REQUEST}`,
  acceptance_criteria: [{ id: `${id}-AC01`, text: 'works' }],
  risk: 'Medium',
  est: { size: 'S' },
  file_scope: [`src/${id.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.js`],
  test_verification: [`test/${id.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.test.js`],
  ...over,
});
/** Claude's final message: a sentence, then the plan in a fenced block (what models do although told not to). */
const answer = (tasks: unknown[]) => `Here is the plan.\n\n\`\`\`json\n${JSON.stringify({ tasks }, null, 2)}\n\`\`\`\n`;

/** The plan's first answer: an id taken by the existing manifest, and a dependency on a task that does not exist. */
const FIRST = answer([planned('CORE--T01'), planned('OAUTH_CALLBACK--T01', { depends_on_tasks: ['OAUTH_REGISTRY--T09'] })]);
const REPAIRED = answer([
  planned('OAUTH_REGISTRY--T01', { depends_on_tasks: ['CORE--T01'] }),
  planned('OAUTH_CALLBACK--T01', { depends_on_tasks: ['OAUTH_REGISTRY--T01'] }),
  planned('OAUTH_BUTTON--T01', { depends_on_tasks: ['OAUTH_CALLBACK--T01'], risk: 'Low' }),
]);

async function setup(cli: Cli) {
  const server: ModelServer = await startModelServer({ maxRequests: 40, maxSeconds: 420 });
  servers.push(server);
  const { env, model } = prepareCliHome(cli, { dir: join(tmpdir(), `vtm-real-plan-${process.pid}-${servers.length}`), serverUrl: server.url });
  const ws = createAgentWorkspace({
    tasks: [task('CORE--T01')],
    options: {
      // Codex reports tokens only: a price for the scripted model makes its cost computable.
      agent: { adapter: cli, bin: bins[cli], model, env, retries: 0, timeoutMs: 240_000, idleTimeoutMs: 180_000, prices: { [model]: { input: 1, cachedInput: 0.1, output: 4 } } },
    },
  });
  workspaces.push(ws);
  return { server, ws };
}

/** `nx-vtm plan` as a user runs it; asynchronous, so the model server in this process keeps answering. */
function plan(ws: AgentWorkspace, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ws.root, 'node_modules/nx-vtm/src/cli/main.js'), 'plan', ...args], { cwd: ws.root, env: { ...process.env, NX_DAEMON: 'false' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Model requests of a planner round (those that offer tools: the agent loop, not title or classifier calls). */
const roundRequests = (server: ModelServer, round: number) =>
  server.requests.filter((q) => q.raw.includes(REQUEST.slice(0, 40)) && q.raw.includes('"tools"') && (round === 1 ? !q.raw.includes('Repair round') : q.raw.includes(`Repair round ${round}`)));

/** How a tool result appears in the CLI's next model request. */
const TOOL_RESULT: Record<Cli, string> = { claude: '"tool_result"', codex: '_output"' };

describe.each<Cli>(['claude', 'codex'])('nx-vtm plan with the real %s CLI (scripted model server)', (cli) => {
  it('a first answer with errors is repaired in round 2; the valid plan is appended to the manifest', async () => {
    const { server, ws } = await setup(cli);
    // Each round is a new claude run with its own prompt: round 2's prompt says "Repair round 2" (byTask matches any
    // text of the request body). In round 1 the model also tries to write a file: the planner runs read-only.
    const planted = join(ws.root, 'src/planted.js');
    server.scenario = { finalText: FIRST, write: { path: planted, content: 'planted\n' }, byTask: { 'Repair round 2': { finalText: REPAIRED } } };
    const before = ws.read(MANIFEST);
    const r = await plan(ws, [REQUEST]);
    const why = `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
    expect(server.overLimit).toBe(false);
    if (r.code !== 0) throw new Error(why);
    expect(r.stderr).toContain('nx-vtm plan: round 1: 2 problems; asking the planner to repair them');
    // The CLI's cost accounting (Claude's total_cost_usd; Codex's tokens at agent.prices), summed over the rounds.
    expect(r.stdout).toMatch(/3 tasks added to docs\/backlog\/virtual-task-manifest.json \(2 planner rounds, \$\d+\.\d{4}\)/);
    expect(r.stdout).toContain('OAUTH_REGISTRY--T01, OAUTH_CALLBACK--T01, OAUTH_BUTTON--T01');

    // The write was asked for and refused (the tool's result went back to the model); nothing was written.
    expect(existsSync(planted)).toBe(false);
    expect(roundRequests(server, 1).some((q) => q.raw.includes(TOOL_RESULT[cli]))).toBe(true);
    expect(ws.git(['status', '--porcelain'])).not.toContain('planted');

    // Round 2's prompt (a new claude run) lists every problem of round 1 with its task id and field.
    const repair = roundRequests(server, 2);
    expect(roundRequests(server, 1).length).toBeGreaterThan(0);
    expect(repair.length).toBeGreaterThan(0);
    expect(repair[0].raw).toContain('tasks[0].task_id');
    expect(repair[0].raw).toContain('\\"CORE--T01\\" is already a task of the existing manifest');
    expect(repair[0].raw).toContain('tasks[1].depends_on_tasks[0]');
    expect(repair[0].raw).toContain('OAUTH_REGISTRY--T09');

    // The manifest: the existing task kept, the three planned ones appended, and nx reads it.
    const manifest = JSON.parse(ws.read(MANIFEST));
    expect(manifest.tasks.map((t: { task_id: string }) => t.task_id)).toEqual(['CORE--T01', 'OAUTH_REGISTRY--T01', 'OAUTH_CALLBACK--T01', 'OAUTH_BUTTON--T01']);
    expect(JSON.parse(before).tasks[0]).toEqual(manifest.tasks[0]);
    const shown = ws.nx(['show', 'projects', '--json']);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual(expect.arrayContaining(['OAUTH_REGISTRY--T01', 'OAUTH_CALLBACK--T01', 'OAUTH_BUTTON--T01']));
  });

  it('an answer that never becomes valid: exit 1 after --max-rounds, the problems reported, the manifest untouched', async () => {
    const { server, ws } = await setup(cli);
    server.scenario = { finalText: FIRST };
    const before = ws.read(MANIFEST);
    const r = await plan(ws, [REQUEST, '--max-rounds', '2']);
    expect(server.overLimit).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no valid plan after 2 rounds; ${MANIFEST} was not changed`);
    expect(r.stderr).toContain('tasks[1].depends_on_tasks[0]');
    expect(roundRequests(server, 2).length).toBeGreaterThan(0);
    expect(ws.read(MANIFEST)).toBe(before);
  });

  it('an API error ends planning with the adapter\'s reason (no answer to validate), the manifest untouched', async () => {
    const { server, ws } = await setup(cli);
    server.scenario = { error: { status: 401, message: 'invalid x-api-key' } };
    const before = ws.read(MANIFEST);
    const r = await plan(ws, [REQUEST]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`nx-vtm plan: the planner \\(${cli}\\) gave no answer in round 1: ${cli} cannot authenticate`));
    expect(ws.read(MANIFEST)).toBe(before);
  });
});
