import * as fs from 'node:fs';
import * as path from 'node:path';
import { commitTaskWork } from './integrate';
import { startTsChild, waitForLine } from './test-support/child';
import { makeTempRepo, type TempRepo } from './test-support/git-fixture';
import { createTaskWorktree } from './worktree';

// Real git repositories and child processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(60_000);

let repo: TempRepo;
beforeEach(() => {
  repo = makeTempRepo();
});
afterEach(() => repo.cleanup());

async function taskWithWork(taskId: string, files: Record<string, string>): Promise<void> {
  const r = await createTaskWorktree({ repoRoot: repo.root, taskId, baseRef: 'main' });
  if (!r.ok) throw new Error(r.error.message);
  repo.write(files, r.value.path);
  const c = await commitTaskWork({ worktree: r.value.path, taskId, title: `Work of ${taskId}`, acceptanceCriteria: [] });
  if (!c.ok || c.value.status !== 'committed') throw new Error(`commit failed for ${taskId}`);
}

const mainStatus = () => repo.git(['status', '--porcelain', '--untracked-files=all']);

it('serialises two integrations started at once by two processes (SQLite lock)', async () => {
  await taskWithWork('A', { 'src/a.ts': 'a\n' });
  await taskWithWork('B', { 'src/b.ts': 'b\n' });
  const lockFile = path.join(repo.root, '.vtm', 'locks.db');
  const logFile = path.join(repo.root, '.vtm', 'sections.log');
  const children = ['A', 'B'].map((id) => startTsChild('integrate-child.ts', [repo.root, id, lockFile, logFile]));
  try {
    await Promise.all(children.map((c) => waitForLine(c, /^ready$/)));
    const results = children.map((c) => waitForLine(c, /^\{/, 60_000));
    for (const c of children) c.stdin.write('go\n');
    const outcomes = (await Promise.all(results)).map((l) => JSON.parse(l));
    expect(outcomes.map((o) => o.status)).toEqual(['merged', 'merged']);

    const log = fs.readFileSync(logFile, 'utf8').trim().split('\n');
    expect(log).toHaveLength(4);
    // Each section exits before the next enters.
    expect(log[0].replace('enter', 'exit')).toBe(log[1]);
    expect(log[2].replace('enter', 'exit')).toBe(log[3]);
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
  expect(repo.git(['log', '--merges', '--format=%s']).split('\n').sort()).toEqual(['Merge vtm/A: task A', 'Merge vtm/B: task B']);
  expect(fs.existsSync(path.join(repo.root, 'src/a.ts')) && fs.existsSync(path.join(repo.root, 'src/b.ts'))).toBe(true);
  expect(mainStatus()).toBe('');
}, 60_000);
