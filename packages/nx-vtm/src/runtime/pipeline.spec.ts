/**
 * The per-task pipeline against a real git repository and a real agent process (the e2e scripted stand-in agent):
 * worktree bookkeeping runs under the workspace lock, so tasks that start at the same moment never collide inside
 * `git worktree add/remove` (each lists every registered worktree and fails on one another task is half-way through
 * creating or removing: "failed to read .git/worktrees/<other>/commondir").
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePluginOptions, type PluginOptions } from '../config/plugin-options';
import { buildTask } from '../test-support/manifest-fixtures';
import { makeTempRepo, type TempRepo } from '../workspace/test-support/git-fixture';
import { startTsChild, waitForLine } from '../workspace/test-support/child';
import { runTaskPipeline, settleWorktreeCleanups } from './pipeline';
import { memoryAttempt } from './test-support/memory-attempt';

const SCRIPTED_AGENT = path.resolve(__dirname, '../../../../e2e/support/agents/scripted-agent.js');

let repo: TempRepo;
let agentLog: string;

beforeEach(() => {
  repo = makeTempRepo();
  agentLog = path.join(repo.root, '.vtm', 'agent.log');
});
afterEach(() => repo.cleanup());

function buildOptions(): PluginOptions {
  const parsed = parsePluginOptions({
    verify: false,
    worktree: { linkDirs: [] },
    agent: {
      adapter: 'command',
      command: [process.execPath, SCRIPTED_AGENT],
      timeoutMs: 60_000,
      retries: 0,
      env: { SCRIPTED_AGENT_LOG: agentLog },
    },
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

const run = (taskId: string, options: PluginOptions, log: (line: string) => void = () => undefined) =>
  runTaskPipeline({
    workspaceRoot: repo.root,
    task: buildTask(taskId),
    options,
    runId: 'spec-run',
    integrationBranch: 'main',
    stateFile: 'docs/backlog/task-state.json',
    attempt: memoryAttempt().port,
    log,
  });

/** A log that records when the pipeline reported its worktree ready. */
function worktreeClock(): { log: (line: string) => void; readyAt: () => number | undefined } {
  let readyAt: number | undefined;
  return { log: (line) => (readyAt ??= line.startsWith('worktree ') ? Date.now() : undefined), readyAt: () => readyAt };
}

const agentStarts = (): { taskId: string; at: number }[] =>
  fs
    .readFileSync(agentLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.event === 'start');

describe('runTaskPipeline worktree bookkeeping', () => {
  it('creates the worktree only once the workspace lock is free', async () => {
    const options = buildOptions();
    // How long this machine takes from the call to a ready worktree, without contention: the held lock must last
    // well beyond it, or the assertion below would pass without the lock doing anything.
    const free = worktreeClock();
    const calledAt = Date.now();
    expect((await run('FREE--T01', options, free.log)).outcome).toMatchObject({ status: 'completed' });
    const uncontendedMs = free.readyAt()! - calledAt;

    const holder = startTsChild('lock-holder-child.ts', [path.join(repo.root, '.vtm', 'locks.db')]);
    try {
      await waitForLine(holder, /^locked$/);
      const held = worktreeClock();
      const running = run('HELD--T01', options, held.log);
      await new Promise((r) => setTimeout(r, Math.max(1_000, 3 * uncontendedMs)));
      const releasedAt = Date.now();
      holder.kill('SIGKILL');
      expect((await running).outcome).toMatchObject({ status: 'completed' });
      expect(held.readyAt()).toBeGreaterThanOrEqual(releasedAt);
      expect(agentStarts().map((s) => s.taskId)).toEqual(['FREE--T01', 'HELD--T01']);
    } finally {
      holder.kill('SIGKILL');
    }
  }, 30_000);

  it('runs six tasks started at the same moment to completion, each merged once', async () => {
    const options = buildOptions();
    const ids = ['A', 'B', 'C', 'D', 'E', 'F'].map((x) => `SAME_TIME_${x}--T01`);
    const results = await Promise.all(ids.map((id) => run(id, options)));
    expect(results.map((r) => `${r.outcome.status} ${r.outcome.reason ?? ''} ${r.outcome.error ?? ''}`.trim())).toEqual(
      ids.map(() => 'completed'),
    );
    const merges = repo.git(['log', '--first-parent', '--format=%s', 'main']).split('\n').filter((s) => s.startsWith('Merge vtm/'));
    expect(merges.sort()).toEqual(ids.map((id) => `Merge vtm/${id}: Do ${id}`).sort());
    // No task worktree is left once the clean-ups (started after each outcome was recorded, off the dependents' path)
    // have ended; at most `worktree.spares` (1) finished ones are kept as spares for the next tasks.
    await settleWorktreeCleanups();
    const worktrees = repo.git(['worktree', 'list', '--porcelain']).match(/^worktree .*/gm) ?? [];
    expect(worktrees.filter((w) => !w.includes('/.vtm/worktrees/.spares/'))).toHaveLength(1);
    expect(worktrees.filter((w) => w.includes('/.vtm/worktrees/.spares/ready-')).length).toBeLessThanOrEqual(1);
  }, 60_000);
});
