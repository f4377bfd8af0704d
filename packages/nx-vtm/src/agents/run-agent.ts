/**
 * Run one task's agent to an `AgentOutcome`: write the prompt and the task into the result folder, start the CLI
 * through the process runner (timeout + inactivity watchdog, transcript on disk), parse its output, retry transient
 * failures with exponential backoff, and fall back to another agent when the configured binary is missing.
 *
 * A rate limit is returned, not retried: the scheduler pauses new dispatches until `resetAt` (see `RateLimitGate`),
 * which a per-task retry loop could not do for the other tasks.
 *
 * Files in `resultDir`: prompt.md, task.json, transcript.jsonl (JSON-stream CLIs; their stderr in stderr.log) or
 * transcript.log (command), later attempts as transcript.attempt-2.jsonl..., result.json (VTM_RESULT_FILE, when the
 * agent writes it) and outcome.json.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Task } from '../manifest/schema';
import { PROCESS_ADAPTERS } from './adapters';
import { defaultReplayPorts, runReplay, type ReplayPorts } from './adapters/replay';
import type { InvocationContext } from './adapters/types';
import type { AgentConfig } from './config';
import type { AgentOutcome } from './outcome';
import { adoptProcess, runProcess, type AdoptProcessOptions, type ProcessResult, type RunProcessOptions } from './process-runner';
import type { DependencyHandoff } from './handoff';
import { buildPrompt } from './prompt';
import { buildRepairPrompt, type RepairEvidence } from './repair-prompt';

/** A repair turn: the agent continues its own work with the evidence of why it was not accepted. */
export interface RepairTurnInput {
  /** 2 for the first repair turn. */
  turn: number;
  /** 1 + repairTurns. */
  maxTurns: number;
  evidence: RepairEvidence;
  /** The previous turn's session, resumed when the CLI can (`claude --resume`, `codex exec resume`, ...). */
  resumeSessionId?: string;
  /** The adapter that ran the previous turn: a session is only resumed by the same CLI. */
  previousAdapter?: string;
}

export interface RunAgentInput {
  task: Task;
  /** The resolved settings (see `resolveAgentConfig`). */
  config: AgentConfig;
  /** Settings to run instead when `config`'s binary is not installed. */
  fallback?: AgentConfig;
  /** The agent's working directory (the task's worktree). */
  cwd: string;
  runId: string;
  /** Folder for prompt, task, transcript, result and outcome files; created if missing. */
  resultDir: string;
  /** Exported as VTM_WORKSPACE_ROOT and used to resolve a relative `replayDir`; defaults to `cwd`. */
  workspaceRoot?: string;
  /** Anchors reset times in limit messages; by default each message is anchored at the moment it arrives. */
  now?: Date;
  /** Aborting stops the agent (kills its process group) and any backoff wait. */
  signal?: AbortSignal;
  /**
   * Called with the pid (= process group id) of each started agent, what a later process needs to adopt it (`adopt`)
   * and the pid of the keeper that records its end, e.g. to record them for a run that outlives this process.
   */
  onSpawn?: (pid: number, run: AgentProcessRun, keeperPid?: number) => void;
  /** Called just before the keeper is asked to start an agent (see `RunProcessOptions.onKeeperStart`). */
  onKeeperStart?: (run: AgentProcessRun, keeperPid: number) => void;
  /**
   * An agent a dead process started (under the keeper) and that is still running or has ended since: its end and
   * transcript are taken as this run's first attempt instead of running the agent again. Ignored for another adapter.
   */
  adopt?: AgentAdoption;
  /** The process tag prefix of the agent's processes (see process-runner.ts `agentProcessTag`). */
  processTag?: string;
  /** Called for every output line of the agent, e.g. to show progress. */
  onOutputLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Set for a repair turn (see `RepairTurnInput`). */
  repair?: RepairTurnInput;
  /** What the task's finished dependencies did, for the prompt (trimmed to `config.handoffBudgetChars`). */
  handoffs?: readonly DependencyHandoff[];
}

/** What a later process needs to adopt an agent's run (see `adoptProcess`): written down by the caller at spawn. */
export interface AgentProcessRun {
  adapter: string;
  /** The retry attempt it is (1 for the first). */
  attempt: number;
  exitFile: string;
  transcriptFile: string;
  stderrFile?: string;
}

