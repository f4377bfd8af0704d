import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeTempRepo, type TempRepo } from './test-support/git-fixture';
import { beginMergeJournal, recoverInterruptedMerge } from './merge-journal';

// Each case makes several real commits and merges: seconds on a loaded 2-core machine.
jest.setTimeout(30_000);

let repo: TempRepo;
beforeEach(() => {
  repo = makeTempRepo();
});
afterEach(() => repo.cleanup());

/** Make the journal look like it was written by a process that no longer exists. */
function journalOfDeadProcess(taskId: string, branch: string, kind: 'merge' | 'fast-forward' = 'merge') {
  beginMergeJournal({ repoRoot: repo.root, taskId, branch, sha: repo.git(['rev-parse', branch]), kind });
  const file = path.join(repo.root, '.vtm/merging.json');
  const entry = JSON.parse(fs.readFileSync(file, 'utf8'));
  entry.owner.pid = 2 ** 22 + 12345; // above pid_max's default: never a live process
  entry.owner.startTime = '1';
  fs.writeFileSync(file, JSON.stringify(entry));
}

describe('recoverInterruptedMerge', () => {
  it('does nothing without a journal', async () => {
    expect(await recoverInterruptedMerge({ repoRoot: repo.root })).toBeUndefined();
  });

  it('removes the stale index.lock and aborts the half-done merge of a dead process', async () => {
    repo.commit({ 'a.txt': 'base\n' }, 'base');
    repo.git(['checkout', '-q', '-b', 'vtm/T1']);
    repo.commit({ 'a.txt': 'task\n' }, 'task');
    repo.git(['checkout', '-q', 'main']);
    repo.commit({ 'a.txt': 'main\n' }, 'main change');
    spawnSync('git', ['merge', '--no-edit', 'vtm/T1'], { cwd: repo.root }); // conflicts: MERGE_HEAD left
    const gitDir = path.join(repo.root, '.git');
    expect(fs.existsSync(path.join(gitDir, 'MERGE_HEAD'))).toBe(true);
    fs.writeFileSync(path.join(gitDir, 'index.lock'), ''); // as a killed git leaves it
    journalOfDeadProcess('T1', 'vtm/T1');

    const line = await recoverInterruptedMerge({ repoRoot: repo.root });
    expect(line).toMatch(/removed the stale \.git\/index\.lock, aborted the interrupted merge of vtm\/T1/);
    expect(fs.existsSync(path.join(gitDir, 'MERGE_HEAD'))).toBe(false);
    expect(fs.existsSync(path.join(gitDir, 'index.lock'))).toBe(false);
    expect(repo.git(['status', '--porcelain', '--untracked-files=no'])).toBe('');
    expect(fs.existsSync(path.join(repo.root, '.vtm/merging.json'))).toBe(false);
  });

  it("completes the merge queue's fast-forward a kill cut short: index and files moved, the branch not, HEAD.lock left", async () => {
    repo.commit({ 'a.txt': 'base\n' }, 'base');
    const base = repo.git(['rev-parse', 'HEAD']);
    repo.git(['checkout', '-q', '-b', 'tested']);
    repo.commit({ 'a.txt': 'base\n', 'b.txt': 'task\n' }, 'Merge vtm/T1');
    const tested = repo.git(['rev-parse', 'HEAD']);
    repo.git(['checkout', '-q', 'main']);
    journalOfDeadProcess('T1', 'tested', 'fast-forward');
    // What `git merge --ff-only` killed after updating the index and files, before the ref: b.txt staged, HEAD.lock.
    repo.git(['read-tree', '-m', '-u', 'HEAD', tested]);
    fs.writeFileSync(path.join(repo.root, '.git', 'HEAD.lock'), `${tested}\n`);
    expect(repo.git(['status', '--porcelain', '--untracked-files=no'])).toBe('A  b.txt');
    const line = await recoverInterruptedMerge({ repoRoot: repo.root });
    expect(line).toMatch(/removed the stale \.git\/HEAD\.lock, completed the interrupted fast-forward to the tested merge/);
    expect(repo.git(['rev-parse', 'HEAD'])).toBe(tested);
    expect(repo.git(['rev-parse', 'HEAD~1'])).toBe(base);
    expect(repo.git(['status', '--porcelain', '--untracked-files=no'])).toBe('');
    expect(fs.existsSync(path.join(repo.root, '.vtm/merging.json'))).toBe(false);
  });

  it('leaves the journal of a live process alone', async () => {
    beginMergeJournal({ repoRoot: repo.root, taskId: 'T1', branch: 'vtm/T1', sha: repo.git(['rev-parse', 'HEAD']) }); // this very process
    fs.writeFileSync(path.join(repo.root, '.git', 'index.lock'), '');
    expect(await recoverInterruptedMerge({ repoRoot: repo.root })).toBeUndefined();
    expect(fs.existsSync(path.join(repo.root, '.git', 'index.lock'))).toBe(true);
  });

  it("never aborts the user's own merge: a MERGE_HEAD that is not the journaled commit is left as it is", async () => {
    repo.commit({ 'a.txt': 'base\n' }, 'base');
    repo.git(['checkout', '-q', '-b', 'vtm/T1']);
    repo.commit({ 'a.txt': 'task\n' }, 'task');
    repo.git(['checkout', '-q', 'main']);
    repo.git(['checkout', '-q', '-b', 'feature']);
    repo.commit({ 'a.txt': 'the user\'s feature\n' }, 'feature');
    repo.git(['checkout', '-q', 'main']);
    repo.commit({ 'a.txt': 'main\n' }, 'main change');
    journalOfDeadProcess('T1', 'vtm/T1'); // our process died before merging vtm/T1 ...
    spawnSync('git', ['merge', '--no-edit', 'feature'], { cwd: repo.root }); // ... and the user then merges their branch
    const mergeHead = path.join(repo.root, '.git', 'MERGE_HEAD');
    expect(fs.readFileSync(mergeHead, 'utf8').trim()).toBe(repo.git(['rev-parse', 'feature']));

    const line = await recoverInterruptedMerge({ repoRoot: repo.root });
    expect(line).toMatch(/is not ours; left untouched/);
    expect(fs.readFileSync(mergeHead, 'utf8').trim()).toBe(repo.git(['rev-parse', 'feature']));
    expect(repo.git(['status', '--porcelain'])).toMatch(/^UU a\.txt/m);
    expect(fs.existsSync(path.join(repo.root, '.vtm/merging.json'))).toBe(false);
  });

  it('removes ref locks a killed merge left (ORIG_HEAD.lock, the branch lock), never older ones', async () => {
    repo.commit({ 'a.txt': 'base\n' }, 'base');
    const gitDir = path.join(repo.root, '.git');
    const old = path.join(gitDir, 'REBASE_HEAD.lock');
    fs.writeFileSync(old, ''); // from before our merge began: not ours
    fs.utimesSync(old, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    journalOfDeadProcess('T1', 'main');
    fs.writeFileSync(path.join(gitDir, 'ORIG_HEAD.lock'), '');
    fs.writeFileSync(path.join(gitDir, 'refs', 'heads', 'main.lock'), '');

    const line = await recoverInterruptedMerge({ repoRoot: repo.root });
    expect(line).toMatch(/removed the stale \.git\/ORIG_HEAD\.lock, removed the stale \.git\/refs\/heads\/main\.lock/);
    expect(fs.existsSync(path.join(gitDir, 'ORIG_HEAD.lock'))).toBe(false);
    expect(fs.existsSync(old)).toBe(true);
    repo.commit({ 'a.txt': 'after\n' }, 'git works again');
  });
});
