/**
 * The real Task Master CLI (`task-master-ai` 0.43.1, pinned and installed by tools/source-clis/install.js) and
 * nx-vtm on one `.taskmaster/tasks/tasks.json`, both ways, offline (no API key: only `list`, `next` and `set-status`,
 * which need no model):
 * 1. nx-vtm completes tasks and subtasks through the real nx run (scripted agent); `task-master list --json
 *    --with-subtasks` shows exactly the statuses nx-vtm wrote (the parent rolled up as Task Master does), and
 *    `task-master next --format json` picks what `nx-vtm next` offers.
 * 2. `task-master set-status` rewrites the whole file its own way (string ids, new tag metadata, subtasks'
 *    `"parentId": "undefined"`, the parent rolled up); nx-vtm reads that file right, runs the next subtask, and its
 *    write-back on that file changes only statuses, which Task Master reads back.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createAgentWorkspace, type AgentWorkspace } from '../support/vtm';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureSourceClis } = require('../../tools/source-clis/install.js');

// Every task-master call costs 4-15 s of start-up (more on a loaded machine); a run of nx-vtm 20-60 s.
jest.setTimeout(600_000);

const TASKS_FILE = '.taskmaster/tasks/tasks.json';
const scoped = (file: string) => ({ file_scope: [file] });
const TASKS = {
  master: {
    tasks: [
      { id: 1, title: 'Project setup', description: 'Create the package.', details: 'Node 20, no build step.', testStrategy: 'npm test passes', status: 'pending', priority: 'high', dependencies: [], subtasks: [], metadata: scoped('src/setup.js') },
      {
        id: 2,
        title: 'Accounts',
        description: 'Accounts with email and password.',
        status: 'pending',
        priority: 'high',
        dependencies: [1],
        subtasks: [
          { id: 1, title: 'Account model', description: 'The accounts table.', status: 'pending', dependencies: [], metadata: scoped('src/account.js') },
          { id: 2, title: 'Sign-up endpoint', description: 'POST /signup', status: 'pending', dependencies: [1], metadata: scoped('src/signup.js') },
        ],
      },
      { id: 3, title: 'Billing', description: 'Charge accounts monthly.', status: 'pending', priority: 'medium', dependencies: [2], subtasks: [], metadata: scoped('src/billing.js') },
      { id: 4, title: 'Invoices', description: 'PDF invoices.', status: 'pending', priority: 'medium', dependencies: [3], subtasks: [], metadata: scoped('src/invoices.js') },
      {
        id: 5,
        title: 'Usage reports',
        description: 'Monthly usage per account.',
        status: 'pending',
        priority: 'low',
        dependencies: [],
        subtasks: [
          { id: 1, title: 'Usage query', description: 'Aggregate usage.', status: 'pending', dependencies: [], metadata: scoped('src/usage.js') },
          { id: 2, title: 'Report page', description: 'Render the report.', status: 'pending', dependencies: [1], metadata: scoped('src/report.js') },
        ],
      },
    ],
    metadata: { created: '2026-01-05T10:00:00.000Z', updated: '2026-01-05T10:00:00.000Z', description: 'Tasks for master context' },
  },
};

interface TmTask {
  id: number | string;
  status: string;
  subtasks?: TmTask[];
}

let ws: AgentWorkspace;
let taskMaster: string;
beforeAll(() => {
  // Cached in tmp/source-clis by the lock's hash: about 1-2 min the first time, milliseconds afterwards.
  taskMaster = ensureSourceClis({ log: () => undefined }).bins.taskMaster;
  ws = createAgentWorkspace({
    tasks: [],
    options: { sources: [{ type: 'taskmaster', path: TASKS_FILE }] },
    files: {
      [TASKS_FILE]: TASKS,
      '.taskmaster/state.json': { currentTag: 'master' },
      // Task Master 0.43.1 starts Sentry telemetry on every command unless this says no: nothing leaves the machine.
      '.taskmaster/config.json': { global: { anonymousTelemetry: false } },
      'src/.keep': '',
    },
  });
}, 900_000);
afterAll(() => ws?.remove());

/** The real task-master in the workspace, offline: no keys, telemetry off (.taskmaster/config.json), no colours. */
function tm(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(taskMaster, args, {
    cwd: ws.root,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', CI: 'true' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The JSON document in a command's output (task-master may print a banner or notices around it). */
function jsonIn(text: string): unknown {
  const start = text.search(/^[[{]/m);
  if (start < 0) throw new Error(`no JSON in task-master output:\n${text}`);
  for (let end = text.length; end > start; end = text.lastIndexOf(text[start] === '{' ? '}' : ']', end - 1)) {
    try {
      return JSON.parse(text.slice(start, end + 1));
    } catch {
      // a shorter candidate
    }
  }
  throw new Error(`no JSON in task-master output:\n${text}`);
}

/** Every task and subtask's status as Task Master lists it: { "1": "done", "2.1": "done", ... }. */
function tmStatuses(): Record<string, string> {
  const r = tm(['list', '--json', '--with-subtasks']);
  expect(r.code).toBe(0);
  const doc = jsonIn(r.out) as { tasks?: TmTask[]; data?: { tasks?: TmTask[] } };
  return flatten(doc.tasks ?? doc.data?.tasks ?? []);
}

function flatten(tasks: TmTask[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tasks) {
    out[String(t.id)] = t.status;
    for (const s of t.subtasks ?? []) out[String(s.id).includes('.') ? String(s.id) : `${t.id}.${s.id}`] = s.status;
  }
  return out;
}

/** The id Task Master's `next` picks ("3", "5.2"), or null. */
function tmNext(): string | null {
  const r = tm(['next', '--format', 'json']);
  expect(r.code).toBe(0);
  const doc = jsonIn(r.out) as { task?: { id: string | number } | null; id?: string | number };
  const id = doc.task === undefined ? doc.id : doc.task?.id;
  return id === undefined || id === null ? null : String(id);
}

/** The statuses in the file itself. */
const fileStatuses = () => {
  const doc = JSON.parse(ws.read(TASKS_FILE)) as { master: { tasks: TmTask[] } };
  return flatten(doc.master.tasks);
};

/** The installed nx-vtm command line, with the scripted agent's environment. */
function vtm(args: string[]) {
  const r = spawnSync(process.execPath, [join(ws.root, 'node_modules/nx-vtm/src/cli/main.js'), ...args], {
    cwd: ws.root,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, ...ws.env(), NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', CI: 'true', FORCE_COLOR: '0' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const vtmReady = (): string[] => {
  const r = vtm(['next', '--json']);
  return r.code === 0 ? (JSON.parse(r.out) as { id: string }[]).map((t) => t.id) : [];
};

/** Commit whatever Task Master wrote (as its user would) so nx-vtm's clean-checkout precondition holds. */
const commitTaskMasterChanges = (message: string) => {
  if (ws.git(['status', '--porcelain']).trim() !== '') ws.commitAll(message);
};

describe('real task-master-ai 0.43.1 and nx-vtm on one tasks.json', () => {
  it('reads our file as we do before anything ran (the installer checked the version: 0.43.1)', () => {
    expect(tmStatuses()).toEqual({ '1': 'pending', '2': 'pending', '2.1': 'pending', '2.2': 'pending', '3': 'pending', '4': 'pending', '5': 'pending', '5.1': 'pending', '5.2': 'pending' });
    expect(tmNext()).toBe('1');
    expect(vtmReady()[0]).toBe('tm-1');
    commitTaskMasterChanges('task-master files');
  });

  it('after nx-vtm completes 1, 2.1 and 2.2, task-master list shows exactly that, with parent 2 rolled up to done', () => {
    const before = ws.read(TASKS_FILE);
    const r = vtm(['run', '1, tm-2.*']);
    expect(r.code).toBe(0);
    expect(fileStatuses()).toEqual({ '1': 'done', '2': 'done', '2.1': 'done', '2.2': 'done', '3': 'pending', '4': 'pending', '5': 'pending', '5.1': 'pending', '5.2': 'pending' });
    // Only status values changed: ids keep their JSON type, everything else keeps its bytes.
    const changed = before.split('\n').filter((l, i) => l !== ws.read(TASKS_FILE).split('\n')[i]);
    expect(changed.every((l) => /"status": "pending"/.test(l))).toBe(true);
    expect(changed).toHaveLength(4);
    expect(ws.read(TASKS_FILE)).toContain('"id": 1,');
    expect(tmStatuses()).toEqual(fileStatuses());
  });

  it('task-master next picks the task nx-vtm next puts first (3: its dependency 2 is done through its subtasks)', () => {
    const ours = vtmReady();
    expect(ours).toEqual(['tm-3', 'tm-5.1']);
    expect(tmNext()).toBe('3');
    commitTaskMasterChanges('task-master files');
  });

  it('a file rewritten by task-master set-status (string ids, new metadata, parent roll-up) is read right', () => {
    expect(tm(['set-status', '--id=3', '--status=done']).code).toBe(0);
    expect(tm(['set-status', '--id=5.1', '--status=done']).code).toBe(0);
    const text = ws.read(TASKS_FILE);
    // Task Master's own writer: ids as strings, tag metadata replaced, the parent of 5.1 rolled up to in-progress.
    expect(text).toContain('"id": "3"');
    const doc = JSON.parse(text) as { master: { tasks: TmTask[]; metadata: Record<string, unknown> } };
    expect(doc.master.metadata).not.toEqual(TASKS.master.metadata);
    expect(fileStatuses()).toMatchObject({ '3': 'done', '5': 'in-progress', '5.1': 'done', '5.2': 'pending' });
    commitTaskMasterChanges('task-master set-status 3 and 5.1');

    const projects = (JSON.parse(ws.run(['show', 'projects', '--json']).stdout) as string[]).filter((p) => p.startsWith('tm-')).sort();
    expect(projects).toEqual(['tm-4', 'tm-5.2']);
    const ready = vtmReady();
    expect(ready.sort()).toEqual(['tm-4', 'tm-5.2']);
    // Task Master's next prefers a subtask of an in-progress parent; nx-vtm orders by risk, then priority: both pick
    // from the same ready set.
    expect(ready).toContain(`tm-${tmNext()}`);
  });

  it('nx-vtm completes 5.2 on that file: only statuses change, parent 5 rolls up to done, task-master agrees', () => {
    const before = JSON.parse(ws.read(TASKS_FILE)) as { master: { tasks: (TmTask & Record<string, unknown>)[] } };
    const r = vtm(['run', 'tm-5.2']);
    expect(r.code).toBe(0);
    const after = JSON.parse(ws.read(TASKS_FILE)) as typeof before;
    const five = before.master.tasks.find((t) => String(t.id) === '5')!;
    five.status = 'done';
    five.subtasks!.find((s) => String(s.id) === '2')!.status = 'done';
    expect(after).toEqual(before);
    expect(tmStatuses()).toEqual(fileStatuses());
    expect(tmStatuses()).toMatchObject({ '5': 'done', '5.2': 'done', '4': 'pending' });
    expect(tmNext()).toBe('4');
    expect(vtmReady()).toEqual(['tm-4']);
  });
});
