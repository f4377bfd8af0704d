import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  auditScope,
  buildTaskChanges,
  collectTaskChanges,
  formatScopeViolation,
  parseNameStatus,
  statusToChanges,
  type ChangeEntry,
  type TaskChanges,
} from './audit';
import { makeTempRepo, type TempRepo } from './test-support/git-fixture';
import { createTaskWorktree, type TaskWorktree } from './worktree';

// Real git repositories and child processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(30_000);

describe('auditScope (pure)', () => {
  const changes = (entries: ChangeEntry[]): TaskChanges => buildTaskChanges(entries);

  it('passes when every touched path is in scope or allowed', () => {
    const a = auditScope({
      changes: changes([
        { path: 'src/a.ts', kind: 'modified', source: 'committed' },
        { path: 'tests/a.spec.ts', kind: 'added', source: 'untracked' },
      ]),
      fileScope: ['src/'],
      allowedExtra: ['tests/a.spec.ts'],
    });
    expect(a).toEqual({ ok: true, files: ['src/a.ts', 'tests/a.spec.ts'], outside: [] });
  });

  it('flags edits, deletions and both directions of a rename out of scope', () => {
    const a = auditScope({
      changes: changes([
        { path: 'src/a.ts', kind: 'modified', source: 'committed' },
        { path: 'lib/x.ts', kind: 'deleted', source: 'unstaged' },
        { path: 'lib/moved.ts', from: 'src/b.ts', kind: 'renamed', source: 'committed' },
        { path: 'src/c.ts', from: 'other/c.ts', kind: 'renamed', source: 'staged' },
        { path: 'lib/x.ts', kind: 'modified', source: 'committed' },
      ]),
      fileScope: ['src/'],
    });
    expect(a.ok).toBe(false);
    expect(a.files).toEqual(['lib/moved.ts', 'lib/x.ts', 'other/c.ts', 'src/a.ts', 'src/b.ts', 'src/c.ts']);
    expect(a.outside).toEqual([
      { path: 'lib/moved.ts', how: ['renamed from src/b.ts (committed)'] },
      { path: 'lib/x.ts', how: ['deleted (unstaged)', 'modified (committed)'] },
      { path: 'other/c.ts', how: ['renamed to src/c.ts (staged)'] },
    ]);
    expect(formatScopeViolation({ taskId: 'T1', audit: a })).toBe(
      'Task T1 changed 3 paths outside its file_scope: lib/moved.ts [renamed from src/b.ts (committed)]; lib/x.ts [deleted (unstaged), modified (committed)]; other/c.ts [renamed to src/c.ts (staged)]. Revert them in the task worktree or widen the task\'s file_scope in the manifest, then re-run T1',
    );
  });

  it('respects directory boundaries (src/a does not cover src/ab.ts)', () => {
    const a = auditScope({ changes: changes([{ path: 'src/ab.ts', kind: 'added', source: 'untracked' }]), fileScope: ['src/a'] });
    expect(a.outside.map((o) => o.path)).toEqual(['src/ab.ts']);
  });
});

describe('parsers', () => {
  it('parseNameStatus reads renames, copies and plain changes', () => {
    expect(parseNameStatus('M\0a.ts\0R087\0old name.ts\0new name.ts\0D\0gone.ts\0C100\0src.ts\0copy.ts\0')).toEqual([
      { path: 'a.ts', kind: 'modified', source: 'committed' },
      { path: 'new name.ts', from: 'old name.ts', kind: 'renamed', source: 'committed' },
      { path: 'gone.ts', kind: 'deleted', source: 'committed' },
      { path: 'copy.ts', from: 'src.ts', kind: 'copied', source: 'committed' },
    ]);
  });

  it('statusToChanges splits staged and unstaged changes of one path and marks conflicts', () => {
    expect(
      statusToChanges([
        { index: 'M', worktree: 'M', path: 'a.ts' },
        { index: 'U', worktree: 'U', path: 'c.ts' },
        { index: '?', worktree: '?', path: 'n.ts' },
      ]),
    ).toEqual([
      { path: 'a.ts', kind: 'modified', source: 'staged' },
      { path: 'a.ts', kind: 'modified', source: 'unstaged' },
      { path: 'c.ts', kind: 'unmerged', source: 'unstaged' },
      { path: 'n.ts', kind: 'untracked', source: 'untracked' },
    ]);
  });
});

