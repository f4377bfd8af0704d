/**
 * Gemini CLI, headless: `gemini -p <instruction> -o stream-json --approval-mode <mode>`, prompt on stdin.
 *
 * Gemini appends the `-p` text to what it reads on stdin, so the task prompt goes on stdin and `-p` only says
 * "carry out the task above" (with promptVia "file", `-p` names the prompt file instead). Outcome from the final
 * `result{status, stats}` event and the exit code: 41 auth, 42 bad input, 52 config, 55 untrusted folder (not
 * retried), 53 turn limit, 54 fatal tool error, and 144..255 = the API's HTTP status mod 256 (see
 * `getGeminiHttpStatus`). A tool call its policy engine refused (`tool_result` error type "policy_violation")
 * makes a successful run `permission_denied`. No USD cost: computed from the tokens in `stats` with a price table.
 */
import type { AgentConfig } from '../config';
import { firstLine } from '../outcome';
import { isRateLimitText } from '../rate-limit';
import {
  RunEvidence,
  getHttpStatusKind,
  asNumber,
  asRecord,
  asString,
  buildVtmEnv,
  computeCostUsd,
  getBin,
  parseJsonLine,
  readPromptFileInstruction,
} from './common';
import type { AgentStreamParser, Invocation, InvocationContext, ParserContext, ProcessAdapter } from './types';

export const GEMINI_STDIN_INSTRUCTION = 'Carry out the task described above.';
const EDIT_TOOLS = new Set(['write_file', 'replace', 'edit', 'smart_edit']);

/** What each documented exit code means; codes not listed are "general error" (1) semantics. */
const EXIT_CODES: Record<number, { what: string; todo: string; transient: boolean }> = {
  41: { what: 'is not authenticated', todo: 'sign in by running `gemini` once, or set GEMINI_API_KEY', transient: false },
  42: { what: 'rejected its input', todo: 'check agent.args and the prompt', transient: false },
  52: { what: 'found a configuration error', todo: 'fix the gemini settings file', transient: false },
  53: { what: 'hit its session turn limit', todo: 'raise maxSessionTurns in the gemini settings or split the task', transient: false },
  54: { what: 'stopped on a fatal tool error', todo: 'see the transcript; it will be retried', transient: true },
  // Gemini CLI 0.61 in a folder it does not trust, without --skip-trust: nothing on stdout. Retrying cannot help.
  55: {
    what: 'refused to run in an untrusted folder',
    todo: 'keep --skip-trust in the invocation (agent.args must not remove it) or set GEMINI_CLI_TRUST_WORKSPACE=true',
    transient: false,
  },
  130: { what: 'was interrupted (SIGINT)', todo: 're-run the task', transient: false },
};

/**
 * The HTTP status behind an exit code: Gemini CLI 0.61 exits with the API's status code, which the OS truncates to
 * 8 bits (401 -> 145, 429 -> 173, 500 -> 244). Exit codes 144..255 are read as statuses 400..511; below that they
 * are the CLI's own codes. Pure.
 */
export function getGeminiHttpStatus(exitCode: number | null): number | undefined {
  return exitCode !== null && exitCode >= 144 && exitCode <= 255 ? exitCode + 256 : undefined;
}

/** argv and stdin for `gemini -p`. Pure. */
export function buildGeminiInvocation(config: AgentConfig, ctx: InvocationContext): Invocation {
  const viaFile = config.promptVia === 'file';
  const argv = [getBin(config, 'gemini'), '-p', viaFile ? readPromptFileInstruction(ctx.promptFile) : GEMINI_STDIN_INSTRUCTION];
  argv.push('-o', 'stream-json', '--approval-mode', config.permissionMode ?? 'auto_edit');
  // Task worktrees are fresh folders Gemini has never been told to trust: without this 0.61 exits 55 doing nothing.
  argv.push('--skip-trust');
  if (config.model) argv.push('-m', config.model);
  // A repair turn: 0.61's --resume takes "latest" or an index, not a session id; sessions are kept per project
  // folder, and the task's worktree is its own folder, so "latest" is the task's previous turn.
  if (ctx.resumeSessionId) argv.push('--resume', 'latest');
  // The prompt file lives in the result folder, outside the workspace Gemini's file tools may read by default.
  if (viaFile) argv.push('--include-directories', ctx.resultDir);
  argv.push(...(config.args ?? []));
  const invocation: Invocation = { argv, env: buildVtmEnv(config, ctx) };
  if (viaFile) invocation.promptFile = ctx.promptFile;
  else invocation.stdin = ctx.prompt;
  return invocation;
}

