/**
 * Claude Code, headless: `claude -p --output-format stream-json --verbose`, prompt on stdin.
 *
 * Success only when: exit 0, a `result` line with `subtype: "success"` AND `is_error: false`, no permission
 * denials, and a non-empty result. Traps handled (see /work/shared/notes/agent-clis.md):
 * - `is_error: true` on API errors (exit 1 in 2.1; exit 0 in older versions) -> decided by `api_error_status`
 *   (429 rate_limited, 401/403 failed and not retried, 5xx failed and retried), else by the text: a usage limit
 *   ("You've hit your session limit · resets 10:16am (UTC)") is rate_limited;
 * - a stream that ends without a result line -> failed (transient), not completed;
 * - `error_max_budget_usd` -> budget_exceeded; `permission_denials` -> permission_denied;
 * - `rate_limit_event` with status "rejected" carries the reset time as epoch seconds.
 */
import type { AgentConfig } from '../config';
import { extractAgentReport, firstLine, outcomeFromReport, parseAgentReport, type AgentReport } from '../outcome';
import { isRateLimitText } from '../rate-limit';
import {
  RunEvidence,
  getHttpStatusKind,
  asNumber,
  asRecord,
  asString,
  buildVtmEnv,
  getBin,
  parseJsonLine,
  readPromptFileInstruction,
} from './common';
import type { AgentStreamParser, Invocation, InvocationContext, ParserContext, ProcessAdapter } from './types';

const EDIT_TOOLS = new Set(['Edit', 'Write', 'MultiEdit', 'NotebookEdit']);
const AUTH_TEXT = /invalid api key|please run \/login|not logged in|authentication|credit balance is too low|oauth token/i;

/** argv and stdin for `claude -p`. Pure. */
export function buildClaudeInvocation(config: AgentConfig, ctx: InvocationContext): Invocation {
  const viaFile = config.promptVia === 'file';
  const argv = [getBin(config, 'claude'), '-p'];
  if (viaFile) argv.push(readPromptFileInstruction(ctx.promptFile));
  argv.push('--output-format', 'stream-json', '--verbose');
  argv.push('--permission-mode', config.permissionMode ?? 'acceptEdits');
  if (config.model) argv.push('--model', config.model);
  // A repair turn continues the previous turn's conversation (Claude Code keeps sessions per working directory).
  if (ctx.resumeSessionId) argv.push('--resume', ctx.resumeSessionId);
  if (config.maxBudgetUsd !== undefined) argv.push('--max-budget-usd', String(config.maxBudgetUsd));
  if (config.allowedTools?.length) argv.push('--allowedTools', config.allowedTools.join(','));
  // The prompt file lives in the result folder, outside the working directory Claude may read by default.
  if (viaFile) argv.push('--add-dir', ctx.resultDir);
  argv.push(...(config.args ?? []));
  const invocation: Invocation = { argv, env: buildVtmEnv(config, ctx) };
  if (viaFile) invocation.promptFile = ctx.promptFile;
  else invocation.stdin = ctx.prompt;
  return invocation;
}

