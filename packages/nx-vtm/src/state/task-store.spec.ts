import Database from 'better-sqlite3';
import assert from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TaskFootprint } from '../scheduler/types';
import { readEventLog } from './event-log';
import { readProcessStartTime } from './process-identity';
import { buildStateSnapshot, taskStateFileSchema } from './state-file';
import { isCompletedFor, type ProcessIdentity } from './task-record';
import { openTaskStore, type AdmitFn, type IdentityPort, type TaskStore } from './task-store';
import type { CoordinatorConfig } from './db/coordinator';
import { freshCoordinator, startSharedPostgres, stopSharedPostgres, STORE_KINDS } from './test-support/store-kinds';

// The contract every coordinator keeps: this whole suite runs once on SQLite and once on a real PostgreSQL server.
beforeAll(() => startSharedPostgres(), 60_000);
afterAll(() => stopSharedPostgres());


describe.each(STORE_KINDS)('%s store', (kind) => {
  const T0 = Date.UTC(2025, 8, 28, 9, 0, 0);

  let root: string;
  let coordinator: CoordinatorConfig | undefined;
  const opened: TaskStore[] = [];
  /** Tests of SQLite's own file (WAL mode, older schemas written by hand). */
  const sqliteOnly = kind === 'sqlite' ? it : () => undefined;
  /** What differs on a store shared by machines. */
  const postgresOnly = kind === 'postgres' ? it : () => undefined;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-store-'));
    coordinator = freshCoordinator(kind);
  });
  afterEach(() => {
    for (const s of opened.splice(0)) {
      try {
        s.close();
      } catch {
        // already closed by the test
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** A clock the test moves by hand. */
  function fakeClock(start = T0) {
    const clock = { t: start, now: () => clock.t };
    return clock;
  }

  /** A process identity on host "box" whose liveness the test decides. */
  function fakeProcess(pid: number, alive: Set<number>, over: Partial<ProcessIdentity> = {}): IdentityPort {
    const me: ProcessIdentity = { host: 'box', pid, startTime: `st-${pid}`, bootId: 'boot-1', ...over };
    return {
      self: () => me,
      isAlive: (o) => alive.has(o.pid),
      identify: (p) => ({ host: 'box', pid: p, startTime: `st-${p}`, bootId: 'boot-1' }),
    };
  }

  function open(options: { clock?: { now(): number }; identity?: IdentityPort; stateFile?: string } = {}): TaskStore {
    const store = openTaskStore({ workspaceRoot: root, coordinator, ...options });
    opened.push(store);
    return store;
  }

  const fp = (taskId: string, over: Partial<TaskFootprint> = {}): TaskFootprint => ({
    taskId,
    fileScope: [`src/${taskId}/`],
    conflictsWith: [],
    exclusive: false,
    ...over,
  });
  const admitAll: AdmitFn = () => ({ admit: true });
  const admitWip: AdmitFn = ({ running, wipLimit }) =>
    running.length < wipLimit ? { admit: true } : { admit: false, reason: { kind: 'wip', running: running.length, limit: wipLimit } };

  function claimArgs(taskId: string, over: Partial<Parameters<TaskStore['tryClaim']>[0]> = {}) {
    return {
      taskId,
      footprint: fp(taskId),
      taskHash: 'h1',
      runId: 'run-1',
      leaseMs: 1_000,
      wipLimit: 3,
      admit: admitAll,
      waitingSinceMs: T0,
      reserveAfterMs: 60_000,
      ...over,
    };
  }

  function claim(store: TaskStore, taskId: string, over: Partial<Parameters<TaskStore['tryClaim']>[0]> = {}) {
    const result = store.tryClaim(claimArgs(taskId, over));
    if (result.kind !== 'claimed') throw new Error(`expected a claim on ${taskId}, got ${JSON.stringify(result)}`);
    return result;
  }

  const stateFile = () => path.join(root, '.vtm', 'task-state.json');
  const readProjection = () => JSON.parse(fs.readFileSync(stateFile(), 'utf8'));
  const events = () => readEventLog(path.join(root, '.vtm', 'events.jsonl')).events;

  /**
   * Once written, the projection equals a snapshot of the store (apart from its own timestamp). A change writes it on
   * the next turn of the event loop; flushing reads it in the same tick (task-store.projection.spec.ts covers the lag).
   */
  function expectProjectionMatchesStore(store: TaskStore) {
    store.flushProjection();
    const file = readProjection();
    expect(taskStateFileSchema.safeParse(file).success).toBe(true);
    const expected = buildStateSnapshot({ records: store.listTasks(), manifestHash: store.getManifestHash(), now: 0 });
    expect({ ...file, last_updated: null }).toEqual({ ...expected, last_updated: null });
  }

  describe('opening', () => {
    sqliteOnly('creates .vtm/state.db in WAL mode and an empty projection', () => {
      const store = open();
      expect(store.dbFile).toBe(path.join(root, '.vtm', 'state.db'));
      const raw = new Database(store.dbFile, { readonly: true });
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      raw.close();
      expect(readProjection()).toEqual({ manifest_hash: null, last_updated: expect.any(String), tasks: {} });
    });

    sqliteOnly('refuses a store written by a newer version, saying what to do', () => {
      open().close();
      const raw = new Database(path.join(root, '.vtm', 'state.db'));
      raw.prepare(`UPDATE meta SET value = '99' WHERE key = 'schema_version'`).run();
      raw.close();
      expect(() => open()).toThrow(/written by a newer nx-vtm \(state schema 99.*upgrade nx-vtm/);
    });

    it('rewrites a projection that was deleted or cut short', () => {
      const store = open();
      claim(store, 'A');
      store.close();
      fs.writeFileSync(stateFile(), '{"tasks": {"A"');
      const again = open();
      expect(readProjection().tasks.A.status).toBe('in-progress');
      fs.rmSync(stateFile());
      again.close();
      expectProjectionMatchesStore(open());
    });
  });

  describe('tryClaim', () => {
    it('claims a new task for this process: owner identity, token, fence, attempt, projection and event', () => {
      const clock = fakeClock();
      const store = open({ clock });
      const result = claim(store, 'A', { runId: 'run-9', leaseMs: 90_000 });
      expect(result).toMatchObject({ kind: 'claimed', fence: 1, attempt: 1, previousOwner: null, released: [] });
      expect(result.token).toMatch(/^[0-9a-f-]{36}$/);

      const record = store.getTask('A');
      expect(record).toMatchObject({ status: 'in-progress', attempts: 1, startedAt: T0, completedAt: null });
      expect(record?.claim).toMatchObject({
        token: result.token,
        fence: 1,
        runId: 'run-9',
        heartbeatAt: T0,
        leaseMs: 90_000,
        taskHash: 'h1',
        owner: { host: os.hostname(), pid: process.pid, startTime: readProcessStartTime(process.pid) },
      });
      expect(record?.claim?.owner.bootId).toBe(fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
      store.flushProjection();
      expect(readProjection().tasks.A).toMatchObject({ status: 'in-progress', run_id: 'run-9', owner: `${os.hostname()}:${process.pid}` });
      expect(events()).toEqual([
        expect.objectContaining({ type: 'claim', run_id: 'run-9', task_id: 'A', status: 'in-progress', attempt: 1, fence: 1, pid: process.pid }),
      ]);
    });

    it('answers held while a live owner holds the task, from any process', () => {
      const store = open();
      claim(store, 'A', { runId: 'run-1' });
      const other = open();
      const result = other.tryClaim(claimArgs('A', { runId: 'run-2' }));
      expect(result).toMatchObject({ kind: 'held', runId: 'run-1', owner: { pid: process.pid } });
      expect(store.getTask('A')?.attempts).toBe(1);
    });

    it('gives every claim a larger fence than any before it', () => {
      const store = open();
      const fences: number[] = [];
      for (const id of ['A', 'B', 'C']) {
        const c = claim(store, id);
        fences.push(c.fence);
        store.finish({ taskId: id, token: c.token, outcome: { status: 'pending' } });
      }
      fences.push(claim(store, 'A').fence);
      expect(fences).toEqual([1, 2, 3, 4]);
    });

    it('answers completed for a task completed against the same task hash, and re-runs it when the hash changed', () => {
      const store = open();
      const first = claim(store, 'A', { taskHash: 'h1' });
      store.finish({ taskId: 'A', token: first.token, outcome: { status: 'completed' } });
      const again = store.tryClaim(claimArgs('A', { taskHash: 'h1' }));
      expect(again).toMatchObject({ kind: 'completed', record: { status: 'completed', taskHash: 'h1' } });
      expect(isCompletedFor(store.getTask('A')!, 'h2')).toBe(false);

      const changed = store.tryClaim(claimArgs('A', { taskHash: 'h2' }));
      expect(changed).toMatchObject({ kind: 'claimed', attempt: 2 });
      expect(events().map((e) => [e.type, e.reason])).toContainEqual(['invalidate', 'task_changed']);
      expect(store.getTask('A')?.claim?.taskHash).toBe('h2');
    });

    it('refuses to start an abandoned task', () => {
      const store = open();
      store.recordOutcome({ taskId: 'A', outcome: { status: 'abandoned' } });
      const result = store.tryClaim(claimArgs('A'));
      expect(result).toMatchObject({
        kind: 'refused',
        error: { code: 'illegal-transition', message: expect.stringContaining('task A: cannot change status from "abandoned" to "in-progress"') },
      });
    });

    it('retries a blocked task; the record then shows the new attempt, not the old result', () => {
      const store = open();
      const c = claim(store, 'A');
      store.finish({ taskId: 'A', token: c.token, outcome: { status: 'blocked', reason: 'agent_failed', error: 'boom' } });
      expect(claim(store, 'A')).toMatchObject({ attempt: 2 });
      expect(store.getTask('A')).toMatchObject({ status: 'in-progress', reason: null, outcome: {} });
    });
  });

  describe('stale claims', () => {
    const alive = new Set<number>();
    beforeEach(() => {
      alive.clear();
      alive.add(100).add(200);
    });

    it('takes over from a dead owner on this host at once, reporting its pid and agent pid', () => {
      const clock = fakeClock();
      const owner = open({ clock, identity: fakeProcess(100, alive) });
      const first = claim(owner, 'A', { leaseMs: 600_000, runId: 'run-old' });
      expect(owner.heartbeat({ taskId: 'A', token: first.token, agentPid: 4321 })).toBe(true);
      alive.delete(100);

      const other = open({ clock, identity: fakeProcess(200, alive) });
      const result = other.tryClaim(claimArgs('A', { runId: 'run-new' }));
      expect(result).toMatchObject({
        kind: 'claimed',
        attempt: 2,
        previousOwner: {
          taskId: 'A',
          cause: 'owner-dead',
          owner: { pid: 100 },
          agentPid: 4321,
          agent: { host: 'box', pid: 4321, startTime: 'st-4321', bootId: 'boot-1' },
          runId: 'run-old',
          onThisHost: true,
        },
      });
      expect(events().find((e) => e.type === 'reclaim')).toMatchObject({
        task_id: 'A',
        cause: 'owner-dead',
        previous_pid: 100,
        agent_pid: 4321,
        run_id: 'run-new',
      });
    });

    it('takes over from a pid that now belongs to another process (start time differs)', () => {
      const owner = open({
        identity: {
          self: () => ({ host: os.hostname(), pid: process.pid, startTime: '1', bootId: null }),
          isAlive: () => false,
          identify: () => assert.fail('not called'),
        },
      });
      claim(owner, 'A', { leaseMs: 600_000 });
      // The real identity port finds this pid alive but with another start time.
      const other = open();
      expect(other.tryClaim(claimArgs('A'))).toMatchObject({ kind: 'claimed', previousOwner: { cause: 'owner-dead' } });
    });

    sqliteOnly('takes over from an owner of an earlier boot at once', () => {
      const owner = open({ identity: fakeProcess(100, alive, { bootId: 'boot-0' }) });
      claim(owner, 'A', { leaseMs: 600_000 });
      const other = open({ identity: fakeProcess(200, alive) });
      expect(other.tryClaim(claimArgs('A'))).toMatchObject({ kind: 'claimed', previousOwner: { cause: 'rebooted' } });
    });

    postgresOnly('judges a same-named host of another boot by its lease: on a shared store it may be another machine', () => {
      const clock = fakeClock();
      const owner = open({ clock, identity: fakeProcess(100, new Set(), { bootId: 'boot-0' }) });
      claim(owner, 'A', { leaseMs: 1_000 });
      const other = open({ clock, identity: fakeProcess(200, alive) });
      expect(other.tryClaim(claimArgs('A'))).toMatchObject({ kind: 'held' });
      clock.t = T0 + 1_001;
      expect(other.tryClaim(claimArgs('A'))).toMatchObject({ kind: 'claimed', previousOwner: { cause: 'lease-expired' } });
    });

    it('never takes over a live owner on this host, even long after its lease (suspend, clock jump); its writes still count', () => {
      const clock = fakeClock();
      const owner = open({ clock, identity: fakeProcess(100, alive) });
      const first = claim(owner, 'A', { leaseMs: 1_000 });
      const other = open({ clock, identity: fakeProcess(200, alive) });

      clock.t = T0 + 10 * 60_000; // the laptop slept for ten minutes
      expect(other.tryClaim(claimArgs('A'))).toMatchObject({ kind: 'held', owner: { pid: 100 } });
      expect(owner.tryClaim(claimArgs('B'))).toMatchObject({ kind: 'claimed', released: [] });
      expect(owner.heartbeat({ taskId: 'A', token: first.token })).toBe(true);
      expect(owner.advanceStage({ taskId: 'A', token: first.token, fence: first.fence, stage: 'agent' })).toBe(true);
      expect(owner.finish({ taskId: 'A', token: first.token, outcome: { status: 'completed' } }).ok).toBe(true);
    });

    it('judges an owner on another host by its lease only', () => {
      const clock = fakeClock();
      const remote = open({ clock, identity: fakeProcess(100, new Set(), { host: 'other-box', bootId: 'boot-x' }) });
      claim(remote, 'A', { leaseMs: 1_000 });
      const local = open({ clock, identity: fakeProcess(200, alive) });
      expect(local.tryClaim(claimArgs('A'))).toMatchObject({ kind: 'held' });
      clock.t = T0 + 1_001;
      expect(local.tryClaim(claimArgs('A'))).toMatchObject({
        kind: 'claimed',
        previousOwner: { cause: 'lease-expired', onThisHost: false },
      });
    });

    it('fencing: after a takeover the old owner can neither heartbeat, report progress nor finish, and changes nothing', () => {
      const clock = fakeClock();
      const owner = open({ clock, identity: fakeProcess(100, alive) });
      const old = claim(owner, 'A', { leaseMs: 1_000, runId: 'run-old' });
      clock.t = T0 + 5_000;
      // Taken over while its owner looked dead (e.g. the pid check raced a slow start); the owner then writes again.
      alive.delete(100);
      const other = open({ clock, identity: fakeProcess(200, alive) });
      const fresh = claim(other, 'A', { runId: 'run-new' });
      expect(fresh.fence).toBeGreaterThan(old.fence);
      alive.add(100);

      const before = other.getTask('A');
      other.flushProjection();
      const projectionBefore = fs.readFileSync(stateFile(), 'utf8');
      clock.t = T0 + 6_000;
      expect(owner.heartbeat({ taskId: 'A', token: old.token })).toBe(false);
      expect(owner.updateProgress({ taskId: 'A', token: old.token, fields: { acs_completed: ['AC1'] } })).toBe(false);
      expect(owner.advanceStage({ taskId: 'A', token: old.token, fence: old.fence, stage: 'agent' })).toBe(false);
      expect(owner.holdsClaim({ taskId: 'A', token: old.token, fence: old.fence })).toBe(false);
      const finished = owner.finish({ taskId: 'A', token: old.token, outcome: { status: 'completed' } });
      expect(finished).toEqual({
        ok: false,
        error: {
          code: 'claim-lost',
          taskId: 'A',
          message: expect.stringMatching(/^task A: this run's claim was lost \(now held by pid 200 on box, run run-new\); its result "completed" was not recorded$/),
        },
      });
      expect(other.getTask('A')).toEqual(before);
      expect(fs.readFileSync(stateFile(), 'utf8')).toBe(projectionBefore);
      expect(events().filter((e) => e.type === 'heartbeat-lost')).toHaveLength(4);
      // The new owner is unaffected.
      expect(other.heartbeat({ taskId: 'A', token: fresh.token })).toBe(true);
      expect(other.finish({ taskId: 'A', token: fresh.token, outcome: { status: 'completed' } }).ok).toBe(true);
    });

    it('releases stale claims of other tasks too, so a crashed process does not hold WIP slots', () => {
      const owner = open({ identity: fakeProcess(100, alive) });
      claim(owner, 'A', { leaseMs: 600_000 });
      claim(owner, 'B', { leaseMs: 600_000 });
      alive.delete(100);
      const other = open({ identity: fakeProcess(200, alive) });
      const result = other.tryClaim(claimArgs('C', { admit: admitWip, wipLimit: 1 }));
      expect(result).toMatchObject({ kind: 'claimed', previousOwner: null });
      expect(result.released.map((r) => [r.taskId, r.cause])).toEqual([
        ['A', 'owner-dead'],
        ['B', 'owner-dead'],
      ]);
      expect(other.getTask('A')).toMatchObject({ status: 'pending', reason: 'owner_lost', claim: null, attempts: 1 });
      // Their attempts are unfinished (their agents may still be working): listed until claimed again.
      expect(other.listReleased().map((r) => r.taskId)).toEqual(['A', 'B']);
      claim(other, 'A', { leaseMs: 600_000 });
      expect(other.listReleased().map((r) => r.taskId)).toEqual(['B']);
      expectProjectionMatchesStore(other);
    });

    it('an agent still at work after its owner died keeps its WIP slot and scope until it ends or its task is claimed again', () => {
      const owner = open({ identity: fakeProcess(100, alive) });
      const a = claim(owner, 'A', { leaseMs: 600_000, footprint: fp('A', { fileScope: ['src/a.ts'] }) });
      owner.heartbeat({ taskId: 'A', token: a.token, agentPid: 4321 });
      alive.add(4321);
      alive.delete(100);
      const other = open({ identity: fakeProcess(200, alive) });
      // Released (its attempt is unfinished), but its agent works on: a new run must not start a full WIP beside it.
      const wait = other.tryClaim(claimArgs('C', { admit: admitWip, wipLimit: 1 }));
      expect(wait).toMatchObject({ kind: 'wait', reason: { kind: 'wip', running: 1 } });
      expect(other.getTask('A')).toMatchObject({ status: 'pending', reason: 'owner_lost', claim: null });
      expect(other.listOrphanedAgents()).toMatchObject([{ taskId: 'A', agent: { pid: 4321 } }]);
      // Its scope is still taken: the admission sees its footprint.
      const seen: string[][] = [];
      other.tryClaim(claimArgs('D', { admit: (x) => (seen.push(x.running.flatMap((r) => r.fileScope)), { admit: false, reason: { kind: 'wip', running: 1, limit: 1 } }) }));
      expect(seen).toEqual([['src/a.ts']]);
      // The task's own next attempt (its adopter) takes it over through a normal claim.
      const mine = other.tryClaim(claimArgs('A', { admit: admitWip, wipLimit: 1 }));
      expect(mine).toMatchObject({ kind: 'claimed', attempt: 2 });
      expect(other.listOrphanedAgents()).toEqual([]);
      other.finish({ taskId: 'A', token: (mine as { token: string }).token, outcome: { status: 'completed' } });
      expect(other.tryClaim(claimArgs('C', { admit: admitWip, wipLimit: 1 }))).toMatchObject({ kind: 'claimed' });
    });

    it('an orphaned agent that ended gives its slot back; a pid of another boot or host never holds one', () => {
      const owner = open({ identity: fakeProcess(100, alive) });
      const a = claim(owner, 'A', { leaseMs: 600_000 });
      owner.heartbeat({ taskId: 'A', token: a.token, agentPid: 4321 });
      const b = claim(owner, 'B', { leaseMs: 600_000 });
      owner.heartbeat({ taskId: 'B', token: b.token, agentPid: 4322 });
      alive.add(4321).add(4322);
      alive.delete(100);
      const other = open({ identity: fakeProcess(200, alive) });
      expect(other.tryClaim(claimArgs('C', { admit: admitWip, wipLimit: 2 }))).toMatchObject({ kind: 'wait', reason: { running: 2 } });
      alive.delete(4321);
      const parkable = other.tryClaim(claimArgs('C', { admit: admitWip, wipLimit: 2 }));
      expect(parkable).toMatchObject({ kind: 'claimed' });
      // The same pids seen from a process of another boot are not checkable: they hold nothing.
      const c = parkable as { token: string; fence: number };
      expect(other.setParked({ taskId: 'C', token: c.token, fence: c.fence, parked: true, wipLimit: 2 })).toBe('ok');
      expect(other.setParked({ taskId: 'C', token: c.token, fence: c.fence, parked: false, wipLimit: 1 })).toBe('wait');
      const rebooted = open({ identity: fakeProcess(300, alive, { bootId: 'boot-2' }) });
      expect(rebooted.tryClaim(claimArgs('D', { admit: admitWip, wipLimit: 2 }))).toMatchObject({ kind: 'claimed' });
      // ... nor does it clear them: B's agent still holds its slot for the processes of its own boot.
      expect(other.listOrphanedAgents().map((o) => o.taskId)).toEqual(['B']);
      expectProjectionMatchesStore(other);
    });
  });

  describe('attempt progress (durable stages)', () => {
    it('a dead owner\'s progress is continued by the next claim of the same task version, then cleared by finish', () => {
      const alive = new Set([100, 200]);
      const owner = open({ identity: fakeProcess(100, alive) });
      const first = claim(owner, 'A');
      expect(first.resume).toBeNull();
      expect(owner.advanceStage({ taskId: 'A', token: first.token, fence: first.fence, stage: 'worktree', data: { cwd: '/w', baseSha: 'b1' } })).toBe(true);
      expect(owner.advanceStage({ taskId: 'A', token: first.token, fence: first.fence, stage: 'agent', data: { agent: { status: 'completed' } } })).toBe(true);
      expect(events().filter((e) => e.type === 'stage').map((e) => e.stage)).toEqual(['worktree', 'agent']);

      alive.delete(100);
      const other = open({ identity: fakeProcess(200, alive) });
      const second = claim(other, 'A');
      expect(second.resume).toMatchObject({ stage: 'agent', fence: first.fence, attempt: 1, data: { cwd: '/w', baseSha: 'b1', agent: { status: 'completed' } } });
      expect(other.getTask('A')?.progress).toMatchObject({ stage: 'agent', fence: second.fence, attempt: 2 });
      // The old owner's stale token and fence can no longer advance anything.
      expect(other.advanceStage({ taskId: 'A', token: first.token, fence: first.fence, stage: 'saved' })).toBe(false);
      expect(other.advanceStage({ taskId: 'A', token: second.token, fence: first.fence, stage: 'saved' })).toBe(false);
      expect(other.advanceStage({ taskId: 'A', token: second.token, fence: second.fence, stage: 'saved', data: { sha: 's1' } })).toBe(true);
      expect(other.getTask('A')?.progress?.data).toMatchObject({ cwd: '/w', sha: 's1' });

      expect(other.finish({ taskId: 'A', token: second.token, outcome: { status: 'blocked', reason: 'verification_failed' } }).ok).toBe(true);
      expect(other.getTask('A')?.progress).toBeNull();
      expect(claim(other, 'A').resume).toBeNull();
    });

    it('drops the progress of another version of the task (its manifest entry changed)', () => {
      const alive = new Set([100, 200]);
      const owner = open({ identity: fakeProcess(100, alive) });
      const first = claim(owner, 'A', { taskHash: 'old' });
      owner.advanceStage({ taskId: 'A', token: first.token, fence: first.fence, stage: 'agent' });
      alive.delete(100);
      const other = open({ identity: fakeProcess(200, alive) });
      expect(claim(other, 'A', { taskHash: 'new' }).resume).toBeNull();
      expect(other.getTask('A')?.progress).toBeNull();
    });

    it('reset (invalidate) drops an interrupted attempt\'s progress', () => {
      const alive = new Set([100, 200]);
      const owner = open({ identity: fakeProcess(100, alive) });
      const first = claim(owner, 'A');
      owner.advanceStage({ taskId: 'A', token: first.token, fence: first.fence, stage: 'agent' });
      alive.delete(100);
      const other = open({ identity: fakeProcess(200, alive) });
      expect(other.invalidate({ taskId: 'A' }).ok).toBe(true);
      expect(claim(other, 'A').resume).toBeNull();
    });

    sqliteOnly('opens a store written by schema 1 (no progress column) and adds the column', () => {
      const Database = require('better-sqlite3');
      fs.mkdirSync(path.join(root, '.vtm'), { recursive: true });
      const db = new Database(path.join(root, '.vtm', 'state.db'));
      db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE tasks (task_id TEXT PRIMARY KEY, status TEXT NOT NULL, reason TEXT, task_hash TEXT, attempts INTEGER NOT NULL DEFAULT 0,
          started_at INTEGER, completed_at INTEGER, updated_at INTEGER NOT NULL, outcome TEXT NOT NULL DEFAULT '{}', claim TEXT,
          claim_token TEXT, fence INTEGER, heartbeat_at INTEGER, agent TEXT);
        INSERT INTO meta VALUES ('schema_version', '1');
        INSERT INTO tasks (task_id, status, updated_at, outcome) VALUES ('OLD', 'completed', 1, '{}');`);
      db.close();
      const store = open();
      expect(store.getTask('OLD')).toMatchObject({ status: 'completed', progress: null });
      const c = claim(store, 'A');
      expect(store.advanceStage({ taskId: 'A', token: c.token, fence: c.fence, stage: 'agent' })).toBe(true);
    });
  });

  describe('admission', () => {
    it('asks admit with the running claims of every process and records the wait', () => {
      const clock = fakeClock();
      const one = open({ clock });
      const two = open({ clock });
      claim(one, 'A', { footprint: fp('A', { fileScope: ['src/a/'] }) });
      clock.t = T0 + 10;
      claim(two, 'B');
      const admit = jest.fn<ReturnType<AdmitFn>, Parameters<AdmitFn>>(() => ({
        admit: false,
        reason: { kind: 'scope', entry: 'src/a/x.ts', heldBy: 'A', heldEntry: 'src/a/' },
      }));
      clock.t = T0 + 20;
      const result = one.tryClaim(claimArgs('C', { admit, wipLimit: 3, runId: 'run-c', footprint: fp('C', { fileScope: ['src/a/x.ts'] }) }));
      expect(admit).toHaveBeenCalledWith({
        candidate: fp('C', { fileScope: ['src/a/x.ts'] }),
        running: [
          { ...fp('A', { fileScope: ['src/a/'] }), startedAt: T0 },
          { ...fp('B'), startedAt: T0 + 10 },
        ],
        reservations: [],
        wipLimit: 3,
      });
      expect(result).toEqual({ kind: 'wait', reason: { kind: 'scope', entry: 'src/a/x.ts', heldBy: 'A', heldEntry: 'src/a/' }, reserved: false, released: [] });
      expect(one.getTask('C')).toBeUndefined();
      expect(two.waitingSummary()).toEqual([
        expect.objectContaining({ taskId: 'C', runId: 'run-c', since: T0, reservedAt: null, reason: expect.objectContaining({ kind: 'scope' }) }),
      ]);
    });

    it('logs a wait once per reason, not on every poll', () => {
      const store = open();
      claim(store, 'A');
      for (let i = 0; i < 3; i++) store.tryClaim(claimArgs('B', { admit: admitWip, wipLimit: 1 }));
      expect(events().filter((e) => e.type === 'wait')).toHaveLength(1);
      // Only the number of busy slots changed: still the same wait (see getWaitKey), not logged again.
      claim(store, 'C', { admit: admitAll });
      store.tryClaim(claimArgs('B', { admit: admitWip, wipLimit: 1 }));
      expect(events().filter((e) => e.type === 'wait').map((e) => (e.wait as { running: number }).running)).toEqual([1]);
      // Another reason is a new wait.
      const scope: AdmitFn = () => ({ admit: false, reason: { kind: 'scope', entry: 'src/B/x.ts', heldBy: 'C', heldEntry: 'src/B/' } });
      store.tryClaim(claimArgs('B', { admit: scope }));
      expect(events().filter((e) => e.type === 'wait').map((e) => (e.wait as { kind: string }).kind)).toEqual(['wip', 'scope']);
    });

    it('reserves the workspace for an exclusive task that waited too long, and passes the reservation to admit', () => {
      const clock = fakeClock();
      const store = open({ clock });
      const long = { leaseMs: 600_000 };
      const a = claim(store, 'A', long);
      const refuse: AdmitFn = () => ({ admit: false, reason: { kind: 'needs-exclusive', running: ['A'] } });
      const exclusive = fp('HR', { exclusive: true });

      clock.t = T0 + 59_999;
      expect(store.tryClaim(claimArgs('HR', { footprint: exclusive, admit: refuse, waitingSinceMs: T0, ...long }))).toMatchObject({ kind: 'wait', reserved: false });
      clock.t = T0 + 60_000;
      expect(store.tryClaim(claimArgs('HR', { footprint: exclusive, admit: refuse, waitingSinceMs: T0, ...long }))).toMatchObject({ kind: 'wait', reserved: true });
      clock.t = T0 + 70_000;
      store.tryClaim(claimArgs('HR', { footprint: exclusive, admit: refuse, waitingSinceMs: T0, ...long }));
      expect(events().filter((e) => e.type === 'reserve')).toEqual([expect.objectContaining({ task_id: 'HR', waited_ms: 60_000 })]);

      // Another task now sees the reservation, with the time it was first made.
      const seen = jest.fn<ReturnType<AdmitFn>, Parameters<AdmitFn>>(() => ({ admit: false, reason: { kind: 'reserved', by: 'HR' } }));
      store.tryClaim(claimArgs('B', { admit: seen, ...long }));
      expect(seen.mock.calls[0]?.[0].reservations).toEqual([{ taskId: 'HR', since: T0 + 60_000 }]);

      // A non-exclusive task never reserves, however long it waits.
      expect(store.tryClaim(claimArgs('B', { admit: seen, waitingSinceMs: 0, ...long }))).toMatchObject({ reserved: false });

      expect(store.finish({ taskId: 'A', token: a.token, outcome: { status: 'completed' } }).ok).toBe(true);
      expect(claim(store, 'HR', { footprint: exclusive, ...long })).toMatchObject({ kind: 'claimed' });
      expect(store.waitingSummary().map((w) => w.taskId)).toEqual(['B']);
    });

    it('lets a reservation that falls due take part in the same decision', () => {
      const store = open();
      const seen = jest.fn<ReturnType<AdmitFn>, Parameters<AdmitFn>>(() => ({ admit: true }));
      const hr = fp('HR', { exclusive: true });
      const result = store.tryClaim(claimArgs('HR', { footprint: hr, admit: seen, waitingSinceMs: T0 - 5, reserveAfterMs: 5 }));
      expect(seen.mock.calls[0]?.[0].reservations).toEqual([{ taskId: 'HR', since: expect.any(Number) }]);
      expect(result.kind).toBe('claimed');
      expect(store.waitingSummary()).toEqual([]);
    });

    it('reserveOnly records the wait and the reservation but never claims, even when admissible', () => {
      const clock = fakeClock();
      const store = open({ clock });
      claim(store, 'A', { leaseMs: 600_000 });
      const hr = fp('HR', { exclusive: true });
      const early = store.tryClaim(claimArgs('HR', { footprint: hr, reserveOnly: true, waitingSinceMs: T0, leaseMs: 600_000 }));
      expect(early).toEqual({ kind: 'wait', reason: { kind: 'needs-exclusive', running: ['A'] }, reserved: false, released: [] });
      clock.t = T0 + 60_000;
      const due = store.tryClaim(claimArgs('HR', { footprint: hr, reserveOnly: true, waitingSinceMs: T0, leaseMs: 600_000 }));
      expect(due).toMatchObject({ kind: 'wait', reserved: true });
      expect(store.getTask('HR')).toBeUndefined();
      expect(store.waitingSummary()).toEqual([expect.objectContaining({ taskId: 'HR', reservedAt: T0 + 60_000 })]);
    });

    it('drops the reservation of a waiter that died, so it cannot block everyone forever', () => {
      const alive = new Set([100, 200]);
      const waiter = open({ identity: fakeProcess(100, alive) });
      const refuse: AdmitFn = () => ({ admit: false, reason: { kind: 'needs-exclusive', running: ['X'] } });
      waiter.tryClaim(claimArgs('HR', { footprint: fp('HR', { exclusive: true }), admit: refuse, waitingSinceMs: 0, reserveAfterMs: 0 }));
      expect(waiter.waitingSummary()[0]?.reservedAt).not.toBeNull();
      alive.delete(100);
      const other = open({ identity: fakeProcess(200, alive) });
      const seen = jest.fn(admitAll);
      other.tryClaim(claimArgs('B', { admit: seen }));
      expect(seen.mock.calls[0]?.[0].reservations).toEqual([]);
      expect(other.waitingSummary()).toEqual([]);
    });

    it('drops the reservation of a waiter that stopped asking for longer than its lease', () => {
      const clock = fakeClock();
      const store = open({ clock });
      const refuse: AdmitFn = () => ({ admit: false, reason: { kind: 'needs-exclusive', running: ['X'] } });
      const hr = fp('HR', { exclusive: true });
      store.tryClaim(claimArgs('HR', { footprint: hr, admit: refuse, waitingSinceMs: 0, reserveAfterMs: 0, leaseMs: 1_000 }));
      clock.t = T0 + 1_000;
      store.tryClaim(claimArgs('B', { admit: refuse }));
      expect(store.waitingSummary().map((w) => w.taskId)).toEqual(['HR', 'B']);
      clock.t = T0 + 1_001;
      const seen = jest.fn(admitAll);
      store.tryClaim(claimArgs('C', { admit: seen }));
      expect(seen.mock.calls[0]?.[0].reservations).toEqual([]);
      expect(store.waitingSummary().map((w) => w.taskId)).toEqual(['B']);
    });

    it('cancelWait drops a wait and its reservation', () => {
      const store = open();
      const refuse: AdmitFn = () => ({ admit: false, reason: { kind: 'wip', running: 3, limit: 3 } });
      store.tryClaim(claimArgs('HR', { footprint: fp('HR', { exclusive: true }), admit: refuse, waitingSinceMs: 0, reserveAfterMs: 0 }));
      store.cancelWait({ taskId: 'HR' });
      expect(store.waitingSummary()).toEqual([]);
    });
  });

  describe('parking in the merge queue (setParked)', () => {
    it('a parked claim keeps its scope but no WIP slot, in every process; unparking waits for a slot', async () => {
      const { decideAdmission } = await import('../scheduler/admission');
      const admit: AdmitFn = (a) => decideAdmission(a);
      const one = open();
      const two = open();
      const a = claim(one, 'A', { admit, wipLimit: 1, footprint: fp('A', { fileScope: ['src/a/'] }) });
      // A is at work: nothing else starts with WIP 1.
      expect(two.tryClaim(claimArgs('B', { admit, wipLimit: 1 })).kind).toBe('wait');
      expect(one.setParked({ taskId: 'A', token: a.token, fence: a.fence, parked: true, wipLimit: 1 })).toBe('ok');
      // Parked: its slot is free for B (another process), but its files are still its own.
      const b = claim(two, 'B', { admit, wipLimit: 1 });
      const onA = two.tryClaim(claimArgs('C', { admit, wipLimit: 3, footprint: fp('C', { fileScope: ['src/a/x.ts'] }) }));
      expect(onA).toMatchObject({ kind: 'wait', reason: { kind: 'scope', heldBy: 'A' } });
      // A repair turn needs the slot back: it waits while B is at work, and gets it once B parks.
      expect(one.setParked({ taskId: 'A', token: a.token, fence: a.fence, parked: false, wipLimit: 1 })).toBe('wait');
      expect(two.setParked({ taskId: 'B', token: b.token, fence: b.fence, parked: true, wipLimit: 1 })).toBe('ok');
      expect(one.setParked({ taskId: 'A', token: a.token, fence: a.fence, parked: false, wipLimit: 1 })).toBe('ok');
      expect(events().filter((e) => e.type === 'park' || e.type === 'unpark').map((e) => `${e.type}:${e.task_id}`)).toEqual(['park:A', 'park:B', 'unpark:A']);
    });

    it('a lost claim cannot park or unpark', () => {
      const store = open();
      const a = claim(store, 'A');
      expect(store.setParked({ taskId: 'A', token: 'not-mine', fence: a.fence, parked: true, wipLimit: 3 })).toBe('lost');
      expect(store.setParked({ taskId: 'A', token: a.token, fence: a.fence + 1, parked: false, wipLimit: 3 })).toBe('lost');
    });
  });

  describe('finish', () => {
    it('writes the final record with every outcome field and computes the duration', () => {
      const clock = fakeClock();
      const store = open({ clock });
      const c = claim(store, 'A', { runId: 'run-3', taskHash: 'hA' });
      clock.t = T0 + 12 * 60_000;
      const result = store.finish({
        taskId: 'A',
        token: c.token,
        outcome: {
          status: 'completed',
          acs_completed: ['A-AC01', 'A-AC02'],
          acs_remaining: [],
          files_modified: ['src/a.ts'],
          test_results: { total: 3, passing: 3, failing: 0 },
          blockers: [],
          error: null,
          result_dir: '.vtm/runs/run-3/A',
          cost: { usd: 0.42 },
          agent: 'claude',
        },
      });
      expect(result.ok).toBe(true);
      expect(store.getTask('A')).toEqual({
        taskId: 'A',
        status: 'completed',
        reason: null,
        taskHash: 'hA',
        attempts: 1,
        startedAt: T0,
        completedAt: T0 + 12 * 60_000,
        updatedAt: T0 + 12 * 60_000,
        outcome: {
          acs_completed: ['A-AC01', 'A-AC02'],
          acs_remaining: [],
          files_modified: ['src/a.ts'],
          test_results: { total: 3, passing: 3, failing: 0 },
          blockers: [],
          error: null,
          result_dir: '.vtm/runs/run-3/A',
          cost: { usd: 0.42 },
          agent: 'claude',
          duration_minutes: 12,
        },
        claim: null,
        progress: null,
      });
      expectProjectionMatchesStore(store);
      expect(readProjection().tasks.A).toMatchObject({ status: 'completed', duration_minutes: 12, cost: { usd: 0.42 }, completed_at: '2025-09-28T09:12:00.000Z' });
      expect(events().at(-1)).toMatchObject({ type: 'finish', run_id: 'run-3', task_id: 'A', status: 'completed', reason: null, attempt: 1, duration_minutes: 12 });
      expect(store.getRunningClaims()).toEqual([]);
    });

    it('records blocked with its reason code, and requires one', () => {
      const store = open();
      const c = claim(store, 'A');
      expect(store.finish({ taskId: 'A', token: c.token, outcome: { status: 'blocked' } })).toEqual({
        ok: false,
        error: { code: 'invalid-outcome', taskId: 'A', message: expect.stringMatching(/^task A: a blocked outcome needs a reason code/) },
      });
      expect(store.getTask('A')?.status).toBe('in-progress');
      const r = store.finish({ taskId: 'A', token: c.token, outcome: { status: 'blocked', reason: 'verification_failed', error: 'tests failed', duration_minutes: 3 } });
      expect(r).toMatchObject({ ok: true, value: { status: 'blocked', reason: 'verification_failed', completedAt: null, outcome: { duration_minutes: 3 } } });
    });

    it('listBlockedSince lists the tasks blocked at or after a moment, and no other', () => {
      const clock = fakeClock();
      const store = open({ clock });
      for (const id of ['A', 'B', 'C']) {
        const c = claim(store, id);
        clock.t += 1000;
        store.finish({ taskId: id, token: c.token, outcome: id === 'B' ? { status: 'completed' } : { status: 'blocked', reason: 'agent_failed', files_modified: [`${id}.ts`] } });
      }
      expect(store.listBlockedSince(T0).map((r) => r.taskId)).toEqual(['A', 'C']);
      expect(store.listBlockedSince(T0 + 2000).map((r) => [r.taskId, r.outcome.files_modified])).toEqual([['C', ['C.ts']]]);
      expect(store.listBlockedSince(T0 + 3001)).toEqual([]);
    });

    it('refuses an outcome that is not a final status', () => {
      const store = open();
      const c = claim(store, 'A');
      const r = store.finish({ taskId: 'A', token: c.token, outcome: { status: 'in-progress' as never } });
      expect(r).toMatchObject({ ok: false, error: { code: 'invalid-outcome' } });
    });

    it('updateProgress merges fields while the claim is held', () => {
      const store = open();
      const c = claim(store, 'A');
      expect(store.updateProgress({ taskId: 'A', token: c.token, fields: { acs_completed: ['AC1'], acs_remaining: ['AC2'] } })).toBe(true);
      expect(store.updateProgress({ taskId: 'A', token: c.token, fields: { acs_completed: ['AC1', 'AC2'], acs_remaining: [], status: 'completed' } })).toBe(true);
      expect(store.getTask('A')).toMatchObject({ status: 'in-progress', outcome: { acs_completed: ['AC1', 'AC2'], acs_remaining: [] } });
      expectProjectionMatchesStore(store);
    });
  });

  describe('recordOutcome', () => {
    it('records dependents blocked by a failed dependency', () => {
      const store = open();
      const r = store.recordOutcome({ taskId: 'B', runId: 'run-1', outcome: { status: 'blocked', reason: 'dependency_failed:A', blockers: ['A failed'] } });
      expect(r).toMatchObject({ ok: true, value: { status: 'blocked', reason: 'dependency_failed:A', attempts: 0 } });
      expect(events().at(-1)).toMatchObject({ type: 'outcome', task_id: 'B', status: 'blocked', reason: 'dependency_failed:A', from: 'pending', from_cache: false });
      expectProjectionMatchesStore(store);
    });

    it('records completed only from the Nx cache, with the task hash of the cache entry', () => {
      const store = open();
      expect(store.recordOutcome({ taskId: 'A', outcome: { status: 'completed' } })).toMatchObject({
        ok: false,
        error: { code: 'illegal-transition', message: expect.stringContaining('task A: cannot change status from "pending" to "completed"') },
      });
      const r = store.recordOutcome({ taskId: 'A', outcome: { status: 'completed' }, fromCache: true, taskHash: 'hA' });
      expect(r).toMatchObject({ ok: true, value: { status: 'completed', taskHash: 'hA', outcome: { from_cache: true } } });
      expect(store.tryClaim(claimArgs('A', { taskHash: 'hA' })).kind).toBe('completed');
    });

    it('is refused while a live claim holds the task', () => {
      const store = open();
      claim(store, 'A', { runId: 'run-1' });
      expect(store.recordOutcome({ taskId: 'A', outcome: { status: 'abandoned' } })).toEqual({
        ok: false,
        error: {
          code: 'claim-held',
          taskId: 'A',
          message: `task A is being run by pid ${process.pid} on ${os.hostname()} (run run-1); wait for it to finish or stop that run first`,
        },
      });
    });
  });

  describe('invalidate', () => {
    it('resets a completed task to pending, clearing its result but keeping the attempt count', () => {
      const store = open();
      const c = claim(store, 'A');
      store.finish({ taskId: 'A', token: c.token, outcome: { status: 'completed', files_modified: ['x'] } });
      const r = store.invalidate({ taskId: 'A', runId: 'user' });
      expect(r).toMatchObject({ ok: true, value: { status: 'pending', attempts: 1, taskHash: null, completedAt: null, outcome: {} } });
      expect(events().at(-1)).toMatchObject({ type: 'invalidate', task_id: 'A', from: 'completed' });
      expect(claim(store, 'A').attempt).toBe(2);
    });

    it('is refused while the task runs', () => {
      const store = open();
      claim(store, 'A');
      expect(store.invalidate({ taskId: 'A' })).toMatchObject({ ok: false, error: { code: 'claim-held' } });
      expect(store.getResetGenerations()).toEqual(new Map());
    });

    it('counts the resets of each task (the implement cache key includes the count), kept across reopening', () => {
      const store = open();
      expect(store.getResetGenerations()).toEqual(new Map());
      const c = claim(store, 'A');
      store.finish({ taskId: 'A', token: c.token, outcome: { status: 'completed' } });
      store.invalidate({ taskId: 'A' });
      store.invalidate({ taskId: 'A' });
      store.invalidate({ taskId: 'B' });
      expect(events().at(-1)).toMatchObject({ type: 'invalidate', task_id: 'B', reset_generation: 1 });
      expect(store.getResetGenerations()).toEqual(new Map([['A', 2], ['B', 1]]));
      store.close();
      expect(open().getResetGenerations()).toEqual(new Map([['A', 2], ['B', 1]]));
    });
  });

  describe('manifest hash', () => {
    it('stores the first hash, reports a mismatch as a value, and adopts a new one only when told', () => {
      const store = open();
      expect(store.checkManifestHash('aaa')).toEqual({ ok: true, stored: 'aaa', current: 'aaa' });
      expect(store.checkManifestHash('aaa').ok).toBe(true);
      const mismatch = store.checkManifestHash('bbb');
      expect(mismatch).toEqual({ ok: false, stored: 'aaa', current: 'bbb', message: expect.stringContaining('belongs to manifest aaa') });
      expect(store.getManifestHash()).toBe('aaa');
      store.acceptManifestHash('bbb');
      expect(store.checkManifestHash('bbb').ok).toBe(true);
      store.flushProjection();
      expect(readProjection().manifest_hash).toBe('bbb');
    });
  });

  describe('registerTasks', () => {
    it('adds missing tasks as pending and leaves known ones alone', () => {
      const store = open();
      const c = claim(store, 'A');
      expect(store.registerTasks({ taskIds: ['A', 'B', 'C'] })).toBe(2);
      expect(store.listTasks().map((t) => [t.taskId, t.status])).toEqual([
        ['A', 'in-progress'],
        ['B', 'pending'],
        ['C', 'pending'],
      ]);
      expect(store.registerTasks({ taskIds: ['A', 'B'] })).toBe(0);
      expect(store.getTask('A')?.claim?.token).toBe(c.token);
      expectProjectionMatchesStore(store);
    });
  });

  describe('importing an earlier task-state.json', () => {
    const seed = {
      manifest_hash: '433206a1',
      last_updated: '2025-09-28T10:30:00Z',
      tasks: {
        'MONOREPO_STRUCTURE--T01': {
          status: 'completed',
          started_at: '2025-09-28T09:00:00Z',
          completed_at: '2025-09-28T10:30:00Z',
          acs_completed: ['MONOREPO_STRUCTURE-AC01'],
          notes: 'All tests passing',
        },
        'SQLITE_SCHEMA--T01': { status: 'in-progress', started_at: '2025-09-28T10:35:00Z', acs_completed: ['SQLITE_SCHEMA-AC01'] },
      },
      metadata: {},
    };

    it('keeps the progress when the store is empty, and only then', () => {
      const file = path.join(root, 'docs', 'backlog', 'task-state.json');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify(seed));
      const store = open({ stateFile: 'docs/backlog/task-state.json' });
      expect(store.getManifestHash()).toBe('433206a1');
      expect(store.getTask('MONOREPO_STRUCTURE--T01')).toMatchObject({ status: 'completed', outcome: { notes: 'All tests passing' } });
      expect(store.getTask('SQLITE_SCHEMA--T01')).toMatchObject({ status: 'pending', reason: 'owner_lost' });
      // Completed before task hashes existed: trusted, not re-run.
      expect(store.tryClaim(claimArgs('MONOREPO_STRUCTURE--T01', { taskHash: 'anything' })).kind).toBe('completed');
      expect(events().find((e) => e.type === 'import')).toMatchObject({ tasks: 2 });
      const projection = JSON.parse(fs.readFileSync(file, 'utf8'));
      expect(taskStateFileSchema.safeParse(projection).success).toBe(true);
      expect(Object.keys(projection.tasks)).toEqual(['MONOREPO_STRUCTURE--T01', 'SQLITE_SCHEMA--T01']);

      store.close();
      fs.writeFileSync(file, JSON.stringify({ tasks: { OTHER: { status: 'completed' } } }));
      const reopened = open({ stateFile: 'docs/backlog/task-state.json' });
      expect(reopened.getTask('OTHER')).toBeUndefined();
    });

    it('keeps an unreadable file as a backup instead of overwriting it', () => {
      fs.mkdirSync(path.join(root, '.vtm'), { recursive: true });
      fs.writeFileSync(stateFile(), '{ "tasks": oops');
      open({ clock: fakeClock() });
      expect(fs.readFileSync(path.join(root, '.vtm', `task-state.json.unreadable-${T0}`), 'utf8')).toBe('{ "tasks": oops');
      expect(readProjection().tasks).toEqual({});
      expect(events()[0]).toMatchObject({ type: 'import', reason: 'unreadable' });
    });
  });

  describe('reads', () => {
    it('getRunningClaims shows every process\'s claims with the current verdict', () => {
      const clock = fakeClock();
      // The owner runs on another host: only its lease can tell (on this host only a dead process loses its claims).
      const alive = new Set([100, 300]);
      const a = open({ clock, identity: fakeProcess(100, alive, { host: 'other-box', bootId: 'boot-x' }) });
      claim(a, 'A', { leaseMs: 1_000 });
      claim(a, 'B', { leaseMs: 5_000 });
      clock.t = T0 + 2_000;
      const reader = open({ clock, identity: fakeProcess(300, alive) });
      expect(reader.getRunningClaims().map((c) => [c.taskId, c.verdict])).toEqual([
        ['A', { stale: true, cause: 'lease-expired' }],
        ['B', { stale: false }],
      ]);
    });
    it('getRunningClaims names the agent still at work behind a stale claim, until the next write releases it', () => {
      const alive = new Set([100, 300, 4321]);
      const owner = open({ identity: fakeProcess(100, alive) });
      const a = claim(owner, 'A', { leaseMs: 600_000 });
      claim(owner, 'B', { leaseMs: 600_000 });
      owner.heartbeat({ taskId: 'A', token: a.token, agentPid: 4321 });
      alive.delete(100);
      const reader = open({ identity: fakeProcess(300, alive) });
      expect(reader.getRunningClaims().map((c) => [c.taskId, c.verdict.stale, c.agentAlive])).toEqual([
        ['A', true, true],
        ['B', true, undefined],
      ]);
      alive.delete(4321);
      expect(reader.getRunningClaims()[0]).toMatchObject({ taskId: 'A', agentAlive: false });
    });
  });

  describe('getChangeVersion (the scheduler skips a full pass on a poll that finds it unchanged)', () => {
    it('changes with every claim, park and finish of any process, and not with heartbeats, stages or refused claims', () => {
      const one = open();
      const two = open();
      const seen = [two.getChangeVersion()];
      const changed = () => {
        const v = two.getChangeVersion();
        const different = v !== seen[seen.length - 1];
        seen.push(v);
        return different;
      };
      const a = claim(one, 'A');
      expect(changed()).toBe(true);
      expect(one.heartbeat({ taskId: 'A', token: a.token })).toBe(true);
      expect(one.advanceStage({ taskId: 'A', token: a.token, fence: a.fence, stage: 'worktree' })).toBe(true);
      expect(one.tryClaim(claimArgs('B', { admit: admitWip, wipLimit: 1 })).kind).toBe('wait');
      expect(changed()).toBe(false);
      expect(one.setParked({ taskId: 'A', token: a.token, fence: a.fence, parked: true, wipLimit: 3 })).toBe('ok');
      expect(changed()).toBe(true);
      one.finish({ taskId: 'A', token: a.token, outcome: { status: 'completed' } });
      expect(changed()).toBe(true);
    });
  });

  describe('dispatch pause (rate limits shared across processes)', () => {
    it('pauses until the given time, only ever extends, and is visible to another store on the same database', () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-pause-'));
      let now = 1_000_000;
      const clock = { now: () => now };
      const a = openTaskStore({ workspaceRoot: root, clock, coordinator });
      const b = openTaskStore({ workspaceRoot: root, clock, coordinator });
      try {
        expect(a.getDispatchPause()).toBeUndefined();
        a.pauseDispatchUntil({ untilMs: now + 60_000, reason: 'T1: usage limit' });
        a.pauseDispatchUntil({ untilMs: now + 10_000, reason: 'shorter' });
        expect(b.getDispatchPause()).toEqual({ untilMs: now + 60_000, reason: 'T1: usage limit' });
        now += 60_001;
        expect(b.getDispatchPause()).toBeUndefined();
      } finally {
        a.close();
        b.close();
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  });
});
