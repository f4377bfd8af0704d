/**
 * Agent invocation done right, through the real nx CLI: stand-in programs named like the real agent CLIs (claude,
 * codex, gemini, opencode) on PATH, speaking their documented output formats; real git worktrees, diff audit,
 * verification and merges. The verdict must come from the diff and the tests, never from the agent's word.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestWorkspace, type TestWorkspace } from '../support/workspace';
import { fakeAgentEnv, ensureFakeAgentsExecutable } from '../../packages/nx-vtm/src/agents/__fixtures__/fake-agents';

const MANIFEST = 'docs/backlog/virtual-task-manifest.json';
const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream'];
const workspaces: TestWorkspace[] = [];
afterAll(() => workspaces.forEach((w) => w.remove()));
beforeAll(() => ensureFakeAgentsExecutable());

/** A test that passes once the agent created (or edited) the file. */
const existsTest = (file: string) =>
  `const test = require('node:test');\nconst assert = require('node:assert');\nconst fs = require('node:fs');\n` +
  `test('${file} exists', () => assert.ok(fs.existsSync(${JSON.stringify(file)})));\n`;

function task(id: string, file: string, over: Record<string, unknown> = {}) {
  const testFile = `test/${id.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.test.js`;
  return {
    task: {
      task_id: id,
      capability_id: id.split('--')[0],
      phase: 'Phase 1',
      slice: 'Slice 1.1',
      title: `Implement ${id}`,
      acceptance_criteria: [{ id: `${id}-AC01`, text: `${file} exists` }],
      risk: 'Low',
      file_scope: [file],
      test_verification: [testFile],
      ...over,
    },
    files: { [testFile]: existsTest(file) } as Record<string, string>,
  };
}

function setup({
  tasks,
  agent = {},
  fake = {},
  files = {},
}: {
  tasks: ReturnType<typeof task>[];
  agent?: Record<string, unknown>;
  fake?: Parameters<typeof fakeAgentEnv>[0];
  files?: Record<string, string>;
}) {
  const root = `${require('node:os').tmpdir()}/vtm-agents-${process.pid}-${workspaces.length}`;
  const record = `${root}.record`;
  const log = `${root}.agents.log`;
  const ws = createTestWorkspace({
    root,
    plugins: [
      {
        plugin: 'nx-vtm',
        options: {
          pollMs: 100,
          agent: { adapter: 'claude', timeoutMs: 60_000, retries: 0, env: fakeAgentEnv({ recordDir: record, logFile: log, ...fake }), ...agent },
        },
      },
    ],
    files: { [MANIFEST]: { tasks: tasks.map((t) => t.task) }, ...Object.assign({}, ...tasks.map((t) => t.files)), ...files },
  });
  workspaces.push(ws);
  const recorded = () =>
    existsSync(record)
      ? readdirSync(record)
          .filter((f) => f.endsWith('.env.json'))
          .map((f) => ({ file: f, ...JSON.parse(readFileSync(join(record, f), 'utf8')) }))
      : [];
  const state = () => JSON.parse(ws.read('docs/backlog/task-state.json')).tasks as Record<string, Record<string, unknown>>;
  return { ws, recorded, state, log };
}

const onMain = (ws: TestWorkspace, file: string) => ws.git(['ls-tree', '-r', '--name-only', 'main']).split('\n').includes(file);