export interface AgentAdoption {
  /** The agent's pid (= its process group id); undefined until its keeper's record of the start names it. */
  pid: number | undefined;
  /** The keeper that records its end. */
  keeperPid: number;
  run: AgentProcessRun;
  /** Whether the agent, or the keeper that records its end, still runs (the very processes, not reused pids). */
  isAlive: () => boolean;
}

/** The world as `runAgent` sees it. */
export interface RunAgentDeps {
  /** Called once per attempt to run the agent process. */
  runProcess(options: RunProcessOptions): Promise<ProcessResult>;
  /** Called instead of `runProcess` for an attempt a dead process started (`RunAgentInput.adopt`). */
  adoptProcess(options: AdoptProcessOptions): Promise<ProcessResult | undefined>;
  /** Called once per run to create the result folder. */
  ensureDir(path: string): Promise<void>;
  /** Called to write prompt.md, task.json and outcome.json. */
  writeFile(path: string, content: string): Promise<void>;
  /** Called after each attempt to read the result file; resolves undefined when it does not exist. */
  readFile(path: string): Promise<string | undefined>;
  /** Called before each attempt to remove a result file left by an earlier attempt. */
  removeFile(path: string): Promise<void>;
  /** Called to wait between retries; rejects when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Called for the current time when the input gives none. */
  now(): Date;
  /** Called for backoff jitter, in [0, 1). */
  random(): number;
  /** The environment agents inherit (PATH, HOME, API keys); the adapter's variables are added to it. */
  baseEnv: NodeJS.ProcessEnv;
  /** Ports of the replay adapter. */
  replay: ReplayPorts;
}

export const defaultRunAgentDeps: RunAgentDeps = {
  runProcess,
  adoptProcess,
  ensureDir: async (path) => void (await mkdir(path, { recursive: true })),
  writeFile: (path, content) => writeFile(path, content, 'utf8'),
  readFile: async (path) => {
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  },
  removeFile: (path) => rm(path, { force: true }),
  sleep: defaultReplayPorts.sleep,
  now: () => new Date(),
  random: Math.random,
  baseEnv: process.env,
  replay: defaultReplayPorts,
};

/** File names inside the result folder. */
export const RESULT_FILES = {
  prompt: 'prompt.md',
  task: 'task.json',
  result: 'result.json',
  outcome: 'outcome.json',
} as const;

/** Run a task's agent (with retries and fallback) and return its outcome. Expected failures are outcomes. */
export async function runAgent(input: RunAgentInput, deps: RunAgentDeps = defaultRunAgentDeps): Promise<AgentOutcome> {
  const { task, resultDir } = input;
  await deps.ensureDir(resultDir);
  await deps.writeFile(join(resultDir, RESULT_FILES.task), `${JSON.stringify(task, null, 2)}\n`);

  let outcome: AgentOutcome;
  if (input.adopt && input.fallback && input.adopt.run.adapter === input.fallback.adapter && input.adopt.run.adapter !== input.config.adapter) {
    // The adopted run was the fallback's already (the configured agent was unavailable when it started).
    outcome = await runWithRetries(input, input.fallback, deps);
    outcome.fallbackUsed = true;
    outcome.reason = `${outcome.reason} (fallback ${input.fallback.adapter})`;
  } else {
    outcome = await runWithRetries(input, input.config, deps);
    if (outcome.unavailable && input.fallback) {
      const first = outcome;
      outcome = await runWithRetries({ ...input, adopt: undefined }, input.fallback, deps);
      outcome.fallbackUsed = true;
      outcome.reason = `${outcome.reason} (fallback ${input.fallback.adapter}; ${first.reason})`;
    }
  }
  outcome.reason = `task ${task.task_id}: ${outcome.reason}`;
  await deps.writeFile(join(resultDir, RESULT_FILES.outcome), `${JSON.stringify(outcome, null, 2)}\n`);
  return outcome;
}

