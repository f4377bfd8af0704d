import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  buildImportedRecords,
  buildStateSnapshot,
  readStateFile,
  seedTaskStateFileSchema,
  taskStateFileSchema,
  writeStateFile,
  writeStateFileBytes,
} from './state-file';
import type { TaskRecord } from './task-record';
import { buildTaskRecord } from './test-support/records';

const T0 = Date.UTC(2025, 8, 28, 9, 0, 0);
const MIN = 60_000;

function record(overrides: Partial<TaskRecord> & Pick<TaskRecord, 'taskId'>): TaskRecord {
  return buildTaskRecord(overrides.taskId, { updatedAt: T0, ...overrides });
}

describe('buildStateSnapshot', () => {
  const records = [
    record({
      taskId: 'SQLITE_SCHEMA--T01',
      status: 'in-progress',
      attempts: 2,
      startedAt: T0 + 95 * MIN,
      outcome: { acs_completed: ['SQLITE_SCHEMA-AC01'], acs_remaining: ['SQLITE_SCHEMA-AC02'] },
      claim: {
        token: 'secret-token',
        fence: 9,
        runId: 'run-7',
        owner: { host: 'box', pid: 4242, startTime: '1', bootId: 'b' },
        agent: null,
        claimedAt: T0 + 95 * MIN,
        heartbeatAt: T0 + 96 * MIN,
        leaseMs: 90_000,
        footprint: { taskId: 'SQLITE_SCHEMA--T01', fileScope: [], conflictsWith: [], exclusive: true },
        taskHash: 'h2',
      },
    }),
    record({
      taskId: 'MONOREPO_STRUCTURE--T01',
      status: 'completed',
      attempts: 1,
      taskHash: 'h1',
      startedAt: T0,
      completedAt: T0 + 90 * MIN,
      outcome: {
        acs_completed: ['MONOREPO_STRUCTURE-AC01', 'MONOREPO_STRUCTURE-AC02'],
        acs_remaining: [],
        files_modified: ['package.json'],
        test_results: { total: 4, passing: 4, failing: 0 },
        blockers: [],
        duration_minutes: 90,
        result_dir: '.vtm/runs/r1/MONOREPO_STRUCTURE--T01',
        notes: 'All tests passing',
      },
    }),
    record({ taskId: 'METRICS_INFRA--T01', status: 'blocked', reason: 'dependency_failed:SQLITE_SCHEMA--T01' }),
  ];
  const snapshot = buildStateSnapshot({ records, manifestHash: '4332abc', now: T0 + 100 * MIN });

  it('has the seed layout and passes the state file schema', () => {
    expect(taskStateFileSchema.safeParse(snapshot).success).toBe(true);
    expect(snapshot.manifest_hash).toBe('4332abc');
    expect(snapshot.last_updated).toBe('2025-09-28T10:40:00.000Z');
    expect(Object.keys(snapshot.tasks)).toEqual(['METRICS_INFRA--T01', 'MONOREPO_STRUCTURE--T01', 'SQLITE_SCHEMA--T01']);
  });

  it('writes a completed task with every standard field and keeps extra fields', () => {
    expect(snapshot.tasks['MONOREPO_STRUCTURE--T01']).toEqual({
      status: 'completed',
      started_at: '2025-09-28T09:00:00.000Z',
      completed_at: '2025-09-28T10:30:00.000Z',
      acs_completed: ['MONOREPO_STRUCTURE-AC01', 'MONOREPO_STRUCTURE-AC02'],
      acs_remaining: [],
      files_modified: ['package.json'],
      test_results: { total: 4, passing: 4, failing: 0 },
      blockers: [],
      duration_minutes: 90,
      attempts: 1,
      reason: null,
      error: null,
      task_hash: 'h1',
      result_dir: '.vtm/runs/r1/MONOREPO_STRUCTURE--T01',
      notes: 'All tests passing',
    });
  });

  it('shows who runs an in-progress task, never its claim token', () => {
    const entry = snapshot.tasks['SQLITE_SCHEMA--T01'];
    expect(entry).toMatchObject({ status: 'in-progress', run_id: 'run-7', owner: 'box:4242', attempts: 2, completed_at: null });
    expect(JSON.stringify(snapshot)).not.toContain('secret-token');
  });

  it('fills defaults for a task without results', () => {
    expect(snapshot.tasks['METRICS_INFRA--T01']).toEqual({
      status: 'blocked',
      started_at: null,
      completed_at: null,
      acs_completed: [],
      acs_remaining: [],
      files_modified: [],
      test_results: null,
      blockers: [],
      duration_minutes: null,
      attempts: 0,
      reason: 'dependency_failed:SQLITE_SCHEMA--T01',
      error: null,
      task_hash: null,
    });
  });

  it('cannot be made to lie about status or attempts through extra outcome fields', () => {
    const sneaky = record({ taskId: 'A', status: 'pending', attempts: 3, outcome: { status: 'completed', attempts: 0, owner: 'x' } });
    const entry = buildStateSnapshot({ records: [sneaky], manifestHash: null, now: T0 }).tasks.A;
    expect(entry).toMatchObject({ status: 'pending', attempts: 3 });
    expect(entry).not.toHaveProperty('owner');
  });
});

