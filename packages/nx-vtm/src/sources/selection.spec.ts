import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildReadyTasks, buildRunPlan, listSelectableTasks, parseSelection, resolveSelection } from './selection';
import { parseTodoMd } from './todo-md';
import { buildSourceManifest } from './build-manifest';
import type { LoadedManifest } from '../manifest/read';

const text = readFileSync(join(__dirname, '__fixtures__/TODO.md'), 'utf8');
const built = buildSourceManifest({ type: 'todo-md', file: 'TODO.md', parsed: parseTodoMd({ text }), wideScope: ['src/'] });
if (!built.ok) throw new Error('fixture');
const manifests: LoadedManifest[] = [{ file: 'TODO.md', ...built.value }];

describe('parseSelection', () => {
  it("reads seed 002's syntax: numbers and ranges, with ids and globs", () => {
    const r = parseSelection('63, 65-67, 88 bd-a3f8 todo-6*');
    if (!r.ok) throw new Error(r.error);
    expect(r.value.map((t) => (t.kind === 'number' ? t.n : `${t.kind}:${t.text}`))).toEqual([63, 65, 66, 67, 88, 'id:bd-a3f8', 'glob:todo-6*']);
  });
  it('rejects a backwards range and an empty selection with what to write', () => {
    expect(parseSelection('67-65')).toEqual({ ok: false, error: 'range "67-65" runs backwards; write 65-67' });
    expect(parseSelection(' , ').ok).toBe(false);
  });
});

describe('resolveSelection', () => {
  const tasks = listSelectableTasks(manifests);
  const tokens = (s: string) => (parseSelection(s) as { ok: true; value: ReturnType<typeof parseSelection> extends { value: infer V } ? V : never }).value;

  it('runs the open ones, skips the complete ones with a reason, reports unknown numbers once', () => {
    const r = resolveSelection({ tokens: tokens('63, 65-67, 99, 99'), tasks, isCompleted: (id) => id === 'todo-67' });
    expect(r).toEqual({
      run: ['todo-63', 'todo-66'],
      unknown: ['99'],
      skipped: [
        { id: 'todo-65', why: 'already complete in its source' },
        { id: 'todo-67', why: 'already completed (task store)' },
      ],
    });
  });

  it('accepts task ids and globs', () => {
    expect(resolveSelection({ tokens: tokens('todo-64 todo-6*'), tasks, isCompleted: () => false }).run).toEqual(['todo-64', 'todo-63', 'todo-66', 'todo-67', 'todo-68']);
  });

  it('selects by project tag with tag:<glob>, as nx --projects=tag:... does; a tag nothing has is unknown', () => {
    const risky = text.replace('### 64. Migrate existing artifacts to content addresses\n', '### 64. Migrate existing artifacts to content addresses\n- **Risk**: High\n');
    const b = buildSourceManifest({ type: 'todo-md', file: 'TODO.md', parsed: parseTodoMd({ text: risky }), wideScope: ['src/'] });
    if (!b.ok) throw new Error('fixture');
    const all = listSelectableTasks([{ file: 'TODO.md', ...b.value }]);
    expect(all.find((t) => t.id === 'todo-64')!.tags).toEqual(['vtm:task', 'vtm:risk:high', 'source:todo-md']);
    expect(resolveSelection({ tokens: tokens('tag:vtm:risk:high'), tasks: all, isCompleted: () => false })).toEqual({ run: ['todo-64'], unknown: [], skipped: [] });
    expect(resolveSelection({ tokens: tokens('tag:vtm:risk:*, tag:nope*'), tasks: all, isCompleted: () => false }).unknown).toEqual(['tag:nope*']);
    // Done tasks are not projects but keep their source tags: selected by tag, they are reported as complete.
    const bySource = resolveSelection({ tokens: tokens('tag:source:*'), tasks: all, isCompleted: () => false });
    expect(bySource.run).toEqual(['todo-63', 'todo-64', 'todo-66', 'todo-67', 'todo-68', 'todo-88']);
    expect(bySource.skipped).toEqual([{ id: 'todo-65', why: 'already complete in its source' }]);
  });

  it('reads tag: tokens as tags even with glob characters, and refuses an empty one', () => {
    expect(tokens('tag:vtm:risk:* todo-6*')).toEqual([
      { kind: 'tag', text: 'tag:vtm:risk:*', pattern: 'vtm:risk:*' },
      { kind: 'glob', text: 'todo-6*' },
    ]);
    expect(parseSelection('63, tag:')).toEqual({ ok: false, error: '"tag:" names no tag; write tag:<tag or glob>, e.g. tag:vtm:risk:high' });
  });

  it('plans unfinished dependencies first', () => {
    const map = new Map(built.value.manifest.tasks.map((t) => [t.task_id, t]));
    expect(buildRunPlan({ selected: ['todo-67'], tasks: map, isCompleted: () => false })).toEqual(['todo-63', 'todo-64', 'todo-66', 'todo-67']);
    expect(buildRunPlan({ selected: ['todo-67'], tasks: map, isCompleted: (id) => id === 'todo-64' })).toEqual(['todo-66', 'todo-67']);
  });
});

describe('buildReadyTasks', () => {
  const base = { manifests, isRunning: () => false, conflictsWithRunning: () => false };
  it('lists open tasks whose dependencies are done, by priority; blocked, cancelled and in-progress ones are not ready', () => {
    expect(buildReadyTasks({ ...base, isCompleted: () => false }).map((t) => t.id)).toEqual(['todo-63']);
    // 66 completed (say, by hand in the store): 67 becomes ready, after 63 (priority High = 1 before Medium = 2).
    expect(buildReadyTasks({ ...base, isCompleted: (id) => id === 'todo-66' }).map((t) => [t.id, t.priority, t.source])).toEqual([
      ['todo-63', 1, 'TODO.md:14'],
      ['todo-67', 2, 'TODO.md:69'],
    ]);
  });
  it('leaves out a task whose scope a running task holds', () => {
    expect(buildReadyTasks({ ...base, isCompleted: () => false, conflictsWithRunning: (t) => t.task_id === 'todo-63' })).toEqual([]);
  });
});
