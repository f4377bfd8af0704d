/** The adapters by name. `replay` runs no process and is handled by `runReplay`. */
import type { AdapterName } from '../config';
import { claudeAdapter } from './claude';
import { codexAdapter } from './codex';
import { commandAdapter } from './command';
import { geminiAdapter } from './gemini';
import { opencodeAdapter } from './opencode';
import type { ProcessAdapter } from './types';

export const PROCESS_ADAPTERS: Readonly<Record<Exclude<AdapterName, 'replay'>, ProcessAdapter>> = {
  command: commandAdapter,
  claude: claudeAdapter,
  codex: codexAdapter,
  gemini: geminiAdapter,
  opencode: opencodeAdapter,
};

export { claudeAdapter, codexAdapter, commandAdapter, geminiAdapter, opencodeAdapter };
export { buildClaudeInvocation, createClaudeParser } from './claude';
export { buildCodexInvocation, createCodexParser } from './codex';
export { buildCommandInvocation, createCommandParser } from './command';
export { buildGeminiInvocation, createGeminiParser, getGeminiHttpStatus, GEMINI_STDIN_INSTRUCTION } from './gemini';
export { buildOpencodeInvocation, createOpencodeParser, OPENCODE_STDIN_INSTRUCTION } from './opencode';
export { runReplay, getPatchPaths, defaultReplayPorts, type ReplayPorts } from './replay';
export { computeCostUsd, DEFAULT_PRICE_SOURCES, DEFAULT_PRICES, getHttpStatusKind, type HttpStatusKind } from './common';
export type { AgentStreamParser, Invocation, InvocationContext, ParserContext, ProcessAdapter } from './types';
