/**
 * The runner through the real nx CLI, real git and real agent processes (a scripted stand-in agent): scheduling
 * limits, exactly-once across commands, crash safety, failure propagation, preconditions and state.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentWorkspaceMaker, getIntervals, getMaxConcurrency, MANIFEST, overlaps, task, type AgentWorkspace } from '../support/vtm';

const make = agentWorkspaceMaker();

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream'];

describe('scheduling limits (real nx, real agents)', () => {
  let ws: AgentWorkspace;
  let result: ReturnType<AgentWorkspace['run']>;
  beforeAll(() => {
    ws = make({
      tasks: [
        task('ROOT--T01'),
        ...['A', 'B', 'C', 'D', 'E'].map((x) => task(`FAN_${x}--T01`, { depends_on_tasks: ['ROOT--T01'] })),
        // Overlapping scopes: a directory and a file inside it.
        task('DIR--T01', { file_scope: ['src/shared/'], test_verification: [] }),
        task('FILE--T01', { file_scope: ['src/shared/util.js'], test_verification: [] }),
        // Declared conflict.
        task('PAIR_A--T01', { conflicts_with: ['PAIR_B--T01'] }),
        task('PAIR_B--T01'),
        task('RISKY--T01', { risk: 'High' }),
      ],
    });
    result = ws.run(SLICE, { '*': { sleepMs: 1200 } });
  });

  it('completes every task and exits 0', () => {
    expect(result.code).toBe(0);
    const state = ws.state();
    expect(Object.values(state.tasks).map((t) => t.status)).toEqual(Array(11).fill('completed'));
  });

  it('never runs more than 3 agents at once', () => {
    const intervals = getIntervals(ws.agentEvents());
    expect(intervals).toHaveLength(11);
    expect(getMaxConcurrency(intervals)).toBeLessThanOrEqual(3);
    expect(getMaxConcurrency(intervals)).toBeGreaterThanOrEqual(2); // and does run in parallel
  });

  it('runs dependents only after their dependency ended', () => {
    const byId = Object.fromEntries(getIntervals(ws.agentEvents()).map((i) => [i.taskId, i]));
    for (const x of ['A', 'B', 'C', 'D', 'E']) expect(byId[`FAN_${x}--T01`].start).toBeGreaterThanOrEqual(byId['ROOT--T01'].end);
  });

  it('never runs overlapping scopes, declared conflicts or a High-risk task beside anything', () => {
    const intervals = getIntervals(ws.agentEvents());
    const byId = Object.fromEntries(intervals.map((i) => [i.taskId, i]));
    expect(overlaps(byId['DIR--T01'], byId['FILE--T01'])).toBe(false);
    expect(overlaps(byId['PAIR_A--T01'], byId['PAIR_B--T01'])).toBe(false);
    for (const other of intervals.filter((i) => i.taskId !== 'RISKY--T01')) expect(overlaps(byId['RISKY--T01'], other)).toBe(false);
  });

  it('reports why tasks wait', () => {
    expect(result.output).toMatch(/waiting: (\d) of 3 slots busy|waiting: High-risk task RISKY--T01 running|waiting: src\/shared\/?\S* held by/);
  });

  it('runs agents in worktrees, never in the main checkout, and integrates in dependency order', () => {
    for (const e of ws.agentEvents()) expect(e.cwd).toContain(join(ws.root, '.vtm/worktrees'));
    const log = ws.git(['log', '--first-parent', '--format=%s', 'main']).split('\n').filter(Boolean).reverse();
    expect(log[0]).toBe('initial');
    expect(log.indexOf('Merge vtm/ROOT--T01: Implement ROOT--T01')).toBeLessThan(log.indexOf('Merge vtm/FAN_A--T01: Implement FAN_A--T01'));
    expect(ws.git(['status', '--porcelain', '--untracked-files=no'])).toBe('');
  });

  it('records the seed state format, an event log and a run report', () => {
    const state = ws.state();
    expect(state.manifest_hash).toMatch(/^[0-9a-f]{64}$/);
    const root = state.tasks['ROOT--T01'];
    expect(root).toMatchObject({ status: 'completed', acs_completed: ['ROOT--T01-AC01'], acs_remaining: [], attempts: 1 });
    expect(root.files_modified).toEqual(['src/root-t01.js', 'test/root-t01.test.js']);
    expect(root.test_results).toEqual({ total: 1, passing: 1, failing: 0 });
    expect(typeof root.started_at).toBe('string');
    expect(typeof root.completed_at).toBe('string');
    const types = new Set(ws.events().map((e) => e.type));
    for (const t of ['run-start', 'claim', 'wait', 'start', 'finish', 'run-end']) expect(types).toContain(t);
    for (const e of ws.events()) expect(String(e.ts)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const [report] = ws.reports();
    expect(report.json).toMatchObject({ status: 'SUCCESS', totals: { tasks: 11, completed: 11 } });
    expect(report.md).toContain('### Slice progress');
    expect(report.md).toContain('Slice 1.1: 11/11 tasks (100%)');
    // The picture of the run: one lane per task, each with a bar for its attempt (claim to finish), the critical path.
    expect(report.html.match(/<g class="lane"/g)).toHaveLength(11);
    expect(report.html.match(/<rect class="seg seg-(attempt|worktree|agent)"/g)?.length).toBeGreaterThanOrEqual(11);
    expect(report.html).toContain('data-critical="true"');
  });

  it('serves a second run from the Nx cache without calling any agent, and skips completed tasks even without the cache', () => {
    const before = ws.agentEvents().length;
    const again = ws.run(SLICE);
    expect(again.code).toBe(0);
    expect(again.output).toMatch(/11 from cache/);
    const noCache = ws.run([...SLICE, '--skip-nx-cache']);
    expect(noCache.code).toBe(0);
    expect(noCache.output).toMatch(/ROOT--T01: already completed; not run again/);
    expect(ws.agentEvents().length).toBe(before);
  });
});

describe('failures (real nx, real agents)', () => {
  it('blocks only the dependents of a failed task and records why', () => {
    const ws = make({
      tasks: [task('BAD--T01'), task('CHILD--T01', { depends_on_tasks: ['BAD--T01'] }), task('GRAND--T01', { depends_on_tasks: ['CHILD--T01'] }), task('FINE--T01')],
    });
    const r = ws.run(SLICE, { 'BAD--T01': { exitCode: 3 } });
    expect(r.code).not.toBe(0);
    const state = ws.state().tasks;
    expect(state['BAD--T01']).toMatchObject({ status: 'blocked', reason: 'agent_failed' });
    expect(state['CHILD--T01']).toMatchObject({ status: 'blocked', reason: 'dependency_failed:BAD--T01' });
    expect(state['GRAND--T01']).toMatchObject({ status: 'blocked', reason: 'dependency_failed:BAD--T01' });
    expect(state['FINE--T01']).toMatchObject({ status: 'completed' });
    expect(ws.agentEvents().map((e) => e.taskId)).not.toContain('CHILD--T01');
    const [report] = ws.reports();
    expect(report.json).toMatchObject({ status: 'PARTIAL_SUCCESS' });
    expect(report.md).toMatch(/BAD--T01\*\* — agent_failed/);
    expect(report.md).toMatch(/Remediation: /);
    // A fixed agent then completes the rest; the completed task is not run again.
    const again = ws.run(SLICE, {});
    expect(again.code).toBe(0);
    expect(ws.agentEvents().filter((e) => e.taskId === 'FINE--T01' && e.event === 'start')).toHaveLength(1);
    expect(ws.state().tasks['GRAND--T01'].status).toBe('completed');
  });

  it('refuses to start on a dirty checkout, naming the files, before any agent runs', () => {
    const ws = make({ tasks: [task('A--T01')] });
    writeFileSync(join(ws.root, 'docs/spec.md'), '# edited\n');
    const r = ws.run(SLICE);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('BLOCKED::DIRTY-GIT-STATUS');
    expect(r.output).toContain('docs/spec.md');
    expect(ws.agentEvents()).toEqual([]);
  });

  it('refuses on a branch that is not allowed', () => {
    const ws = make({ tasks: [task('A--T01')], options: { allowedBranches: ['release'] } });
    const r = ws.run(SLICE);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('BLOCKED::NOT-ON-MAIN-BRANCH');
    expect(ws.agentEvents()).toEqual([]);
  });

  it('blocks a task whose related documents are missing, and runs the others', () => {
    const ws = make({ tasks: [task('CTX--T01', { related_specs: ['docs/missing-spec.md'] }), task('OK--T01')] });
    const r = ws.run(SLICE);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('BLOCKED::MISSING-CONTEXT::CTX--T01');
    expect(ws.state().tasks['CTX--T01']).toMatchObject({ status: 'blocked', reason: 'missing_context' });
    expect(ws.state().tasks['OK--T01']).toMatchObject({ status: 'completed' });
    expect(ws.agentEvents().map((e) => e.taskId)).not.toContain('CTX--T01');
  });

  it('never runs a BLOCKED manifest', () => {
    const ws = make({ tasks: [task('A--T01')], manifest: { status: 'BLOCKED' } });
    const r = ws.run(SLICE);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('BLOCKED::MANIFEST-STATUS-BLOCKED');
    expect(ws.agentEvents()).toEqual([]);
  });
});

describe('task text is data (real nx, real agents)', () => {
  it('passes shell metacharacters to the agent verbatim and executes nothing', () => {
    const marker = `/tmp/vtm-e2e-pwned-${process.pid}`;
    const evil = `Run $(touch ${marker}); also \`touch ${marker}\` ; echo "quoted" 'single' && | > < * ~ $HOME`;
    const ws = make({ tasks: [task('EVIL--T01', { description: evil, title: `Title with $(touch ${marker}) and \`x\`` })] });
    const r = ws.run(SLICE);
    expect(r.code).toBe(0);
    const prompt = readFileSync(`${ws.root}.prompts/EVIL--T01.md`, 'utf8');
    expect(prompt).toContain(evil);
    expect(prompt).toContain(`Title with $(touch ${marker}) and \`x\``);
    expect(existsSync(marker)).toBe(false);
    const subjects = ws.git(['log', '--format=%s', 'main']).split('\n');
    expect(subjects).toContain(`feat(EVIL--T01): Title with $(touch ${marker}) and \`x\``);
  });
});

describe('concurrency across nx commands (real nx, real agents)', () => {
  const waitExit = (child: ReturnType<typeof spawn>) =>
    new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  let spawned = 0;
  const nxSpawn = (ws: AgentWorkspace, args: string[], plan: Record<string, unknown>) => {
    const logFile = `${ws.root}.nx-${++spawned}.log`;
    const fd = openSync(logFile, 'w');
    const child = spawn(process.execPath, [join(ws.root, 'node_modules/nx/dist/bin/nx.js'), ...args, '--outputStyle=stream'], {
      cwd: ws.root,
      env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', CI: 'true', ...ws.env(plan) },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    return Object.assign(child, { logFile });
  };
  /** The exit codes, with the commands' output in the failure message when one is not 0. */
  const expectSuccess = (codes: number[], children: { logFile: string }[]) => {
    if (codes.some((c) => c !== 0)) {
      throw new Error(`exit codes ${codes.join(', ')}:\n${children.map((c) => readFileSync(c.logFile, 'utf8').slice(-4000)).join('\n=====\n')}`);
    }
  };

  it('two commands with overlapping dependencies run each agent exactly once and share the WIP limit', async () => {
    const tasks = [
      task('BASE--T01'),
      ...['A', 'B', 'C'].map((x) => task(`LEFT_${x}--T01`, { depends_on_tasks: ['BASE--T01'], slice: 'Slice 1.1' })),
      ...['A', 'B', 'C'].map((x) => task(`RIGHT_${x}--T01`, { depends_on_tasks: ['BASE--T01'], slice: 'Slice 1.2' })),
    ];
    const ws = make({ tasks });
    const plan = { '*': { sleepMs: 700 } };
    const one = nxSpawn(ws, ['run-many', '-t', 'implement', '--projects=slice-1.1'], plan);
    const two = nxSpawn(ws, ['run-many', '-t', 'implement', '--projects=slice-1.2'], plan);
    expectSuccess(await Promise.all([waitExit(one), waitExit(two)]), [one, two]);
    const starts = ws.agentEvents().filter((e) => e.event === 'start').map((e) => e.taskId).sort();
    expect(starts).toEqual(tasks.map((t) => t.task_id as string).sort()); // BASE once, though both commands needed it
    expect(getMaxConcurrency(getIntervals(ws.agentEvents()))).toBeLessThanOrEqual(3);
    expect(Object.values(ws.state().tasks).every((t) => t.status === 'completed')).toBe(true);
  });

  it('after SIGKILL of the whole run, a re-run completes everything and pays every agent once: the interrupted ones are adopted', async () => {
    const tasks = ['A', 'B', 'C', 'D', 'E', 'F'].map((x, i) => task(`K_${x}--T01`, { depends_on_tasks: i > 0 && i % 2 === 0 ? [`K_${['A', 'B', 'C', 'D', 'E', 'F'][i - 1]}--T01`] : [] }));
    const ws = make({ tasks });
    // Agents long enough to still be at work when the re-run starts (Nx's start-up takes 1-3 s).
    const child = nxSpawn(ws, SLICE, { '*': { sleepMs: 5000 } });
    const deadline = Date.now() + 60_000;
    // Kill once at least one task has been recorded completed and others are running.
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      const finished = ws.events().filter((e) => e.type === 'finish').length;
      const started = ws.agentEvents().filter((e) => e.event === 'start').length;
      if (finished >= 1 && started > finished) break;
    }
    process.kill(-child.pid!, 'SIGKILL');
    await waitExit(child);
    const finishedBefore = new Set(ws.events().filter((e) => e.type === 'finish' && e.status === 'completed').map((e) => e.task_id as string));
    expect(finishedBefore.size).toBeGreaterThanOrEqual(1);
    expect(finishedBefore.size).toBeLessThan(tasks.length);
    const runningBefore = new Set(ws.agentEvents().filter((e) => e.event === 'start').map((e) => e.taskId).filter((id) => !finishedBefore.has(id)));
    expect(runningBefore.size).toBeGreaterThanOrEqual(1);
    // The agents of the killed run live on under their keepers (own process groups); the re-run reclaims the dead
    // run's claims and adopts those agents: it waits for them and takes their transcripts instead of paying again.
    const again = ws.run(SLICE, { '*': { sleepMs: 100 } });
    if (again.code !== 0) throw new Error(again.output.slice(-5000));
    const state = ws.state().tasks;
    expect(Object.values(state).every((t) => t.status === 'completed')).toBe(true);
    const startsById = new Map<string, number>();
    for (const e of ws.agentEvents().filter((x) => x.event === 'start')) startsById.set(e.taskId, (startsById.get(e.taskId) ?? 0) + 1);
    for (const t of tasks) expect(startsById.get(t.task_id as string)).toBe(1);
    // The orphaned agents kept their WIP slots until adopted: the re-run started no others beside them.
    expect(getMaxConcurrency(getIntervals(ws.agentEvents()))).toBeLessThanOrEqual(3);
    for (const id of runningBefore) {
      expect(again.output).toContain(`${id}`);
      // Reclaimed: the attempt count shows the second claim.
      expect(Number(state[id].attempts)).toBeGreaterThanOrEqual(2);
    }
    expect(again.output).toMatch(/the agent of the interrupted attempt \(pid \d+\) (is still running: waiting for it|has finished); its run is taken over, not repeated/);
    expect(ws.read(MANIFEST)).toContain('K_A--T01');
  });

  it("a run killed after the keeper started an agent, before it recorded the agent's pid, is re-run without paying that agent again", () => {
    const tasks = ['A', 'B'].map((x) => task(`K_${x}--T01`));
    const ws = make({ tasks });
    const killed = ws.run(SLICE, { '*': { sleepMs: 1500 } }, { NX_VTM_FAILPOINT: 'agent-spawned@K_A--T01' });
    expect(killed.output).toContain('failpoint agent-spawned reached for K_A--T01');
    const again = ws.run(SLICE, { '*': { sleepMs: 100 } });
    if (again.code !== 0) throw new Error(again.output.slice(-5000));
    expect(Object.values(ws.state().tasks).every((t) => t.status === 'completed')).toBe(true);
    const starts = ws.agentEvents().filter((e) => e.event === 'start').map((e) => e.taskId);
    expect(starts.filter((id) => id === 'K_A--T01')).toHaveLength(1);
    expect(again.output).toMatch(/the agent of the interrupted attempt \(pid \d+\) (is still running: waiting for it|has finished); its run is taken over, not repeated/);
  });

  it("a command that outlives a killed one leaves the orphaned agents at work, inside the WIP limit; the killed command's re-run takes them over", async () => {
    const left = ['A', 'B', 'C'].map((x) => task(`OL_${x}--T01`, { slice: 'Slice 1.1' }));
    const right = ['A', 'B', 'C'].map((x) => task(`OR_${x}--T01`, { slice: 'Slice 1.2' }));
    const ws = make({ tasks: [...left, ...right] });
    const plan = { '*': { sleepMs: 300 }, ...Object.fromEntries(left.map((t) => [t.task_id, { sleepMs: 6000 }])) };
    const one = nxSpawn(ws, ['run-many', '-t', 'implement', '--projects=slice-1.1'], plan);
    const deadline = Date.now() + 60_000;
    const startedLeft = () => ws.agentEvents().filter((e) => e.event === 'start' && e.taskId.startsWith('OL_')).length;
    while (startedLeft() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(startedLeft()).toBe(3);
    // The second command waits for WIP slots; the first is killed while its three agents work.
    const two = nxSpawn(ws, ['run-many', '-t', 'implement', '--projects=slice-1.2'], plan);
    await new Promise((r) => setTimeout(r, 500));
    process.kill(-one.pid!, 'SIGKILL');
    await waitExit(one);
    expectSuccess([await waitExit(two)], [two]);
    const again = ws.run(['run-many', '-t', 'implement', '--projects=slice-1.1'], plan);
    if (again.code !== 0) throw new Error(again.output.slice(-5000));
    expect(Object.values(ws.state().tasks).every((t) => t.status === 'completed')).toBe(true);
    const starts = ws.agentEvents().filter((e) => e.event === 'start').map((e) => e.taskId).sort();
    expect(starts).toEqual([...left, ...right].map((t) => t.task_id as string).sort()); // each agent paid once
    expect(getMaxConcurrency(getIntervals(ws.agentEvents()))).toBeLessThanOrEqual(3);
    expect(readFileSync(two.logFile, 'utf8')).toMatch(/its agent \(pid \d+\) is still running: it keeps its WIP slot until it ends/);
  });
});

