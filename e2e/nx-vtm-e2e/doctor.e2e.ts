/**
 * `nx-vtm doctor` and the run's agent preconditions through the real nx CLI, real git and the installed plugin: an
 * agent whose program is not installed refuses the run before any task is claimed (nothing recorded, no agent
 * started), and doctor exits non-zero naming the agent and the remedy. A working fallback stands in for a missing
 * binary, as routing does at run time.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAgentWorkspace, SCRIPTED_AGENT, task, type AgentWorkspace } from '../support/vtm';
import { removeAfterAll } from '../support/workspace';

const removeLater = removeAfterAll<AgentWorkspace>();

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream'];
const MISSING = 'vtm-agent-not-installed-here';

/** The installed plugin's command line, as `npx nx-vtm` runs it. */
const doctor = (ws: AgentWorkspace, args: string[] = []) => {
  const r = spawnSync(process.execPath, [join(ws.root, 'node_modules/nx-vtm/src/cli/main.js'), 'doctor', ...args], {
    cwd: ws.root,
    encoding: 'utf8',
    env: { ...process.env, NX_DAEMON: 'false', NO_COLOR: '1' },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('an agent that cannot run (real nx, real git)', () => {
  let ws: AgentWorkspace;
  beforeAll(() => {
    ws = createAgentWorkspace({
      tasks: [
        task('BASE--T01'),
        task('UI--T01', { depends_on_tasks: ['BASE--T01'], tags: ['ui'] }),
        // Outside the run (another slice): a dependent the post-run hook would mark dependency_failed after a failure.
        task('DOWN--T01', { depends_on_tasks: ['UI--T01'], slice: 'Slice 1.2' }),
      ],
      options: { agent: { adapter: 'command', command: [process.execPath, SCRIPTED_AGENT], rules: [{ match: { tags: ['ui'] }, agent: { command: [MISSING, '--task'] } }] } },
    });
    removeLater(ws);
  });

  it('refuses the run before any claim: BLOCKED::AGENT-UNAVAILABLE names the agent, its task and the remedy; nothing changes', () => {
    const head = ws.git(['rev-parse', 'HEAD']);
    const r = ws.run(SLICE);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(
      `BLOCKED::AGENT-UNAVAILABLE: an agent the tasks route to cannot run here; no task was started (check with \`npx nx-vtm doctor\`):`,
    );
    expect(r.output).toContain(`agent.rules[0].agent: command '${MISSING}' is not found (not on PATH); install it or fix agent.rules[0].agent.command[0], or configure agent.fallback (tasks UI--T01)`);
    // No agent started (not even BASE's, whose agent exists), no task recorded (DOWN's neither), no commit, no worktree.
    expect(ws.agentEvents()).toEqual([]);
    const stateFile = join(ws.root, 'docs/backlog/task-state.json');
    const tasks = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')).tasks as Record<string, { status: string }>) : {};
    expect(Object.values(tasks).filter((t) => t.status !== 'pending')).toEqual([]);
    const events = existsSync(join(ws.root, '.vtm/events.jsonl')) ? readFileSync(join(ws.root, '.vtm/events.jsonl'), 'utf8') : '';
    expect(events).not.toMatch(/"type":"(claim|start|finish|outcome)"/);
    expect(ws.git(['rev-parse', 'HEAD'])).toBe(head);
    expect(existsSync(join(ws.root, '.vtm/worktrees/BASE--T01'))).toBe(false);
  });

  it('doctor exits 1 naming the agent and the remedy, and passes the agent that can run', () => {
    const r = doctor(ws);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`  ok   agent: command (${process.execPath})`);
    expect(r.stdout).toContain(`  FAIL agent.rules[0].agent: command (${MISSING})`);
    expect(r.stdout).toContain(`agent.rules[0].agent: command '${MISSING}' is not found (not on PATH); install it or fix agent.rules[0].agent.command[0], or configure agent.fallback`);
    expect(r.stdout).toMatch(/ {2}ok {3}git: \d+\.\d+\.\d+ at /);
    expect(r.stdout).toMatch(/ {2}ok {3}nx: 24\.\d+\.\d+ at /);
    expect(r.stdout).toContain('  ok   state-store: .vtm/state.db');
    const j = doctor(ws, ['--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, agents: [{ where: 'agent', level: 'ok' }, { where: 'agent.rules[0].agent', level: 'fail', unavailable: true }] });
  });

  it('runs once the program is there: with a fallback that can run, the tasks complete', () => {
    ws.write('nx.json', {
      ...JSON.parse(ws.read('nx.json')),
      plugins: [
        {
          plugin: 'nx-vtm',
          options: {
            pollMs: 100,
            agent: {
              adapter: 'command',
              command: [process.execPath, SCRIPTED_AGENT],
              timeoutMs: 60_000,
              rules: [{ match: { tags: ['ui'] }, agent: { command: [MISSING] } }],
              fallback: { command: [process.execPath, SCRIPTED_AGENT] },
            },
          },
        },
      ],
    });
    ws.commitAll('fallback agent');
    const r = ws.run(SLICE);
    expect(r.output).toContain(`agent.rules[0].agent: command '${MISSING}' is not found (not on PATH)`);
    expect(r.output).toContain('its tasks run with the fallback command');
    expect(r.code).toBe(0);
    expect(ws.state().tasks['UI--T01']).toMatchObject({ status: 'completed' });
    expect(ws.state().tasks['DOWN--T01']).toMatchObject({ status: 'pending' });
  });
});
