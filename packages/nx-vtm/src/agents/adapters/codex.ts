/**
 * OpenAI Codex CLI: `codex exec --json --sandbox workspace-write -C <dir> [-m model] -`, prompt on stdin.
 *
 * Traps handled: exit 0 even when the turn failed (`turn.failed`), `error` events, no USD cost (computed from the
 * token usage of `turn.completed` with a price table), usage reported cumulatively (the last value is the total,
 * so it is replaced, never summed). `file_change` items list edited paths: early evidence for the scope check. A
 * command its execpolicy rules forbid shows only on stderr (`POLICY_REJECTED`) and makes the run `permission_denied`.
 */
import type { AgentConfig } from '../config';
import { firstLine } from '../outcome';
import {
  RunEvidence,
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

const AUTH_TEXT = /unauthori[sz]ed|401|not logged in|codex login|invalid api key|authentication/i;
/**
 * A command refused by an execpolicy rule (`decision = "forbidden"` in a .rules file). 0.171 puts it only on stderr:
 * "ERROR codex_core::tools::router: error=exec_command failed: CreateProcess { message: \"Rejected(\\\"`/bin/bash -lc
 * 'npm test'` rejected: policy forbids commands starting with `npm`\\\")\" }"; the model is told, the turn goes on.
 */
const POLICY_REJECTED = /Rejected\(.*?`([^`]+)` rejected: (policy forbids [^"\\]*)/;

/** argv and stdin for `codex exec`. Pure. */
export function buildCodexInvocation(config: AgentConfig, ctx: InvocationContext): Invocation {
  const viaFile = config.promptVia === 'file';
  const argv = [getBin(config, 'codex'), 'exec', '--json', '--sandbox', config.permissionMode ?? 'workspace-write'];
  argv.push('-C', ctx.cwd);
  if (config.model) argv.push('-m', config.model);
  argv.push(...(config.args ?? []));
  // A repair turn: `codex exec [exec options] resume <SESSION_ID> <PROMPT|->` (0.171: exec's options go before
  // the subcommand and apply to the resumed session).
  if (ctx.resumeSessionId) argv.push('resume', ctx.resumeSessionId);
  // "-" reads the prompt from stdin; with promptVia "file" the prompt argument tells codex where to read it.
  argv.push(viaFile ? readPromptFileInstruction(ctx.promptFile) : '-');
  const invocation: Invocation = { argv, env: buildVtmEnv(config, ctx) };
  if (viaFile) invocation.promptFile = ctx.promptFile;
  else invocation.stdin = ctx.prompt;
  return invocation;
}

/** Parser for `codex exec --json` JSONL events. */
export function createCodexParser(ctx: ParserContext): AgentStreamParser {
  const ev = new RunEvidence(ctx, 'codex');
  let sawEvent = false;
  let turnCompleted = false;
  let turnFailed: string | undefined;
  let lastError: string | undefined;
  let lastMessage: string | undefined;
  const denials: string[] = [];

  const onItem = (item: Record<string, unknown> | undefined, completed: boolean) => {
    if (!item) return;
    if (item.type === 'file_change' && Array.isArray(item.changes)) {
      for (const c of item.changes) ev.noteFile(asString(asRecord(c)?.path));
    } else if (item.type === 'agent_message' && completed) {
      lastMessage = asString(item.text) ?? lastMessage;
    } else if (item.type === 'error') {
      lastError = asString(item.message) ?? lastError;
      ev.noteErrorText(lastError);
    }
  };

  return {
    finalText: () => lastMessage,

    push(line, stream = 'stdout') {
      if (stream === 'stderr') {
        const rejected = POLICY_REJECTED.exec(line);
        if (rejected) denials.push(`${firstLine(rejected[1], 60)}: ${rejected[2].trim()}`);
        return ev.noteStderr(line);
      }
      const e = parseJsonLine(line);
      if (!e) return;
      sawEvent = true;
      switch (e.type) {
        case 'thread.started':
          ev.sessionId = asString(e.thread_id) ?? ev.sessionId;
          break;
        case 'turn.completed': {
          turnCompleted = true;
          const usage = asRecord(e.usage);
          if (usage) {
            ev.tokens = {
              input: asNumber(usage.input_tokens) ?? 0,
              output: asNumber(usage.output_tokens) ?? 0,
              cacheRead: asNumber(usage.cached_input_tokens) ?? 0,
            };
          }
          break;
        }
        case 'turn.failed': {
          turnFailed = asString(asRecord(e.error)?.message) ?? 'no message';
          ev.noteErrorText(turnFailed);
          break;
        }
        case 'error':
          lastError = asString(e.message) ?? lastError;
          ev.noteErrorText(lastError);
          break;
        case 'item.started':
        case 'item.updated':
        case 'item.completed':
          onItem(asRecord(e.item), e.type === 'item.completed');
          break;
      }
    },

    finish(end) {
      ev.costUsd = computeCostUsd(ev.tokens, ctx.model, ctx.prices);
      const killed = ev.killedVerdict(end);
      if (killed) return ev.build(killed, end);

      if (turnFailed !== undefined) {
        const auth = AUTH_TEXT.test(turnFailed);
        return ev.build(
          ev.failed(
            auth
              ? `codex cannot authenticate (${firstLine(turnFailed, 120)}); run \`codex login\` or set OPENAI_API_KEY`
              : `codex turn failed (exit ${String(end.exitCode)}): ${firstLine(turnFailed, 160)}`,
            !auth,
          ),
          end,
        );
      }
      if (!turnCompleted) {
        const detail = lastError ? `: ${firstLine(lastError, 160)}` : '';
        if (end.exitCode === 0) {
          return ev.build(ev.failed(`codex exited 0 without turn.completed${detail}; treated as failed`, true), end);
        }
        // Exiting non-zero before any event is a usage or setup problem (bad flag, no login): retrying won't help.
        return ev.build(ev.failed(`${ev.describeExit(end)}${sawEvent ? detail : ' before any event'}`, sawEvent), end);
      }
      if (end.exitCode !== 0) return ev.build(ev.failed(`${ev.describeExit(end)} after its turn completed`, true), end);

      const denied = denials.length
        ? {
            status: 'permission_denied' as const,
            reason: `codex was denied ${denials.length} command${denials.length === 1 ? '' : 's'} by its execpolicy rules (${denials.slice(0, 3).join('; ')}); allow them in the .rules files`,
            transient: false,
          }
        : undefined;
      return ev.buildFromReport({ text: lastMessage, end, agent: 'codex', verdict: denied });
    },
  };
}

export const codexAdapter: ProcessAdapter = {
  name: 'codex',
  defaultBin: 'codex',
  writtenFor: 'Codex CLI 0.5x (exec --json events as documented late 2026)',
  transcriptFormat: 'jsonl',
  buildInvocation: buildCodexInvocation,
  createParser: createCodexParser,
};
