import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { taskSchema, type Task } from '../manifest/schema';
import { openTaskStore, type TaskStore } from '../state/task-store';
import type { TaskOutcome } from '../state/task-record';
import { buildDependencyHandoff, createHandoffSourcePort, readDependencyHandoffs } from './handoffs';
import { RESULTS_DIR } from './pipeline';

let root: string;
let store: TaskStore;
const clock = { t: Date.UTC(2026, 11, 1), now: () => clock.t };

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-handoffs-'));
  store = openTaskStore({ workspaceRoot: root, clock });
});
afterEach(() => {
  store.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const makeTask = (id: string, deps: string[] = []): Task =>
  taskSchema.parse({ task_id: id, title: `Implement ${id}`, risk: 'Low', acceptance_criteria: [{ id: `${id}-AC01`, text: 'works' }], depends_on_tasks: deps });

const sha = (c: string) => c.repeat(40);

/** Claim and finish a task completed (as a run does) at time `at`, with its result folder files. */
function complete(id: string, at: number, files: Record<string, unknown> = {}, outcome: Partial<TaskOutcome> = {}) {
  clock.t = at;
  const claim = store.tryClaim({
    taskId: id,
    footprint: { taskId: id, fileScope: [`src/${id}/`], conflictsWith: [], exclusive: false },
    taskHash: null,
    runId: 'run-1',
    leaseMs: 60_000,
    wipLimit: 3,
    admit: () => ({ admit: true }),
    waitingSinceMs: at,
    reserveAfterMs: 60_000,
  });
  if (claim.kind !== 'claimed') throw new Error(`expected a claim on ${id}, got ${claim.kind}`);
  const r = store.finish({
    taskId: id,
    token: claim.token,
    outcome: {
      status: 'completed',
      files_modified: [`src/${id}.ts`],
      acs_completed: [`${id}-AC01`],
      test_results: { total: 1, passing: 1, failing: 0 },
      verification: { status: 'passed' },
      integration: { strategy: 'merge', status: 'merged', sha: sha(id[0].toLowerCase()), branch: `vtm/${id}`, into: 'main', task_sha: sha('f') },
      ...outcome,
    },
  });
  if (!r.ok) throw new Error(r.error.message);
  const dir = path.join(root, RESULTS_DIR, id);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, value] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));
}

function read(task: Task, tasks: Task[]) {
  const byId = new Map(tasks.map((t) => [t.task_id, t]));
  return readDependencyHandoffs({
    task,
    port: createHandoffSourcePort({ workspaceRoot: root, resultsDir: RESULTS_DIR, getTask: (id) => byId.get(id), getRecord: (id) => store.getTask(id) }),
  });
}