describe('buildImportedRecords', () => {
  // The example from the implementation-orchestrator seed, plus statuses other tools wrote.
  const seed = seedTaskStateFileSchema.parse({
    manifest_hash: '433206a1063a27e620ca7f199f2d7c726257e76b54c460e56308e3d60596cd35',
    last_updated: '2025-09-28T10:30:00Z',
    tasks: {
      'MONOREPO_STRUCTURE--T01': {
        status: 'completed',
        started_at: '2025-09-28T09:00:00Z',
        completed_at: '2025-09-28T10:30:00Z',
        acs_completed: ['MONOREPO_STRUCTURE-AC01', 'MONOREPO_STRUCTURE-AC02'],
        notes: 'All tests passing',
      },
      'SQLITE_SCHEMA--T01': {
        status: 'in-progress',
        started_at: '2025-09-28T10:35:00Z',
        acs_completed: ['SQLITE_SCHEMA-AC01'],
        acs_remaining: ['SQLITE_SCHEMA-AC02', 'SQLITE_SCHEMA-AC03'],
      },
      'METRICS_INFRA--T01': { status: 'partial', acs_completed: ['METRICS_INFRA-AC01'] },
      'X--T01': { status: 'error', error: 'Failed to parse sub-agent response' },
      'Y--T01': { status: 'weird' },
    },
  });
  const records = Object.fromEntries(buildImportedRecords({ file: seed, now: T0 }).map((r) => [r.taskId, r]));

  it('keeps completed tasks with their times and extra fields, with an unknown task hash', () => {
    expect(records['MONOREPO_STRUCTURE--T01']).toEqual({
      taskId: 'MONOREPO_STRUCTURE--T01',
      status: 'completed',
      reason: null,
      taskHash: null,
      attempts: 0,
      startedAt: Date.parse('2025-09-28T09:00:00Z'),
      completedAt: Date.parse('2025-09-28T10:30:00Z'),
      updatedAt: T0,
      outcome: { acs_completed: ['MONOREPO_STRUCTURE-AC01', 'MONOREPO_STRUCTURE-AC02'], notes: 'All tests passing' },
      claim: null,
      progress: null,
    });
  });

  it('turns an in-progress task nobody holds into pending, keeping its progress and original status', () => {
    expect(records['SQLITE_SCHEMA--T01']).toMatchObject({
      status: 'pending',
      reason: 'owner_lost',
      claim: null,
      outcome: { acs_completed: ['SQLITE_SCHEMA-AC01'], imported_status: 'in-progress' },
    });
  });

  it('maps statuses of other tools', () => {
    expect(records['METRICS_INFRA--T01']).toMatchObject({ status: 'blocked', reason: 'partial' });
    expect(records['X--T01']).toMatchObject({ status: 'blocked', reason: 'agent_failed', outcome: { error: 'Failed to parse sub-agent response' } });
    expect(records['Y--T01']).toMatchObject({ status: 'pending', outcome: { imported_status: 'weird' } });
  });
});

describe('writeStateFile / readStateFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-state-file-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('round-trips a snapshot and leaves no temp files behind', () => {
    const file = path.join(dir, 'docs', 'backlog', 'task-state.json');
    const snapshot = buildStateSnapshot({ records: [record({ taskId: 'A' })], manifestHash: 'm', now: T0 });
    writeStateFile(file, snapshot);
    writeStateFile(file, { ...snapshot, manifest_hash: 'm2' });
    const read = readStateFile(file);
    expect(read).toEqual({ ok: true, value: { ...snapshot, manifest_hash: 'm2' } });
    expect(fs.readdirSync(path.dirname(file))).toEqual(['task-state.json']);
  });

  it('replaces the file under a reader that holds the old one open, and closes the descriptor it held (Linux)', async () => {
    const file = path.join(dir, 'task-state.json');
    if (!fs.existsSync('/proc/self/fd')) return; // descriptors are read from /proc
    // This process's descriptors on files of `dir` (a replaced file shows as ".../task-state.json (deleted)").
    const heldInDir = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
        } catch {
          return false; // closed meanwhile
        }
      }).length;
    writeStateFileBytes(file, [Buffer.from('old content\n')]);
    const reader = fs.openSync(file, 'r');
    for (let i = 0; i < 20; i++) writeStateFileBytes(file, [Buffer.from(`new ${i}\n`)]);
    // The reader still reads the whole file it opened, never a mix; the new name has the last write.
    expect(fs.readFileSync(reader, 'utf8')).toBe('old content\n');
    fs.closeSync(reader);
    expect(fs.readFileSync(file, 'utf8')).toBe('new 19\n');
    // Each write held the replaced file open and closes it on the thread pool: after a few turns none is left open.
    for (let i = 0; i < 100 && heldInDir() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(heldInDir()).toBe(0);
    expect(fs.readdirSync(dir)).toEqual(['task-state.json']);
  });

  it('reports a file that is not JSON or not a state file, naming it', () => {
    const file = path.join(dir, 'task-state.json');
    expect(readStateFile(file)).toBeUndefined();
    fs.writeFileSync(file, '{"tasks": {');
    expect(readStateFile(file)).toEqual({ ok: false, error: expect.stringMatching(/task-state\.json: not valid JSON/) });
    fs.writeFileSync(file, '{"tasks": {"A": {"status": 3}}}');
    expect(readStateFile(file)).toEqual({ ok: false, error: expect.stringMatching(/not a task-state file: tasks\.A\.status/) });
  });
});
