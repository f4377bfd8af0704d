import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTaskmasterJson } from './taskmaster';
import { buildSourceManifest } from './build-manifest';

const text = readFileSync(join(__dirname, '__fixtures__/tasks.json'), 'utf8');

describe('parseTaskmasterJson', () => {
  const parsed = parseTaskmasterJson({ text, tag: 'master' });
  const byId = new Map(parsed.tasks.map((t) => [t.id, t]));

  it('reads tasks and "P.S" subtasks of the tag, ids as ints or strings, each at its "id" line', () => {
    expect(parsed.tasks.map((t) => [t.id, t.line])).toEqual([
      ['tm-1', 5],
      ['tm-2', 16],
      ['tm-2.1', 23],
      ['tm-2.2', 24],
      ['tm-2.3', 25],
      ['tm-3', 29],
      ['tm-4', 38],
      ['tm-5', 47],
    ]);
    expect(parsed.problems).toEqual([]);
  });

  it('resolves sibling numbers and "P.S" in subtask dependencies', () => {
    expect(byId.get('tm-2.2')!.dependsOn.map((d) => d.id)).toEqual(['tm-2.1']);
    expect(byId.get('tm-2.3')!.dependsOn.map((d) => d.id)).toEqual(['tm-2.2']);
    expect(byId.get('tm-3')!.dependsOn.map((d) => d.id)).toEqual(['tm-2']);
    expect(byId.get('tm-2.2')!.parentId).toBe('tm-2');
  });

  it('maps statuses, priorities, testStrategy and details', () => {
    expect(parsed.tasks.map((t) => t.status)).toEqual(['done', 'in_progress', 'done', 'open', 'open', 'open', 'cancelled', 'open']);
    expect(byId.get('tm-5')!.priority).toBe(0);
    expect(byId.get('tm-2.2')!.priority).toBe(1); // no priority of its own: its parent's (high)
    expect(byId.get('tm-1')!.acceptance).toEqual(['npm run build succeeds']);
    expect(byId.get('tm-1')!.description).toBe('Create the package and its build.\n\nUse TypeScript 5.');
  });

  it('reads another tag, and names the tags when the tag is missing', () => {
    expect(parseTaskmasterJson({ text, tag: 'feature-x' }).tasks.map((t) => t.id)).toEqual(['tm-1']);
    expect(parseTaskmasterJson({ text, tag: 'nope' }).problems[0].message).toBe('tag "nope" not found; the file has "master", "feature-x"; set "tag" in the source entry');
  });

  it('reads the legacy flat shape and a file rewritten by task-master set-status (string ids)', () => {
    const flat = JSON.stringify({ tasks: [{ id: '1', title: 'A', status: 'pending', dependencies: [], subtasks: [{ id: '1', title: 'B', status: 'done', parentId: 'undefined', dependencies: [] }, { id: 2, title: 'C', status: 'pending', parentId: 'undefined', dependencies: ['1'] }] }] }, null, 2);
    const p = parseTaskmasterJson({ text: flat, tag: 'master' });
    expect(p.tasks.map((t) => [t.id, t.status, t.dependsOn.map((d) => d.id)])).toEqual([
      ['tm-1', 'in_progress', []], // rolled up: one subtask done
      ['tm-1.1', 'done', []],
      ['tm-1.2', 'open', ['tm-1.1']],
    ]);
    expect(p.problems).toEqual([]);
  });

  it('rolls a parent up from its subtasks as Task Master does: all done is done, any started is in progress', () => {
    const file = (parent: string, subs: string[]) =>
      JSON.stringify({ tasks: [{ id: 1, title: 'P', status: parent, dependencies: [], subtasks: subs.map((st, i) => ({ id: i + 1, title: `S${i + 1}`, status: st, dependencies: [] })) }] });
    const statuses = (parent: string, subs: string[]) => parseTaskmasterJson({ text: file(parent, subs), tag: 'master' }).tasks.map((t) => t.status);
    expect(statuses('pending', ['done', 'done'])).toEqual(['done', 'done', 'done']);
    expect(statuses('blocked', ['done', 'done'])).toEqual(['done', 'done', 'done']);
    expect(statuses('pending', ['done', 'pending'])).toEqual(['in_progress', 'done', 'open']);
    expect(statuses('pending', ['pending', 'pending'])).toEqual(['open', 'open', 'open']);
    expect(statuses('blocked', ['done', 'pending'])).toEqual(['blocked', 'done', 'open']); // a blocked parent still stops them
    expect(parseTaskmasterJson({ text: file('pending', ['done', 'done']), tag: 'master' }).tasks[0].rawStatus).toBe('pending (all subtasks done)');
  });

  it('reads the open subtasks of a parent marked done as done (its work is done; `next` never offers them)', () => {
    const p = parseTaskmasterJson({ text: JSON.stringify({ tasks: [{ id: 1, title: 'P', status: 'done', subtasks: [{ id: 1, title: 'S', status: 'pending' }, { id: 2, title: 'T', status: 'done' }] }] }), tag: 'master' });
    expect(p.tasks.map((t) => [t.id, t.status, t.rawStatus])).toEqual([
      ['tm-1', 'done', 'done'],
      ['tm-1.1', 'done', 'pending (parent 1 is done)'],
      ['tm-1.2', 'done', 'done'],
    ]);
  });

  it('reports an unknown status at its line, not started', () => {
    const p = parseTaskmasterJson({ text: '{"tasks":[\n{"id":1,"title":"A","status":"completed"}]}', tag: 'master' });
    expect(p.problems).toEqual([{ line: 2, taskId: 'tm-1', message: 'task 1: unknown status "completed" (Task Master knows pending, in-progress, done, review, deferred, cancelled, blocked)' }]);
  });
});

describe('buildSourceManifest on Task Master', () => {
  const built = buildSourceManifest({ type: 'taskmaster', file: '.taskmaster/tasks/tasks.json', parsed: parseTaskmasterJson({ text, tag: 'master' }), wideScope: ['src/'] });
  if (!built.ok) throw new Error(JSON.stringify(built.error, null, 1));
  const tasks = new Map(built.value.manifest.tasks.map((t) => [t.task_id, t]));

  it('runs subtasks instead of their parent; a dependency on the parent waits for its open subtasks', () => {
    expect([...tasks.keys()]).toEqual(['tm-2.2', 'tm-2.3', 'tm-3', 'tm-4', 'tm-5']);
    expect(tasks.get('tm-3')!.depends_on_tasks).toEqual(['tm-2.2', 'tm-2.3']);
    expect(tasks.get('tm-2.2')!.depends_on_tasks).toEqual([]); // 2.1 done; parent's dependency 1 done
    expect(tasks.get('tm-2.2')!.file_scope).toEqual(['src/signup.ts']);
  });

  it('keeps a cancelled dependency as an edge: the dependent is skipped with the reason, never run', () => {
    expect(tasks.get('tm-5')!.depends_on_tasks).toEqual(['tm-4']);
    expect(built.value.source.tasks.get('tm-4')!.status).toBe('cancelled');
  });
});