describe('collectTaskChanges (real repository)', () => {
  let repo: TempRepo;
  let wt: TaskWorktree;
  beforeEach(async () => {
    repo = makeTempRepo();
    repo.write({ 'node_modules/dep/index.js': '1' });
    repo.commit(
      { 'src/a.ts': 'a\n', 'src/b.ts': 'b\n'.repeat(20), 'lib/keep.ts': 'k\n', 'lib/old.ts': 'o\n'.repeat(20), 'lib/del.ts': 'd\n' },
      'base',
    );
    const r = await createTaskWorktree({ repoRoot: repo.root, taskId: 'T1', baseRef: 'main' });
    if (!r.ok) throw new Error(r.error.message);
    wt = r.value;
  });
  afterEach(() => repo.cleanup());

  const collect = async () => {
    const r = await collectTaskChanges({ worktree: wt.path, baseSha: wt.baseSha });
    if (!r.ok) throw r.error;
    return r.value;
  };

  it('reports nothing for an untouched worktree (the node_modules link is setup, not work)', async () => {
    expect(fs.lstatSync(path.join(wt.path, 'node_modules')).isSymbolicLink()).toBe(true);
    expect(await collect()).toEqual({ files: [], entries: [] });
  });

  it('catches committed, staged, unstaged and untracked changes, deletions and renames', async () => {
    repo.commit({ 'src/a.ts': 'a2\n' }, 'agent commit', wt.path);
    repo.git(['mv', 'lib/old.ts', 'src/moved-in.ts'], wt.path);
    repo.commit({}, 'agent rename', wt.path);
    repo.write({ 'src/staged.ts': 's\n' }, wt.path);
    repo.git(['add', 'src/staged.ts'], wt.path);
    repo.write({ 'src/b.ts': 'changed\n' }, wt.path);
    fs.rmSync(path.join(wt.path, 'lib/del.ts'));
    repo.write({ 'lib/untracked dir/new file.ts': 'u\n' }, wt.path);
    repo.git(['mv', 'src/b.ts', 'lib/b-moved.ts'], wt.path);

    const changes = await collect();
    expect(changes.files).toEqual([
      'lib/b-moved.ts',
      'lib/del.ts',
      'lib/old.ts',
      'lib/untracked dir/new file.ts',
      'src/a.ts',
      'src/b.ts',
      'src/moved-in.ts',
      'src/staged.ts',
    ]);
    expect(changes.entries).toEqual(
      expect.arrayContaining([
        { path: 'src/a.ts', kind: 'modified', source: 'committed' },
        { path: 'src/moved-in.ts', from: 'lib/old.ts', kind: 'renamed', source: 'committed' },
        { path: 'src/staged.ts', kind: 'added', source: 'staged' },
        { path: 'lib/del.ts', kind: 'deleted', source: 'unstaged' },
        { path: 'lib/untracked dir/new file.ts', kind: 'untracked', source: 'untracked' },
        { path: 'lib/b-moved.ts', from: 'src/b.ts', kind: 'renamed', source: 'staged' },
      ]),
    );

    const audit = auditScope({ changes, fileScope: ['src/'] });
    expect(audit.ok).toBe(false);
    expect(audit.outside.map((o) => o.path)).toEqual(['lib/b-moved.ts', 'lib/del.ts', 'lib/old.ts', 'lib/untracked dir/new file.ts']);
  });

  it('passes an in-scope task', async () => {
    repo.commit({ 'src/a.ts': 'a2\n' }, 'agent', wt.path);
    repo.write({ 'src/new.ts': 'n\n' }, wt.path);
    const audit = auditScope({ changes: await collect(), fileScope: ['src/'] });
    expect(audit).toEqual({ ok: true, files: ['src/a.ts', 'src/new.ts'], outside: [] });
  });

  it('does not hide a linked folder that was committed (merging it would clobber the real one)', async () => {
    repo.git(['add', '-f', 'node_modules'], wt.path);
    repo.git(['commit', '-q', '-m', 'oops'], wt.path);
    const audit = auditScope({ changes: await collect(), fileScope: ['src/'] });
    expect(audit.outside).toEqual([{ path: 'node_modules', how: ['added (committed)'] }]);
  });
});
