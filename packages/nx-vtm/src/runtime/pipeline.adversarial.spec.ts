/**
 * The pipeline against agents that misbehave, with real git and a real agent process (the scripted stand-in agent):
 * each case is one way the verdict used to be fooled or agent work paid twice. "completed" must come from the audited
 * commit and the tests, and only that commit may reach the integration branch.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePluginOptions, type PluginOptions } from '../config/plugin-options';
import type { TaskInput } from '../manifest/schema';
import { buildTask } from '../test-support/manifest-fixtures';
import { makeTempRepo, type TempRepo } from '../workspace/test-support/git-fixture';
import { runTaskPipeline, type PipelineInput } from './pipeline';
import { attributeChanges } from './shared-checkout';
import { beginMergeJournal } from '../workspace/merge-journal';
import { memoryAttempt, type MemoryAttempt } from './test-support/memory-attempt';

const SCRIPTED_AGENT = path.resolve(__dirname, '../../../../e2e/support/agents/scripted-agent.js');

let repo: TempRepo;
let agentLog: string;

beforeEach(() => {
  repo = makeTempRepo();
  agentLog = path.join(repo.root, '.vtm', 'agent.log');
});
afterEach(() => repo.cleanup());

function buildOptions(plan: Record<string, unknown>, over: Record<string, unknown> = {}, agentOver: Record<string, unknown> = {}): PluginOptions {
  const parsed = parsePluginOptions({
    worktree: { linkDirs: [] },
    agent: {
      ...agentOver,
      adapter: 'command',
      command: [process.execPath, SCRIPTED_AGENT],
      timeoutMs: 60_000,
      retries: 0,
      env: { SCRIPTED_AGENT_LOG: agentLog, SCRIPTED_AGENT_PLAN: JSON.stringify(plan) },
    },
    ...over,
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

const TESTED: Partial<TaskInput> = { file_scope: ['src/a.js'], test_verification: ['tests/a.test.js'] };

function run(
  taskId: string,
  options: PluginOptions,
  { attempt = memoryAttempt(), task = TESTED, extra = {} }: { attempt?: MemoryAttempt; task?: Partial<TaskInput>; extra?: Partial<PipelineInput> } = {},
) {
  return runTaskPipeline({
    workspaceRoot: repo.root,
    task: buildTask(taskId, task),
    options,
    runId: 'spec-run',
    integrationBranch: 'main',
    stateFile: 'docs/backlog/task-state.json',
    attempt: attempt.port,
    log: () => undefined,
    ...extra,
  });
}

const agentStarts = (): string[] =>
  fs.existsSync(agentLog)
    ? fs
        .readFileSync(agentLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((e) => e.event === 'start')
        .map((e) => e.taskId)
    : [];

const filesOnMain = () => repo.git(['ls-tree', '-r', '--name-only', 'main']).split('\n').sort();

describe('a verdict nobody can fool', () => {
  it('never merges a file a test wrote after the audit; files_modified is the merged commit', async () => {
    const r = await run('SIDE--T01', buildOptions({ '*': { testWrites: 'LEFT_BY_TEST.md' } }));
    expect(r.outcome).toMatchObject({ status: 'completed', files_modified: ['src/a.js', 'tests/a.test.js'] });
    expect(filesOnMain()).toEqual(['.gitignore', 'README.md', 'src/a.js', 'tests/a.test.js']);
    expect(repo.git(['diff', '--name-only', 'HEAD~1', 'HEAD'])).toBe('src/a.js\ntests/a.test.js');
  }, 30_000);

  it('never accepts a pass of tests that rewrote committed files (worktree): blocked, nothing merged, the worktree back to the saved commit', async () => {
    const before = repo.git(['rev-parse', 'main']);
    const r = await run('REWRITE--T01', buildOptions({ '*': { testWrites: 'src/a.js' } }, {}, { repairTurns: 0 }));
    expect(r.outcome).toMatchObject({ status: 'blocked', reason: 'changed_during_verification', changed_paths: ['src/a.js'] });
    expect(String(r.outcome.error)).toMatch(/1 of its committed files changed while its tests ran \(src\/a\.js\): the tests did not judge the saved commit [0-9a-f]{8}, so it was not merged/);
    expect(repo.git(['rev-parse', 'main'])).toBe(before);
    const wt = path.join(repo.root, String(r.outcome.worktree));
    expect(fs.readFileSync(path.join(wt, 'src/a.js'), 'utf8')).not.toContain('written by a test');
    expect(repo.git(['status', '--porcelain', '--untracked-files=no'], wt)).toBe('');
  }, 30_000);

  it('never moves main on a pass of checks that rewrote committed files of the merged result', async () => {
    const before = repo.git(['rev-parse', 'main']);
    const rewrite = [process.execPath, '-e', "require('node:fs').writeFileSync('README.md', 'rewritten by the check\\n')"];
    const r = await run('CHECKW--T01', buildOptions({}, { integrationCheck: { command: rewrite } }, { repairTurns: 0 }));
    expect(r.outcome).toMatchObject({ status: 'blocked', reason: 'integration_check_failed' });
    expect(String(r.outcome.error)).toMatch(/the checks on the merged result with main changed 1 committed file while they ran \(README\.md\), so they did not judge the merged commit; main was not moved/);
    expect(repo.git(['rev-parse', 'main'])).toBe(before);
  }, 30_000);

  it('gives tests that rewrote committed files back to the agent, with the changes they made; the repaired work completes', async () => {
    const plan = { '*': { testWrites: 'src/a.js', repairs: { '1': { testWrites: '' } } } };
    const r = await run('REWRITE--T02', buildOptions(plan, {}, { repairTurns: 1 }));
    expect(r.outcome).toMatchObject({ status: 'completed', files_modified: ['src/a.js', 'tests/a.test.js'] });
    expect(agentStarts()).toEqual(['REWRITE--T02', 'REWRITE--T02']);
    const prompt = fs.readFileSync(path.join(repo.root, '.vtm/results/REWRITE--T02/turn-2/prompt.md'), 'utf8');
    expect(prompt).toContain('Running the verification tests changed committed files');
    expect(prompt).toContain('+written by a test');
    expect(repo.git(['show', 'main:src/a.js'])).not.toContain('written by a test');
  }, 60_000);

  it('takes files of its scope an agent wrote in the main checkout back out of it: kept under a ref, the turn not accepted, other paths left', async () => {
    const lines: string[] = [];
    const plan = { '*': { rootWrites: ['src/a.js', 'tests/a.test.js', 'NOTES.md'] } };
    const before = repo.git(['rev-parse', 'main']);
    const r = await run('STRAY--T01', buildOptions(plan, {}, { repairTurns: 0 }), { extra: { log: (l: string) => lines.push(l) } });
    expect(r.outcome).toMatchObject({ status: 'blocked', reason: 'wrote_outside_worktree', stray_paths: ['src/a.js', 'tests/a.test.js'] });
    expect(String(r.outcome.error)).toMatch(/its agent wrote 2 files of its scope in the main checkout .* instead of its worktree .*\(src\/a\.js, tests\/a\.test\.js\): they are not the task's work, and were moved out of the main checkout \(kept as refs\/vtm\/attempts\/STRAY--T01\/main-checkout-\d+\)/);
    const ref = String(r.outcome.stray_ref);
    expect(repo.git(['show', `${ref}:src/a.js`])).toBe('written in the main checkout by STRAY--T01');
    expect(repo.git(['rev-parse', 'main'])).toBe(before);
    // Out of the main checkout; what is not the task's stays, named in the log.
    expect(fs.existsSync(path.join(repo.root, 'src/a.js'))).toBe(false);
    expect(repo.git(['status', '--porcelain', '--untracked-files=all'])).toBe('?? NOTES.md');
    expect(lines).toContain("1 path outside the task's scope changed in the main checkout while its agent ran (NOTES.md): not the task's, left as it is (a merge refuses a dirty main checkout)");
  }, 30_000);

  it('puts main back when an agent points it at its own commit (git update-ref from its worktree); the work goes through the queue as usual', async () => {
    const lines: string[] = [];
    const before = repo.git(['rev-parse', 'main']);
    const plan = { '*': { git: [['add', '-A'], ['commit', '-qm', 'straight to main'], ['update-ref', 'refs/heads/main', 'HEAD']] } };
    const r = await run('BYPASS--T01', buildOptions(plan, {}, { repairTurns: 0 }), { extra: { log: (l: string) => lines.push(l) } });
    expect(r.outcome).toMatchObject({ status: 'completed', files_modified: ['src/a.js', 'tests/a.test.js'] });
    expect(lines.some((l) => /^main had been moved to [0-9a-f]{8} without its checkout \(that commit is on vtm\/BYPASS--T01: the agent working there moved it/.test(l))).toBe(true);
    // main moved only through the merge queue: a merge commit on top of where it was.
    expect(repo.git(['rev-parse', 'main^1'])).toBe(before);
    expect(repo.git(['log', '-1', '--format=%s', 'main'])).toMatch(/^Merge vtm\/BYPASS--T01/);
    expect(repo.git(['status', '--porcelain', '--untracked-files=all'])).toBe('');
  }, 30_000);

  it('restores a tracked file an agent changed in the main checkout, and gives the turn back to the agent, which then completes', async () => {
    fs.mkdirSync(path.join(repo.root, 'src'), { recursive: true });
    fs.writeFileSync(path.join(repo.root, 'src/a.js'), 'module.exports = 1;\n');
    repo.git(['add', '-A']);
    repo.git(['commit', '-qm', 'a.js']);
    const plan = { '*': { rootWrites: ['src/a.js'], repairs: { '1': { rootWrites: [] } } } };
    const r = await run('STRAY--T02', buildOptions(plan, {}, { repairTurns: 1 }));
    expect(r.outcome).toMatchObject({ status: 'completed', files_modified: ['src/a.js', 'tests/a.test.js'] });
    expect(agentStarts()).toEqual(['STRAY--T02', 'STRAY--T02']);
    expect(fs.readFileSync(path.join(repo.root, '.vtm/results/STRAY--T02/turn-2/prompt.md'), 'utf8')).toContain('+written in the main checkout by STRAY--T02');
    expect(fs.readFileSync(path.join(repo.root, '.vtm/results/STRAY--T02/turn-2/prompt.md'), 'utf8')).toMatch(/wrote 1 file of its scope in the main checkout .*\(src\/a\.js\): it is not the task's work, and was moved out/);
    expect(repo.git(['status', '--porcelain', '--untracked-files=all'])).toBe('');
    expect(repo.git(['show', 'main:src/a.js'])).not.toContain('written in the main checkout');
  }, 60_000);

  it.each([
    ['a new branch', ['checkout', '-q', '-b', 'side']],
    ['a detached HEAD', ['checkout', '-q', '--detach']],
  ])('an agent that moves its worktree to %s is blocked branch_moved, nothing merged, its work kept under a ref', async (_what, move) => {
    const before = repo.git(['rev-parse', 'main']);
    const plan = { '*': { git: [move, ['add', '-A'], ['commit', '-qm', 'agent commit']] } };
    const r = await run('MOVED--T01', buildOptions(plan, {}, { repairTurns: 0 }));
    expect(r.outcome).toMatchObject({ status: 'blocked', reason: 'branch_moved' });
    expect(String(r.outcome.error)).toMatch(/refs\/vtm\/attempts\/MOVED--T01\/moved-\d+/);
    expect(repo.git(['rev-parse', 'main'])).toBe(before);
    const ref = repo.git(['for-each-ref', '--format=%(refname)', 'refs/vtm/attempts/MOVED--T01/']);
    expect(repo.git(['show', `${ref}:src/a.js`])).toMatch(/MOVED--T01/);
  }, 30_000);

  it('kills what the agent left running outside its process group before its work is saved and tested', async () => {
    // A daemon (setsid) the agent leaves behind, due to write a file 1.5 s later: by then the work would be saved
    // and under test, and the verdict about other content than the commit.
    const proof = path.join(repo.root, '.vtm', 'written-by-leftover');
    const lines: string[] = [];
    const r = await run('LINGER--T01', buildOptions({ '*': { lingerWrite: { path: proof, afterMs: 1500 } } }), { extra: { log: (l: string) => lines.push(l) } });
    expect(r.outcome).toMatchObject({ status: 'completed' });
    expect(lines).toContain("killed 1 process the agent left running outside its process group (they could change the task's files after its work is saved)");
    await new Promise((res) => setTimeout(res, 2000));
    expect(fs.existsSync(proof)).toBe(false);
  }, 30_000);

  it('a lost claim stops before the merge: nothing reaches main and nothing is recorded', async () => {
    const before = repo.git(['rev-parse', 'main']);
    const attempt = memoryAttempt({ loseAt: 'verified' });
    const r = await run('LOST--T01', buildOptions({}), { attempt });
    expect(r.claimLost).toBe(true);
    expect(attempt.stages).toEqual(['worktree', 'agent', 'saved', 'audited']);
    expect(repo.git(['rev-parse', 'main'])).toBe(before);
    expect(fs.existsSync(path.join(repo.root, '.vtm/results/LOST--T01/outcome/result.json'))).toBe(false);
  }, 30_000);

  it('a claim lost while waiting for the integration lock is seen inside it (no merge)', async () => {
    const before = repo.git(['rev-parse', 'main']);
    const attempt = memoryAttempt();
    const advance = attempt.port.advance;
    attempt.port.advance = (stage, data) => {
      const ok = advance(stage, data);
      if (stage === 'verified') attempt.lose(); // taken over between the tests and the merge
      return ok;
    };
    const r = await run('LOCKWAIT--T01', buildOptions({}), { attempt });
    expect(r.claimLost).toBe(true);
    expect(repo.git(['rev-parse', 'main'])).toBe(before);
  }, 30_000);

  it('records ACs done only when the agent reported them; the rest are "not reported"', async () => {
    const r = await run('NOACS--T01', buildOptions({ '*': { noAcs: true } }));
    expect(r.outcome).toMatchObject({ status: 'completed', acs_completed: [], acs_remaining: [], acs_not_reported: ['NOACS--T01-AC01'] });
  }, 30_000);
});

describe('agent work paid for once', () => {
  it('continues after a crash once the agent finished: the agent is not called again', async () => {
    const first = memoryAttempt({ loseAt: 'audited' }); // the process "dies" after saving the work
    expect((await run('RESUME--T01', buildOptions({}), { attempt: first })).claimLost).toBe(true);
    const second = memoryAttempt({ from: first.progress() });
    const r = await run('RESUME--T01', buildOptions({}), { attempt: second });
    expect(r.outcome).toMatchObject({ status: 'completed', files_modified: ['src/a.js', 'tests/a.test.js'] });
    expect(second.stages).toEqual(['audited', 'verified', 'integrated']);
    expect(agentStarts()).toEqual(['RESUME--T01']);
  }, 30_000);

  it('continues after a kill that left git locks in the task\'s worktree and on its branch: removed, not fatal', async () => {
    const first = memoryAttempt({ loseAt: 'verified' }); // killed after the tests ran, before the merge
    expect((await run('LOCKS--T01', buildOptions({}), { attempt: first })).claimLost).toBe(true);
    const cwd = String(first.progress()!.data.cwd);
    const adminDir = fs.readFileSync(path.join(cwd, '.git'), 'utf8').replace(/^gitdir:\s*/, '').trim();
    // What git processes SIGKILLed in the middle of a checkout, a merge or a commit leave behind.
    const locks = [path.join(adminDir, 'index.lock'), path.join(adminDir, 'HEAD.lock'), path.join(repo.root, '.git/refs/heads/vtm/LOCKS--T01.lock')];
    for (const lock of locks) fs.writeFileSync(lock, '');
    const lines: string[] = [];
    const r = await run('LOCKS--T01', buildOptions({}), { attempt: memoryAttempt({ from: first.progress() }), extra: { log: (line: string) => lines.push(line) } });
    expect(r.outcome).toMatchObject({ status: 'completed', integration: { status: 'merged' } });
    for (const lock of locks) expect(fs.existsSync(lock)).toBe(false);
    expect(lines.filter((l) => l.startsWith('removed the stale git lock'))).toHaveLength(3);
    expect(agentStarts()).toEqual(['LOCKS--T01']);
  }, 30_000);

  it('recognises a merge that happened before the crash and records it without merging twice', async () => {
    const first = memoryAttempt({ loseAt: 'integrated' }); // merged, then died before recording it
    expect((await run('MERGED--T01', buildOptions({}), { attempt: first })).claimLost).toBe(true);
    const merges = () => repo.git(['log', '--format=%s', 'main']).split('\n').filter((s) => s.startsWith('Merge vtm/MERGED--T01'));
    expect(merges()).toHaveLength(1);
    const r = await run('MERGED--T01', buildOptions({}), { attempt: memoryAttempt({ from: first.progress() }) });
    expect(r.outcome).toMatchObject({ status: 'completed', integration: { status: 'already_integrated' } });
    expect(merges()).toHaveLength(1);
    expect(agentStarts()).toEqual(['MERGED--T01']);
  }, 30_000);
});

