/**
 * A shared PostgreSQL coordinator through the real nx CLI: two checkouts of one backlog (two "machines"), each running
 * `nx run-many -t implement` over the same tasks at the same time with a sleeping agent. Every task's agent runs once
 * in total, and never more agents at once than the WIP limit across both checkouts. With the `remote` option the
 * work crosses machines too: both clones of one bare remote merge and push, and a dependent that runs on the other
 * clone starts from the fetched branch holding its dependency's work.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { startPostgresServer, type PostgresServer } from '../../packages/nx-vtm/src/state/test-support/postgres-server';
import { startRemoteCacheServer } from '../support/remote-cache-server';
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

const readLog = (file: string): AgentEvent[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AgentEvent)
    : [];

/** Two clones of one bare remote ("machines" A and B), each with the shared coordinator and the remote option. */
function createClones(tasks: Record<string, unknown>[], namespace: string, extra: Record<string, unknown> = {}) {
  const options = { wipLimit: 2, coordinator: { type: 'postgres', url: 'env:VTM_PG_URL', namespace }, remote: 'origin', ...extra };
  const a = createAgentWorkspace({ tasks, options });
  workspaces.push(a);
  const bare = `${a.root}.remote.git`;
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  a.git(['remote', 'add', 'origin', bare]);
  a.git(['push', '-q', 'origin', 'main']);
  // The second machine: the same workspace, on the remote's history.
  const b = createAgentWorkspace({ tasks, options });
  workspaces.push(b);
  b.git(['remote', 'add', 'origin', bare]);
  b.git(['fetch', '-q', 'origin']);
  b.git(['reset', '-q', '--hard', 'origin/main']);
  const inBare = (args: string[]) => execFileSync('git', args, { cwd: bare, encoding: 'utf8' }).trim();
  const contains = (ancestor: string, descendant: string) => {
    try {
      execFileSync('git', ['merge-base', '--is-ancestor', ancestor, descendant], { cwd: bare, stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  return { a, b, bare, inBare, contains, sharedLog: `${a.root}.shared-agent.log` };
}

/**
 * A runs `first` (its selection holds `head`), and B starts `second` once A's agent for `head` is at work, so B sees
 * `head` claimed and waits for it: a dependent only B selects then runs on B, after `head` completed on A.
 */
async function runBoth({ a, b, sharedLog, head, first, second }: { a: AgentWorkspace; b: AgentWorkspace; sharedLog: string; head: string; first: string[]; second: string[] }) {
  const env = { VTM_PG_URL: pg.url, SCRIPTED_AGENT_LOG: sharedLog };
  const plan = { '*': { sleepMs: 1_500 } };
  const projects = (ids: string[]) => ['run-many', '-t', 'implement', `--projects=${ids.join(',')}`, '--outputStyle=stream'];
  const runA = a.runAsync(projects(first), plan, env);
  const deadline = Date.now() + 90_000;
  while (!readLog(sharedLog).some((e) => e.event === 'start' && e.taskId === head)) {
    if (Date.now() > deadline) throw new Error(`A never started ${head}:\n${(await runA).output.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const [ra, rb] = await Promise.all([runA, b.runAsync(projects(second), plan, env)]);
  if (ra.code !== 0) throw new Error(`clone A failed:\n${ra.output.slice(-3000)}`);
  if (rb.code !== 0) throw new Error(`clone B failed:\n${rb.output.slice(-3000)}`);
  return readLog(sharedLog);
}

it('two clones of one remote: every task\'s work reaches the remote, and a dependent on the other clone starts from its dependency\'s work', async () => {
  const [T1, T2, T3] = ['CHAIN--T01', 'CHAIN--T02', 'CHAIN--T03'];
  const solos = ['SOLO--T01', 'SOLO--T02', 'SOLO--T03'];
  const tasks = [task(T1), task(T2, { depends_on_tasks: [T1] }), task(T3, { depends_on_tasks: [T2] }), ...solos.map((id) => task(id))];
  const { a, b, bare, inBare, contains, sharedLog } = createClones(tasks, 'team-remote-e2e');
  try {
    // Overlapping selections: the solo tasks on both; the chain split so that T2 can only run on B (A never selects
    // it) while T1 runs on A. T3 (B's selection) may run on either.
    const log = await runBoth({ a, b, sharedLog, head: T1, first: [T1, ...solos], second: [T3, ...solos] });
    const starts = log.filter((e) => e.event === 'start');
    // Every agent ran exactly once, across both clones.
    expect(starts.map((e) => e.taskId).sort()).toEqual(tasks.map((t) => t.task_id as string).sort());
    expect(getMaxConcurrency(getIntervals(log))).toBeLessThanOrEqual(2);
    const ranOn = (id: string) => starts.find((e) => e.taskId === id)!.cwd;
    expect(ranOn(T1).startsWith(a.root)).toBe(true);
    expect(ranOn(T2).startsWith(b.root)).toBe(true);

    // The remote's main holds every task's commit and files.
    const taskCommit = (id: string) => inBare(['log', '--format=%H', `--grep=^feat(${id})`, 'main']);
    for (const t of tasks) expect(taskCommit(t.task_id as string)).toMatch(/^[0-9a-f]{40}$/);
    const files = inBare(['ls-tree', '-r', '--name-only', 'main']).split('\n');
    for (const t of tasks) expect(files).toContain(`src/${(t.task_id as string).toLowerCase().replace(/[^a-z0-9]+/g, '-')}.js`);
    // Each dependent's own commit sits on top of its dependency's: its worktree started from a branch holding it
    // (T2 on the other clone than T1, whose work it could only have had through the remote).
    expect(contains(taskCommit(T1), taskCommit(T2))).toBe(true);
    expect(contains(taskCommit(T2), taskCommit(T3))).toBe(true);
    // Both clones end on the remote's main or behind it (nothing unpushed), and saw their selection completed (each
    // clone's task-state.json is the shared state as of its own last change: A's selection never included T2 and T3).
    for (const [w, selected] of [
      [a, [T1, ...solos]],
      [b, tasks.map((t) => t.task_id as string)],
    ] as const) {
      expect(contains(w.git(['rev-parse', 'main']).trim(), inBare(['rev-parse', 'main']))).toBe(true);
      const state = w.state().tasks;
      for (const id of selected) expect(state[id]).toMatchObject({ status: 'completed' });
    }
  } finally {
    rmSync(sharedLog, { force: true });
    rmSync(bare, { recursive: true, force: true });
  }
});

it('integration "branch" with a remote: each vtm/<id> is pushed, and a dependent on the other clone stacks on its dependency\'s pushed branch', async () => {
  const [T1, T2] = ['STACK--T01', 'STACK--T02'];
  const tasks = [task(T1), task(T2, { depends_on_tasks: [T1] })];
  const { a, b, bare, inBare, contains, sharedLog } = createClones(tasks, 'team-branch-e2e', { integration: 'branch' });
  try {
    const log = await runBoth({ a, b, sharedLog, head: T1, first: [T1], second: [T2] });
    const starts = log.filter((e) => e.event === 'start');
    expect(starts.map((e) => e.taskId).sort()).toEqual([T1, T2]);
    expect(starts.find((e) => e.taskId === T2)!.cwd.startsWith(b.root)).toBe(true);
    const tip = (id: string) => inBare(['rev-parse', `refs/heads/vtm/${id}`]);
    expect(tip(T1)).toMatch(/^[0-9a-f]{40}$/);
    // B never had vtm/T1 of its own: T2's branch contains T1's because B fetched it from the remote.
    expect(contains(tip(T1), tip(T2))).toBe(true);
    // Nothing was merged into main.
    expect(inBare(['rev-parse', 'main'])).toBe(a.git(['rev-parse', 'main']).trim());
  } finally {
    rmSync(sharedLog, { force: true });
    rmSync(bare, { recursive: true, force: true });
  }
});

it('a result another clone cached (shared Nx remote cache) is recognised on the fetched branch, never applied as a second commit', async () => {
  const tasks = [task('CACHED--T01'), task('CACHED--T02', { depends_on_tasks: ['CACHED--T01'] })];
  const { a, b, bare, inBare, sharedLog } = createClones(tasks, 'team-cache-e2e');
  const cache = await startRemoteCacheServer();
  const env = { VTM_PG_URL: pg.url, SCRIPTED_AGENT_LOG: sharedLog, ...cache.env };
  try {
    const ra = await a.runAsync(SLICE, {}, env);
    if (ra.code !== 0) throw new Error(`clone A failed:\n${ra.output.slice(-3000)}`);
    // B runs the same slice afterwards: Nx serves both results from its cache, made on A.
    const rb = await b.runAsync(SLICE, {}, env);
    if (rb.code !== 0) throw new Error(`clone B failed:\n${rb.output.slice(-3000)}`);
    // (Local or remote: the e2e workspaces of one test run also share Nx's local cache.)
    expect(rb.output).toMatch(/0 completed, 2 from cache/);
    expect(readLog(sharedLog).filter((e) => e.event === 'start')).toHaveLength(2);
    // B's main is the remote's: A's merges were fetched, not re-applied from the cached patches as B's own commits.
    expect(b.git(['rev-parse', 'main']).trim()).toBe(inBare(['rev-parse', 'main']));
    expect(b.git(['log', '--format=%B', 'main'])).not.toMatch(/Applied from the Nx cache/);
  } finally {
    await cache.close();
    rmSync(sharedLog, { force: true });
    rmSync(bare, { recursive: true, force: true });
  }
});