/** Parser for Gemini's stream-json events. */
export function createGeminiParser(ctx: ParserContext): AgentStreamParser {
  const ev = new RunEvidence(ctx, 'gemini');
  let model = ctx.model;
  let result: Record<string, unknown> | undefined;
  let lastError: string | undefined;
  // Assistant text since the last tool call: the final answer, where the return JSON is.
  let answer = '';
  // Tool calls by id, and the calls the policy engine refused (0.61: a `tool_result` with error type
  // "policy_violation", "Tool execution denied by policy."); the run itself goes on and ends "success".
  const toolNames = new Map<string, string>();
  const denials: string[] = [];

  return {
    finalText: () => answer || undefined,

    push(line, stream = 'stdout') {
      if (stream === 'stderr') return ev.noteStderr(line);
      const e = parseJsonLine(line);
      if (!e) return;
      switch (e.type) {
        case 'init':
          ev.sessionId = asString(e.session_id) ?? ev.sessionId;
          model ??= asString(e.model);
          break;
        case 'message':
          if (e.role === 'assistant' && typeof e.content === 'string') {
            answer = e.delta === true ? answer + e.content : e.content;
          }
          break;
        case 'tool_use': {
          answer = '';
          if (asString(e.tool_id)) toolNames.set(String(e.tool_id), String(e.tool_name ?? '?'));
          if (EDIT_TOOLS.has(String(e.tool_name))) {
            const p = asRecord(e.parameters);
            ev.noteFile(asString(p?.file_path) ?? asString(p?.absolute_path) ?? asString(p?.path));
          }
          break;
        }
        case 'tool_result': {
          const error = asRecord(e.error);
          if (e.status === 'error' && error?.type === 'policy_violation') {
            const tool = toolNames.get(String(e.tool_id)) ?? '?';
            denials.push(`${tool}: ${firstLine(asString(error.message) ?? 'denied by policy', 80)}`);
          }
          break;
        }
        case 'error':
          lastError = asString(e.message) ?? lastError;
          ev.noteErrorText(lastError);
          break;
        case 'result': {
          result = e;
          const stats = asRecord(e.stats);
          if (stats) {
            ev.tokens = {
              input: asNumber(stats.input_tokens) ?? asNumber(stats.input) ?? 0,
              output: asNumber(stats.output_tokens) ?? 0,
              cacheRead: asNumber(stats.cached) ?? 0,
            };
          }
          const error = asRecord(e.error);
          if (error) {
            lastError = asString(error.message) ?? lastError;
            ev.noteErrorText(lastError);
          }
          break;
        }
      }
    },

    finish(end) {
      ev.costUsd = computeCostUsd(ev.tokens, model, ctx.prices);
      const killed = ev.killedVerdict(end);
      if (killed) return ev.build(killed, end);

      const detail = lastError ?? ev.lastStderr;
      const httpStatus = getGeminiHttpStatus(end.exitCode);
      const kind = getHttpStatusKind(httpStatus);
      if (kind) {
        const what = `gemini exited ${String(end.exitCode)} (HTTP ${String(httpStatus)} from the model API)${detail ? `: ${firstLine(detail, 120)}` : ''}`;
        if (kind === 'rate_limit') ev.noteRateLimit(detail && isRateLimitText(detail) ? detail : `${what}; rate limited`);
        if (kind === 'auth') {
          return ev.build(ev.failed(`${what}; check GEMINI_API_KEY or sign in by running \`gemini\` once`, false), end);
        }
        return ev.build(ev.failed(what, kind === 'transient'), end);
      }
      const known = end.exitCode !== null ? EXIT_CODES[end.exitCode] : undefined;
      if (known) {
        return ev.build(
          ev.failed(
            `gemini ${known.what} (exit ${String(end.exitCode)})${detail ? `: ${firstLine(detail, 120)}` : ''}; ${known.todo}`,
            known.transient,
          ),
          end,
        );
      }
      if (result && result.status !== 'success') {
        return ev.build(
          ev.failed(`gemini ended with status "${String(result.status)}"${detail ? `: ${firstLine(detail, 160)}` : ''}`, true),
          end,
        );
      }
      if (end.exitCode !== 0) return ev.build(ev.failed(ev.describeExit(end), true), end);
      if (!result) {
        return ev.build(
          ev.failed(`gemini exited 0 without a result event${detail ? ` (${firstLine(detail, 120)})` : ''}; treated as failed`, true),
          end,
        );
      }
      const denied = denials.length
        ? {
            status: 'permission_denied' as const,
            reason: `gemini was denied ${denials.length} tool call${denials.length === 1 ? '' : 's'} by its policy engine (${denials.slice(0, 3).join('; ')}); allow them in the gemini policy files or agent.permissionMode`,
            transient: false,
          }
        : undefined;
      return ev.buildFromReport({ text: answer, end, agent: 'gemini', verdict: denied });
    },
  };
}

export const geminiAdapter: ProcessAdapter = {
  name: 'gemini',
  defaultBin: 'gemini',
  writtenFor: 'Gemini CLI 0.61.0 (checked against the real binary, 2026-12)',
  transcriptFormat: 'jsonl',
  buildInvocation: buildGeminiInvocation,
  createParser: createGeminiParser,
};