/** Parser for Claude's stream-json output. */
export function createClaudeParser(ctx: ParserContext): AgentStreamParser {
  const ev = new RunEvidence(ctx, 'claude');
  let result: Record<string, unknown> | undefined;
  let lastAssistantText: string | undefined;
  let lastApiError: string | undefined;
  let apiRetries = 0;

  const onEvent = (e: Record<string, unknown>) => {
    const type = asString(e.type);
    if (asString(e.session_id)) ev.sessionId = asString(e.session_id);
    if (type === 'assistant') {
      const message = asRecord(e.message);
      const content = Array.isArray(message?.content) ? message.content : [];
      const texts: string[] = [];
      for (const block of content) {
        const b = asRecord(block);
        if (!b) continue;
        if (b.type === 'text' && typeof b.text === 'string') texts.push(b.text);
        if (b.type === 'tool_use' && EDIT_TOOLS.has(String(b.name))) {
          const input = asRecord(b.input);
          ev.noteFile(asString(input?.file_path) ?? asString(input?.notebook_path));
        }
      }
      if (texts.length) lastAssistantText = texts.join('\n');
      // Synthetic assistant messages carry API failures: error "rate_limit" with the limit text as content.
      if (e.error === 'rate_limit') ev.noteRateLimit(texts.join(' ') || 'rate limit');
    } else if (type === 'system' && e.subtype === 'api_retry') {
      apiRetries++;
      lastApiError = asString(e.error) ?? (e.error_status !== undefined ? `HTTP ${String(e.error_status)}` : undefined);
    } else if (type === 'rate_limit_event') {
      const info = asRecord(e.rate_limit_info);
      if (info?.status === 'rejected') {
        const resetsAt = asNumber(info.resetsAt);
        ev.noteRateLimit(
          `${asString(info.rateLimitType) ?? 'usage'} limit reached`,
          resetsAt !== undefined ? new Date(resetsAt * 1000) : undefined,
        );
      }
    } else if (type === 'result') {
      result = e;
    }
  };

  return {
    push(line, stream = 'stdout') {
      if (stream === 'stderr') return ev.noteStderr(line);
      const e = parseJsonLine(line);
      if (e) onEvent(e);
    },

    // The result line's text is the final message; an older CLI may leave it empty while the last message had it.
    finalText: () => (result && !result.is_error ? asString(result.result) || lastAssistantText : undefined),

    finish(end) {
      if (result) {
        ev.costUsd = asNumber(result.total_cost_usd);
        const usage = asRecord(result.usage);
        if (usage) {
          // Claude's input_tokens excludes the cache: add both cache counts so `input` means all prompt tokens.
          const cacheRead = asNumber(usage.cache_read_input_tokens) ?? 0;
          const cacheWrite = asNumber(usage.cache_creation_input_tokens) ?? 0;
          ev.tokens = {
            input: (asNumber(usage.input_tokens) ?? 0) + cacheRead + cacheWrite,
            output: asNumber(usage.output_tokens) ?? 0,
            cacheRead,
            cacheWrite,
          };
        }
      }
      const killed = ev.killedVerdict(end);
      if (killed) return ev.build(killed, end);

      if (!result) {
        const why = lastApiError ? ` (last API error after ${apiRetries} retries: ${firstLine(lastApiError, 120)})` : '';
        const reason =
          end.exitCode === 0
            ? `claude exited 0 but its stream ended without a result line${why}; treated as failed, not completed`
            : `${ev.describeExit(end)}, without a result line${why}`;
        return ev.build(ev.failed(reason, true), end);
      }

      const subtype = asString(result.subtype) ?? '(none)';
      const text = asString(result.result) ?? '';
      const errors = Array.isArray(result.errors) ? result.errors.map(String) : [];
      const report = getReport(result, text, end.resultFileContent);
      const withReport = <T extends object>(v: T) => (report ? { ...v, reported: report } : v);

      if (subtype === 'error_max_budget_usd') {
        const spent = ev.costUsd !== undefined ? ` after spending $${ev.costUsd.toFixed(2)}` : '';
        return ev.build(
          withReport({
            status: 'budget_exceeded' as const,
            reason: `claude stopped at its --max-budget-usd limit${spent}; raise agent.maxBudgetUsd or split the task`,
            transient: false,
          }),
          end,
        );
      }
      if (subtype === 'error_max_turns') {
        return ev.build(
          withReport(
            ev.failed(
              `claude used up its turns (${String(result.num_turns ?? '?')}) before finishing; raise --max-turns in agent.args or split the task`,
              false,
            ),
          ),
          end,
        );
      }
      if (result.is_error === true && (subtype === 'success' || result.api_error_status != null)) {
        // Claude 2.1 carries the API's HTTP status on the result line; it decides before any guess from the text.
        const kind = getHttpStatusKind(asNumber(result.api_error_status));
        if (kind === 'rate_limit' || isRateLimitText(text)) ev.noteRateLimit(text || 'API rate limit (HTTP 429)');
        const auth = kind === 'auth' || (kind === undefined && AUTH_TEXT.test(text));
        const status = result.api_error_status !== undefined ? `, HTTP ${String(result.api_error_status)}` : '';
        const reason = auth
          ? `claude cannot authenticate (${firstLine(text, 120)}${status}); log in with \`claude\` or set ANTHROPIC_API_KEY`
          : `claude reported an API error (exit ${String(end.exitCode)}${status}): ${firstLine(text || errors[0] || 'no message', 160)}`;
        return ev.build(ev.failed(reason, !auth && kind !== 'permanent'), end);
      }
      if (subtype !== 'success') {
        const detail = errors[0] ?? text;
        return ev.build(
          withReport(
            ev.failed(
              `claude ended with ${subtype}${detail ? `: ${firstLine(detail, 160)}` : ''}`,
              subtype === 'error_during_execution',
            ),
          ),
          end,
        );
      }
      const denials = Array.isArray(result.permission_denials) ? result.permission_denials : [];
      if (denials.length) {
        return ev.build(
          withReport({
            status: 'permission_denied' as const,
            reason: `claude was denied ${denials.length} tool call${denials.length === 1 ? '' : 's'} (${describeDenials(denials)}); allow them with agent.allowedTools or agent.permissionMode`,
            transient: false,
          }),
          end,
        );
      }
      if (end.exitCode !== 0) {
        return ev.build(withReport(ev.failed(`${ev.describeExit(end)} after a success result`, true)), end);
      }
      if (text.trim() === '' && !report) {
        return ev.build(
          ev.failed(
            'claude reported success with an empty result (no final message); treated as failed, check the transcript',
            true,
          ),
          end,
        );
      }
      return ev.build(withReport(outcomeFromReport(report, 'claude')), end);
    },
  };

  function getReport(res: Record<string, unknown>, text: string, resultFile: string | undefined): AgentReport | undefined {
    return (
      parseAgentReport(res.structured_output) ??
      extractAgentReport(text) ??
      extractAgentReport(resultFile) ??
      // The result is the last assistant text; an older CLI may leave it empty while the message had the JSON.
      extractAgentReport(lastAssistantText)
    );
  }
}

function describeDenials(denials: unknown[]): string {
  return denials
    .slice(0, 3)
    .map((d) => {
      const r = asRecord(d);
      const input = asRecord(r?.tool_input);
      const what = asString(input?.command) ?? asString(input?.file_path) ?? '';
      return `${asString(r?.tool_name) ?? '?'}${what ? `: ${firstLine(what, 60)}` : ''}`;
    })
    .join(', ')
    .concat(denials.length > 3 ? `, +${denials.length - 3} more` : '');
}

export const claudeAdapter: ProcessAdapter = {
  name: 'claude',
  defaultBin: 'claude',
  writtenFor: 'Claude Code 2.x (stream-json as documented late 2026)',
  transcriptFormat: 'jsonl',
  buildInvocation: buildClaudeInvocation,
  createParser: createClaudeParser,
};