/** Attempts of one agent config: retried while the outcome is transient, up to `config.retries` times. */
async function runWithRetries(input: RunAgentInput, config: AgentConfig, deps: RunAgentDeps): Promise<AgentOutcome> {
  const resumeSessionId = getResumableSession(input.repair, config);
  const taskPrompt = () =>
    buildPrompt({
      task: input.task,
      runId: input.runId,
      // Only a command agent is asked for the result file: CLI agents would need write access outside their sandbox.
      resultFile: config.adapter === 'command' ? join(input.resultDir, RESULT_FILES.result) : undefined,
      handoffs: input.handoffs,
      handoffBudgetChars: config.handoffBudgetChars,
    });
  const repairPrompt = input.repair
    ? buildRepairPrompt({ task: input.task, turn: input.repair.turn, maxTurns: input.repair.maxTurns, evidence: input.repair.evidence, resumed: !!resumeSessionId })
    : undefined;
  // A resumed session still holds the task: it gets only the repair message. A fresh run gets the task, then it.
  const prompt = repairPrompt === undefined ? taskPrompt() : resumeSessionId ? repairPrompt : `${taskPrompt()}\n---\n\n${repairPrompt}`;
  await deps.writeFile(join(input.resultDir, RESULT_FILES.prompt), prompt);

  let costUsd: number | undefined;
  // An adopted run continues the count from the attempt it was.
  const adopt = input.adopt && input.adopt.run.adapter === config.adapter ? input.adopt : undefined;
  for (let attempt = adopt?.run.attempt ?? 1; ; attempt++) {
    const outcome = await attemptOnce({ input, config, prompt, attempt, resumeSessionId, adopt: attempt === adopt?.run.attempt ? adopt : undefined }, deps);
    if (outcome.costUsd !== undefined) costUsd = (costUsd ?? 0) + outcome.costUsd;
    // Money spent by failed attempts is still spent: report the total.
    if (costUsd !== undefined) outcome.costUsd = Math.round(costUsd * 1e6) / 1e6;
    outcome.attempts = attempt;
    outcome.adapter = config.adapter;
    if (!shouldRetry(outcome, attempt, config.retries) || input.signal?.aborted) return outcome;
    try {
      await deps.sleep(computeBackoffMs({ attempt, baseMs: config.backoffMs, random: deps.random() }), input.signal);
    } catch {
      return outcome; // aborted while waiting
    }
  }
}

/**
 * The session a repair turn resumes: the previous turn's, when the same CLI ran it and can resume (every process
 * adapter but `command`, which gets VTM_REPAIR_ROUND instead). A session id is CLI output, so it must look like one
 * (it becomes one argv element; one starting with "-" would read as a flag). Pure.
 */
export function getResumableSession(repair: RepairTurnInput | undefined, config: AgentConfig): string | undefined {
  const id = repair?.resumeSessionId;
  if (!id || config.adapter === 'command' || config.adapter === 'replay') return undefined;
  if (repair.previousAdapter !== config.adapter) return undefined;
  return /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/.test(id) ? id : undefined;
}

/** Whether an outcome is worth another attempt of the same agent. Pure. */
export function shouldRetry(outcome: AgentOutcome, attempt: number, retries: number): boolean {
  return outcome.transient && outcome.status !== 'rate_limited' && !outcome.unavailable && attempt <= retries;
}

/**
 * Wait before retry number `attempt` (1-based): `baseMs * 2^(attempt-1)`, capped, with "equal jitter" (half fixed,
 * half random) so that tasks failing together on one API outage do not retry in lockstep. Pure.
 */
export function computeBackoffMs({
  attempt,
  baseMs,
  random,
  maxMs = 10 * 60_000,
}: {
  attempt: number;
  baseMs: number;
  /** A number in [0, 1). */
  random: number;
  maxMs?: number;
}): number {
  const full = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(full / 2 + (full / 2) * Math.min(Math.max(random, 0), 1));
}

