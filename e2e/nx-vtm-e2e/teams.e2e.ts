/**
 * A shared PostgreSQL coordinator through the real nx CLI: two checkouts of one backlog (two "machines"), each running
 * `nx run-many -t implement` over the same tasks at the same time with a sleeping agent. Every task's agent runs once
 * in total, and never more agents at once than the WIP limit across both checkouts.
 */
import { readFileSync, rmSync } from 'node:fs';
import { startPostgresServer, type PostgresServer } from '../../packages/nx-vtm/src/state/test-support/postgres-server';
import { createAgentWorkspace, getIntervals, getMaxConcurrency, task, type AgentEvent, type AgentWorkspace } from '../support/vtm';

const workspaces: AgentWorkspace[] = [];
let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgresServer();
}, 60_000);
afterAll(async () => {
  workspaces.forEach((w) => w.remove());
  await pg?.stop();
});

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream'];

it('two checkouts sharing one coordinator run every agent once, within one WIP limit', async () => {
  const tasks = ['ALPHA', 'BRAVO', 'CHARLIE', 'DELTA', 'ECHO', 'FOXTROT'].map((n) => task(`${n}--T01`));
  const options = { wipLimit: 2, coordinator: { type: 'postgres', url: 'env:VTM_PG_URL', namespace: 'team-e2e' } };
  const [a, b] = [0, 1].map(() => {
    const w = createAgentWorkspace({ tasks, options });
    workspaces.push(w);
    return w;
  }) as [AgentWorkspace, AgentWorkspace];
  // One agent log for both machines: the intervals of every agent run, wherever it ran.
  const sharedLog = `${a.root}.shared-agent.log`;
  const env = { VTM_PG_URL: pg.url, SCRIPTED_AGENT_LOG: sharedLog };
  const plan = { '*': { sleepMs: 1_500 } };
  try {
    const [ra, rb] = await Promise.all([a.runAsync(SLICE, plan, env), b.runAsync(SLICE, plan, env)]);
    if (ra.code !== 0) throw new Error(`checkout A failed:\n${ra.output.slice(-3000)}`);
    if (rb.code !== 0) throw new Error(`checkout B failed:\n${rb.output.slice(-3000)}`);

    const log: AgentEvent[] = readFileSync(sharedLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AgentEvent);
    const starts = log.filter((e) => e.event === 'start').map((e) => e.taskId);
    expect([...starts].sort()).toEqual(tasks.map((t) => t.task_id as string).sort());
    const intervals = getIntervals(log);
    expect(intervals).toHaveLength(tasks.length);
    expect(getMaxConcurrency(intervals)).toBeLessThanOrEqual(2);
    // The checkouts really ran side by side: one of them saw the other's claims (on this host: the other checkout's pid)
    // and waited instead of running those tasks. Which one ran more is a race (the process freeing a slot usually
    // takes it again first); the limits are what must hold.
    expect(`${ra.output}\n${rb.output}`).toMatch(/waiting: running in another process \(pid \d+ on /);
    expect(getMaxConcurrency(intervals)).toBe(2);
    // Each checkout's task-state.json shows every task completed (some of them by the other checkout).
    for (const w of [a, b]) {
      const state = w.state().tasks;
      for (const t of tasks) expect(state[t.task_id as string]).toMatchObject({ status: 'completed' });
    }
  } finally {
    rmSync(sharedLog, { force: true });
  }
});