describe('readDependencyHandoffs (real task store and result folders)', () => {
  it('hands over the completed dependencies, direct before transitive, newest first, with their agents\' notes', () => {
    // D depends on B and C; B on A; C is blocked; X is completed but unrelated.
    const tasks = [makeTask('A'), makeTask('B', ['A']), makeTask('C'), makeTask('D', ['B', 'C', 'E']), makeTask('E', ['A']), makeTask('X')];
    complete('A', 1_000, { 'result.json': { status: 'completed', summary: 'Added the A parser.', notes: ['parse() returns a Result', 'errors carry a line number'] } });
    complete('B', 2_000, { 'outcome.json': { status: 'completed', reported: { status: 'completed', summary: 'Rendered B.', notes: ['render() is pure'] } } });
    complete('E', 3_000);
    complete('X', 4_000, { 'result.json': { status: 'completed', notes: 'unrelated' } });
    const blocked = store.recordOutcome({ taskId: 'C', outcome: { status: 'blocked', reason: 'verification_failed', files_modified: ['src/c.ts'] } });
    expect(blocked.ok).toBe(true);

    const handoffs = read(tasks[3], tasks);
    expect(handoffs.map((h) => [h.taskId, h.direct])).toEqual([
      ['E', true],
      ['B', true],
      ['A', false],
    ]);
    const [e, b, a] = handoffs;
    expect(a).toEqual({
      taskId: 'A',
      title: 'Implement A',
      direct: false,
      completedAt: 1_000,
      commit: sha('a'),
      taskCommit: sha('f'),
      integration: 'merged',
      branch: 'main',
      files: ['src/A.ts'],
      acsCompleted: ['A-AC01'],
      tests: { total: 1, passing: 1, failing: 0 },
      verification: 'passed',
      summary: 'Added the A parser.',
      notes: ['parse() returns a Result', 'errors carry a line number'],
    });
    // A CLI agent's notes come from the report kept in outcome.json.
    expect(b).toMatchObject({ summary: 'Rendered B.', notes: ['render() is pure'], commit: sha('b') });
    expect(e).toMatchObject({ notes: [], commit: sha('e') });
    expect(e.summary).toBeUndefined();
  });

  it('returns nothing when no dependency is completed, and never reads outside the results folder', () => {
    const tasks = [makeTask('A'), makeTask('B', ['A', '../../etc'])];
    expect(read(tasks[1], tasks)).toEqual([]);
    complete('A', 1_000);
    const port = createHandoffSourcePort({ workspaceRoot: root, resultsDir: RESULTS_DIR, getTask: () => undefined, getRecord: () => undefined });
    // The files these ids would name if they were joined as paths.
    fs.writeFileSync(path.join(root, 'result.json'), '{"notes":"leak"}');
    fs.writeFileSync(path.join(root, '.vtm', 'result.json'), '{"notes":"leak"}');
    expect(port.readResultFile('../..', 'result.json')).toBeUndefined();
    expect(port.readResultFile('..', 'result.json')).toBeUndefined();
    expect(port.readResultFile('A', 'result.json')).toBeUndefined(); // A's folder has no result.json
    expect(read(tasks[1], tasks).map((h) => h.taskId)).toEqual(['A']);
  });

  it('prefers result.json over the report in outcome.json, and survives unreadable files', () => {
    const tasks = [makeTask('A'), makeTask('B', ['A'])];
    complete('A', 1_000, {
      'result.json': '{ not json',
      'outcome.json': { reported: { status: 'completed', summary: 'from outcome' } },
    });
    expect(read(tasks[1], tasks)[0]).toMatchObject({ summary: 'from outcome', notes: [] });
    fs.writeFileSync(path.join(root, RESULTS_DIR, 'A', 'result.json'), JSON.stringify({ summary: 'from result', notes: 'n' }));
    expect(read(tasks[1], tasks)[0]).toMatchObject({ summary: 'from result', notes: ['n'] });
  });

  it('bounds the walk and the folders read on a long chain', () => {
    const n = 60;
    const tasks = Array.from({ length: n }, (_, i) => makeTask(`T${i}`, i ? [`T${i - 1}`] : []));
    for (let i = 0; i < n - 1; i++) complete(`T${i}`, 1_000 + i);
    const reads: string[] = [];
    const byId = new Map(tasks.map((t) => [t.task_id, t]));
    const port = createHandoffSourcePort({ workspaceRoot: root, resultsDir: RESULTS_DIR, getTask: (id) => byId.get(id), getRecord: (id) => store.getTask(id) });
    const counted = { ...port, readResultFile: (id: string, name: 'result.json' | 'outcome.json') => (reads.push(id), port.readResultFile(id, name)) };
    const handoffs = readDependencyHandoffs({ task: tasks[n - 1], port: counted, maxDependencies: 10 });
    expect(handoffs.map((h) => h.taskId)).toEqual(['T58', ...Array.from({ length: 9 }, (_, i) => `T${57 - i}`)]);
    expect(new Set(reads).size).toBe(10);
    expect(readDependencyHandoffs({ task: tasks[n - 1], port, maxVisits: 5 })).toHaveLength(5);
  });
});

describe('buildDependencyHandoff', () => {
  it('reads records of older tooling (no integration, odd field types) without failing', () => {
    expect(
      buildDependencyHandoff({ taskId: 'OLD', direct: true, record: { completedAt: null, outcome: { files_modified: 'x', test_results: { total: '1' }, integration: 'merged' } } }),
    ).toEqual({ taskId: 'OLD', direct: true, completedAt: null, files: [], acsCompleted: [], notes: [] });
  });
});

describe('handoffs from the task record alone', () => {
  it('a dependency restored from the cache (no result folder here) still hands on the summary and notes its outcome kept', () => {
    const { buildDependencyHandoff } = require('./handoffs') as typeof import('./handoffs');
    const h = buildDependencyHandoff({
      taskId: 'DEP--T01',
      direct: true,
      record: { completedAt: null, outcome: { status: 'completed', files_modified: ['src/a.js'], summary: 'Added a.js', notes: ['use a() from b'] } },
    });
    expect(h).toMatchObject({ summary: 'Added a.js', notes: ['use a() from b'], files: ['src/a.js'] });
  });
});
