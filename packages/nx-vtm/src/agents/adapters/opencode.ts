/**
 * opencode: `opencode run --format json [-m provider/model] <instruction>`, prompt on stdin.
 *
 * `opencode run` appends piped stdin to its message argument, so the task prompt goes on stdin and the argument
 * only introduces it. Output is NDJSON `{type, sessionID, part}`: `step_finish` parts carry the cost (USD) and
 * tokens of one step (summed here), `tool_use` parts the edited file paths, `error` events the failure.
 */
import type { AgentConfig } from '../config';
import { firstLine } from '../outcome';
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

export const OPENCODE_STDIN_INSTRUCTION = 'Carry out the task described in the following instructions.';
const EDIT_TOOLS = new Set(['edit', 'write', 'patch', 'multiedit']);
const DENIED = /permission|rejected|not allowed|denied/i;

/** argv and stdin for `opencode run`. Pure. */
export function buildOpencodeInvocation(config: AgentConfig, ctx: InvocationContext): Invocation {
  const viaFile = config.promptVia === 'file';
  const argv = [getBin(config, 'opencode'), 'run', '--format', 'json'];
  if (config.model) argv.push('-m', config.model);
  // A repair turn continues the previous turn's session.
  if (ctx.resumeSessionId) argv.push('--session', ctx.resumeSessionId);
  argv.push(...(config.args ?? []));
  argv.push(viaFile ? readPromptFileInstruction(ctx.promptFile) : OPENCODE_STDIN_INSTRUCTION);
  const invocation: Invocation = { argv, env: buildVtmEnv(config, ctx) };
  if (viaFile) invocation.promptFile = ctx.promptFile;
  else invocation.stdin = ctx.prompt;
  return invocation;
}

/** Parser for `opencode run --format json`. */
export function createOpencodeParser(ctx: ParserContext): AgentStreamParser {
  const ev = new RunEvidence(ctx, 'opencode');
  let steps = 0;
  let cost: number | undefined;
  let lastText: string | undefined;
  let error: string | undefined;
  // From the error event's data (opencode 1.18): the API's HTTP status, and whether opencode itself would retry.
  let errorStatus: number | undefined;
  let errorRetryable: boolean | undefined;
  const denials: string[] = [];

  const addTokens = (t: Record<string, unknown> | undefined) => {
    if (!t) return;
    const cache = asRecord(t.cache);
    const prev = ev.tokens ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
    const read = asNumber(cache?.read) ?? 0;
    const write = asNumber(cache?.write) ?? 0;
    ev.tokens = {
      // opencode's input excludes the cache: add both cache counts so `input` means all prompt tokens.
      input: prev.input + (asNumber(t.input) ?? 0) + read + write,
      // Reasoning tokens are billed as output.
      output: prev.output + (asNumber(t.output) ?? 0) + (asNumber(t.reasoning) ?? 0),
      cacheRead: (prev.cacheRead ?? 0) + read,
      cacheWrite: (prev.cacheWrite ?? 0) + write,
    };
  };

  return {
    finalText: () => lastText,

    push(line, stream = 'stdout') {
      if (stream === 'stderr') return ev.noteStderr(line);
      const e = parseJsonLine(line);
      if (!e) return;
      ev.sessionId = asString(e.sessionID) ?? ev.sessionId;
      const part = asRecord(e.part);
      switch (e.type) {
        case 'text':
          lastText = asString(part?.text) ?? lastText;
          break;
        case 'tool_use': {
          const state = asRecord(part?.state);
          const input = asRecord(state?.input);
          const tool = String(part?.tool ?? '?');
          if (EDIT_TOOLS.has(tool) && state?.status !== 'error') {
            ev.noteFile(asString(input?.filePath) ?? asString(input?.file_path) ?? asString(input?.path));
          }
          const toolError = asString(state?.error);
          if (state?.status === 'error' && toolError && DENIED.test(toolError)) denials.push(tool);
          break;
        }
        case 'step_finish':
          steps++;
          cost = (cost ?? 0) + (asNumber(part?.cost) ?? 0);
          addTokens(asRecord(part?.tokens));
          break;
        case 'error': {
          const err = asRecord(e.error);
          const data = asRecord(err?.data);
          error = asString(data?.message) ?? asString(err?.message) ?? asString(err?.name) ?? 'unknown error';
          errorStatus = asNumber(data?.statusCode) ?? asNumber(err?.statusCode) ?? errorStatus;
          const retryable = data?.isRetryable ?? err?.isRetryable;
          if (typeof retryable === 'boolean') errorRetryable = retryable;
          if (getHttpStatusKind(errorStatus) === 'rate_limit') ev.noteRateLimit(error);
          else ev.noteErrorText(error);
          break;
        }
      }
    },

    finish(end) {
      ev.costUsd = cost;
      const killed = ev.killedVerdict(end);
      if (killed) return ev.build(killed, end);

      if (error !== undefined) {
        const kind = getHttpStatusKind(errorStatus);
        const http = errorStatus !== undefined ? `, HTTP ${errorStatus}` : '';
        const what = `opencode reported an error (exit ${String(end.exitCode)}${http}): ${firstLine(error, 160)}`;
        if (kind === 'auth') {
          return ev.build(ev.failed(`${what}; check the provider's API key in the opencode config or run \`opencode auth login\``, false), end);
        }
        // opencode says whether the error is worth retrying (401: false); the HTTP status decides when it does not.
        return ev.build(ev.failed(what, errorRetryable ?? kind !== 'permanent'), end);
      }
      if (end.exitCode !== 0) return ev.build(ev.failed(ev.describeExit(end), steps > 0), end);
      if (steps === 0) {
        return ev.build(ev.failed('opencode exited 0 without finishing a single step; treated as failed', true), end);
      }
      const denied = denials.length
        ? {
            status: 'permission_denied' as const,
            reason: `opencode was denied ${denials.length} tool call${denials.length === 1 ? '' : 's'} (${[...new Set(denials)].join(', ')}); allow them in the opencode permission settings`,
            transient: false,
          }
        : undefined;
      return ev.buildFromReport({ text: lastText, end, agent: 'opencode', verdict: denied });
    },
  };
}

export const opencodeAdapter: ProcessAdapter = {
  name: 'opencode',
  defaultBin: 'opencode',
  writtenFor: 'opencode 1.18.33 (checked against the real binary, 2026-12)',
  transcriptFormat: 'jsonl',
  buildInvocation: buildOpencodeInvocation,
  createParser: createOpencodeParser,
};
