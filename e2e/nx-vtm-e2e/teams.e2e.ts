/**
 * A shared PostgreSQL coordinator through the real nx CLI: two checkouts of one backlog (two "machines"), each running
 * `nx run-many -t implement` over the same tasks at the same time with a sleeping agent. Every task's agent runs once
 * in total, and never more agents at once than the WIP limit across both checkouts. With the `remote` option the
 * work crosses machines too: both clones of one bare remote merge and push, and a dependent that runs on the other
 * clone starts from the fetched branch holding its dependency's work.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { startPostgresServer, type PostgresServer } from '../../packages/nx-vtm/src/state/test-support/postgres-server';
import { startRemoteCacheServer } from '../support/remote-cache-server';
import { createAgentWorkspace, getIntervals, getMaxConcurrency, task, type AgentEvent, type AgentWorkspace } from '../support/vtm';
import { removeAfterAll } from '../support/workspace';

const removeLater = removeAfterAll<AgentWorkspace>();
let pg: PostgresServer;
beforeAll(async () => {
  pg = await startPostgresServer();
}, 60_000);
afterAll(async () => {
  await pg?.stop();
});

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream'];

it('two checkouts sharing one coordinator run every agent once, within one WIP limit', async () => {
  const tasks = ['ALPHA', 'BRAVO', 'CHARLIE', 'DELTA', 'ECHO', 'FOXTROT'].map((n) => task(`${n}--T01`));
  const options = { wipLimit: 2, coordinator: { type: 'postgres', url: 'env:VTM_PG_URL', namespace: 'team-e2e' } };
  const [a, b] = [0, 1].map(() => {
    const w = createAgentWorkspace({ tasks, options });
    removeLater(w);
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
  removeLater(a);
  const bare = `${a.root}.remote.git`;
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  a.git(['remote', 'add', 'origin', bare]);
  a.git(['push', '-q', 'origin', 'main']);
  // The second machine: the same workspace, on the remote's history.
  const b = createAgentWorkspace({ tasks, options });
  removeLater(b);
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

/** Reads the shared database (the events every machine logged, the server's clock). */
async function queryPg<T>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: pg.url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

