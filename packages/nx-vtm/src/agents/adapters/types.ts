/**
 * The contract every CLI adapter fulfils: a pure argv builder and a pure streaming parser. `run-agent.ts` does the
 * I/O (files, the process runner); an adapter only knows its CLI's flags and output format.
 */
import type { AdapterName, AgentConfig, PriceTable } from '../config';
import type { AgentOutcome, ProcessEnd } from '../outcome';

/** Everything an adapter may put into an invocation. Paths are absolute. */
export interface InvocationContext {
  taskId: string;
  runId: string;
  /** Working directory of the agent (the task's worktree or the workspace). */
  cwd: string;
  /** Exported as VTM_WORKSPACE_ROOT. */
  workspaceRoot: string;
  /** The prompt text (also written to `promptFile`). */
  prompt: string;
  /** Where the prompt is written before the run (prompt.md in the result folder). */
  promptFile: string;
  /** JSON file with the task's manifest entry (VTM_TASK_FILE). */
  taskFile: string;
  /** Where the agent may write its return JSON (VTM_RESULT_FILE). */
  resultFile: string;
  /** The folder holding the files above. */
  resultDir: string;
  /** A repair turn resumes this session of the same CLI (its own flag: --resume, exec resume, --session). */
  resumeSessionId?: string;
  /** A repair turn's number (1 for the first repair), exported as VTM_REPAIR_ROUND. */
  repairRound?: number;
}

/** How to start the agent: argv (never a shell string), optional stdin, extra environment. */
export interface Invocation {
  argv: string[];
  stdin?: string;
  /** Variables added to the base environment of the run. */
  env: Record<string, string>;
  /** Set when the agent is told to read the prompt from this file instead of stdin. */
  promptFile?: string;
}

/** What a parser needs besides the output lines. */
export interface ParserContext {
  /** "Now" at the start of the run: anchors reset times when `clock` is not given. */
  now: Date;
  /**
   * The current time, asked when a limit message arrives (and at `finish`): relative reset times ("retry in 2.5s",
   * "resets 1pm") are anchored there, not at the start of the run — after minutes of the CLI's own retries a pause
   * anchored at the start would already be over.
   */
  clock?: () => Date;
  /** Working directory of the agent, to make the absolute paths in tool events workspace-relative. */
  cwd: string;
  model?: string;
  prices?: PriceTable;
  /** For reasons: the limits the process runner enforced. */
  timeoutMs?: number;
  idleTimeoutMs?: number;
  /** Local time zone offset for clock times without a zone (see `parseResetTime`). */
  utcOffsetMinutes?: number;
}

/** Reads an agent's output line by line and decides the outcome when the process has ended. */
export interface AgentStreamParser {
  /** Called for every output line, in order of arrival per stream. */
  push(line: string, stream?: 'stdout' | 'stderr'): void;
  /** Called once, after the process (group) has ended. */
  finish(end: ProcessEnd): AgentOutcome;
  /**
   * The agent's final message as its CLI reported it (Claude's result text, Codex's last agent message, ...), or
   * undefined when it gave none. Planning reads the plan from it; the `command` adapter has none (its answer is its
   * stdout or result file).
   */
  finalText?(): string | undefined;
}

/** An adapter for a CLI that runs as a process. */
export interface ProcessAdapter {
  name: Exclude<AdapterName, 'replay'>;
  /** Binary looked up on PATH when `agent.bin` is not set. */
  defaultBin: string;
  /** The CLI version whose flags and output format the adapter was written against (flags drift between versions). */
  writtenFor: string;
  /** `jsonl` when stdout is one JSON object per line (stderr then goes to its own file). */
  transcriptFormat: 'jsonl' | 'log';
  buildInvocation(config: AgentConfig, ctx: InvocationContext): Invocation;
  createParser(ctx: ParserContext): AgentStreamParser;
}
