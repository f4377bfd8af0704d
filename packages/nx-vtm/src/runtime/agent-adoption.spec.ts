import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isProcessRunning } from '../agents/process-runner';
import { recordAgentRun, settleInterruptedAgent } from './agent-adoption';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vtm-adoption-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in agent (or keeper): a process leading its own group, as the keeper starts it. */
function startKeeper(): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
  child.unref();
  return child.pid!;
}
const waitDead = async (pid: number) => {
  for (let i = 0; i < 100 && isProcessRunning(pid); i++) await new Promise((r) => setTimeout(r, 20));
};
/** Records `pid` as the running agent of a starter that has died since (a different start time: not this process). */
function recordOrphan(pid: number, turn = 1, keeperPid?: number): void {
  recordAgentRun({ dir, taskId: 'AD--T01', runId: 'run-1', turn, pid, keeperPid, run: run() });
  const record = JSON.parse(readFileSync(join(dir, 'agent-run.json'), 'utf8'));
  writeFileSync(join(dir, 'agent-run.json'), JSON.stringify({ ...record, owner: { ...record.owner, startTime: '1' } }));
}
const run = () => ({ adapter: 'command', attempt: 1, exitFile: join(dir, 'agent-exit.json'), transcriptFile: join(dir, 'transcript.log') });