/** `nx run-many` in a process group of its own, so the test can kill the whole "machine" at once. */
function spawnMachine(w: AgentWorkspace, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [join(w.root, 'node_modules/nx/dist/bin/nx.js'), ...args], {
    cwd: w.root,
    detached: true,
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', CI: 'true', FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

const killGroup = (pid: number) => {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
};

it('a machine SIGKILLed mid-run: the other machine takes its claims over only after the lease (database clock) and finishes every task, none paid twice', async () => {
  const ids = ['KILL--T01', 'KILL--T02', 'KILL--T03'];
  const tasks = ids.map((id) => task(id));
  // A short lease keeps the test to seconds; heartbeats well inside it keep A's live claims from expiring early.
  const leaseMs = 5_000;
  const heartbeatMs = 1_000;
  const { a, b, bare, inBare, sharedLog } = createClones(tasks, 'team-kill-e2e', { leaseMs, heartbeatMs });
  const projects = ['run-many', '-t', 'implement', `--projects=${ids.join(',')}`, '--outputStyle=stream'];
  // Each clone is its own "machine": without distinct host ids both would be this host, and B would see A's dead pids
  // and take the claims over at once, which a real second machine cannot do.
  const hostEnv = (host: string) => ({ SCRIPTED_AGENT_LOG: sharedLog, VTM_PG_URL: pg.url, VTM_HOST_ID: host });
  const taskCommit = (id: string) => inBare(['log', '--format=%H', `--grep=^feat(${id})`, 'main']);
  try {
    // A: T01 finishes fast; the others' agents would work for a minute.
    const machineA = spawnMachine(a, projects, { ...a.env({ '*': { sleepMs: 60_000 }, 'KILL--T01': { sleepMs: 200 } }), ...hostEnv('machine-a') });
    const deadline = Date.now() + 120_000;
    // Until A completed T01 (pushed and recorded) and two agents are at work on A.
    const statusOf = async (id: string) => (await queryPg<{ status: string }>('SELECT status FROM "vtm_team-kill-e2e".tasks WHERE task_id = $1', [id]))[0]?.status;
    for (;;) {
      const log = readLog(sharedLog);
      const running = log.filter((e) => e.event === 'start' && !log.some((x) => x.event === 'end' && x.pid === e.pid));
      if (running.length === 2 && (await statusOf('KILL--T01')) === 'completed') break;
      if (Date.now() > deadline || machineA.child.exitCode !== null) throw new Error(`A never got there:\n${machineA.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The machine dies: its nx process group and its agents (each leads its own group) at once.
    killGroup(machineA.child.pid!);
    const orphans = readLog(sharedLog).filter((e) => e.event === 'start' && e.cwd.startsWith(a.root));
    for (const e of orphans) killGroup(e.pid);
    await machineA.exited;
    const [{ now: killedAt }] = await queryPg<{ now: string }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now');
    const killedOnA = orphans.filter((e) => e.taskId !== 'KILL--T01').map((e) => e.taskId).sort();
    expect(killedOnA).toHaveLength(2);

    // B runs every task afterwards.
    const rb = await b.runAsync(projects, { '*': { sleepMs: 300 } }, hostEnv('machine-b'));
    if (rb.code !== 0) throw new Error(`machine B failed:\n${rb.output.slice(-3000)}`);
    for (const id of killedOnA) {
      expect(rb.output).toMatch(new RegExp(`took over the stale claim of ${id} \\(lease-expired; pid \\d+ on machine-a\\)`));
    }
    // Taken over only once the lease ran out by the server's clock: A's last heartbeat came at most heartbeatMs
    // before the kill, so no takeover can be earlier than the kill plus the rest of the lease.
    const reclaims = (await queryPg<{ at: string; line: string }>('SELECT at, line FROM "vtm_team-kill-e2e".events ORDER BY id'))
      .map((r) => ({ at: Number(r.at), ...(JSON.parse(r.line) as { type: string; task_id: string; previous_host?: string }) }))
      .filter((e) => e.type === 'reclaim');
    expect(reclaims.map((e) => e.task_id).sort()).toEqual(killedOnA);
    for (const r of reclaims) {
      expect(r.previous_host).toBe('machine-a');
      expect(r.at).toBeGreaterThanOrEqual(Number(killedAt) + leaseMs - heartbeatMs);
    }

    // Every agent that finished did so once: T01 on A, the rest on B (the two A killed were started again there).
    const log = readLog(sharedLog);
    const ends = log.filter((e) => e.event === 'end');
    expect(ends.map((e) => e.taskId).sort()).toEqual([...ids].sort());
    expect(ends.find((e) => e.taskId === 'KILL--T01')!.cwd.startsWith(a.root)).toBe(true);
    for (const e of ends.filter((x) => x.taskId !== 'KILL--T01')) expect(e.cwd.startsWith(b.root)).toBe(true);
    expect(log.filter((e) => e.event === 'start' && e.taskId === 'KILL--T01')).toHaveLength(1);
    expect(taskCommit('KILL--T01')).toMatch(/^[0-9a-f]{40}$/);
    // The remote's main holds every task's work, each merged once.
    const merges = inBare(['log', '--first-parent', '--format=%s', 'main']).split('\n').filter((s) => s.startsWith('Merge vtm/'));
    expect(merges.sort()).toEqual(ids.map((id) => `Merge vtm/${id}: Implement ${id}`).sort());
    const files = inBare(['ls-tree', '-r', '--name-only', 'main']).split('\n');
    for (const id of ids) expect(files).toContain(`src/${id.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.js`);

    // A comes back: nothing is run again there.
    const again = await a.runAsync(projects, {}, hostEnv('machine-a'));
    if (again.code !== 0) throw new Error(`A's re-run failed:\n${again.output.slice(-3000)}`);
    expect(readLog(sharedLog)).toHaveLength(log.length);
    for (const id of ids) expect(a.state().tasks[id]).toMatchObject({ status: 'completed' });
  } finally {
    rmSync(sharedLog, { force: true });
    rmSync(bare, { recursive: true, force: true });
  }
});

it('the database restarted mid-run: the run pauses while it is down and continues, nothing lost and no agent run twice', async () => {
  const ids = ['RESTART--T01', 'RESTART--T02', 'RESTART--T03'];
  const tasks = ids.map((id) => task(id));
  // Heartbeats every 300 ms: the agents' claims are renewed while the server is down, so the outage is met by calls
  // in flight, not only between them.
  const w = createAgentWorkspace({ tasks, options: { wipLimit: 2, heartbeatMs: 300, coordinator: { type: 'postgres', url: 'env:VTM_PG_URL', namespace: 'team-restart-e2e' } } });
  removeLater(w);
  const run = w.runAsync(SLICE, { '*': { sleepMs: 3_000 } }, { VTM_PG_URL: pg.url });
  const deadline = Date.now() + 90_000;
  while (w.agentEvents().filter((e) => e.event === 'start').length < 2) {
    if (Date.now() > deadline) throw new Error(`no agent started:\n${(await run).output.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // A fast shutdown (`pg_ctl stop -m fast`: every session terminated, open transactions rolled back), down for 2 s.
  const stoppedAt = Date.now();
  await pg.stopServer();
  await new Promise((r) => setTimeout(r, 2_000));
  await pg.startServer();
  const restartedAt = Date.now();
  const r = await run;
  if (r.code !== 0) throw new Error(`the run failed:\n${r.output.slice(-3000)}`);
  // Paused, not failed: every heartbeat during the outage waited for the server rather than giving up.
  expect(r.output).not.toContain('heartbeat not recorded');

  const log = w.agentEvents();
  // The server went down while agents were at work, and the run went on after it came back.
  const intervals = getIntervals(log);
  expect(intervals.some((i) => i.start < stoppedAt && i.end > stoppedAt)).toBe(true);
  expect(w.events().some((e) => Date.parse(String(e.ts)) > restartedAt)).toBe(true);
  // Every agent ran once and finished; every task completed and merged once; the state file is whole.
  expect(log.filter((e) => e.event === 'start').map((e) => e.taskId).sort()).toEqual(ids);
  expect(intervals.map((i) => i.taskId).sort()).toEqual(ids);
  const state = w.state().tasks;
  for (const id of ids) expect(state[id]).toMatchObject({ status: 'completed' });
  const merges = w.git(['log', '--first-parent', '--format=%s', 'main']).split('\n').filter((s) => s.startsWith('Merge vtm/'));
  expect(merges.sort()).toEqual(ids.map((id) => `Merge vtm/${id}: Implement ${id}`));
  // The shared table kept every change: each task's claim and finish.
  const events = (await queryPg<{ line: string }>('SELECT line FROM "vtm_team-restart-e2e".events ORDER BY id')).map((row) => JSON.parse(row.line) as { type: string; task_id: string });
  for (const id of ids) expect(events.filter((e) => e.task_id === id && e.type === 'finish')).toHaveLength(1);
});

it('a run killed between its local merge and its push: the next task\'s fetch pushes the merge, the task is recorded without a second agent run', async () => {
  const [T1, T2] = ['UNPUSHED--T01', 'UNPUSHED--T02'];
  const w = createAgentWorkspace({ tasks: [task(T1), task(T2)], options: { wipLimit: 1, remote: 'origin' } });
  removeLater(w);
  const bare = `${w.root}.remote.git`;
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  w.git(['remote', 'add', 'origin', bare]);
  w.git(['push', '-q', 'origin', 'main']);
  const inBare = (args: string[]) => execFileSync('git', args, { cwd: bare, encoding: 'utf8' }).trim();
  const run = (ids: string[], env: NodeJS.ProcessEnv = {}) => w.runAsync(['run-many', '-t', 'implement', `--projects=${ids.join(',')}`, '--outputStyle=stream'], {}, env);
  try {
    const killed = await run([T1], { NX_VTM_FAILPOINT: `after-local-merge@${T1}` });
    expect(killed.output).toContain(`failpoint after-local-merge reached for ${T1}`);
    // Merged here, never pushed: the local main is ahead of the remote's.
    const local = w.git(['rev-parse', 'main']).trim();
    expect(w.git(['log', '--format=%s', '-1', 'main']).trim()).toBe(`Merge vtm/${T1}: Implement ${T1}`);
    expect(inBare(['rev-parse', 'main'])).not.toBe(local);

    // The next task's fetch finds the local branch ahead and pushes it before the task starts from it.
    const next = await run([T2]);
    if (next.code !== 0) throw new Error(`the next run failed:\n${next.output.slice(-3000)}`);
    expect(next.output).toMatch(/main had 1 commit\(s\) never pushed \([0-9a-f]+; an earlier run stopped between its merge and its push\): pushed them to origin\/main/);
    // The re-run of the killed task recognises its merge: recorded completed, its agent not paid again.
    const again = await run([T1, T2]);
    if (again.code !== 0) throw new Error(`the re-run failed:\n${again.output.slice(-3000)}`);
    expect(w.agentEvents().filter((e) => e.event === 'start').map((e) => e.taskId).sort()).toEqual([T1, T2]);
    const merges = inBare(['log', '--first-parent', '--format=%s', 'main']).split('\n').filter((s) => s.startsWith('Merge vtm/'));
    expect(merges.sort()).toEqual([`Merge vtm/${T1}: Implement ${T1}`, `Merge vtm/${T2}: Implement ${T2}`]);
    expect(w.git(['rev-parse', 'main']).trim()).toBe(inBare(['rev-parse', 'main']));
    for (const id of [T1, T2]) expect(w.state().tasks[id]).toMatchObject({ status: 'completed' });
  } finally {
    rmSync(bare, { recursive: true, force: true });
  }
});

it('a machine killed after it pushed a merge but before recording it: the other machine records the pushed work, its agent not run again', async () => {
  const T1 = 'ADOPT--T01';
  const { a, b, bare, inBare, sharedLog } = createClones([task(T1)], 'team-adopt-e2e', { leaseMs: 4_000, heartbeatMs: 1_000 });
  const hostEnv = (host: string) => ({ SCRIPTED_AGENT_LOG: sharedLog, VTM_PG_URL: pg.url, VTM_HOST_ID: host });
  const projects = ['run-many', '-t', 'implement', `--projects=${T1}`, '--outputStyle=stream'];
  try {
    // A merges and pushes, and dies before its store records the task (the failpoint SIGKILLs A's task process).
    const ra = await a.runAsync(projects, {}, { ...hostEnv('machine-a'), NX_VTM_FAILPOINT: `after-merge@${T1}` });
    expect(ra.output).toContain(`failpoint after-merge reached for ${T1}`);
    expect(inBare(['log', '--format=%s', '-1', 'main'])).toBe(`Merge vtm/${T1}: Implement ${T1}`);
    // B takes the claim over after the lease and finds the work on the remote.
    const rb = await b.runAsync(projects, {}, hostEnv('machine-b'));
    if (rb.code !== 0) throw new Error(`machine B failed:\n${rb.output.slice(-3000)}`);
    expect(rb.output).toMatch(new RegExp(`took over the stale claim of ${T1} \\(lease-expired; pid \\d+ on machine-a\\)`));
    expect(rb.output).toMatch(/the interrupted attempt on machine-a had merged and pushed its work \([0-9a-f]{8}\): recording it \(its agent is not run again\)/);
    expect(readLog(sharedLog).filter((e) => e.event === 'start')).toHaveLength(1);
    const merges = inBare(['log', '--first-parent', '--format=%s', 'main']).split('\n').filter((s) => s.startsWith('Merge vtm/'));
    expect(merges).toEqual([`Merge vtm/${T1}: Implement ${T1}`]);
    expect(b.state().tasks[T1]).toMatchObject({ status: 'completed' });
    expect(b.git(['rev-parse', 'main']).trim()).toBe(inBare(['rev-parse', 'main']));
  } finally {
    rmSync(sharedLog, { force: true });
    rmSync(bare, { recursive: true, force: true });
  }
});
