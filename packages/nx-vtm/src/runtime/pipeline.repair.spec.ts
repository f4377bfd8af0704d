/**
 * Repair turns, with real git, a real agent process (the scripted stand-in agent, which changes behaviour per
 * VTM_REPAIR_ROUND) and real tests: a turn whose work is not accepted goes back to the same agent, in the same
 * worktree, with the evidence; only work that passes the audit and the tests reaches main.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePluginOptions, type PluginOptions } from '../config/plugin-options';
import type { TaskInput } from '../manifest/schema';
import { buildTask } from '../test-support/manifest-fixtures';
import { makeTempRepo, type TempRepo } from '../workspace/test-support/git-fixture';
import { runTaskPipeline } from './pipeline';
import { memoryAttempt, type MemoryAttempt } from './test-support/memory-attempt';

const SCRIPTED_AGENT = path.resolve(__dirname, '../../../../e2e/support/agents/scripted-agent.js');

let repo: TempRepo;
let agentLog: string;
let promptDir: string;

beforeEach(() => {
  repo = makeTempRepo();
  agentLog = path.join(repo.root, '.vtm', 'agent.log');
  promptDir = path.join(repo.root, '.vtm', 'prompts');
});
afterEach(() => repo.cleanup());

function buildOptions(plan: Record<string, unknown>, agentOver: Record<string, unknown> = {}): PluginOptions {
  const parsed = parsePluginOptions({
    worktree: { linkDirs: [] },
    agent: {
      adapter: 'command',
      command: [process.execPath, SCRIPTED_AGENT],
      timeoutMs: 60_000,
      retries: 0,
      env: { SCRIPTED_AGENT_LOG: agentLog, SCRIPTED_AGENT_PLAN: JSON.stringify(plan), SCRIPTED_AGENT_PROMPT_DIR: promptDir },
      ...agentOver,
    },
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

const TESTED: Partial<TaskInput> = { file_scope: ['src/a.js'], test_verification: ['tests/a.test.js'] };

function run(taskId: string, options: PluginOptions, { attempt = memoryAttempt(), task = TESTED }: { attempt?: MemoryAttempt; task?: Partial<TaskInput> } = {}) {
  return runTaskPipeline({
    workspaceRoot: repo.root,
    task: buildTask(taskId, task),
    options,
    runId: 'spec-run',
    integrationBranch: 'main',
    stateFile: 'docs/backlog/task-state.json',
    attempt: attempt.port,
    log: () => undefined,
  });
}

/** The rounds the agent was started in, in order (0 = the first turn). */
const agentRounds = (): number[] =>
  fs.existsSync(agentLog)
    ? fs
        .readFileSync(agentLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((e) => e.event === 'start')
        .map((e) => e.round ?? 0)
    : [];
const prompt = (name: string) => fs.readFileSync(path.join(promptDir, name), 'utf8');
const onMain = (file: string) => repo.git(['ls-tree', '-r', '--name-only', 'main']).split('\n').includes(file);

describe('repair turns', () => {
  it('failing tests go back to the agent with their output; the repaired work is completed with two turns recorded', async () => {
    const r = await run('FIX--T01', buildOptions({ '*': { failTests: true, repairs: { '1': { failTests: false } } } }));
    expect(r.outcome).toMatchObject({ status: 'completed', repair_turns: 1, files_modified: ['src/a.js', 'tests/a.test.js'] });
    expect(r.outcome.turns).toEqual([expect.objectContaining({ turn: 1, result: 'verification_failed', paths: [] })]);
    expect((r.outcome.cost as { turns: number }).turns).toBe(2);
    expect(agentRounds()).toEqual([0, 1]);
    // The repair turn received the failing test's output and knew which turn it was.
    const repairPrompt = prompt('FIX--T01.repair-1.md');
    expect(repairPrompt).toContain('Repair turn 2 of 3 for task FIX--T01');
    expect(repairPrompt).toMatch(/FIX--T01 works/); // the failing test's name, from the runner's output
    expect(repairPrompt).toMatch(/not ok|fail/i);
    expect(fs.readFileSync(path.join(repo.root, '.vtm/results/FIX--T01/turn-2/prompt.md'), 'utf8')).toBe(repairPrompt);
    // Only the accepted work is on main: the test file that passes.
    expect(repo.git(['show', 'main:tests/a.test.js'])).toContain('assert.equal(1, 1)');
  }, 60_000);

  it('a repair that never passes ends blocked with the last evidence after 1 + repairTurns turns; nothing merged', async () => {
    const before = repo.git(['rev-parse', 'main']);
    const r = await run('NEVER--T01', buildOptions({ '*': { failTests: true } }));
    expect(r.outcome).toMatchObject({ status: 'blocked', reason: 'verification_failed', repair_turns: 2 });
    expect((r.outcome.turns as { turn: number }[]).map((t) => t.turn)).toEqual([1, 2]);
    expect(agentRounds()).toEqual([0, 1, 2]);
    expect(prompt('NEVER--T01.repair-2.md')).toContain('This is the last turn');
    expect(repo.git(['rev-parse', 'main'])).toBe(before);
  }, 90_000);

  it('repairTurns 0 blocks at the first failure, as before', async () => {
    const r = await run('ZERO--T01', buildOptions({ '*': { failTests: true, repairs: { '1': { failTests: false } } } }, { repairTurns: 0 }));
    expect(r.outcome).toMatchObject({ status: 'blocked', reason: 'verification_failed' });
    expect(r.outcome.turns).toBeUndefined();
    expect(agentRounds()).toEqual([0]);
  }, 30_000);

  it('a change outside the scope is shown to the agent, which undoes it: completed, the file never reaches main', async () => {
    const plan = { '*': { outOfScope: 'lib/outside.js', repairs: { '1': { outOfScope: null, removeFiles: ['lib/outside.js'] } } } };
    const r = await run('SCOPE--T01', buildOptions(plan));
    expect(r.outcome).toMatchObject({ status: 'completed', repair_turns: 1, files_modified: ['src/a.js', 'tests/a.test.js'] });
    expect(r.outcome.turns).toEqual([expect.objectContaining({ result: 'scope_violation', paths: ['lib/outside.js'] })]);
    expect(prompt('SCOPE--T01.repair-1.md')).toMatch(/Paths at issue: lib\/outside\.js/);
    expect(onMain('lib/outside.js')).toBe(false);
    expect(onMain('src/a.js')).toBe(true);
  }, 60_000);

  it('a branch switch is undone and the agent told where its work is kept', async () => {
    const plan = { '*': { git: [['checkout', '-q', '-b', 'side']], repairs: { '1': { git: [] } } } };
    const r = await run('SWITCH--T01', buildOptions(plan));
    expect(r.outcome).toMatchObject({ status: 'completed', repair_turns: 1 });
    expect(r.outcome.turns).toEqual([expect.objectContaining({ result: 'branch_moved', paths: [expect.stringMatching(/^refs\/vtm\/attempts\/SWITCH--T01\/moved-\d+$/)] })]);
    expect(onMain('src/a.js')).toBe(true);
  }, 60_000);

  it('a merge conflict with the moved integration branch is resolved by a repair turn and integrated', async () => {
    // The first turn sleeps while main gets a commit to the same file: its merge conflicts.
    const plan = { '*': { sleepMs: 2500, repairs: { '1': { sleepMs: 0, content: 'module.exports = { task: "CONFLICT--T01", resolved: true };\n' } } } };
    repo.commit({ 'src/a.js': 'module.exports = { base: 1 };\n' }, 'base a.js');
    const pending = run('CONFLICT--T01', buildOptions(plan));
    while (agentRounds().length === 0) await new Promise((r) => setTimeout(r, 50));
    const theirs = repo.commit({ 'src/a.js': 'module.exports = { other: 2 };\n' }, 'another change to a.js on main');
    const r = await pending;
    if (r.outcome.status !== 'completed') throw new Error(JSON.stringify(r.outcome, null, 1));
    expect(r.outcome).toMatchObject({ status: 'completed', repair_turns: 1 });
    expect(r.outcome.turns).toEqual([expect.objectContaining({ result: 'merge_conflict', paths: ['src/a.js'] })]);
    const repairPrompt = prompt('CONFLICT--T01.repair-1.md');
    expect(repairPrompt).toContain('another change to a.js on main'); // the integration branch's new commit
    expect(repo.git(['show', 'main:src/a.js'])).toContain('resolved: true');
    // main keeps the commit it had: the task's work was merged on top of it, nothing rewritten.
    expect(repo.git(['merge-base', '--is-ancestor', theirs, 'main'])).toBe('');
    // The audit judged the work against the new base: only the task's files.
    expect(r.outcome.files_modified).toEqual(['src/a.js', 'tests/a.test.js']);
  }, 60_000);

  it('an agent that changes nothing is not completed (no_changes) unless allowNoChanges', async () => {
    const idle = buildOptions({ '*': { writeScope: 'none' } }, { repairTurns: 0 });
    const r = await run('IDLE--T01', idle, { task: { file_scope: ['src/a.js'], test_verification: [] } });
    expect(r.outcome).toMatchObject({ status: 'blocked', reason: 'no_changes' });
    expect(String(r.outcome.error)).toMatch(/allowNoChanges/);
    const allowed = buildOptions({ '*': { writeScope: 'none' } }, { repairTurns: 0, allowNoChanges: true });
    const ok = await run('CHECK--T01', allowed, { task: { file_scope: ['src/a.js'], test_verification: [] } });
    expect(ok.outcome).toMatchObject({ status: 'completed', files_modified: [] });
  }, 60_000);

  it('allowNoChanges holds in the shared checkout too (isolation "none")', async () => {
    const shared = (over: Record<string, unknown>): PluginOptions => ({ ...buildOptions({ '*': { writeScope: 'none' } }, { repairTurns: 0, ...over }), isolation: 'none' });
    const task = { file_scope: ['src/a.js'], test_verification: [] };
    expect((await run('IDLE--T02', shared({}), { task })).outcome).toMatchObject({ status: 'blocked', reason: 'no_changes' });
    expect((await run('CHECK--T02', shared({ allowNoChanges: true }), { task })).outcome).toMatchObject({ status: 'completed', files_modified: [] });
  }, 60_000);

  it('a kill during a repair turn continues that turn; a finished repair turn is not run again', async () => {
    const plan = { '*': { failTests: true, repairs: { '1': { failTests: false } } } };
    // Dies right after the repair turn's agent finished (its "saved" is never recorded).
    const first = memoryAttempt({ loseAt: 'saved', occurrence: 2 });
    expect((await run('KILL--T01', buildOptions(plan), { attempt: first })).claimLost).toBe(true);
    expect(agentRounds()).toEqual([0, 1]);
    const r = await run('KILL--T01', buildOptions(plan), { attempt: memoryAttempt({ from: first.progress() }) });
    expect(r.outcome).toMatchObject({ status: 'completed', repair_turns: 1 });
    expect(agentRounds()).toEqual([0, 1]); // paid once per turn
  }, 60_000);
});

describe('the merge queue', () => {
  // Two tasks with disjoint scopes, each green on its own: A renames lib's greet() to hello(); B, started before A
  // landed, calls greet(). Merged together they break B's test.
  const test = (body: string) => `const test = require('node:test');\nconst assert = require('node:assert');\ntest('works', () => { ${body} });\n`;
  const plan = {
    'A--T01': {
      sleepMs: 500,
      writeScope: 'none',
      files: { 'src/lib.js': "exports.hello = () => 'hi';\n", 'tests/lib.test.js': test("assert.equal(require('../src/lib.js').hello(), 'hi');") },
    },
    'B--T01': {
      sleepMs: 3000,
      writeScope: 'none',
      files: { 'src/use.js': "module.exports = () => require('./lib').greet();\n", 'tests/use.test.js': test("assert.equal(require('../src/use.js')(), 'hi');") },
      repairs: { '1': { sleepMs: 0, files: { 'src/use.js': "module.exports = () => require('./lib').hello();\n", 'tests/use.test.js': test("assert.equal(require('../src/use.js')(), 'hi');") } } },
    },
  };
  const tasks = {
    'A--T01': { file_scope: ['src/lib.js'], test_verification: ['tests/lib.test.js'] },
    'B--T01': { file_scope: ['src/use.js'], test_verification: ['tests/use.test.js'] },
  };
  /** Every commit main's first-parent history went through since `from`, with whether all tests pass there. */
  const greenness = (from: string) =>
    repo
      .git(['rev-list', '--first-parent', `${from}..main`])
      .split('\n')
      .filter(Boolean)
      .map((sha) => {
        repo.git(['checkout', '-q', '--detach', sha]);
        const files = repo.git(['ls-files', 'tests']).split('\n').filter(Boolean);
        const r = require('node:child_process').spawnSync(process.execPath, ['--test', ...files], { cwd: repo.root, encoding: 'utf8' });
        repo.git(['checkout', '-q', 'main']);
        return r.status === 0;
      });
  const runBoth = (options: PluginOptions) => Promise.all((['A--T01', 'B--T01'] as const).map((id) => run(id, options, { task: tasks[id] })));

  beforeEach(() => repo.commit({ 'src/lib.js': "exports.greet = () => 'hi';\n" }, 'lib with greet'));

  it('tests the merged result before main moves: B is repaired on top of A, and main is green at every commit', async () => {
    const base = repo.git(['rev-parse', 'main']);
    const [a, b] = await runBoth(buildOptions(plan));
    expect(a.outcome).toMatchObject({ status: 'completed' });
    expect(b.outcome).toMatchObject({ status: 'completed', repair_turns: 1 });
    expect(b.outcome.turns).toEqual([expect.objectContaining({ result: 'integration_check_failed' })]);
    expect(prompt('B--T01.repair-1.md')).toMatch(/greet is not a function/);
    expect(greenness(base)).toEqual([true, true]);
    expect(repo.git(['show', 'main:src/use.js'])).toContain('hello()');
  }, 90_000);

  it('out of turns: blocked integration_check_failed, main not moved by B and still green', async () => {
    const base = repo.git(['rev-parse', 'main']);
    const [a, b] = await runBoth(buildOptions(plan, { repairTurns: 0 }));
    expect(a.outcome).toMatchObject({ status: 'completed' });
    expect(b.outcome).toMatchObject({ status: 'blocked', reason: 'integration_check_failed' });
    expect(String(b.outcome.error)).toMatch(/fail on the merged result with main/);
    expect(greenness(base)).toEqual([true]);
    expect(repo.git(['ls-tree', '-r', '--name-only', 'main'])).not.toContain('src/use.js');
  }, 90_000);

  it('without the queue (testMerged false) the same pair turns main red: the check is what keeps it green', async () => {
    const base = repo.git(['rev-parse', 'main']);
    const parsed = buildOptions(plan, { repairTurns: 0 });
    const [, b] = await runBoth({ ...parsed, integrationCheck: { ...parsed.integrationCheck, testMerged: false } });
    expect(b.outcome).toMatchObject({ status: 'completed' });
    expect(greenness(base)).toEqual([false, true]);
  }, 90_000);

  it('integrationCheck.command runs on every merged result; a failing one keeps main where it was', async () => {
    const before = repo.git(['rev-parse', 'main']);
    const parsed = buildOptions({ '*': {} });
    const check = [process.execPath, '-e', "process.exit(require('node:fs').existsSync('src/a.js') ? 3 : 0)"];
    const r = await run('CHECKED--T01', { ...parsed, agent: { ...parsed.agent, repairTurns: 0 }, integrationCheck: { ...parsed.integrationCheck, command: check } });
    expect(r.outcome).toMatchObject({ status: 'blocked', reason: 'integration_check_failed' });
    expect(String(r.outcome.error)).toContain('exited with 3 on the merged result');
    expect(repo.git(['rev-parse', 'main'])).toBe(before);
    expect(fs.existsSync(path.join(repo.root, '.vtm/results/CHECKED--T01/integration-check.log'))).toBe(true);
  }, 60_000);
});
