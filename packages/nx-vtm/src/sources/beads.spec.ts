import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBeadsJsonl } from './beads';
import { buildSourceManifest } from './build-manifest';
import { buildReadyTasks } from './selection';

const text = readFileSync(join(__dirname, '__fixtures__/issues.jsonl'), 'utf8');
const now = Date.parse('2026-01-10T00:00:00Z');

describe('parseBeadsJsonl', () => {
  const parsed = parseBeadsJsonl({ text, now });
  const byId = new Map(parsed.tasks.map((t) => [t.id, t]));

  it('reads issue lines with their line numbers and skips memory records', () => {
    expect(parsed.tasks.map((t) => [t.id, t.line])).toEqual([
      ['bd-7f3a', 1],
      ['bd-7f3a.1', 2],
      ['bd-7f3a.2', 3],
      ['bd-7f3a.3', 4],
      ['bd-c01d', 6],
      ['bd-e9b2', 7],
      ['bd-f00d', 8],
    ]);
    expect(parsed.problems).toEqual([]);
  });

  it('reads [P:Group-X] with hyphenated names anywhere, and strips it from the title', () => {
    expect(byId.get('bd-7f3a.2')!.parallelGroup).toBe('auth-flow');
    expect(byId.get('bd-7f3a.2')!.description).toBe('POST /login');
    expect(byId.get('bd-f00d')!.parallelGroup).toBeUndefined();
  });

  it('maps statuses: closed done, deferred not started, in_progress runnable', () => {
    expect(byId.get('bd-7f3a.1')!.status).toBe('done');
    expect(byId.get('bd-c01d')!.status).toBe('blocked');
    expect(byId.get('bd-f00d')!.status).toBe('in_progress');
  });

  it('follows blocking edge types only; parent-child makes a parent; waits-for waits on the children', () => {
    expect(byId.get('bd-7f3a.2')!.dependsOn.map((d) => d.id)).toEqual(['bd-7f3a.1']);
    expect(byId.get('bd-7f3a.2')!.parentId).toBe('bd-7f3a');
    expect(byId.get('bd-7f3a.3')!.dependsOn).toEqual([]); // "related" is not ordering
    expect(byId.get('bd-f00d')!.dependsOn.map((d) => d.id)).toEqual(['bd-7f3a.1', 'bd-7f3a.2', 'bd-7f3a.3']);
  });

  it('cancels a conditional-blocks task whose target closed successfully', () => {
    expect(byId.get('bd-e9b2')!.status).toBe('cancelled');
    const failed = text.replace('"close_reason":"done"', '"close_reason":"failed: schema rejected"');
    const again = parseBeadsJsonl({ text: failed, now }).tasks.find((t) => t.id === 'bd-e9b2')!;
    expect(again.status).toBe('open');
  });

  it('reads scope from scope: labels and metadata, acceptance criteria as lines', () => {
    expect(byId.get('bd-7f3a.2')!.fileScope).toEqual(['src/api/login.ts']);
    expect(byId.get('bd-7f3a.3')!.fileScope).toEqual(['src/api/logout.ts']);
    expect(byId.get('bd-7f3a.2')!.acceptance).toEqual(['returns 200 with a session cookie', 'returns 401 on a wrong password']);
    expect(byId.get('bd-f00d')!.fileScope).toBeUndefined();
  });

  it('defers a task whose defer_until is in the future; reports bad lines by number', () => {
    const t = parseBeadsJsonl({ text: '{"id":"bd-1","title":"x","status":"open","defer_until":"2026-02-01T00:00:00Z"}\n{oops\n', now });
    expect(t.tasks[0].status).toBe('blocked');
    expect(t.tasks[0].rawStatus).toBe('deferred until 2026-02-01T00:00:00Z');
    expect(t.problems).toHaveLength(1);
    expect(t.problems[0].line).toBe(2);
  });
});

