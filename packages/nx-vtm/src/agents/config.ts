/**
 * The plugin's `agent` option: which coding agent runs a task, how it is invoked and how long it may take, plus the
 * routing that picks a different agent for some tasks (see `routing.ts`).
 *
 * Partial configs (the base, `byRisk`, `rules[].agent`, a task's own `agent` field, `fallback`) have no defaults, so
 * that merging them never lets a default hide a value set lower down; defaults are applied once, to the merged
 * result, by `agentConfigSchema`.
 */
import { z } from 'zod';
import { DEFAULT_HANDOFF_BUDGET_CHARS } from './handoff';

/**
 * The manifest's risk levels, repeated here (a spec checks they match `RISK_LEVELS` of the manifest schema) so that
 * the manifest schema can import this module for a task's `agent` field without an import cycle.
 */
export const ROUTE_RISK_LEVELS = ['High', 'Medium', 'Low'] as const;
const RISK_LEVELS = ROUTE_RISK_LEVELS;

export const ADAPTER_NAMES = ['command', 'claude', 'codex', 'gemini', 'opencode', 'replay'] as const;
export type AdapterName = (typeof ADAPTER_NAMES)[number];

export const DEFAULT_TIMEOUT_MS = 30 * 60_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_RETRIES = 1;
export const DEFAULT_BACKOFF_MS = 30_000;
export const DEFAULT_REPAIR_TURNS = 2;

/** USD per 1M tokens for one model. */
export const modelPriceSchema = z
  .strictObject({
    input: z.number().nonnegative().describe('USD per 1M input tokens (not cached).'),
    output: z.number().nonnegative().describe('USD per 1M output tokens.'),
    cachedInput: z
      .number()
      .nonnegative()
      .optional()
      .describe('USD per 1M cached input tokens; the input price when absent.'),
  })
  .describe('Token prices of one model.');

export type ModelPrice = z.output<typeof modelPriceSchema>;
export type PriceTable = Record<string, ModelPrice>;

const regexSource = (what: string) =>
  z
    .string()
    .min(1)
    .refine(
      (s) => {
        try {
          new RegExp(s);
          return true;
        } catch {
          return false;
        }
      },
      { message: `is not a valid regular expression` },
    )
    .describe(what);

/** Every field of an agent config, all optional: the shape of each layer that is merged. */
export const partialAgentConfigSchema = z
  .strictObject({
    adapter: z
      .enum(ADAPTER_NAMES)
      .optional()
      .describe(
        'Which agent runs the task: claude, codex, gemini, opencode, command (your own program), or replay (apply recorded patches, for demos and tests).',
      ),
    command: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe(
        'adapter "command": the program and its arguments as an array, e.g. ["node", "tools/my-agent.js"]. Never a shell string.',
      ),
    bin: z
      .string()
      .min(1)
      .optional()
      .describe('Path or name of the agent CLI; default: the adapter name ("claude", "codex", ...) looked up on PATH.'),
    model: z.string().min(1).optional().describe('Model name passed to the CLI (--model / -m).'),
    args: z
      .array(z.string())
      .optional()
      .describe('Extra flags appended to the CLI invocation, e.g. ["--max-turns", "40"].'),
    promptVia: z
      .enum(['stdin', 'file'])
      .optional()
      .describe('How the prompt reaches the agent: on stdin (default) or as a file the agent is told to read.'),
    timeoutMs: z.number().int().positive().optional().describe('Kill the agent after this long. Default 30 minutes.'),
    idleTimeoutMs: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Kill the agent when it prints nothing for this long (stalled). Default 5 minutes.'),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .optional()
      .describe('Retries of transient failures (API errors, stalls). Rate limits are not retried. Default 1.'),
    backoffMs: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('Wait before the first retry; doubled for each further retry. Default 30 s.'),
    prices: z
      .record(z.string(), modelPriceSchema)
      .optional()
      .describe('Token prices per model (USD per 1M tokens) for CLIs that report tokens but no cost (codex, gemini).'),
    permissionMode: z
      .string()
      .min(1)
      .optional()
      .describe(
        'claude: --permission-mode (default acceptEdits); codex: --sandbox (default workspace-write); gemini: --approval-mode (default auto_edit).',
      ),
    allowedTools: z
      .array(z.string().min(1))
      .optional()
      .describe('claude: --allowedTools, e.g. ["Read", "Edit", "Bash(npm test:*)"].'),
    maxBudgetUsd: z.number().positive().optional().describe('claude: --max-budget-usd, the most one run may spend.'),
    replayDir: z
      .string()
      .min(1)
      .optional()
      .describe('adapter "replay": folder with <task_id>.patch (and optional <task_id>.json) recordings.'),
    env: z
      .record(z.string(), z.string())
      .optional()
      .describe('Extra environment variables for the agent process.'),
    repairTurns: z
      .number()
      .int()
      .min(0)
      .max(10)
      .optional()
      .describe(
        'Repair turns: when the tests fail, the diff leaves the scope, the branch moved or the merge conflicts, the same agent continues in the same worktree with the evidence, up to this many times. Default 2; 0 blocks at the first failure.',
      ),
    allowNoChanges: z
      .boolean()
      .optional()
      .describe(
        'Accept an agent run that changed nothing (e.g. a check-only task). Default false: such a run ends blocked "no_changes", not completed.',
      ),
    handoffBudgetChars: z
      .number()
      .int()
      .min(0)
      .max(100_000)
      .optional()
      .describe(
        'Characters of the finished dependencies\' work (commit, files, their agents\' summaries and notes) the prompt may carry; most relevant first, trimmed beyond. 0 leaves it out. Default 4000.',
      ),
  })
  .describe('Agent settings; every field optional so that layers can be merged.');