describe('real agent CLIs (stand-ins on PATH)', () => {
  it('good path: claude completes, the diff is in scope, tests pass, the work is merged', () => {
    const { ws, recorded, state } = setup({ tasks: [task('GOOD--T01', 'src/good.js')] });
    const r = ws.nx(SLICE);
    expect(r.code).toBe(0);
    expect(state()['GOOD--T01']).toMatchObject({ status: 'completed', files_modified: ['src/good.js'], test_results: { total: 1, passing: 1, failing: 0 } });
    expect(onMain(ws, 'src/good.js')).toBe(true);
    expect(ws.git(['log', '--format=%s', 'main'])).toContain('feat(GOOD--T01): Implement GOOD--T01');
    // The agent ran in the task's worktree, not in the main checkout.
    const [env] = recorded();
    expect(env.cwd).toBe(join(ws.root, '.vtm/worktrees/GOOD--T01'));
    expect(env.VTM_TASK_ID).toBe('GOOD--T01');
    // Audit trail.
    const dir = join(ws.root, '.vtm/results/GOOD--T01');
    for (const f of ['prompt.md', 'task.json', 'outcome.json', 'verify.log', 'diff.patch']) expect(existsSync(join(dir, f))).toBe(true);
    expect(readFileSync(join(dir, 'diff.patch'), 'utf8')).toContain('src/good.js');
    expect(existsSync(join(ws.root, '.vtm/worktrees/GOOD--T01'))).toBe(false); // removed after success
  });

  it('routes tasks to codex, gemini and opencode (nx.json rules, or the task field among them), each speaking its own format', () => {
    const { ws, recorded, state } = setup({
      tasks: [
        task('CODEX--T01', 'src/codex.js'),
        task('GEMINI--T01', 'src/gemini.js'),
        // The task field may pick any CLI nx.json configures (here through the rules below).
        task('OPEN--T01', 'src/open.js', { agent: { adapter: 'opencode' } }),
      ],
      agent: {
        rules: [
          { match: { taskIdPattern: '^CODEX--' }, agent: { adapter: 'codex' } },
          { match: { taskIdPattern: '^GEMINI--' }, agent: { adapter: 'gemini' } },
          { match: { taskIdPattern: '^NONE--' }, agent: { adapter: 'opencode' } },
        ],
      },
    });
    const r = ws.nx(SLICE);
    expect(r.code).toBe(0);
    for (const id of ['CODEX--T01', 'GEMINI--T01', 'OPEN--T01']) expect(state()[id].status).toBe('completed');
    expect(recorded().map((e) => e.file.split('-')[0]).sort()).toEqual(['codex', 'gemini', 'opencode']);
    expect(state()['OPEN--T01'].cost).toMatchObject({ adapter: 'opencode' });
  });

  // The next three cases show what a person finds when repair turns are off (or used up): repair.e2e.ts has them on.
  it('an edit outside the file scope blocks the task (scope_violation) and is not merged', () => {
    const { ws, state } = setup({ tasks: [task('SCOPE--T01', 'src/scope.js')], fake: { mode: 'edit-out-of-scope', outOfScopeFile: 'package.json' }, agent: { repairTurns: 0 } });
    const r = ws.nx(SLICE);
    expect(r.code).not.toBe(0);
    expect(state()['SCOPE--T01']).toMatchObject({ status: 'blocked', reason: 'scope_violation', outside_scope: ['package.json'] });
    expect(onMain(ws, 'src/scope.js')).toBe(false);
    expect(JSON.parse(ws.read('package.json')).name).toBe('vtm-e2e-workspace');
    expect(existsSync(join(ws.root, '.vtm/worktrees/SCOPE--T01'))).toBe(true); // kept for inspection
    expect(r.output).toContain('package.json');
  });

  it('an API error reported with exit code 0 is a failure, not a success', () => {
    const { ws, state } = setup({ tasks: [task('APIERR--T01', 'src/apierr.js')], fake: { mode: 'is_error' } });
    const r = ws.nx(SLICE);
    expect(r.code).not.toBe(0);
    expect(state()['APIERR--T01']).toMatchObject({ status: 'blocked', reason: 'agent_failed' });
    expect(onMain(ws, 'src/apierr.js')).toBe(false);
  });

  it('a failing verification test blocks the task (verification_failed) even though the agent says completed', () => {
    const t = task('TESTFAIL--T01', 'src/tf.js');
    const testFile = Object.keys(t.files)[0];
    t.files[testFile] = `const test = require('node:test');\nconst assert = require('node:assert');\ntest('needs a real implementation', () => assert.match(require('node:fs').readFileSync('src/tf.js', 'utf8'), /IMPLEMENTED/));\n`;
    const { ws, state } = setup({ tasks: [t], agent: { repairTurns: 0 } });
    const r = ws.nx(SLICE);
    expect(r.code).not.toBe(0);
    expect(state()['TESTFAIL--T01']).toMatchObject({ status: 'blocked', reason: 'verification_failed', test_results: { total: 1, passing: 0, failing: 1 } });
    expect(onMain(ws, 'src/tf.js')).toBe(false);
    expect(readFileSync(join(ws.root, '.vtm/results/TESTFAIL--T01/verify.log'), 'utf8')).toMatch(/IMPLEMENTED/);
  });

  it('a merge conflict blocks the task (merge_conflict), keeps its branch and leaves the checkout clean', async () => {
    const { ws, state, log } = setup({
      tasks: [task('CONFLICT--T01', 'src/conflict.js')],
      files: { 'src/conflict.js': 'original\n' },
      fake: { delayMs: 2500 },
      agent: { repairTurns: 0 },
    });
    const child = spawn(process.execPath, [join(ws.root, 'node_modules/nx/dist/bin/nx.js'), ...SLICE], {
      cwd: ws.root,
      env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', CI: 'true' },
      stdio: 'ignore',
    });
    const exit = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    // While the agent works in its worktree, someone changes the same lines on main.
    const deadline = Date.now() + 60_000;
    while (!(existsSync(log) && readFileSync(log, 'utf8').includes('"start"')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    writeFileSync(join(ws.root, 'src/conflict.js'), 'changed on main\n');
    ws.git(['commit', '-q', '-m', 'change on main', '--', 'src/conflict.js']);
    expect(await exit).not.toBe(0);
    expect(state()['CONFLICT--T01']).toMatchObject({ status: 'blocked', reason: 'merge_conflict', conflicted_paths: ['src/conflict.js'] });
    expect(ws.git(['status', '--porcelain', '--untracked-files=no'])).toBe('');
    expect(ws.read('src/conflict.js')).toBe('changed on main\n');
    expect(ws.git(['rev-parse', '--verify', '--quiet', 'refs/heads/vtm/CONFLICT--T01']).trim()).toMatch(/^[0-9a-f]{40}$/); // kept (checked out in its worktree)

    // The user merges the kept branch by hand; the next run records the task completed without calling the agent.
    spawnSync('git', ['merge', 'vtm/CONFLICT--T01'], { cwd: ws.root });
    writeFileSync(join(ws.root, 'src/conflict.js'), 'changed on main\n// edited by fake claude for CONFLICT--T01\n');
    ws.git(['add', 'src/conflict.js']);
    ws.git(['commit', '-q', '--no-edit']);
    const starts = () => readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"start"')).length;
    const before = starts();
    const again = ws.nx(SLICE);
    expect(again.code).toBe(0);
    expect(again.output).toContain('merged by hand');
    expect(state()['CONFLICT--T01']).toMatchObject({ status: 'completed', integration: { status: 'merged_by_hand' } });
    expect(starts()).toBe(before);
  });

  it("a dependent task's worktree contains its dependency's integrated work", () => {
    const dep = task('DEP--T01', 'src/dep.js');
    const child = task('CHILD--T01', 'src/child.js', { depends_on_tasks: ['DEP--T01'] });
    // The child's verification only passes where the dependency's file exists.
    child.files[Object.keys(child.files)[0]] = existsTest('src/dep.js');
    const { ws, state, recorded } = setup({ tasks: [dep, child] });
    const r = ws.nx(SLICE);
    expect(r.code).toBe(0);
    expect(state()['CHILD--T01'].status).toBe('completed');
    for (const e of recorded()) expect(e.cwd).toContain(join(ws.root, '.vtm/worktrees'));
  });

  it('integration "branch" leaves each task on its branch, stacked on its dependencies, and main untouched', () => {
    const dep = task('BR_DEP--T01', 'src/br-dep.js');
    const child = task('BR_CHILD--T01', 'src/br-child.js', { depends_on_tasks: ['BR_DEP--T01'] });
    child.files[Object.keys(child.files)[0]] = existsTest('src/br-dep.js'); // passes only on top of the dependency
    const { ws, state } = setup({ tasks: [dep, child], agent: {} });
    const nxJson = JSON.parse(ws.read('nx.json'));
    nxJson.plugins[0].options.integration = 'branch';
    ws.write('nx.json', nxJson);
    ws.commitAll('branch integration');
    const mainBefore = ws.git(['rev-parse', 'main']).trim();
    const r = ws.nx(SLICE);
    expect(r.code).toBe(0);
    expect(state()['BR_CHILD--T01']).toMatchObject({ status: 'completed', integration: { status: 'branch_left' } });
    expect(ws.git(['rev-parse', 'main']).trim()).toBe(mainBefore);
    const childFiles = ws.git(['ls-tree', '-r', '--name-only', 'vtm/BR_CHILD--T01']).split('\n');
    expect(childFiles).toEqual(expect.arrayContaining(['src/br-dep.js', 'src/br-child.js']));
  });
});
