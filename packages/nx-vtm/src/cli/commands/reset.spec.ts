import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeCliWorkspace, STATE_FILE, type CliWorkspaceFixture } from '../test-support/cli-workspace';

// Real CLI processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(60_000);

let ws: CliWorkspaceFixture;
afterEach(() => ws?.cleanup());

/** Status of each task as the store has it now (read after the CLI process wrote). */
function statuses(): Record<string, string> {
  const store = ws.openStore();
  try {
    return Object.fromEntries(store.listTasks().map((r) => [r.taskId, r.status]));
  } finally {
    store.close();
  }
}

describe('nx-vtm reset', () => {
  beforeEach(() => {
    ws = makeCliWorkspace();
    const store = ws.openStore();
    try {
      ws.finishTask(store, 'A', { status: 'completed', acs_completed: ['A-AC01'] });
      ws.finishTask(store, 'B', { status: 'completed', acs_completed: ['B-AC01'] });
      ws.finishTask(store, 'C', { status: 'blocked', reason: 'agent_failed' });
      ws.claimTask(store, 'H');
    } finally {
      store.close();
    }
  });

  it('puts a blocked task back to pending', async () => {
    const r = await ws.runCli(['reset', 'C']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('C: blocked -> pending');
    expect(statuses()).toMatchObject({ A: 'completed', C: 'pending' });
    // The projection users read is rewritten by the same transaction.
    const file = JSON.parse(fs.readFileSync(path.join(ws.root, STATE_FILE), 'utf8'));
    expect(file.tasks.C).toMatchObject({ status: 'pending', reason: null });
  });

  it('asks before clearing a completed result: without a terminal it needs --yes (exit 2, nothing changed)', async () => {
    const refused = await ws.runCli(['reset', 'A', 'C']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/A is completed; resetting clears the recorded result .*Run it again with --yes to confirm \(nothing was reset\)/);
    expect(statuses()).toMatchObject({ A: 'completed', C: 'blocked' });

    const confirmed = await ws.runCli(['reset', 'A', 'C', '--yes']);
    expect(confirmed.code).toBe(0);
    expect(confirmed.stdout).toContain('A: completed -> pending');
    // B depends on A and stays completed: the user is told.
    expect(confirmed.stdout).toContain('note: completed tasks that depend on A stay completed: B');
    expect(statuses()).toMatchObject({ A: 'pending', B: 'completed', C: 'pending' });
  });

  it('is refused while a live run holds the task, and changes none of the tasks given', async () => {
    const r = await ws.runCli(['reset', 'C', 'H', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`nothing was reset:\nH is being run by pid ${process.pid} on`);
    expect(r.stderr).toContain('wait for that run to finish or stop it');
    expect(statuses()).toMatchObject({ C: 'blocked', H: 'in-progress' });
  });

  it('takes back a task whose run is gone', async () => {
    // Hand H from this (live) process to one that is gone.
    const live = ws.openStore();
    const given = live.finish({ taskId: 'H', token: live.getTask('H')!.claim!.token, outcome: { status: 'pending' } });
    live.close();
    expect(given.ok).toBe(true);
    const dead = ws.openStoreAsDeadOwner();
    ws.claimTask(dead, 'H');
    dead.close();
    expect(statuses()).toMatchObject({ H: 'in-progress' });

    const r = await ws.runCli(['reset', 'H']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(statuses()).toMatchObject({ H: 'pending' });
  });

  it('rejects an unknown task id with exit code 1', async () => {
    const r = await ws.runCli(['reset', 'NOPE']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown task NOPE: in no manifest and not in the task state; check the id \(nx-vtm status lists the tasks\)/);
  });
});

describe('nx-vtm abandon', () => {
  beforeEach(() => {
    ws = makeCliWorkspace();
    const store = ws.openStore();
    try {
      ws.finishTask(store, 'C', { status: 'completed', acs_completed: ['C-AC01'] });
      ws.claimTask(store, 'H');
    } finally {
      store.close();
    }
  });

  it('marks the task abandoned with the reason, and names the tasks that now cannot start', async () => {
    const r = await ws.runCli(['abandon', 'A', '--reason', 'superseded by the new importer']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('A: pending -> abandoned (superseded by the new importer)');
    expect(r.stdout).toContain('note: B depends on A and cannot start now');
    const file = JSON.parse(fs.readFileSync(path.join(ws.root, STATE_FILE), 'utf8'));
    expect(file.tasks.A).toMatchObject({ status: 'abandoned', reason: 'superseded by the new importer' });
  });

  it.each([
    { name: 'without --reason', args: ['abandon', 'A'], code: 2, message: /missing --reason "\.\.\."/ },
    { name: 'with two task ids', args: ['abandon', 'A', 'B', '--reason', 'x'], code: 2, message: /unexpected argument "B"/ },
    { name: 'while a live run holds it', args: ['abandon', 'H', '--reason', 'x'], code: 1, message: /H was not abandoned:\nH is being run by pid/ },
    { name: 'when completed', args: ['abandon', 'C', '--reason', 'x'], code: 1, message: /cannot change status from "completed" to "abandoned".*run `nx-vtm reset C --yes` first/ },
  ])('is refused $name', async ({ args, code, message }) => {
    const r = await ws.runCli(args);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(statuses()).toMatchObject({ C: 'completed', H: 'in-progress' });
    expect(statuses().A ?? 'pending').toBe('pending');
  });
});
