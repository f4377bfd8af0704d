/** Agent invocation: prompt building, routing, the process runner, CLI adapters, retries and rate-limit pauses. */
export { buildPrompt, type BuildPromptInput } from './prompt';
export {
  runProcess,
  killProcessGroup,
  isGroupAlive,
  installSignalCleanup,
  getLiveProcessGroups,
  LineSplitter,
  type RunProcessOptions,
  type ProcessResult,
  type SignalCleanupOptions,
} from './process-runner';
export {
  AGENT_OUTCOME_STATUSES,
  parseAgentReport,
  extractAgentReport,
  findLastJsonObject,
  outcomeFromReport,
  type AgentOutcome,
  type AgentOutcomeStatus,
  type AgentReport,
  type ProcessEnd,
  type TokenUsage,
} from './outcome';
export { isRateLimitText, parseResetTime, getUtcOffsetMinutes } from './rate-limit';
export { RateLimitGate, getRateLimitResumeAt, systemGateClock, type GateClock } from './rate-limit-gate';
export {
  ADAPTER_NAMES,
  agentConfigSchema,
  agentOptionsSchema,
  partialAgentConfigSchema,
  parseAgentOptions,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_RETRIES,
  DEFAULT_BACKOFF_MS,
  type AdapterName,
  type AgentConfig,
  type AgentOptions,
  type AgentOptionsInput,
  type PartialAgentConfig,
  type PriceTable,
  type RouteRule,
} from './config';
export { resolveAgentConfig, matchesRoute, mergeAgentConfig, type ResolvedAgent } from './routing';
export {
  runAgent,
  defaultRunAgentDeps,
  computeBackoffMs,
  shouldRetry,
  RESULT_FILES,
  type RunAgentInput,
  type RunAgentDeps,
} from './run-agent';
export * from './adapters';
export {
  buildHandoffSection,
  orderHandoffs,
  DEFAULT_HANDOFF_BUDGET_CHARS,
  type DependencyHandoff,
  type HandoffSection,
} from './handoff';
