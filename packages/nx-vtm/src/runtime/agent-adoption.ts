/**
 * Agents outlive the process that started them (the agent keeper, process-runner.ts), so that an agent whose
 * orchestrator is killed is paid for once: the next attempt of the task adopts it (waits for it and takes its
 * transcript) instead of running it again. This module keeps the one record that makes that possible,
 * `<result dir>/agent-run.json`, written when the agent starts, and decides at the next attempt's start between
 * adopting the agent and stopping it.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { agentProcessTag, killProcessGroup, killTaggedProcesses, readKeeperStart } from '../agents/process-runner';
import type { AgentAdoption, AgentProcessRun } from '../agents/run-agent';
import { isSameProcess, readHostId, readProcessIdentity } from '../state/process-identity';
import type { ProcessIdentity } from '../state/task-record';

const RECORD_FILE = 'agent-run.json';
/**
 * How long a keeper that still runs (for its other agents) may take to record an agent's start after it was asked (it
 * takes milliseconds) or its end after the agent is gone (up to ~1 s: it waits that long for pipes a leftover holds):
 * past that, the record is not coming (the request never reached it, or the write failed).
 */
const KEEPER_RECORD_GRACE_MS = 10_000;

interface AgentRunRecord {
  task_id: string;
  run_id: string;
  /** The repair turn the agent ran for (1 for the task's first run). */
  turn: number;
  host: string;
  /**
   * The agent's identity (it leads its process group): a reused pid is not it. Null while its keeper has been asked to
   * start it and its pid has not come back: the keeper's record of the start (`run.exitFile`) names it then.
   */
  agent?: ProcessIdentity | null;
  /**
   * The identity of the keeper that records the agent's end (shared by the agents of its orchestrator). Records written
   * while each agent had its own keeper name only this one, whose process group held the agent.
   */
  keeper: ProcessIdentity;
  /** The process that started it: only an agent whose starter is gone is adopted. */
  owner: ProcessIdentity;
  run: AgentProcessRun;
  started_at: string;
}

/** Writes the record of an agent that just started (atomically: a reader sees the previous record or this one). */
export function recordAgentRun({
  dir,
  taskId,
  runId,
  turn,
  pid,
  keeperPid,
  run,
}: {
  dir: string;
  taskId: string;
  runId: string;
  turn: number;
  /** Undefined while the keeper has yet to start it (see `agent`). */
  pid: number | undefined;
  /** Undefined when the agent runs without a keeper (Windows): it is then its own recorder. */
  keeperPid?: number;
  run: AgentProcessRun;
}): void {
  const record: AgentRunRecord = {
    task_id: taskId,
    run_id: runId,
    turn,
    host: readHostId(),
    agent: pid === undefined ? null : readProcessIdentity(pid),
    keeper: readProcessIdentity((keeperPid ?? pid)!),
    owner: readProcessIdentity(),
    run,
    started_at: new Date().toISOString(),
  };
  mkdirSync(dir, { recursive: true });
  // No fsync: the record is for a process killed, not a machine: after a power loss its agent is gone too.
  writeFileAtomic.sync(join(dir, RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`, { fsync: false });
}

function readRecord(dir: string): AgentRunRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(join(dir, RECORD_FILE), 'utf8')) as AgentRunRecord;
    return record && typeof record.keeper?.pid === 'number' && typeof record.run?.exitFile === 'string' ? record : undefined;
  } catch {
    return undefined; // none, or cut short by a power loss: nothing to adopt
  }
}

/**
 * At the start of a task's attempt: the agent an interrupted attempt of the task started on this machine, adopted
 * when `adoptable` (the attempt continues where that agent ran: same turn, its checkout still there, an adapter it
 * would run) and the agent is
 * still running or recorded its end; otherwise stopped if still running (with what it left outside its group), so
 * that it never writes beside the agent about to start. Undefined when there is nothing to adopt.
 */
export function settleInterruptedAgent({
  dir,
  taskId,
  turn,
  adoptable,
  adapters,
  log,
  now = Date.now,
}: {
  dir: string;
  taskId: string;
  turn: number;
  adoptable: boolean;
  /** The adapters this attempt would run (configured, fallback): a run of another is not this attempt's to take. */
  adapters: ReadonlyArray<string | undefined>;
  log: (line: string) => void;
  now?: () => number;
}): AgentAdoption | undefined {
  const record = readRecord(dir);
  // Another machine's agent (shared coordinator): its pid means nothing here.
  if (!record || record.host !== readHostId()) return undefined;
  let agent = agentOf(record);
  const agentAlive = agent !== undefined && isSameProcess(agent);
  let agentGoneAt: number | undefined;
  // While the agent runs, or its keeper may still record its start or its end.
  const isAlive = () => {
    agent ??= agentOf(record);
    if (agent !== undefined && isSameProcess(agent)) return true;
    if (!isSameProcess(record.keeper)) return false;
    if (agent === undefined) return now() - Date.parse(record.started_at) < KEEPER_RECORD_GRACE_MS;
    agentGoneAt ??= now();
    return now() - agentGoneAt < KEEPER_RECORD_GRACE_MS;
  };
  const alive = isAlive();
  // An agent whose starter still lives is that process's own run, already seen to its end (e.g. an attempt that
  // waited out a rate limit and runs its agent again): never taken for an interrupted one.
  const orphaned = record.owner === undefined || !isSameProcess(record.owner);
  if (adoptable && orphaned && record.turn === turn && adapters.includes(record.run.adapter) && (alive || existsSync(record.run.exitFile))) {
    return { pid: agent?.pid, keeperPid: record.keeper.pid, run: record.run, isAlive };
  }
  if (agentAlive) {
    stopAgentRun({ pid: agent!.pid, taskId, runId: record.run_id });
    log(`stopped the agent an earlier attempt left running (pid ${agent!.pid}): this attempt starts over`);
  }
  return undefined;
}

/**
 * The recorded agent. Undefined when its starter died before the agent's pid came back and the keeper has no record
 * of its start either (it never started it, or was killed first).
 */
function agentOf(record: AgentRunRecord): ProcessIdentity | undefined {
  // Written while each agent had its own keeper: the keeper's group held the agent.
  if (record.agent === undefined) return record.keeper;
  if (record.agent !== null) return record.agent;
  const started = readKeeperStart(record.run.exitFile);
  return started && { host: record.keeper.host, pid: started.pid, startTime: started.startTime, bootId: record.keeper.bootId };
}

/**
 * Stops a run's agent for a task: its process group, when `pid` is given (callers pass it only after checking
 * it is still the very process), and what it left running outside the group, found by its tag. Returns how many
 * tagged processes were killed.
 */
export function stopAgentRun({ pid, taskId, runId }: { pid?: number; taskId: string; runId: string }): number {
  if (pid !== undefined) killProcessGroup(pid, 'SIGKILL');
  return killTaggedProcesses(agentProcessTag(taskId, runId), { prefix: true }).length;
}