describe('buildSourceManifest on Beads', () => {
  const built = buildSourceManifest({ type: 'beads', file: '.beads/issues.jsonl', parsed: parseBeadsJsonl({ text, now }), wideScope: ['src/'] });
  if (!built.ok) throw new Error(JSON.stringify(built.error, null, 1));
  const tasks = new Map(built.value.manifest.tasks.map((t) => [t.task_id, t]));

  it('runs the children of an epic, not the epic; a dependency on the epic waits for all its children', () => {
    expect([...tasks.keys()].sort()).toEqual(['bd-7f3a.2', 'bd-7f3a.3', 'bd-c01d', 'bd-e9b2', 'bd-f00d']);
    expect(tasks.get('bd-c01d')!.depends_on_tasks).toEqual(['bd-7f3a.2', 'bd-7f3a.3']);
    expect(built.value.source.tasks.get('bd-7f3a')!.container).toBe(true);
  });

  it('a blocked parent blocks its children', () => {
    const blockedEpic = text.replace('"title":"Authentication","description":"Login and logout for the web app.","status":"open"', '"title":"Authentication","status":"blocked"');
    const r = buildSourceManifest({ type: 'beads', file: 'x.jsonl', parsed: parseBeadsJsonl({ text: blockedEpic, now }), wideScope: [] });
    if (!r.ok) throw new Error('unexpected');
    expect(r.value.source.tasks.get('bd-7f3a.2')).toMatchObject({ status: 'blocked', rawStatus: 'parent bd-7f3a is blocked' });
  });

  it('tags the parallel group and keeps unknown scope exclusive', () => {
    expect(tasks.get('bd-7f3a.2')!.tags).toContain('parallel-group:auth-flow');
    expect(tasks.get('bd-7f3a.2')!.parallel).toBe(true);
    expect(tasks.get('bd-f00d')!.parallel).toBe(false);
  });
});

describe('[P:Group-X] as a parallel-safe hint, never a barrier', () => {
  const line = (o: Record<string, unknown>) => JSON.stringify({ _type: 'issue', status: 'open', priority: 2, issue_type: 'task', ...o });
  const jsonl = [
    line({ id: 'bd-a1', title: '[P:Group-db-migrations] Users table', labels: ['scope:db/users.sql'] }),
    line({ id: 'bd-a2', title: 'Orders table', description: 'Part of [P:Group-db-migrations] too.', labels: ['scope:db/orders.sql'], dependencies: [{ issue_id: 'bd-a2', depends_on_id: 'bd-c3', type: 'blocks' }] }),
    line({ id: 'bd-c3', title: 'Schema linter', labels: ['scope:tools/lint.js'] }),
    line({ id: 'bd-d4', title: 'API v2 routes', labels: ['scope:src/api/', 'parallel:Group-api-v2'] }),
    line({ id: 'bd-e5', title: '[P:Group-api_v2-docs] Docs', description: 'no scope given' }),
  ].join('\n');
  const built = buildSourceManifest({ type: 'beads', file: '.beads/issues.jsonl', parsed: parseBeadsJsonl({ text: jsonl, now }), wideScope: ['src/', 'db/', 'tools/'] });
  if (!built.ok) throw new Error(JSON.stringify(built.error, null, 1));
  const tasks = new Map(built.value.manifest.tasks.map((t) => [t.task_id, t]));

  it('reads whole hyphenated names (the seed coordinator\'s \\w+ would cut "db-migrations" to "db"), in title, description or label', () => {
    expect([...built.value.source.tasks].map(([id, i]) => [id, i.parallelGroup])).toEqual([
      ['bd-a1', 'db-migrations'],
      ['bd-a2', 'db-migrations'],
      ['bd-c3', undefined],
      ['bd-d4', 'api-v2'],
      ['bd-e5', 'api_v2-docs'],
    ]);
    expect(tasks.get('bd-a1')!.title).toBe('Users table');
    expect(tasks.get('bd-a1')!.tags).toEqual(['source:beads', 'parallel-group:db-migrations', 'bd-type:task']);
  });

  it('adds no edge: group members wait only for their own blockers, and nothing waits for a group', () => {
    expect([...tasks].map(([id, t]) => [id, t.depends_on_tasks])).toEqual([
      ['bd-a1', []],
      ['bd-a2', ['bd-c3']],
      ['bd-c3', []],
      ['bd-d4', []],
      ['bd-e5', []],
    ]);
  });

  it('members of different groups and ungrouped tasks are ready together; a member with an open blocker does not hold back its group', () => {
    const ready = buildReadyTasks({ manifests: [{ file: '.beads/issues.jsonl', ...built.value }], isCompleted: () => false, isRunning: () => false, conflictsWithRunning: () => false });
    expect(ready.map((t) => t.id)).toEqual(['bd-a1', 'bd-c3', 'bd-d4', 'bd-e5']);
  });

  it('does not make an unknown scope safe: a hinted task without a scope still runs alone', () => {
    expect(tasks.get('bd-a1')!.parallel).toBe(true);
    expect(tasks.get('bd-e5')!.parallel).toBe(false);
    expect(tasks.get('bd-e5')!.file_scope).toEqual(['src/', 'db/', 'tools/']);
  });
});
