/**
 * The one shape every agent run is reduced to, whatever CLI produced it.
 *
 * Each CLI reports success and failure differently (Claude's `is_error` with exit 0, Codex's `turn.failed` with
 * exit 0, Gemini's exit codes...). The adapters' parsers translate all of that into an `AgentOutcome`, so the
 * scheduler and the state store reason about one closed set of statuses. The agent's own return JSON (`reported`)
 * and the files it touched (`filesTouched`) are evidence only: the diff against the declared scope and the task's
 * verification tests decide whether the task is done.
 */
import { z } from 'zod';

/** Every way an agent run can end. */
export const AGENT_OUTCOME_STATUSES = [
  'completed',
  'partial',
  'blocked',
  'failed',
  'timed_out',
  'stalled',
  'rate_limited',
  'budget_exceeded',
  'permission_denied',
] as const;

export type AgentOutcomeStatus = (typeof AGENT_OUTCOME_STATUSES)[number];

/**
 * Token counts of a run, summed over its turns, with ONE meaning whatever the CLI (each adapter converts):
 * - `input`: every prompt token the model processed, INCLUDING cache reads and cache writes. Codex and Gemini report
 *   it that way; Claude and opencode report uncached input only, so their adapters add the cache counts.
 * - `cacheRead`: the part of `input` read from the prompt cache (billed cheaper); `cacheWrite`: the part of `input`
 *   written to it (Claude, opencode).
 * - `output`: generated tokens, reasoning ("thinking") tokens included.
 */
export interface TokenUsage {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/** The agent's own return JSON, in the seed-000 format the prompt asks for. Claims, not facts. */
export interface AgentReport {
  task_id?: string;
  status: string;
  acs_completed: string[];
  acs_remaining: string[];
  files_modified: string[];
  test_results?: { total: number; passing: number; failing: number };
  blockers: string[];
  duration_minutes?: number;
  /** The agent's one-paragraph account of what it did (optional; handed to the tasks that depend on this one). */
  summary?: string;
  /** What tasks building on this work should know (optional; handed to them, see `handoff.ts`). */
  notes?: string[];
}

/** A normalised agent run. */
export interface AgentOutcome {
  status: AgentOutcomeStatus;
  /** One line saying what was seen and what to do, e.g. "claude exited 0 but reported is_error: ... ; retry later". */
  reason: string;
  /** Whether running the same agent again may succeed (API errors, stalls); false for bad config, budget, denials. */
  transient: boolean;
  /** When a rate or usage limit lifts (ISO 8601), when the CLI said so. Only for `rate_limited`. */
  resetAt?: string;
  costUsd?: number;
  tokens?: TokenUsage;
  /** The CLI's session or thread id, for `--resume` and for finding its own logs. */
  sessionId?: string;
  durationMs: number;
  /** Exit code of the agent process; null when it was killed by a signal or never started. */
  exitCode: number | null;
  /** The agent's return JSON, when it gave one. */
  reported?: AgentReport;
  /** Workspace-relative paths the agent's tool events said it edited (early evidence; the diff is the truth). */
  filesTouched?: string[];
  /** The agent binary could not be started (missing or not executable): routing may fall back to another agent. */
  unavailable?: boolean;
  /** How many times the agent was started for this outcome (retries of transient failures included). */
  attempts?: number;
  /** The adapter that produced this outcome (after a fallback, the fallback's adapter). */
  adapter?: string;
  /** Set when the configured agent was unavailable and `fallback` ran instead. */
  fallbackUsed?: boolean;
  /** Processes the agent left running outside its process group, killed when it ended (process-runner.ts). */
  escapedKilled?: number;
  /** The run was started by a process that died, and taken over from its keeper's records (not run again). */
  adopted?: boolean;
}

/** How the agent process ended, as the process runner saw it. Input of every parser's `finish`. */
export interface ProcessEnd {
  exitCode: number | null;
  signal?: string | null;
  /** Killed because the overall timeout passed. */
  timedOut: boolean;
  /** Killed because it printed nothing for the inactivity limit. */
  stalled: boolean;
  durationMs?: number;
  /** Contents of `VTM_RESULT_FILE` after the run, when the agent wrote it. */
  resultFileContent?: string;
}

/** Caps on the free text kept from a report: a runaway agent must not bloat outcome.json or later prompts. */
const MAX_SUMMARY_CHARS = 2000;
const MAX_NOTES_CHARS = 8000;
const capText = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

const countOrZero = z.number().int().nonnegative().catch(0);
const stringList = z
  .array(z.unknown())
  .catch([])
  .transform((xs) => xs.filter((x): x is string => typeof x === 'string'));

/** Optional free text of a report: trimmed, capped, empty treated as absent. */
const summarySchema = z
  .string()
  .optional()
  .catch(undefined)
  .transform((x) => (x && x.trim() ? capText(x.trim(), MAX_SUMMARY_CHARS) : undefined));

/** A string or a list of strings (agents write both); other entries are dropped; the total is capped. */
const notesSchema = z
  .union([z.string(), z.array(z.unknown())])
  .optional()
  .catch(undefined)
  .transform((x) => {
    const list = (typeof x === 'string' ? [x] : (x ?? []))
      .filter((n): n is string => typeof n === 'string' && n.trim() !== '')
      .map((n) => n.trim());
    const kept: string[] = [];
    let left = MAX_NOTES_CHARS;
    for (const n of list) {
      if (left <= 0) break;
      kept.push(capText(n, left));
      left -= n.length;
    }
    return kept;
  });

/** Lenient on purpose: an agent that gets one field wrong still gave useful evidence in the others. */
const reportSchema = z.looseObject({
  task_id: z.string().optional().catch(undefined),
  status: z.string().min(1),
  acs_completed: stringList.default([]),
  acs_remaining: stringList.default([]),
  files_modified: stringList.default([]),
  test_results: z
    .object({ total: countOrZero, passing: countOrZero, failing: countOrZero })
    .optional()
    .catch(undefined),
  blockers: z
    .array(z.unknown())
    .catch([])
    .default([])
    // Agents write blockers as strings or as objects ({ issue, recommendation }); keep both readable as one line.
    .transform((xs) => xs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)))),
  duration_minutes: z.number().nonnegative().optional().catch(undefined),
  summary: summarySchema,
  notes: notesSchema,
});