describe('settleInterruptedAgent', () => {
  const settle = (over: Partial<Parameters<typeof settleInterruptedAgent>[0]> = {}) => {
    const lines: string[] = [];
    const adoption = settleInterruptedAgent({ dir, taskId: 'AD--T01', turn: 1, adoptable: true, adapters: ['command'], log: (l) => lines.push(l), ...over });
    return { adoption, lines };
  };

  it('adopts the running agent of the attempt it continues, and leaves it running', () => {
    const pid = startKeeper();
    recordOrphan(pid);
    const { adoption, lines } = settle();
    expect(adoption).toMatchObject({ pid, run: run() });
    expect(adoption!.isAlive()).toBe(true);
    expect(lines).toEqual([]);
    process.kill(-pid, 'SIGKILL');
  });

  it('adopts a finished agent by its recorded end, and not one whose end was never recorded', () => {
    recordOrphan(process.pid);
    // The record names this process with another start time: a reused pid, not the keeper.
    const record = JSON.parse(readFileSync(join(dir, 'agent-run.json'), 'utf8'));
    writeFileSync(join(dir, 'agent-run.json'), JSON.stringify({ ...record, agent: { ...record.agent, startTime: '1' }, keeper: { ...record.keeper, startTime: '1' } }));
    expect(settle().adoption).toBeUndefined();
    writeFileSync(run().exitFile, '{"exit_code":0}\n');
    const { adoption } = settle();
    expect(adoption?.isAlive()).toBe(false);
    expect(isProcessRunning(process.pid)).toBe(true); // the reused pid was left alone
  });

  it.each([
    ['the attempt starts over', { adoptable: false }],
    ['it ran for another repair turn', { turn: 2 }],
    ['it is another adapter\'s run', { adapters: ['claude', undefined] }],
  ])('stops a running agent it cannot adopt (%s)', async (_why, over) => {
    const pid = startKeeper();
    recordOrphan(pid);
    const { adoption, lines } = settle(over);
    expect(adoption).toBeUndefined();
    await waitDead(pid);
    expect(isProcessRunning(pid)).toBe(false);
    expect(lines).toEqual([`stopped the agent an earlier attempt left running (pid ${pid}): this attempt starts over`]);
  });

  it("never adopts a run its starter, still alive, has seen to its end (an attempt running its agent again after a rate limit)", () => {
    recordAgentRun({ dir, taskId: 'AD--T01', runId: 'run-1', turn: 1, pid: 999_999_999, run: run() });
    writeFileSync(run().exitFile, '{"exit_code":0}\n');
    expect(settle().adoption).toBeUndefined();
  });

  it("leaves another machine's agent alone (a shared coordinator): its pid means nothing here", () => {
    const pid = startKeeper();
    recordAgentRun({ dir, taskId: 'AD--T01', runId: 'run-1', turn: 1, pid, run: run() });
    const record = JSON.parse(readFileSync(join(dir, 'agent-run.json'), 'utf8'));
    writeFileSync(join(dir, 'agent-run.json'), JSON.stringify({ ...record, host: 'elsewhere' }));
    expect(settle({ adoptable: false }).adoption).toBeUndefined();
    expect(isProcessRunning(pid)).toBe(true);
    process.kill(-pid, 'SIGKILL');
  });

  it('waits for the end of an agent that ended while its keeper still runs (the keeper has yet to record it)', () => {
    const keeper = startKeeper();
    recordOrphan(999_999_999, 1, keeper);
    const { adoption } = settle();
    expect(adoption).toMatchObject({ pid: 999_999_999 });
    expect(adoption!.isAlive()).toBe(true);
    process.kill(-keeper, 'SIGKILL');
  });

  it('stops waiting for an end its keeper, still serving other agents, has not recorded long after the agent was gone', () => {
    const keeper = startKeeper();
    let clock = Date.now();
    const now = () => clock;
    recordOrphan(999_999_999, 1, keeper);
    const gone = settle({ now }).adoption!;
    expect(gone.isAlive()).toBe(true);
    clock += 9_000;
    expect(gone.isAlive()).toBe(true);
    clock += 2_000;
    expect(gone.isAlive()).toBe(false);
    // Asked to start an agent it never recorded (the request was lost with its starter): the same grace, from the ask.
    recordAgentRun({ dir, taskId: 'AD--T01', runId: 'run-1', turn: 1, pid: undefined, keeperPid: keeper, run: run() });
    const record = JSON.parse(readFileSync(join(dir, 'agent-run.json'), 'utf8'));
    writeFileSync(join(dir, 'agent-run.json'), JSON.stringify({ ...record, owner: { ...record.owner, startTime: '1' } }));
    clock = Date.parse(record.started_at) + 1_000;
    const unstarted = settle({ now }).adoption!;
    expect(unstarted.isAlive()).toBe(true);
    clock += 10_000;
    expect(unstarted.isAlive()).toBe(false);
    process.kill(-keeper, 'SIGKILL');
  });

  it("stops the agent's own group, not its keeper's, which serves other agents too", async () => {
    const [agent, keeper] = [startKeeper(), startKeeper()];
    recordOrphan(agent, 1, keeper);
    const { lines } = settle({ adoptable: false });
    await waitDead(agent);
    expect(isProcessRunning(agent)).toBe(false);
    expect(isProcessRunning(keeper)).toBe(true);
    expect(lines).toEqual([`stopped the agent an earlier attempt left running (pid ${agent}): this attempt starts over`]);
    process.kill(-keeper, 'SIGKILL');
  });

  it("reads a record written while each agent had its own keeper (it names only the keeper, whose group held the agent)", async () => {
    const pid = startKeeper();
    recordOrphan(pid);
    const record = JSON.parse(readFileSync(join(dir, 'agent-run.json'), 'utf8'));
    delete record.agent;
    writeFileSync(join(dir, 'agent-run.json'), JSON.stringify(record));
    expect(settle().adoption).toMatchObject({ pid });
    settle({ adoptable: false });
    await waitDead(pid);
    expect(isProcessRunning(pid)).toBe(false);
  });

  it("finds an agent its starter never heard of through the keeper's record of its start, and stops it by it", async () => {
    const [agent, keeper] = [startKeeper(), startKeeper()];
    recordAgentRun({ dir, taskId: 'AD--T01', runId: 'run-1', turn: 1, pid: undefined, keeperPid: keeper, run: run() });
    const record = JSON.parse(readFileSync(join(dir, 'agent-run.json'), 'utf8'));
    expect(record.agent).toBeNull();
    writeFileSync(join(dir, 'agent-run.json'), JSON.stringify({ ...record, owner: { ...record.owner, startTime: '1' } }));
    // Not started yet: adopted while the keeper runs (it may still start it), with no pid to stop.
    expect(settle().adoption).toMatchObject({ pid: undefined, keeperPid: keeper });
    const startTime = readFileSync(`/proc/${agent}/stat`, 'utf8').split(') ')[1].split(' ')[19];
    writeFileSync(run().exitFile, JSON.stringify({ running: true, pid: agent, start_time: startTime }));
    expect(settle().adoption).toMatchObject({ pid: agent, keeperPid: keeper });
    // A reused pid (another start time) is not it.
    writeFileSync(run().exitFile, JSON.stringify({ running: true, pid: agent, start_time: '1' }));
    expect(settle({ adoptable: false }).lines).toEqual([]);
    expect(isProcessRunning(agent)).toBe(true);
    writeFileSync(run().exitFile, JSON.stringify({ running: true, pid: agent, start_time: startTime }));
    expect(settle({ adoptable: false }).lines).toEqual([`stopped the agent an earlier attempt left running (pid ${agent}): this attempt starts over`]);
    await waitDead(agent);
    expect(isProcessRunning(agent)).toBe(false);
    process.kill(-keeper, 'SIGKILL');
  });

  it('has nothing to settle without a record, or with a damaged one', () => {
    expect(settle().adoption).toBeUndefined();
    writeFileSync(join(dir, 'agent-run.json'), '{"keeper":');
    expect(settle().adoption).toBeUndefined();
  });
});