describe('isolation "none"', () => {
  it('commits only the task’s own paths, new files included; the user’s edits and other tasks’ files stay out', async () => {
    repo.commit({ 'src/shared.js': 'v1\n' }, 'shared');
    repo.write({ 'NOTES.md': 'the user is editing this\n' }); // dirty before the task started: not the task's
    const options = buildOptions({ '*': { sleepMs: 300 } }, { isolation: 'none' });
    const scopes: Record<string, string[]> = { 'NA--T01': ['src/na.js', 'tests/na.test.js'], 'NB--T01': ['src/nb.js', 'tests/nb.test.js'] };
    const other = (id: string) => () => scopes[id === 'NA--T01' ? 'NB--T01' : 'NA--T01'];
    const [a, b] = await Promise.all(
      (['NA--T01', 'NB--T01'] as const).map((id) =>
        run(id, options, {
          task: { file_scope: [scopes[id][0]], test_verification: [scopes[id][1]] },
          extra: { getPathsOwnedElsewhere: other(id) },
        }),
      ),
    );
    expect(a.outcome).toMatchObject({ status: 'completed', files_modified: ['src/na.js', 'tests/na.test.js'] });
    expect(b.outcome).toMatchObject({ status: 'completed', files_modified: ['src/nb.js', 'tests/nb.test.js'] });
    for (const id of ['NA--T01', 'NB--T01']) {
      const sha = repo.git(['log', '-1', '--format=%H', `--grep=VTM-Task: ${id}`, 'main']);
      expect(repo.git(['diff-tree', '--no-commit-id', '--name-only', '-r', sha]).split('\n')).toEqual(scopes[id]);
      const patch = fs.readFileSync(path.join(repo.root, `.vtm/results/${id}/outcome/task.patch`), 'utf8');
      expect(patch).toMatch(new RegExp(`new file mode[\\s\\S]*${scopes[id][0].replace('.', '\\.')}`));
    }
    expect(repo.git(['status', '--porcelain'])).toBe('?? NOTES.md');
  }, 60_000);

  it('continues after a kill mid-commit that left the branch ref lock and the shared index lock: the journal says whose', async () => {
    const options = buildOptions({}, { isolation: 'none' });
    const first = memoryAttempt({ loseAt: 'integrated' }); // killed after the tests, while committing onto main
    expect((await run('NLOCK--T01', options, { attempt: first })).claimLost).toBe(true);
    // The kill came mid `update-ref`/`reset`: what they leave, and the journal entry of the (now dead) process.
    const commitsOnMain = () => repo.git(['log', '--format=%H', '--grep=VTM-Task: NLOCK--T01', 'main']).split('\n').filter(Boolean);
    repo.git(['update-ref', 'refs/heads/main', 'main~1']); // the commit never landed
    expect(commitsOnMain()).toHaveLength(0);
    beginMergeJournal({ repoRoot: repo.root, taskId: 'NLOCK--T01', branch: 'main', sha: repo.git(['rev-parse', 'main']) });
    const journal = path.join(repo.root, '.vtm/merging.json');
    const entry = JSON.parse(fs.readFileSync(journal, 'utf8'));
    fs.writeFileSync(journal, JSON.stringify({ ...entry, owner: { ...entry.owner, pid: 2 ** 22 + 12345, startTime: '1' } })); // never a live process
    const locks = [path.join(repo.root, '.git/refs/heads/main.lock'), path.join(repo.root, '.git/index.lock')];
    for (const lock of locks) fs.writeFileSync(lock, '');
    const r = await run('NLOCK--T01', options, { attempt: memoryAttempt({ from: first.progress() }) });
    expect(r.outcome).toMatchObject({ status: 'completed', integration: { status: 'committed' } });
    for (const lock of locks) expect(fs.existsSync(lock)).toBe(false);
    expect(fs.existsSync(journal)).toBe(false);
    expect(commitsOnMain()).toHaveLength(1);
    expect(agentStarts()).toEqual(['NLOCK--T01']);
  }, 30_000);

  it("continues after a kill mid-save that left the lock of the task's own attempt ref", async () => {
    const options = buildOptions({}, { isolation: 'none' });
    const first = memoryAttempt({ loseAt: 'saved' }); // killed while saving refs/vtm/attempts/<id>/work
    expect((await run('NSAVE--T01', options, { attempt: first })).claimLost).toBe(true);
    const lock = path.join(repo.root, '.git/refs/vtm/attempts/NSAVE--T01/work.lock');
    fs.writeFileSync(lock, '');
    const r = await run('NSAVE--T01', options, { attempt: memoryAttempt({ from: first.progress() }) });
    expect(r.outcome).toMatchObject({ status: 'completed', files_modified: ['src/a.js', 'tests/a.test.js'] });
    expect(fs.existsSync(lock)).toBe(false);
    expect(agentStarts()).toEqual(['NSAVE--T01']);
  }, 30_000);

  it("a task re-run after it ended blocked owns the files its earlier attempt left in its scope (same content: not no_changes)", async () => {
    const first = await run('AGAIN--T01', buildOptions({ '*': { outOfScope: 'other/x.js' } }, { isolation: 'none' }));
    expect(first.outcome).toMatchObject({ status: 'blocked' });
    expect(repo.git(['status', '--porcelain', '--untracked-files=all']).split('\n')).toEqual(expect.arrayContaining(['?? src/a.js', '?? tests/a.test.js']));
    // The agent, run again, writes exactly what it wrote the first time (and no longer the out-of-scope file).
    const lines: string[] = [];
    const again = await run('AGAIN--T01', buildOptions({}, { isolation: 'none' }), { extra: { log: (l: string) => lines.push(l) } });
    expect(again.outcome).toMatchObject({ status: 'completed', files_modified: ['src/a.js', 'tests/a.test.js'] });
    expect(lines.some((l) => /2 paths of the task's own scope already changed/.test(l))).toBe(true);
    // The earlier attempt's out-of-scope file is not the task's: it stays out of the commit, in the checkout.
    expect(filesOnMain()).not.toContain('other/x.js');
    expect(repo.git(['status', '--porcelain', '--untracked-files=all'])).toContain('?? other/x.js');
  }, 30_000);

  it("a fresh attempt does not take another blocked task's leftovers inside its (overlapping) scope", async () => {
    repo.write({ 'src/left-by-other.js': 'half-done work of OTHER--T01\n' }); // recorded by the blocked OTHER--T01
    const r = await run('WIDE--T01', buildOptions({}, { isolation: 'none' }), {
      task: { file_scope: ['src/'], test_verification: ['tests/a.test.js'] },
      extra: { getPathsOwnedElsewhere: () => ['src/left-by-other.js'] },
    });
    expect(r.outcome).toMatchObject({ status: 'completed' });
    expect(r.outcome.files_modified).not.toContain('src/left-by-other.js');
    expect(filesOnMain()).not.toContain('src/left-by-other.js');
  }, 30_000);

  it('a task whose files change while its tests run is not accepted: the tests did not judge the saved commit', async () => {
    const before = repo.git(['rev-parse', 'main']);
    // The task's own test rewrites its implementation file (another agent of the shared checkout could do the same).
    const r = await run('TAMPER--T01', buildOptions({ '*': { testWrites: 'src/a.js' } }, { isolation: 'none' }));
    expect(r.outcome).toMatchObject({ status: 'blocked', reason: 'changed_during_verification', changed_paths: ['src/a.js'] });
    expect(String(r.outcome.error)).toMatch(/1 of its files changed while its tests ran \(src\/a\.js\)/);
    expect(repo.git(['rev-parse', 'main'])).toBe(before);
  }, 30_000);

  it('attributes by content at start and by ownership (pure)', () => {
    const start = { 'NOTES.md': 'h1', 'src/left.js': 'h2' };
    const now = { 'NOTES.md': 'h1', 'src/left.js': 'h2', 'src/mine.js': 'h3', 'src/theirs.js': 'h4', 'README.md': 'h5', '.vtm/x': 'h6' };
    expect(attributeChanges({ now, start, own: ['src/mine.js'], ownedElsewhere: ['src/theirs.js'], ignore: ['.vtm/'] })).toEqual(['README.md', 'src/mine.js']);
    // A file the user had changed before the task, changed again: the task's (its audit judges it).
    expect(attributeChanges({ now: { 'NOTES.md': 'h9' }, start, own: [], ownedElsewhere: [], ignore: [] })).toEqual(['NOTES.md']);
  });
});
