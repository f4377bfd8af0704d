import * as fs from 'node:fs';
import * as path from 'node:path';
import { isSingleTaskRequest } from '../../planning/plan';
import { makeCliWorkspace, MANIFEST_FILE, type CliWorkspaceFixture } from '../test-support/cli-workspace';

// Real CLI processes and a real planner process on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(90_000);

const PLANNER = path.resolve(__dirname, '../../planning/__fixtures__/planner.js');
const REQUEST = 'Add OAuth login with GitHub and Google, and a settings page to link accounts';

let ws: CliWorkspaceFixture;
afterEach(() => ws?.cleanup());

const withPlanner = (mode: string) => makeCliWorkspace({ pluginOptions: { agent: { adapter: 'command', command: ['node', PLANNER, mode] } } });
const manifest = () => JSON.parse(fs.readFileSync(path.join(ws.root, MANIFEST_FILE), 'utf8')) as { tasks: { task_id: string }[] };

describe('nx-vtm plan', () => {
  it('triage: a small request is one task, without asking a planner', async () => {
    expect(isSingleTaskRequest('Add a --verbose flag to the CLI')).toBe(true);
    expect(isSingleTaskRequest(REQUEST)).toBe(false);
    ws = makeCliWorkspace();
    const r = await ws.runCli(['plan', 'Add a verbose flag to the CLI']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1 task added to docs/backlog/virtual-task-manifest.json (one task: no planner needed): ADD_A_VERBOSE_FLAG_TO_THE_CLI--T01');
    expect(manifest().tasks.map((t) => t.task_id)).toEqual(['A', 'B', 'H', 'C', 'ADD_A_VERBOSE_FLAG_TO_THE_CLI--T01']);
  });

  it('asks the planner, sends every problem back for repair, and writes the valid plan', async () => {
    ws = withPlanner('repair');
    const r = await ws.runCli(['plan', REQUEST]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('nx-vtm plan: round 1: 3 problems; asking the planner to repair them');
    expect(r.stdout).toContain('2 tasks added to docs/backlog/virtual-task-manifest.json (2 planner rounds): OAUTH--T01, OAUTH--T02');
    expect(manifest().tasks.map((t) => t.task_id)).toEqual(['A', 'B', 'H', 'C', 'OAUTH--T01', 'OAUTH--T02']);

    const first = fs.readFileSync(path.join(ws.root, '.planner/prompt-1.txt'), 'utf8');
    expect(first).toMatch(/^VTM_PLAN=1\n/);
    expect(first).toContain(REQUEST);
    expect(first).toContain('- A: Do A [src/a/]');
    expect(first).toContain('"title":"Virtual Task Manifest"');
    const repair = fs.readFileSync(path.join(ws.root, '.planner/prompt-2.txt'), 'utf8');
    expect(repair).toContain('## Repair round 2');
    expect(repair).toContain('tasks[0].task_id');
    expect(repair).toContain('"A" is already a task of the existing manifest');
    expect(repair).toContain('OAUTH--T02');
    expect(repair).toContain('tasks[1].acceptance_criteria');
    expect(repair).toContain('tasks[2].depends_on_tasks[0]');
  });

  it('never valid: exit 1 after the bounded rounds, the problems reported, the manifest untouched', async () => {
    ws = withPlanner('never');
    const before = fs.readFileSync(path.join(ws.root, MANIFEST_FILE), 'utf8');
    const r = await ws.runCli(['plan', REQUEST, '--max-rounds', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no valid plan after 2 rounds; docs/backlog/virtual-task-manifest.json was not changed');
    expect(r.stderr).toContain('tasks[1].acceptance_criteria');
    expect(fs.existsSync(path.join(ws.root, '.planner/prompt-3.txt'))).toBe(false);
    expect(fs.readFileSync(path.join(ws.root, MANIFEST_FILE), 'utf8')).toBe(before);
  });

  it('retries a transient planner failure with backoff, then goes on with the rounds', async () => {
    ws = makeCliWorkspace({ pluginOptions: { agent: { adapter: 'command', command: ['node', PLANNER, 'flaky'], retries: 1, backoffMs: 10 } } });
    const r = await ws.runCli(['plan', REQUEST]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/round 1: the planner \["node",".*planner\.js","flaky"\] exited with 75 in round 1: model overloaded, try again; retrying in \d+\.\d s \(retry 1 of 1\)/);
    expect(r.stdout).toContain('2 tasks added to docs/backlog/virtual-task-manifest.json (2 planner rounds)');
    expect(fs.readFileSync(path.join(ws.root, '.planner/calls'), 'utf8')).toBe('1\n1\n2\n');
  });

  it('out of retries: the transient failure is reported and the manifest untouched', async () => {
    ws = makeCliWorkspace({ pluginOptions: { agent: { adapter: 'command', command: ['node', PLANNER, 'flaky'], retries: 0 } } });
    const before = fs.readFileSync(path.join(ws.root, MANIFEST_FILE), 'utf8');
    const r = await ws.runCli(['plan', REQUEST]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('exited with 75 in round 1: model overloaded, try again; the manifest was not changed');
    expect(fs.readFileSync(path.join(ws.root, MANIFEST_FILE), 'utf8')).toBe(before);
  });

  it('a planner that is not installed hands the plan to agent.fallback', async () => {
    ws = makeCliWorkspace({
      pluginOptions: { agent: { adapter: 'command', command: ['/nonexistent/planner-bin'], fallback: { adapter: 'command', command: ['node', PLANNER, 'repair'] } } },
    });
    const r = await ws.runCli(['plan', REQUEST]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("nx-vtm plan: round 1: the planner '/nonexistent/planner-bin' could not be started");
    expect(r.stderr).toContain('planning with the fallback command');
    expect(r.stdout).toContain('2 tasks added to docs/backlog/virtual-task-manifest.json (2 planner rounds)');
  });

  it('--dry-run prints the manifest with the plan and writes nothing', async () => {
    ws = withPlanner('repair');
    const before = fs.readFileSync(path.join(ws.root, MANIFEST_FILE), 'utf8');
    const r = await ws.runCli(['plan', REQUEST, '--dry-run']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { tasks: { task_id: string }[] }).tasks.map((t) => t.task_id)).toContain('OAUTH--T02');
    expect(fs.readFileSync(path.join(ws.root, MANIFEST_FILE), 'utf8')).toBe(before);
  });
});