async function attemptOnce(
  {
    input,
    config,
    prompt,
    attempt,
    resumeSessionId,
    adopt,
  }: { input: RunAgentInput; config: AgentConfig; prompt: string; attempt: number; resumeSessionId?: string; adopt?: AgentAdoption },
  deps: RunAgentDeps,
): Promise<AgentOutcome> {
  const { task, cwd, resultDir } = input;
  const workspaceRoot = input.workspaceRoot ?? cwd;
  if (config.adapter === 'replay') {
    return runReplay({ taskId: task.task_id, config, cwd, workspaceRoot, signal: input.signal }, deps.replay);
  }

  const adapter = PROCESS_ADAPTERS[config.adapter];
  const resultFile = join(resultDir, RESULT_FILES.result);
  // An adopted run may have written it.
  if (!adopt) await deps.removeFile(resultFile);
  const ctx: InvocationContext = {
    taskId: task.task_id,
    runId: input.runId,
    cwd,
    workspaceRoot,
    prompt,
    promptFile: join(resultDir, RESULT_FILES.prompt),
    taskFile: join(resultDir, RESULT_FILES.task),
    resultFile,
    resultDir,
    ...(resumeSessionId ? { resumeSessionId } : {}),
    ...(input.repair ? { repairRound: input.repair.turn - 1 } : {}),
  };
  const invocation = adapter.buildInvocation(config, ctx);
  const parser = adapter.createParser({
    now: input.now ?? deps.now(),
    // A fixed `input.now` (tests, replays) anchors everything; otherwise a limit message is anchored when it arrives.
    clock: input.now ? undefined : () => deps.now(),
    cwd,
    model: config.model,
    prices: config.prices,
    timeoutMs: config.timeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
  });
  const suffix = attempt === 1 ? '' : `.attempt-${attempt}`;
  const jsonl = adapter.transcriptFormat === 'jsonl';
  const run: AgentProcessRun = {
    adapter: config.adapter,
    attempt,
    exitFile: join(resultDir, `agent-exit${suffix}.json`),
    transcriptFile: join(resultDir, `transcript${suffix}.${jsonl ? 'jsonl' : 'log'}`),
    ...(jsonl ? { stderrFile: join(resultDir, `stderr${suffix}.log`) } : {}),
  };
  const lines = {
    onStdoutLine: (line: string) => {
      parser.push(line, 'stdout');
      input.onOutputLine?.(line, 'stdout');
    },
    onStderrLine: (line: string) => {
      parser.push(line, 'stderr');
      input.onOutputLine?.(line, 'stderr');
    },
  };

  const adopted = adopt
    ? await deps.adoptProcess({ pid: adopt.pid, isAlive: adopt.isAlive, exitFile: adopt.run.exitFile, transcriptFile: adopt.run.transcriptFile, stderrFile: adopt.run.stderrFile, signal: input.signal, ...lines })
    : undefined;
  // Nothing to adopt (its keeper was killed before recording the end): the attempt is run again, from a clean transcript.
  if (adopt && !adopted) {
    for (const file of [adopt.run.transcriptFile, adopt.run.stderrFile, run.transcriptFile, run.stderrFile, resultFile]) if (file) await deps.removeFile(file);
  }
  const r =
    adopted ??
    (await deps.runProcess({
      argv: invocation.argv,
      cwd,
      env: { ...deps.baseEnv, ...invocation.env },
      stdin: invocation.stdin,
      timeoutMs: config.timeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      transcriptFile: run.transcriptFile,
      stderrFile: run.stderrFile,
      signal: input.signal,
      onSpawn: (pid, keeperPid) => input.onSpawn?.(pid, run, keeperPid),
      onKeeperStart: (keeperPid) => input.onKeeperStart?.(run, keeperPid),
      tagPrefix: input.processTag,
      keeper: { exitFile: run.exitFile },
      ...lines,
    }));

  const bin = invocation.argv[0];
  if (r.spawnError) {
    const base = { durationMs: r.durationMs, exitCode: null };
    if (r.spawnError.code === 'ENOENT' || r.spawnError.code === 'EACCES') {
      const what = r.spawnError.code === 'ENOENT' ? (bin.includes('/') ? 'not found' : 'not found on PATH') : 'not executable';
      return {
        ...base,
        status: 'failed',
        reason: `agent binary '${bin}' ${what}; install it, set agent.bin, or configure agent.fallback`,
        transient: false,
        unavailable: true,
      };
    }
    return { ...base, status: 'failed', reason: `could not start '${bin}': ${r.spawnError.message}`, transient: false };
  }

  if (r.keeperLost && !r.aborted) {
    // Nothing recorded how it would have ended: its output so far is no verdict. Like a crash of the machine's side,
    // not the agent's doing: retried.
    return { durationMs: r.durationMs, exitCode: null, status: 'failed', reason: `${bin} was stopped: ${r.keeperLost} while it ran`, transient: true };
  }

  const outcome = parser.finish({
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    stalled: r.stalled,
    durationMs: r.durationMs,
    resultFileContent: await deps.readFile(resultFile),
  });
  if (r.escapedKilled) outcome.escapedKilled = r.escapedKilled;
  if (adopted) outcome.adopted = true;
  if (r.aborted) {
    // Stopped on purpose (the caller aborted, or this process is shutting down): not the agent's failure, no retry.
    return { ...outcome, status: 'failed', reason: `${bin} was stopped before it finished (the run is stopping)`, transient: false };
  }
  return outcome;
}