/** Read a return JSON value into an `AgentReport`, or undefined when it is not one (no `status`). Pure. */
export function parseAgentReport(value: unknown): AgentReport | undefined {
  const r = reportSchema.safeParse(value);
  if (!r.success) return undefined;
  const { task_id, status, acs_completed, acs_remaining, files_modified, test_results, blockers, duration_minutes, summary, notes } = r.data;
  const report: AgentReport = { status, acs_completed, acs_remaining, files_modified, blockers };
  if (task_id !== undefined) report.task_id = task_id;
  if (test_results !== undefined) report.test_results = test_results;
  if (duration_minutes !== undefined) report.duration_minutes = duration_minutes;
  if (summary !== undefined) report.summary = summary;
  if (notes.length > 0) report.notes = notes;
  return report;
}

/**
 * The `summary` and `notes` of any JSON value (a report, or a result file without a valid `status`), normalised as in
 * `parseAgentReport`. Pure.
 */
export function parseReportNotes(value: unknown): { summary?: string; notes: string[] } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { notes: [] };
  const v = value as Record<string, unknown>;
  const summary = summarySchema.parse(v.summary);
  const notes = notesSchema.parse(v.notes);
  return summary === undefined ? { notes } : { summary, notes };
}

// Final messages are bounded in practice; the cap keeps a pathological transcript from costing quadratic time.
const MAX_SCAN_CHARS = 256 * 1024;

/**
 * The last JSON object in a piece of text: the whole text, else the last ```json fenced block, else the last
 * balanced `{...}` that parses. Agents are told to return ONLY the JSON, but often wrap it in a fence or a sentence.
 * Pure.
 */
export function findLastJsonObject(text: string): Record<string, unknown> | undefined {
  const t = text.length > MAX_SCAN_CHARS ? text.slice(-MAX_SCAN_CHARS) : text;
  const whole = tryParseObject(t.trim());
  if (whole) return whole;
  const fences = [...t.matchAll(/```(?:json)?\s*\n([\s\S]*?)```/g)];
  for (let i = fences.length - 1; i >= 0; i--) {
    const parsed = tryParseObject(fences[i][1].trim());
    if (parsed) return parsed;
  }
  // Left to right over top-level objects: an inner object such as "test_results": {...} is skipped with its parent.
  let last: Record<string, unknown> | undefined;
  let i = t.indexOf('{');
  while (i >= 0) {
    const end = findObjectEnd(t, i);
    const parsed = end === undefined ? undefined : tryParseObject(t.slice(i, end + 1));
    if (parsed && end !== undefined) {
      last = parsed;
      i = t.indexOf('{', end + 1);
    } else {
      i = t.indexOf('{', i + 1);
    }
  }
  return last;
}

/** The agent's report found in free text (see `findLastJsonObject`), or undefined. Pure. */
export function extractAgentReport(text: string | undefined): AgentReport | undefined {
  if (!text) return undefined;
  const obj = findLastJsonObject(text);
  return obj ? parseAgentReport(obj) : undefined;
}

function tryParseObject(s: string): Record<string, unknown> | undefined {
  if (!s.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(s);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Index of the `}` closing the object that starts at `start`, honouring strings and escapes. */
function findObjectEnd(s: string, start: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return undefined;
}

/**
 * The outcome of a run whose process ended normally, decided by the agent's report: `completed`, `partial` and
 * `blocked` as the agent said; no report counts as completed (the orchestrator's checks decide), anything else as
 * failed. Pure.
 */
export function outcomeFromReport(
  report: AgentReport | undefined,
  agent: string,
): Pick<AgentOutcome, 'status' | 'reason' | 'transient'> {
  if (!report) {
    return {
      status: 'completed',
      reason: `${agent} finished without a return JSON; the diff and the verification tests decide`,
      transient: false,
    };
  }
  const acs = `${report.acs_completed.length}/${report.acs_completed.length + report.acs_remaining.length} acceptance criteria reported done`;
  switch (report.status) {
    case 'completed':
      return { status: 'completed', reason: `${agent} reported completed (${acs})`, transient: false };
    case 'partial':
      return {
        status: 'partial',
        reason: `${agent} reported partial (${acs}); remaining: ${report.acs_remaining.join(', ') || '(not listed)'}`,
        transient: false,
      };
    case 'blocked':
      return {
        status: 'blocked',
        reason: `${agent} reported blocked: ${firstLine(report.blockers[0] ?? 'no blocker given')}; resolve it and re-run the task`,
        transient: false,
      };
    default:
      return {
        status: 'failed',
        reason: `${agent} reported status "${report.status}"${report.blockers[0] ? `: ${firstLine(report.blockers[0])}` : ''}`,
        transient: false,
      };
  }
}

/** First line of a message, trimmed and capped, for one-line reasons. Pure. */
export function firstLine(text: string, max = 200): string {
  const line = (text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
