/**
 * What all adapters share: the VTM_* environment, the binary name, and `RunEvidence`, which collects what a parser
 * saw (files, costs, limits, errors) and applies the rules every CLI has in common when the process ends: the
 * runner's kills (timeout, inactivity, external signal) first, then the adapter's own verdict. A rate or usage limit
 * the CLI mentioned turns any failure into `rate_limited` (the cause, not the symptom), but never overrides a
 * success: CLIs print limit warnings and retry notices on runs that then finish fine.
 */
import { isAbsolute, relative, sep } from 'node:path';
import type { AgentConfig, ModelPrice, PriceTable } from '../config';
import { extractAgentReport, firstLine, outcomeFromReport, type AgentOutcome, type ProcessEnd, type TokenUsage } from '../outcome';
import { isRateLimitText, parseResetTime } from '../rate-limit';
import type { InvocationContext, ParserContext } from './types';

/** The environment every agent gets, so any program can find its task, prompt and result file. */
export function buildVtmEnv(config: AgentConfig, ctx: InvocationContext): Record<string, string> {
  return {
    ...config.env,
    // Last, so that configured env cannot point an agent at another task's files.
    VTM_TASK_ID: ctx.taskId,
    VTM_TASK_FILE: ctx.taskFile,
    VTM_RESULT_FILE: ctx.resultFile,
    VTM_PROMPT_FILE: ctx.promptFile,
    VTM_WORKSPACE_ROOT: ctx.workspaceRoot,
    VTM_RUN_ID: ctx.runId,
    ...(ctx.repairRound ? { VTM_REPAIR_ROUND: String(ctx.repairRound) } : {}),
  };
}

/** The binary to start: `agent.bin`, else the adapter's default name (looked up on PATH by the runner). */
export const getBin = (config: AgentConfig, defaultBin: string): string => config.bin ?? defaultBin;

/** The sentence given instead of the prompt when `promptVia: "file"`. */
export const readPromptFileInstruction = (promptFile: string): string =>
  `Read the file ${promptFile} and follow the instructions in it exactly.`;

/**
 * Default token prices, USD per 1M tokens, for the CLIs that report tokens but no cost (Codex, Gemini): the current
 * models of the tested versions (Codex 0.171: `gpt-5.5`, the first slug of its bundled catalog and the one our docs
 * and tests use; Gemini CLI 0.61: its default `auto-gemini-2.5` routes between `gemini-2.5-pro`, `gemini-2.5-flash`
 * and `gemini-2.5-flash-lite`) and a few older names. Where each price comes
 * from, and when it was read, is in `DEFAULT_PRICE_SOURCES`; override or extend them with `agent.prices` (a
 * `default` entry prices unknown models). Claude and opencode report their own cost.
 */
export const DEFAULT_PRICES: PriceTable = {
  'gpt-5.5': { input: 5, cachedInput: 0.5, output: 30 },
  'gpt-5': { input: 1.25, cachedInput: 0.125, output: 10 },
  'gpt-5-codex': { input: 1.25, cachedInput: 0.125, output: 10 },
  'gpt-5-mini': { input: 0.25, cachedInput: 0.025, output: 2 },
  'o4-mini': { input: 1.1, cachedInput: 0.275, output: 4.4 },
  'gemini-2.5-pro': { input: 1.25, cachedInput: 0.31, output: 10 },
  'gemini-2.5-flash': { input: 0.3, cachedInput: 0.075, output: 2.5 },
  'gemini-2.5-flash-lite': { input: 0.1, cachedInput: 0.025, output: 0.4 },
};

/** When and where each default price was read (docs/agents.md, "Cost and tokens", shows the same table). */
export const DEFAULT_PRICE_SOURCES: Record<string, { asOf: string; source: string }> = {
  'gpt-5.5': {
    asOf: '2026-06',
    source: 'https://www.morphllm.com/openai-api-pricing (copy of developers.openai.com/api/docs/pricing, June 2026; read 2026-12-02)',
  },
  'gpt-5': { asOf: '2025-08', source: 'OpenAI list price at launch; no longer on OpenAI\'s pricing page in 2026 (kept for older configurations)' },
  'gpt-5-codex': { asOf: '2025-09', source: 'OpenAI list price at launch (same as gpt-5); no longer listed in 2026' },
  'gpt-5-mini': { asOf: '2025-08', source: 'OpenAI list price at launch; no longer listed in 2026' },
  'o4-mini': { asOf: '2025-04', source: 'OpenAI list price at launch' },
  'gemini-2.5-pro': {
    asOf: '2026',
    source: 'https://www.morphllm.com/gemini-api-pricing (from ai.google.dev/gemini-api/docs/pricing; read 2026-12-02): input and output for prompts up to 200k tokens; the cached rate is 25% of input as for gemini-2.5-flash, not confirmed',
  },
  'gemini-2.5-flash': {
    asOf: '2026-05',
    source: 'https://www.morphllm.com/gemini-api-pricing (input, output; read 2026-12-02); cache read $0.075 measured in https://jangwook.net/en/blog/en/gemini-25-flash-api-cost-optimization-guide/ (May 2026)',
  },
  'gemini-2.5-flash-lite': {
    asOf: '2026',
    source: 'https://www.morphllm.com/gemini-api-pricing (input, output; read 2026-12-02); the cached rate is 25% of input as for gemini-2.5-flash, not confirmed',
  },
};

