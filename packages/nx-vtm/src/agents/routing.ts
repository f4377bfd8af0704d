/**
 * Which agent runs a task: the plugin's base `agent` settings, then `byRisk[task.risk]`, then the first matching
 * `rules[]` entry (first match wins, like the description-pattern routing planners use), then the task's own
 * manifest field `agent` (highest precedence). `fallback` is merged on top when the chosen binary is missing.
 *
 * A layer that switches to another adapter drops the adapter-specific settings below it (bin, model, args, ...):
 * a Claude model name or flag passed to Codex would only make Codex fail.
 */
import type { Task } from '../manifest/schema';
import { err, ok, type Result } from '../manifest/problems';
import {
  agentConfigSchema,
  formatIssues,
  partialAgentConfigSchema,
  type AgentConfig,
  type AgentOptions,
  type PartialAgentConfig,
  type RouteMatch,
} from './config';

/** The agent settings chosen for one task, and why. */
export interface ResolvedAgent {
  config: AgentConfig;
  /** What to run instead when `config`'s binary is unavailable; absent when no `fallback` is configured. */
  fallback?: AgentConfig;
  /** The layers that applied, lowest first, e.g. `["base", "byRisk.High", "rules[2]", "task.agent"]` (for reports). */
  layers: string[];
  /** Index of the routing rule that matched, if one did. */
  matchedRule?: number;
}

/** Settings that only make sense for one adapter; dropped when a higher layer switches adapter. */
const ADAPTER_SPECIFIC_KEYS = [
  'command',
  'bin',
  'model',
  'args',
  'permissionMode',
  'allowedTools',
  'maxBudgetUsd',
  'replayDir',
] as const satisfies readonly (keyof PartialAgentConfig)[];

const DEFAULT_ADAPTER = 'claude';

/**
 * Choose and merge the agent settings for a task. Pure. Fails (with a message naming the task and the field) when
 * the task's own `agent` field is invalid or the merged settings are incomplete (e.g. adapter "command" without a
 * command).
 */
export function resolveAgentConfig({
  task,
  options,
}: {
  task: Task;
  options: AgentOptions | undefined;
}): Result<ResolvedAgent, string> {
  const { byRisk, rules, fallback, ...base } = options ?? {};
  const layers = ['base'];
  let merged: PartialAgentConfig = base;

  const riskLayer = byRisk?.[task.risk];
  if (riskLayer) {
    merged = mergeAgentConfig(merged, riskLayer);
    layers.push(`byRisk.${task.risk}`);
  }

  const matchedRule = rules?.findIndex((rule) => matchesRoute(task, rule.match));
  if (rules && matchedRule !== undefined && matchedRule >= 0) {
    merged = mergeAgentConfig(merged, rules[matchedRule].agent);
    layers.push(`rules[${matchedRule}]`);
  }

  const own = (task as Record<string, unknown>).agent;
  if (own !== undefined) {
    const parsed = partialAgentConfigSchema.safeParse(own);
    if (!parsed.success) {
      return err(formatIssues(`task ${task.task_id}: invalid manifest field "agent"`, 'agent', parsed.error.issues));
    }
    merged = mergeAgentConfig(merged, parsed.data);
    layers.push('task.agent');
  }

  const config = agentConfigSchema.safeParse(merged);
  if (!config.success) {
    return err(
      formatIssues(
        `task ${task.task_id}: incomplete agent settings (from ${layers.join(' + ')})`,
        'agent',
        config.error.issues,
      ),
    );
  }

  const resolved: ResolvedAgent = { config: config.data, layers };
  if (matchedRule !== undefined && matchedRule >= 0) resolved.matchedRule = matchedRule;
  if (fallback) {
    const fb = agentConfigSchema.safeParse(mergeAgentConfig(merged, fallback));
    if (!fb.success) {
      return err(formatIssues(`task ${task.task_id}: invalid agent fallback`, 'agent.fallback', fb.error.issues));
    }
    resolved.fallback = fb.data;
  }
  return ok(resolved);
}

/** Whether a routing rule's conditions all hold for a task. An empty `match` matches every task. Pure. */
export function matchesRoute(task: Task, match: RouteMatch): boolean {
  if (match.risk !== undefined && !asList(match.risk).includes(task.risk)) return false;
  if (match.capability !== undefined && !asList(match.capability).includes(task.capability_id ?? '')) return false;
  if (match.tags !== undefined) {
    const tags = getTaskTags(task);
    if (!match.tags.some((t) => tags.includes(t))) return false;
  }
  if (match.taskIdPattern !== undefined && !new RegExp(match.taskIdPattern).test(task.task_id)) return false;
  if (
    match.descriptionPattern !== undefined &&
    !new RegExp(match.descriptionPattern, 'i').test(`${task.title}\n${task.description}`)
  ) {
    return false;
  }
  return true;
}

/**
 * Merge two layers: fields of `upper` win, `env` and `prices` merge by key. When `upper` switches to another adapter,
 * the adapter-specific fields of `lower` are dropped. Pure.
 */
export function mergeAgentConfig(lower: PartialAgentConfig, upper: PartialAgentConfig): PartialAgentConfig {
  const base: PartialAgentConfig = { ...lower };
  if (upper.adapter !== undefined && upper.adapter !== (lower.adapter ?? DEFAULT_ADAPTER)) {
    for (const key of ADAPTER_SPECIFIC_KEYS) delete base[key];
  }
  const out: PartialAgentConfig = { ...base };
  for (const [key, value] of Object.entries(upper) as [keyof PartialAgentConfig, unknown][]) {
    if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  }
  if (base.env || upper.env) out.env = { ...base.env, ...upper.env };
  if (base.prices || upper.prices) out.prices = { ...base.prices, ...upper.prices };
  return out;
}

/** The manifest's optional `tags` field (not part of the core schema; manifests may carry it). */
function getTaskTags(task: Task): string[] {
  const tags = (task as Record<string, unknown>).tags;
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}

const asList = <T>(v: T | readonly T[]): readonly T[] => (Array.isArray(v) ? v : [v as T]);
