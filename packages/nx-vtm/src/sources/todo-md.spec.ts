import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTodoMd } from './todo-md';
import { buildSourceManifest } from './build-manifest';

const text = readFileSync(join(__dirname, '__fixtures__/TODO.md'), 'utf8');

describe('parseTodoMd', () => {
  const parsed = parseTodoMd({ text });
  const byId = new Map(parsed.tasks.map((t) => [t.id, t]));

  it('reads every ### N. task with its line, in file order', () => {
    expect(parsed.tasks.map((t) => [t.id, t.line])).toEqual([
      ['todo-63', 14],
      ['todo-64', 36],
      ['todo-65', 47],
      ['todo-66', 60],
      ['todo-67', 69],
      ['todo-68', 78],
      ['todo-88', 86],
    ]);
    expect(parsed.problems).toEqual([]);
  });

  it('maps status markers, the ✅ heading and the drifted *Status** spelling', () => {
    expect(Object.fromEntries(parsed.tasks.map((t) => [t.sourceId, t.status]))).toEqual({
      '63': 'open',
      '64': 'in_progress',
      '65': 'done',
      '66': 'blocked',
      '67': 'open',
      '68': 'blocked',
      '88': 'cancelled',
    });
    expect(byId.get('todo-65')!.title).toBe('Document the store layout');
  });

  it('reads description, acceptance criteria, files affected and priority (field or section)', () => {
    const t63 = byId.get('todo-63')!;
    expect(t63.description).toBe('Artifacts are stored by name only. Store them by the SHA-256 of their content\nso that identical artifacts are kept once.');
    expect(t63.acceptance).toEqual(['Artifacts are addressed by the SHA-256 of their content', 'Identical artifacts are stored once']);
    expect(t63.fileScope).toEqual(['src/store/hash.ts', 'src/store/index.ts']);
    expect(t63.priority).toBe(1);
    expect(byId.get('todo-64')!.fileScope).toBeUndefined();
    expect(byId.get('todo-66')!.priority).toBe(2); // "## Medium Priority" section
    expect(byId.get('todo-88')!.priority).toBe(3);
  });

  it('resolves numbers, **Blocking** (inverse edges) and names of tasks; "(Complete)" names are satisfied', () => {
    expect(byId.get('todo-64')!.dependsOn.map((d) => d.id)).toEqual(['todo-63']);
    expect(byId.get('todo-66')!.dependsOn.map((d) => d.id)).toEqual(['todo-64', 'todo-65']);
    expect(byId.get('todo-67')!.dependsOn).toEqual([{ id: 'todo-66', line: 71 }]);
  });

  it('blocks a task whose dependency names nothing (never drops it), and warns about archived numbers', () => {
    const t68 = byId.get('todo-68')!;
    expect(t68.status).toBe('blocked');
    expect(t68.rawStatus).toBe('dependency "Caching layer" (line 80) names no task of this file; write its number');
    expect(parsed.warnings).toEqual(['line 80: task 68 depends on task 12, which is not in the file (archived as completed?); treated as done']);
  });

  it('reports a task number defined twice with both lines', () => {
    const p = parseTodoMd({ text: '### 1. A\n\n### 1. B\n' });
    expect(p.problems).toEqual([{ line: 3, taskId: 'todo-1', message: 'task 1 is defined twice (also at line 1); give one of them a new number' }]);
  });
});

describe('buildSourceManifest on TODO.md', () => {
  const built = buildSourceManifest({ type: 'todo-md', file: 'TODO.md', parsed: parseTodoMd({ text }), wideScope: ['README.md', 'src/'] });
  if (!built.ok) throw new Error(JSON.stringify(built.error));
  const tasks = new Map(built.value.manifest.tasks.map((t) => [t.task_id, t]));

  it('leaves done tasks out and drops edges to them', () => {
    expect([...tasks.keys()]).toEqual(['todo-63', 'todo-64', 'todo-66', 'todo-67', 'todo-68', 'todo-88']);
    expect(tasks.get('todo-66')!.depends_on_tasks).toEqual(['todo-64']);
    expect(built.value.source.tasks.get('todo-65')!.status).toBe('done');
  });

  it('gives a task without Files Affected the whole workspace and makes it run alone', () => {
    expect(tasks.get('todo-64')!.file_scope).toEqual(['README.md', 'src/']);
    expect(tasks.get('todo-64')!.parallel).toBe(false);
    expect(tasks.get('todo-63')!.parallel).toBe(true);
  });

  it('keeps status out of the manifest entry (a status edit does not change the task)', () => {
    const edited = text.replace('- **Status**: [NOT STARTED]\n- **Priority**: High', '- **Status**: [IN PROGRESS]\n- **Started**: 2025-12-20\n- **Priority**: High');
    const again = buildSourceManifest({ type: 'todo-md', file: 'TODO.md', parsed: parseTodoMd({ text: edited }), wideScope: ['README.md', 'src/'] });
    if (!again.ok) throw new Error('unexpected');
    expect(again.value.manifest.tasks[0]).toEqual(built.value.manifest.tasks[0]);
    expect(again.value.source.tasks.get('todo-63')!.status).toBe('in_progress');
  });

  it('uses the acceptance criteria, or the title when there are none', () => {
    expect(tasks.get('todo-63')!.acceptance_criteria.map((a) => a.id)).toEqual(['todo-63-AC01', 'todo-63-AC02']);
    expect(tasks.get('todo-64')!.acceptance_criteria).toEqual([{ id: 'todo-64-AC01', text: 'Migrate existing artifacts to content addresses' }]);
  });

  it('points errors at the source line: unknown dependency, bad path, cycle', () => {
    const bad = '### 1. A\n- **Dependencies**: 2\n**Files Affected**:\n- ../outside.ts\n\n### 2. B\n- **Dependencies**: 1\n';
    const r = buildSourceManifest({ type: 'todo-md', file: 'TODO.md', parsed: parseTodoMd({ text: bad }), wideScope: [] });
    expect(r.ok).toBe(false);
    const lines = (r as { error: { path: string; message: string }[] }).error.map((p) => `${p.path}: ${p.message}`);
    expect(lines.some((l) => l.startsWith('line 1, file scope: path escapes the workspace'))).toBe(true);
    expect(lines.some((l) => /^line \d+, dependencies: .*cycle/i.test(l))).toBe(true);
  });
});
