/**
 * Repair turns with the real agent CLIs: a task whose first turn fails its verification test goes back to the same
 * CLI with the failure output, and the CLI resumes its own session (claude --resume <id>, codex exec resume <id>,
 * gemini --resume latest, opencode --session <id>). Checked on what the scripted model server received: the repair
 * turn's first request carries the first turn's conversation (its tool call) and the repair prompt after it.
 * The four CLIs run at the same time, each in its own workspace, through the real `nx run-many -t implement`.
 */
import { join } from 'node:path';
import { createAgentWorkspace, task, type AgentWorkspace } from '../support/vtm';

import { ensureAgentClis, prepareCliHome, startModelServer, type Cli, type ModelServer } from '../support/agent-clis';

jest.setTimeout(900_000);

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream'];
const workspaces: AgentWorkspace[] = [];
const servers: ModelServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  workspaces.forEach((w) => w.remove());
});

let bins: Record<Cli, string>;
beforeAll(() => {
  bins = ensureAgentClis({ log: () => undefined }).bins;
}, 900_000);

const ID = 'MENDED--T01';
const FILE = 'src/mended-t01.js';
const FIRST = 'module.exports = "first-attempt-7f3a";\n';
const FIXED = 'module.exports = "fixed";\n';
const report = () =>
  '```json\n' +
  JSON.stringify({ task_id: ID, status: 'completed', acs_completed: [`${ID}-AC01`], acs_remaining: [], files_modified: [FILE], blockers: [] }) +
  '\n```';
const verification =
  `const test = require('node:test');\nconst assert = require('node:assert');\n` +
  `test('mended', () => assert.equal(require('../${FILE}'), 'fixed'));\n`;

async function runRepair(cli: Cli) {
  const server: ModelServer = await startModelServer({ maxRequests: 80, maxSeconds: 800 });
  servers.push(server);
  const cliDir = `${require('node:os').tmpdir()}/vtm-repair-${cli}-${process.pid}`;
  const { env, model } = prepareCliHome(cli, { dir: cliDir, serverUrl: server.url, auth: 'key' });
  const ws = createAgentWorkspace({
    tasks: [task(ID)],
    files: { 'test/mended-t01.test.js': verification },
    options: {
      agent: { adapter: cli, bin: bins[cli], model, env, retries: 1, backoffMs: 200, timeoutMs: 300_000, idleTimeoutMs: 240_000, repairTurns: 1 },
    },
  });
  workspaces.push(ws);
  const worktree = join(ws.root, '.vtm/worktrees', ID);
  const write = (content: string) => ({ write: { path: join(worktree, FILE), relPath: FILE, content }, finalText: report() });
  // The repair prompt ("Repair turn 2 of 2 ...") is in every request of the second turn; the later byTask entry wins.
  server.scenario = { byTask: { [ID]: write(FIRST), 'Repair turn 2 of': write(FIXED) } };
  const r = await ws.runAsync(SLICE);
  return { cli, ws, server, r };
}

it('each real CLI resumes its own session for a repair turn and the repaired work is completed', async () => {
  const runs = await Promise.all((['claude', 'codex', 'gemini', 'opencode'] as const).map(runRepair));
  const problems: string[] = [];
  for (const { cli, ws, server, r } of runs) {
    const t = ws.state().tasks[ID] as Record<string, unknown> | undefined;
    const repairRequests = server.requests.filter((q) => q.raw.includes('Repair turn 2 of'));
    const resumed = repairRequests.some((q) => q.raw.includes('first-attempt-7f3a'));
    let onMain: string;
    try {
      onMain = ws.git(['show', `main:${FILE}`]);
    } catch {
      onMain = '(not on main)';
    }
    const ok = t?.status === 'completed' && t?.repair_turns === 1 && resumed && onMain.trim() === FIXED.trim();
    if (!ok) {
      problems.push(
        `${cli}: status ${String(t?.status)} (${String(t?.reason)}), repair_turns ${String(t?.repair_turns)}, resumed ${resumed}, ` +
          `${repairRequests.length} repair requests, main: ${JSON.stringify(onMain)}\n${r.output.slice(-3000)}`,
      );
    }
  }
  expect(problems).toEqual([]);
});