/**
 * Cost of a run from its tokens, or undefined when the model has no price. `input` counts every prompt token, cache
 * reads included (see `TokenUsage`); cache reads are billed at `cachedInput`, the rest at `input`. Pure.
 */
export function computeCostUsd(
  tokens: TokenUsage | undefined,
  model: string | undefined,
  prices: PriceTable | undefined,
): number | undefined {
  if (!tokens) return undefined;
  const table = { ...DEFAULT_PRICES, ...prices };
  const price: ModelPrice | undefined = (model !== undefined ? table[model] : undefined) ?? table.default;
  if (!price) return undefined;
  const cached = Math.min(tokens.cacheRead ?? 0, tokens.input);
  const usd =
    ((tokens.input - cached) * price.input + cached * (price.cachedInput ?? price.input) + tokens.output * price.output) /
    1_000_000;
  return Math.round(usd * 1e6) / 1e6;
}

/** What an HTTP status from the model API means for the run. */
export type HttpStatusKind = 'rate_limit' | 'auth' | 'transient' | 'permanent';

/**
 * The meaning of an API status a CLI passed on (Claude's `api_error_status`, opencode's `statusCode`, Gemini's exit
 * code): 429 a limit (pause, not retry); 401/403 credentials (retrying cannot help); 408/409/5xx/529 worth a retry;
 * other 4xx a request the API will refuse again (bad model name, prompt too large). Undefined for non-errors. Pure.
 */
export function getHttpStatusKind(status: number | undefined): HttpStatusKind | undefined {
  if (status === undefined || status < 400 || status > 599) return undefined;
  if (status === 429) return 'rate_limit';
  if (status === 401 || status === 403) return 'auth';
  if (status >= 500 || status === 408 || status === 409) return 'transient';
  return 'permanent';
}

