/**
 * Commits built in a private index, on a real repository: what a process killed in the middle of one leaves behind
 * must not break the next attempt, nor pile up in the git dir.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempRepo, type TempRepo } from './test-support/git-fixture';
import { commitPaths, removeDeadPrivateIndexes, saveRef, staleOwnRefLock } from './work-commit';

jest.setTimeout(30_000);

let repo: TempRepo;
beforeEach(() => {
  repo = makeTempRepo();
  repo.commit({ 'a.txt': 'base\n' }, 'base');
});
afterEach(() => repo.cleanup());

const DEAD_PID = 2 ** 22 + 12345; // above pid_max's default: never a live process

describe('saveRef', () => {
  it("removes a stale lock of the ref it writes (a git killed while updating it) and saves", async () => {
    const sha = repo.git(['rev-parse', 'HEAD']);
    const lock = path.join(repo.root, '.git/refs/vtm/attempts/T1/work.lock');
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    fs.writeFileSync(lock, '');
    expect(await saveRef({ cwd: repo.root, ref: 'refs/vtm/attempts/T1/work', sha })).toEqual({ ok: true, value: undefined });
    expect(repo.git(['rev-parse', 'refs/vtm/attempts/T1/work'])).toBe(sha);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('leaves a lock some process holds open, and the lock of another ref, alone', async () => {
    const sha = repo.git(['rev-parse', 'HEAD']);
    const lock = path.join(repo.root, '.git/refs/vtm/attempts/T2/work.lock');
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    fs.writeFileSync(lock, '');
    const holder = spawn(process.execPath, ['-e', `require('fs').openSync(${JSON.stringify(lock)}, 'r'); console.log('open'); setInterval(() => {}, 1000)`], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((res) => holder.stdout!.once('data', res));
      const r = await saveRef({ cwd: repo.root, ref: 'refs/vtm/attempts/T2/work', sha });
      expect(r.ok).toBe(false);
      expect(fs.existsSync(lock)).toBe(true);
    } finally {
      holder.kill('SIGKILL');
    }
    // git's message names another ref's lock: not ours to remove.
    const other = path.join(repo.root, '.git/refs/heads/main.lock');
    fs.writeFileSync(other, '');
    expect(staleOwnRefLock(`fatal: Unable to create '${other}': File exists.`, 'refs/vtm/attempts/T2/work')).toBeUndefined();
    expect(staleOwnRefLock(`fatal: Unable to create '${other}': File exists.`, 'refs/heads/main')).toBe(other);
  });
});

describe('private index files', () => {
  it('removes those of dead processes when the next commit is built, keeps those of live ones', async () => {
    const gitDir = path.join(repo.root, '.git');
    const dead = [`vtm-index-${DEAD_PID}-0badf00d`, `vtm-index-${DEAD_PID}-0badf00d.lock`];
    const live = `vtm-index-${process.ppid}-12345678`; // our parent runs
    for (const f of [...dead, live, 'vtm-index-notes']) fs.writeFileSync(path.join(gitDir, f), 'x');
    repo.write({ 'a.txt': 'changed\n' });
    const commit = await commitPaths({ cwd: repo.root, parent: repo.git(['rev-parse', 'HEAD']), paths: ['a.txt'], message: 'x\n' });
    expect(commit.ok).toBe(true);
    const left = fs.readdirSync(gitDir).filter((f) => f.startsWith('vtm-index-')).sort();
    expect(left).toEqual([live, 'vtm-index-notes'].sort());
    expect(removeDeadPrivateIndexes(gitDir)).toEqual([]);
  });
});
