import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBdCloseArgs, editSpeckit, editTaskmaster, editTodoMd } from './write-back';
import { parseTodoMd } from './todo-md';
import { parseTaskmasterJson } from './taskmaster';
import { parseSpeckitTasks } from './speckit';

const fixture = (f: string) => readFileSync(join(__dirname, '__fixtures__', f), 'utf8');

describe('editTodoMd', () => {
  const text = fixture('TODO.md');

  it('marks a task completed: status marker, Completed line, ✅ heading; nothing else changes', () => {
    const r = editTodoMd({ text, sourceId: '64', status: 'completed', date: '2026-01-02' });
    if (!r.ok) throw new Error(r.error);
    expect(r.value).toContain('### 64. Migrate existing artifacts to content addresses \u2705\n- **Effort**: 2 hours\n- **Status**: [COMPLETED]\n');
    expect(r.value.split('\n')).toHaveLength(text.split('\n').length + 1);
    // The Completed line goes after Started; the edited file parses back as done.
    expect(r.value).toContain('- **Started**: 2025-12-18\n- **Completed**: 2026-01-02\n- **Priority**: High');
    expect(parseTodoMd({ text: r.value }).tasks.find((t) => t.sourceId === '64')!.status).toBe('done');
    // Removing the three edits gives back the original bytes.
    expect(r.value.replace(' \u2705', '').replace('[COMPLETED]', '[IN PROGRESS]').replace('- **Completed**: 2026-01-02\n', '')).toBe(text);
  });

  it('keeps the drifted *Status** style, and records a failure as [FAILED] (still runnable)', () => {
    const r = editTodoMd({ text, sourceId: '66', status: 'failed', date: '2026-01-02' });
    if (!r.ok) throw new Error(r.error);
    expect(r.value).toBe(text.replace('*Status**: [BLOCKED]', '*Status**: [FAILED]'));
    expect(parseTodoMd({ text: r.value }).tasks.find((t) => t.sourceId === '66')!.status).toBe('open');
  });

  it('says so when the task is not in the file', () => {
    expect(editTodoMd({ text, sourceId: '999', status: 'completed', date: '2026-01-02' })).toEqual({ ok: false, error: 'task 999 not found (no "### 999." heading)' });
  });

  it('keeps CRLF line endings', () => {
    const crlf = '### 1. A\r\n- **Status**: [NOT STARTED]\r\n';
    const r = editTodoMd({ text: crlf, sourceId: '1', status: 'completed', date: '2026-01-02' });
    expect(r).toEqual({ ok: true, value: '### 1. A \u2705\r\n- **Status**: [COMPLETED]\r\n- **Completed**: 2026-01-02\r\n' });
  });
});

describe('editSpeckit', () => {
  it('checks exactly one Tnnn box', () => {
    const text = fixture('tasks.md');
    const r = editSpeckit({ text, sourceId: 'T006' });
    if (!r.ok) throw new Error(r.error);
    expect(r.value).toBe(text.replace('- [ ] T006 [P] [US1]', '- [X] T006 [P] [US1]'));
    expect(parseSpeckitTasks({ text: r.value }).tasks.find((t) => t.id === 'T006')!.status).toBe('done');
  });
});

describe('editTaskmaster', () => {
  const text = fixture('tasks.json');

  it('changes only the status of a "P.S" subtask; ids keep their JSON type, metadata untouched', () => {
    const r = editTaskmaster({ text, sourceId: '2.2', tag: 'master', status: 'done' });
    if (!r.ok) throw new Error(r.error);
    expect(r.value).toBe(text.replace('"title": "Sign-up endpoint", "description": "POST /signup", "status": "pending"', '"title": "Sign-up endpoint", "description": "POST /signup", "status": "done"'));
    expect(parseTaskmasterJson({ text: r.value, tag: 'master' }).tasks.find((t) => t.id === 'tm-2.2')!.status).toBe('done');
  });

  it('finds a string id ("3") and edits a flat legacy file', () => {
    const r = editTaskmaster({ text, sourceId: '3', tag: 'master', status: 'done' });
    if (!r.ok) throw new Error(r.error);
    expect(JSON.parse(r.value).master.tasks[2]).toMatchObject({ id: '3', status: 'done' });
    const flat = '{\n  "tasks": [\n    {\n      "id": 1,\n      "title": "A",\n      "status": "pending"\n    }\n  ]\n}\n';
    expect(editTaskmaster({ text: flat, sourceId: '1', tag: 'master', status: 'done' })).toEqual({ ok: true, value: flat.replace('"pending"', '"done"') });
  });
});

describe('editTaskmaster parent roll-up (Task Master: the parent follows its subtasks)', () => {
  const text = fixture('tasks.json');
  const edit = (t: string, id: string) => {
    const r = editTaskmaster({ text: t, sourceId: id, tag: 'master', status: 'done' });
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };

  it('completing the last open subtask makes the parent done, with two status edits and nothing else', () => {
    const after = edit(edit(text, '2.2'), '2.3');
    const expected = text
      .replace('"description": "POST /signup", "status": "pending"', '"description": "POST /signup", "status": "done"')
      .replace('"description": "POST /reset", "status": "pending"', '"description": "POST /reset", "status": "done"')
      .replace('"status": "in-progress",', '"status": "done",');
    expect(after).toBe(expected);
    const parsed = parseTaskmasterJson({ text: after, tag: 'master' });
    expect(parsed.tasks.find((t) => t.id === 'tm-2')!.status).toBe('done');
  });

  it('completing one subtask of a pending parent makes it in-progress; an already in-progress parent is not touched', () => {
    const flat = '{\n  "tasks": [\n    {\n      "id": 7,\n      "status": "pending",\n      "subtasks": [\n        { "id": 1, "status": "pending" },\n        { "id": 2 }\n      ]\n    }\n  ]\n}\n';
    const once = edit(flat, '7.1');
    expect(once).toBe(flat.replace('"status": "pending",\n      "subtasks"', '"status": "in-progress",\n      "subtasks"').replace('{ "id": 1, "status": "pending" }', '{ "id": 1, "status": "done" }'));
    expect(JSON.parse(edit(once, '7.2')).tasks[0]).toMatchObject({ id: 7, status: 'done', subtasks: [{ id: 1, status: 'done' }, { id: 2, status: 'done' }] });
  });
});

describe('buildBdCloseArgs', () => {
  it('is an argv array: task text never reaches a shell', () => {
    expect(buildBdCloseArgs({ id: 'bd-7f3a.2', reason: 'done; rm -rf /' })).toEqual(['close', 'bd-7f3a.2', '--reason', 'done; rm -rf /', '--json']);
  });
});