/** Workspace-relative POSIX path for a path from a tool event; paths outside `cwd` stay absolute (visibly out of scope). */
export function toWorkspacePath(p: string, cwd: string): string {
  if (!isAbsolute(p)) return p.replace(/^\.\//, '').split(sep).join('/');
  const rel = relative(cwd, p);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return p;
  return rel.split(sep).join('/');
}

/** Parse one output line as a JSON object, or undefined (CLIs mix banners and warnings into their JSON streams). */
export function parseJsonLine(line: string): Record<string, unknown> | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export const asRecord = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
export const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
export const asNumber = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

const STDERR_KEEP = 20;

type Verdict = Pick<AgentOutcome, 'status' | 'reason' | 'transient'> & Partial<AgentOutcome>;

/** What a parser has seen so far, and the shared end-of-run rules. */
export class RunEvidence {
  readonly files = new Set<string>();
  costUsd?: number;
  tokens?: TokenUsage;
  sessionId?: string;
  private rateLimit?: { text: string; resetAt?: Date };
  private readonly stderrLines: string[] = [];

  constructor(
    private readonly ctx: ParserContext,
    /** The CLI's name, for reasons ("claude exited 1: ..."). */
    readonly agent: string,
  ) {}

  /** Called for a file path from an edit/write tool event. */
  noteFile(path: string | undefined): void {
    if (path) this.files.add(toWorkspacePath(path, this.ctx.cwd));
  }

  /** Called for every stderr line: kept for reasons, and checked for limit messages. */
  noteStderr(line: string): void {
    if (line.trim() === '') return;
    this.stderrLines.push(line);
    if (this.stderrLines.length > STDERR_KEEP) this.stderrLines.shift();
    this.noteErrorText(line);
  }

  /** Called with the text of a structured error event; records a rate limit when the text is one. */
  noteErrorText(text: string | undefined): boolean {
    if (!text || !isRateLimitText(text)) return false;
    this.noteRateLimit(text);
    return true;
  }

  /** Called when the CLI reported a rate or usage limit, with the reset time when it gave one. */
  noteRateLimit(text: string, resetAt?: Date): void {
    const now = this.ctx.clock?.() ?? this.ctx.now;
    const parsed = resetAt ?? parseResetTime(text, { now, utcOffsetMinutes: this.ctx.utcOffsetMinutes });
    // Keep the first message, but learn a reset time from a later one.
    if (!this.rateLimit) this.rateLimit = { text, resetAt: parsed };
    else if (!this.rateLimit.resetAt && parsed) this.rateLimit.resetAt = parsed;
  }

  get hasRateLimit(): boolean {
    return this.rateLimit !== undefined;
  }

  /** The last non-empty stderr line, for reasons. */
  get lastStderr(): string | undefined {
    return this.stderrLines[this.stderrLines.length - 1];
  }

  /**
   * The outcome when the runner killed the process (timeout, inactivity) or a signal from outside did; a limit the
   * CLI mentioned before takes precedence, as the likely cause of the hang. Undefined when the adapter must decide.
   */
  killedVerdict(end: ProcessEnd): Verdict | undefined {
    const killed = end.timedOut || end.stalled || (end.exitCode === null && !!end.signal);
    if (killed && this.rateLimit) return this.rateLimitedVerdict(this.rateLimit.text, this.rateLimit.resetAt);
    if (end.timedOut) {
      return {
        status: 'timed_out',
        reason: `${this.agent} ran longer than ${formatMs(this.ctx.timeoutMs)} and was killed; raise agent.timeoutMs or split the task`,
        transient: false,
      };
    }
    if (end.stalled) {
      return {
        status: 'stalled',
        reason: `${this.agent} printed nothing for ${formatMs(this.ctx.idleTimeoutMs)} and was killed (hung?); it will be retried, or raise agent.idleTimeoutMs`,
        transient: true,
      };
    }
    if (end.exitCode === null && end.signal) {
      return {
        status: 'failed',
        reason: `${this.agent} was killed by ${end.signal} from outside (out of memory, or stopped by the user)`,
        transient: false,
      };
    }
    return undefined;
  }

  /** A failure verdict; a limit the CLI mentioned turns it into `rate_limited`. */
  failed(reason: string, transient: boolean): Verdict {
    if (this.rateLimit) return this.rateLimitedVerdict(this.rateLimit.text, this.rateLimit.resetAt);
    return { status: 'failed', reason, transient };
  }

  /** "exited 1: <last stderr line>" for reasons. */
  describeExit(end: ProcessEnd): string {
    const code = end.exitCode === null ? `was killed by ${end.signal ?? 'a signal'}` : `exited ${end.exitCode}`;
    const last = this.lastStderr;
    return last ? `${this.agent} ${code}: ${firstLine(last)}` : `${this.agent} ${code}`;
  }

  /** The final outcome: the verdict plus everything observed. */
  /**
   * The outcome of a run that ended normally: the agent's return JSON (in its final message, else in the result file)
   * decides the status unless `verdict` overrides it; the report is kept either way.
   */
  buildFromReport({ text, end, agent, verdict }: { text: string | undefined; end: ProcessEnd; agent: string; verdict?: Verdict }): AgentOutcome {
    const report = extractAgentReport(text) ?? extractAgentReport(end.resultFileContent);
    const outcome = this.build(verdict ?? outcomeFromReport(report, agent), end);
    if (report) outcome.reported = report;
    return outcome;
  }

  build(verdict: Verdict, end: ProcessEnd): AgentOutcome {
    const outcome: AgentOutcome = {
      ...verdict,
      durationMs: end.durationMs ?? 0,
      exitCode: end.exitCode,
    };
    if (this.costUsd !== undefined && outcome.costUsd === undefined) outcome.costUsd = this.costUsd;
    if (this.tokens && !outcome.tokens) outcome.tokens = this.tokens;
    if (this.sessionId && !outcome.sessionId) outcome.sessionId = this.sessionId;
    if (this.files.size) outcome.filesTouched = [...this.files].sort();
    return outcome;
  }

  private rateLimitedVerdict(text: string, resetAt: Date | undefined): Verdict {
    const when = resetAt ? `until ${resetAt.toISOString()}` : 'for a while (no reset time given)';
    const verdict: Verdict = {
      status: 'rate_limited',
      reason: `${this.agent} hit a usage or rate limit (${firstLine(text, 120)}); new tasks pause ${when}`,
      transient: true,
    };
    if (resetAt) verdict.resetAt = resetAt.toISOString();
    return verdict;
  }
}

function formatMs(ms: number | undefined): string {
  if (ms === undefined) return 'its time limit';
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms >= 1000) return `${Math.round(ms / 100) / 10} s`;
  return `${ms} ms`;
}