export type PartialAgentConfig = z.output<typeof partialAgentConfigSchema>;

/** The merged config of one task's agent, with defaults applied. */
export const agentConfigSchema = partialAgentConfigSchema
  .extend({
    adapter: partialAgentConfigSchema.shape.adapter.unwrap().default('claude'),
    promptVia: partialAgentConfigSchema.shape.promptVia.unwrap().default('stdin'),
    timeoutMs: z.number().int().positive().default(DEFAULT_TIMEOUT_MS),
    idleTimeoutMs: z.number().int().positive().default(DEFAULT_IDLE_TIMEOUT_MS),
    retries: z.number().int().min(0).max(10).default(DEFAULT_RETRIES),
    backoffMs: z.number().int().nonnegative().default(DEFAULT_BACKOFF_MS),
    repairTurns: z.number().int().min(0).max(10).default(DEFAULT_REPAIR_TURNS),
    allowNoChanges: z.boolean().default(false),
    handoffBudgetChars: z.number().int().min(0).max(100_000).default(DEFAULT_HANDOFF_BUDGET_CHARS),
  })
  .superRefine((c, ctx) => {
    if (c.adapter === 'command' && !c.command) {
      ctx.addIssue({
        code: 'custom',
        path: ['command'],
        message: 'adapter "command" needs "command": the program and its arguments, e.g. ["node", "my-agent.js"]',
      });
    }
    if (c.adapter === 'replay' && !c.replayDir) {
      ctx.addIssue({
        code: 'custom',
        path: ['replayDir'],
        message: 'adapter "replay" needs "replayDir": the folder holding <task_id>.patch recordings',
      });
    }
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;

/** Conditions of a routing rule; all given conditions must hold (a list matches any of its values). */
export const routeMatchSchema = z
  .strictObject({
    risk: z
      .union([z.enum(RISK_LEVELS), z.array(z.enum(RISK_LEVELS)).min(1)])
      .optional()
      .describe('Task risk, or a list of risks.'),
    capability: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe('Task capability_id, or a list of them (exact match).'),
    tags: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('Matches when the task has any of these tags (manifest field "tags").'),
    taskIdPattern: regexSource('Regular expression tested against the task id, e.g. "^UI_".').optional(),
    descriptionPattern: regexSource(
      'Regular expression tested case-insensitively against the task title and description, e.g. "migration|schema|SQL".',
    ).optional(),
  })
  .describe('When a rule applies.');

export const routeRuleSchema = z
  .strictObject({
    match: routeMatchSchema,
    agent: partialAgentConfigSchema,
  })
  .describe('Use these agent settings for tasks that match.');

export type RouteMatch = z.output<typeof routeMatchSchema>;
export type RouteRule = z.output<typeof routeRuleSchema>;

/** The `agent` option of the plugin: base settings, routing, fallback. */
export const agentOptionsSchema = partialAgentConfigSchema
  .extend({
    byRisk: z
      .partialRecord(z.enum(RISK_LEVELS), partialAgentConfigSchema)
      .optional()
      .describe('Settings per task risk, e.g. { "High": { "model": "opus" } }.'),
    rules: z
      .array(routeRuleSchema)
      .optional()
      .describe('Routing rules; the first rule that matches a task applies (after byRisk, before the task\'s own "agent").'),
    fallback: partialAgentConfigSchema
      .optional()
      .describe('Settings used when the chosen agent\'s binary is not installed, e.g. { "adapter": "codex" }.'),
  })
  .describe('Which coding agent runs each task, and how.');

export type AgentOptionsInput = z.input<typeof agentOptionsSchema>;
export type AgentOptions = z.output<typeof agentOptionsSchema>;

/**
 * Parse the plugin's `agent` option. Errors name the option path the way users write it, e.g.
 * `nx.json plugins["nx-vtm"].options.agent.rules[0].match.taskIdPattern: is not a valid regular expression`.
 */
export function parseAgentOptions(raw: unknown): { ok: true; value: AgentOptions } | { ok: false; error: string } {
  const r = agentOptionsSchema.safeParse(raw ?? {});
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: formatIssues('Invalid nx-vtm agent options', 'nx.json plugins["nx-vtm"].options.agent', r.error.issues) };
}

/** Format zod issues as one block, each line naming the field path under `root`. */
export function formatIssues(
  title: string,
  root: string,
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): string {
  const lines = issues.map(
    (i) => `  - ${root}${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`,
  );
  return `${title}:\n${lines.join('\n')}`;
}
