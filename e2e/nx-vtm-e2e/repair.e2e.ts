/**
 * Repair turns through the real nx CLI, real git worktrees and a real agent process (the scripted stand-in, which
 * changes behaviour per VTM_REPAIR_ROUND): a task whose tests fail goes back to its agent with the failure output and
 * is completed when the repair passes; one whose repairs never pass is blocked with the last evidence. What a person
 * sees afterwards (task-state.json, the run report) shows every turn.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgentWorkspace, task, type AgentWorkspace } from '../support/vtm';
import { removeAfterAll } from '../support/workspace';

const removeLater = removeAfterAll<AgentWorkspace>();

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream'];

describe('repair turns (real nx)', () => {
  it('a failing test goes back to the agent with its output: repaired -> completed with two turns; never repaired -> blocked after three', () => {
    const fixed = task('FIXED--T01');
    const stuck = task('STUCK--T01');
    const ws = createAgentWorkspace({ tasks: [fixed, stuck] });
    removeLater(ws);
    const plan = {
      'FIXED--T01': { failTests: true, repairs: { '1': { failTests: false } } },
      'STUCK--T01': { failTests: true },
    };
    const r = ws.run(SLICE, plan);
    expect(r.code).not.toBe(0); // STUCK is blocked
    const tasks = ws.state().tasks;

    expect(tasks['FIXED--T01']).toMatchObject({ status: 'completed', repair_turns: 1, cost: expect.objectContaining({ turns: 2 }) });
    expect(tasks['FIXED--T01'].turns).toEqual([expect.objectContaining({ turn: 1, result: 'verification_failed' })]);
    const repairPrompt = readFileSync(`${ws.root}.prompts/FIXED--T01.repair-1.md`, 'utf8');
    expect(repairPrompt).toContain('Repair turn 2 of 3 for task FIXED--T01');
    expect(repairPrompt).toContain('FIXED--T01 works'); // the failing test, from the runner's output
    expect(ws.git(['show', 'main:test/fixed-t01.test.js'])).toContain('assert.equal(1, 1)');

    expect(tasks['STUCK--T01']).toMatchObject({ status: 'blocked', reason: 'verification_failed', repair_turns: 2 });
    expect((tasks['STUCK--T01'].turns as { turn: number }[]).map((t) => t.turn)).toEqual([1, 2]);
    expect(ws.git(['ls-tree', '-r', '--name-only', 'main'])).not.toContain('src/stuck-t01.js');

    // Each turn ran its agent once: FIXED twice, STUCK three times.
    const starts = ws.agentEvents().filter((e) => e.event === 'start');
    expect(starts.filter((e) => e.taskId === 'FIXED--T01')).toHaveLength(2);
    expect(starts.filter((e) => e.taskId === 'STUCK--T01')).toHaveLength(3);

    // The run report shows the turns.
    const [report] = ws.reports().slice(-1);
    expect(report.md).toContain('### Repair turns');
    expect(report.md).toContain('- **FIXED--T01** — 2 turns, the last accepted');
    expect(report.md).toContain('- **STUCK--T01** — 3 turns, the last not accepted (verification_failed)');
    expect(report.html).toContain('<ul id="repairs">');
  });

  it('the merge queue: two disjoint tasks whose merge breaks a test -> the second is repaired on top of the first; main green at every commit', () => {
    const test = (body: string) => `const test = require('node:test');\nconst assert = require('node:assert');\ntest('works', () => { ${body} });\n`;
    const a = task('RENAME--T01', { file_scope: ['src/lib.js'], test_verification: ['test/lib.test.js'] });
    const b = task('CALLER--T01', { file_scope: ['src/use.js'], test_verification: ['test/use.test.js'] });
    const ws = createAgentWorkspace({ tasks: [a, b], files: { 'src/lib.js': "exports.greet = () => 'hi';\n" } });
    removeLater(ws);
    const base = ws.git(['rev-parse', 'main']).trim();
    const plan = {
      'RENAME--T01': { sleepMs: 500, writeScope: 'none', files: { 'src/lib.js': "exports.hello = () => 'hi';\n", 'test/lib.test.js': test("assert.equal(require('../src/lib.js').hello(), 'hi');") } },
      'CALLER--T01': {
        sleepMs: 4000,
        writeScope: 'none',
        files: { 'src/use.js': "module.exports = () => require('./lib').greet();\n", 'test/use.test.js': test("assert.equal(require('../src/use.js')(), 'hi');") },
        repairs: { '1': { sleepMs: 0, files: { 'src/use.js': "module.exports = () => require('./lib').hello();\n", 'test/use.test.js': test("assert.equal(require('../src/use.js')(), 'hi');") } } },
      },
    };
    const r = ws.run(SLICE, plan);
    const tasks = ws.state().tasks;
    expect(tasks['RENAME--T01']).toMatchObject({ status: 'completed' });
    expect(tasks['CALLER--T01']).toMatchObject({ status: 'completed', repair_turns: 1 });
    expect(tasks['CALLER--T01'].turns).toEqual([expect.objectContaining({ result: 'integration_check_failed' })]);
    expect(r.code).toBe(0);
    // Every commit main went through passes every test of the workspace.
    const commits = ws.git(['rev-list', '--first-parent', `${base}..main`]).trim().split('\n');
    expect(commits).toHaveLength(2);
    for (const sha of commits) {
      const dir = `${ws.root}.check-${sha.slice(0, 8)}`;
      ws.git(['worktree', 'add', '-q', '--detach', dir, sha]);
      const files = ws.git(['-C', dir, 'ls-files', 'test']).trim().split('\n').filter(Boolean);
      const run = spawnSync(process.execPath, ['--test', ...files], { cwd: dir, encoding: 'utf8' });
      expect({ sha, status: run.status }).toEqual({ sha, status: 0 });
    }
  });

  it('the merge queue holds no WIP slot: with WIP 1, the next agent works while a task is tested on the merged result; a repair turn sent back from the queue waits for the slot', () => {
    const tasks = ['Q1--T01', 'Q2--T01', 'Q3--T01'].map((id) => task(id));
    // A slow workspace check on every merged result (what `nx affected -t test` costs on a real repository), which
    // fails once for Q2's first merged result: Q2 goes back to its agent from the queue.
    const checkDir = mkdtempSync(join(tmpdir(), 'vtm-check-'));
    const marker = join(checkDir, 'q2-failed-once');
    writeFileSync(
      join(checkDir, 'check.js'),
      `const fs = require('node:fs');
if (fs.existsSync('src/q2-t01.js') && !fs.existsSync(${JSON.stringify(marker)})) { fs.writeFileSync(${JSON.stringify(marker)}, ''); console.error('Q2 breaks the merged result'); process.exit(1); }
setTimeout(() => {}, 2500);`,
    );
    const ws = createAgentWorkspace({ tasks, options: { wipLimit: 1, integrationCheck: { command: [process.execPath, join(checkDir, 'check.js')] } } });
    removeLater(ws);
    const plan = { 'Q1--T01': { sleepMs: 300 }, 'Q2--T01': { sleepMs: 300 }, 'Q3--T01': { sleepMs: 300 } };
    const r = ws.run(SLICE, plan);
    expect(r.code).toBe(0);
    const state = ws.state().tasks;
    expect(Object.values(state).map((t) => (t as { status: string }).status)).toEqual(['completed', 'completed', 'completed']);
    expect(state['Q2--T01']).toMatchObject({ repair_turns: 1 });
    const events = ws.events() as { type: string; task_id: string; stage?: string; ts: string }[];
    const integratedAt = (id: string) => Date.parse(events.find((e) => e.type === 'stage' && e.task_id === id && e.stage === 'integrated')!.ts);
    const agent = ws.agentEvents();
    const starts = agent.filter((e) => e.event === 'start');
    // Some agent started while another task waited in the queue (after its park, before its integration).
    const parks = events.filter((e) => e.type === 'park');
    expect(parks.length).toBeGreaterThanOrEqual(3);
    const overlapped = parks.some((p) => starts.some((s) => s.taskId !== p.task_id && Number(s.at) > Date.parse(p.ts) && Number(s.at) < integratedAt(p.task_id)));
    expect(overlapped).toBe(true);
    // Q2's repair turn took a slot back (unpark) before its agent ran again.
    expect(events.some((e) => e.type === 'unpark' && e.task_id === 'Q2--T01')).toBe(true);
    // Agents never overlapped (WIP 1 bounds agents at work, repair turns included).
    let working = 0;
    let max = 0;
    for (const e of [...agent].sort((x, y) => Number(x.at) - Number(y.at) || (x.event === 'end' ? -1 : 1))) {
      working += e.event === 'start' ? 1 : e.event === 'end' ? -1 : 0;
      max = Math.max(max, working);
    }
    expect(max).toBe(1);
    expect(starts).toHaveLength(4); // Q2 twice
  });
});