describe('isolation "none" (real nx, real agents)', () => {
  it('runs agents in the checkout, in parallel, and commits each task\'s own files', () => {
    const ws = make({ tasks: [task('N_A--T01'), task('N_B--T01'), task('N_C--T01', { depends_on_tasks: ['N_A--T01'] })], options: { isolation: 'none' } });
    const r = ws.run(SLICE, { '*': { sleepMs: 600 } });
    if (r.code !== 0) throw new Error(r.output.slice(-3000));
    for (const e of ws.agentEvents()) expect(e.cwd).toBe(ws.root);
    expect(getMaxConcurrency(getIntervals(ws.agentEvents()))).toBeGreaterThanOrEqual(2);
    const state = ws.state().tasks;
    for (const id of ['N_A--T01', 'N_B--T01', 'N_C--T01']) expect(state[id]).toMatchObject({ status: 'completed' });
    expect(state['N_A--T01'].files_modified).toEqual(['src/n-a-t01.js', 'test/n-a-t01.test.js']);
    const subjects = ws.git(['log', '--format=%s']).split('\n');
    for (const id of ['N_A--T01', 'N_B--T01', 'N_C--T01']) expect(subjects).toContain(`feat(${id}): Implement ${id}`);
    expect(ws.git(['show', '--name-only', '--format=', `HEAD~${subjects.indexOf('feat(N_B--T01): Implement N_B--T01')}`]).trim().split('\n').sort()).toEqual([
      'src/n-b-t01.js',
      'test/n-b-t01.test.js',
    ]);
    expect(ws.git(['status', '--porcelain', '--untracked-files=no'])).toBe('');
  });

  it("after a kill, a re-run keeps the interrupted tasks' files in the checkout as theirs, refuses only the user's, and completes everything", () => {
    const ws = make({ tasks: [task('S_A--T01'), task('S_B--T01'), task('S_C--T01', { depends_on_tasks: ['S_A--T01'] })], options: { isolation: 'none' } });
    // The executor dies (SIGKILL) right after S_A's agent run is recorded; S_B's agent, still working, is orphaned.
    const killed = ws.run(SLICE, { '*': { sleepMs: 600 }, 'S_B--T01': { sleepMs: 2500 } }, { NX_VTM_FAILPOINT: 'after-agent@S_A--T01' });
    expect(killed.code).not.toBe(0);
    expect(ws.git(['status', '--porcelain', '--untracked-files=all'])).toContain('src/s-a-t01.js');
    // The user's own edit is still refused, and named alone; the tasks' files are not the user's.
    writeFileSync(join(ws.root, 'NOTES.md'), 'mine\n');
    const refused = ws.run(SLICE);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(/BLOCKED::DIRTY-GIT-STATUS: uncommitted changes in NOTES\.md;/);
    rmSync(join(ws.root, 'NOTES.md'));
    const again = ws.run(SLICE, { '*': { sleepMs: 100 } });
    if (again.code !== 0) throw new Error(again.output.slice(-5000));
    expect(again.output).toMatch(/src\/s-a-t01\.js, test\/s-a-t01\.test\.js in the checkout are the unfinished work of S_A--T01/);
    const state = ws.state().tasks;
    for (const id of ['S_A--T01', 'S_B--T01', 'S_C--T01']) expect(state[id]).toMatchObject({ status: 'completed' });
    expect(state['S_A--T01'].files_modified).toEqual(['src/s-a-t01.js', 'test/s-a-t01.test.js']);
    // S_A's agent ran once: its recorded run was continued, not paid again. S_B's, orphaned by the kill, was adopted.
    expect(ws.agentEvents().filter((e) => e.event === 'start' && e.taskId === 'S_A--T01')).toHaveLength(1);
    expect(ws.agentEvents().filter((e) => e.event === 'start' && e.taskId === 'S_B--T01')).toHaveLength(1);
    // Nothing left behind but nx-vtm's own state file.
    expect(ws.git(['status', '--porcelain', '--untracked-files=all']).split('\n').filter((l) => l && !l.endsWith('docs/backlog/task-state.json'))).toEqual([]);
  });
});

describe('provisional tasks (real nx, real agents)', () => {
  it('wait until every non-provisional High-risk task is in progress or done', () => {
    const ws = make({
      tasks: [
        task('GUESS--T01', { provisional: true }),
        task('SOLID--T01'),
        task('RISKY_LATER--T01', { risk: 'High', slice: 'Slice 1.2' }),
      ],
    });
    const r = ws.run(SLICE);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('BLOCKED::PROVISIONAL::GUESS--T01');
    expect(ws.state().tasks['GUESS--T01']).toMatchObject({ status: 'blocked', reason: 'provisional' });
    expect(ws.state().tasks['SOLID--T01'].status).toBe('completed');
    // Once the High-risk task is done, the provisional one runs.
    expect(ws.run(['run-many', '-t', 'implement', '--projects=slice-1.2']).code).toBe(0);
    expect(ws.run(SLICE).code).toBe(0);
    expect(ws.state().tasks['GUESS--T01'].status).toBe('completed');
  });
});
