/**
 * The Virtual Task Manifest (VTM) schema.
 *
 * The field set comes from the task-decomposition documents the manifest is generated from (task_id, ACs,
 * depends_on_tasks, risk, file_scope, conflicts_with, parallel, ...). Objects are loose: a manifest generator may add
 * fields we do not know, and rejecting them would break users for no gain. Every field carries a description, so the
 * JSON Schema generated from this file (`manifest.schema.json`) gives editors completion and hover help.
 *
 * Only shape is checked here; rules that span fields or tasks (unique ids, known dependencies, cycles, safe paths)
 * live in `rules.ts` so that they can report every problem at once with the task id and field path.
 */
import { z } from 'zod';

/** Task ids become Nx project names, git branch names (`vtm/<id>`) and directory names, so they must be safe for all three. */
export const TASK_ID_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9_-]|\.(?!\.))*$/;

const pathList = (what: string) =>
  z
    .array(z.string().min(1))
    .default([])
    .describe(`${what} Paths are relative to the workspace root and use "/" separators.`);

export const RISK_LEVELS = ['High', 'Medium', 'Low'] as const;
export const SIZES = ['XS', 'S', 'M', 'L', 'XL'] as const;

export const acceptanceCriterionSchema = z
  .looseObject({
    id: z.string().min(1).describe('Acceptance criterion id, unique within its task, e.g. "CONTENT_HASH-AC01".'),
    text: z.string().min(1).describe('What must be true for the criterion to be met (Given/When/Then or plain text).'),
  })
  .describe('One acceptance criterion of a task.');

export const estimateSchema = z
  .looseObject({
    size: z
      .enum(SIZES)
      .optional()
      .describe('T-shirt size of the task; used for critical-path priorities when no minutes or history exist.'),
    minutes: z
      .number()
      .positive()
      .optional()
      .describe('Estimated duration in minutes; takes precedence over size.'),
  })
  .describe('Effort estimate.');

export const taskSchema = z
  .looseObject({
    task_id: z
      .string()
      .regex(TASK_ID_PATTERN, {
        message:
          'must start with a letter or digit and contain only letters, digits, "_", "-" and single "." (it becomes an Nx project name and a git branch)',
      })
      .describe('Unique task id, e.g. "CONTENT_HASH_IMPLEMENTATION--T01". Becomes the Nx project name.'),
    capability_id: z.string().min(1).optional().describe('Capability the task belongs to, e.g. "CONTENT_HASH_IMPLEMENTATION".'),
    phase: z.string().min(1).optional().describe('Phase label, e.g. "Phase 1". Tasks of a phase form the project "phase-1".'),
    slice: z.string().min(1).optional().describe('Slice label, e.g. "Slice 1.1". Tasks of a slice form the project "slice-1.1".'),
    title: z.string().min(1).describe('Short imperative title; used in prompts and commit messages.'),
    description: z.string().default('').describe('What the task is about, for the agent and for humans.'),
    acceptance_criteria: z
      .array(acceptanceCriterionSchema)
      .describe('Done conditions. An empty list blocks the task at run time (BLOCKED::EMPTY-AC).'),
    risk: z
      .enum(RISK_LEVELS)
      .describe('High tasks run alone and need test_verification; Medium and Low may run in parallel.'),
    est: estimateSchema.optional(),
    depends_on_tasks: z
      .array(z.string().min(1))
      .default([])
      .describe('Task ids that must be completed before this task starts.'),
    related_specs: pathList('Specification documents the agent must read.'),
    related_adrs: pathList(
      'Architecture decision records the agent must read. A path, or a named reference such as "ADR-0002: Dual Hash Migration".',
    ),
    related_guides: pathList('Guides the agent must read.'),
    test_verification: pathList(
      'Test files that verify the task; run after the agent finishes. The agent may write them, so they count as scope: tasks naming the same test file never run at the same time.',
    ),
    file_scope: pathList(
      'Files and directories (directories end with "/") the task may change. Overlapping scopes never run at the same time.',
    ),
    conflicts_with: z
      .array(z.string().min(1))
      .default([])
      .describe('Task ids that must never run at the same time as this task.'),
    parallel: z
      .boolean()
      .default(true)
      .describe('false: the task runs alone, like a High-risk task.'),
    provisional: z.boolean().default(false).describe('Provisional tasks may still change; shown as such in reports.'),
    gap_codes: z.array(z.string()).default([]).describe('Known gaps (e.g. "GAP::SPEC-MISSING") attached by the planner.'),
    tags: z
      .array(z.string().regex(/^[^\s,]+$/, { message: 'must not contain spaces or commas' }))
      .optional()
      .describe('Extra Nx project tags (e.g. "frontend"); also usable in agent routing rules.'),
    verification_command: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe(
        'Test command for this task only, as an argv array ("{files}" expands to test_verification); overrides the plugin\'s verify.command. Refused unless nx.json\'s plugin options set "trustManifestCommands": true.',
      ),
    agent: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'Agent settings for this task only (adapter, model, timeoutMs, ...); override the plugin\'s routing. The fields that choose a program or its powers (command, bin, args, env, permissionMode, allowedTools, replayDir), and an adapter nx.json does not configure, are refused unless nx.json\'s plugin options set "trustManifestCommands": true.',
      ),
  })
  .describe('One planned task.');

export const manifestSchema = z
  .looseObject({
    $schema: z.string().optional().describe('JSON Schema reference for editors.'),
    manifest_hash: z
      .string()
      .optional()
      .describe('Hash the planner recorded for this manifest; the state file records the hash it was run against.'),
    status: z
      .enum(['OK', 'BLOCKED'])
      .default('OK')
      .describe('BLOCKED manifests are shown in the graph but never run.'),
    tasks: z.array(taskSchema).describe('The planned tasks.'),
  })
  .describe('Virtual Task Manifest: planned software tasks for coding agents.');

/** A task as written in the manifest (defaults not applied). */
export type TaskInput = z.input<typeof taskSchema>;
/** A task after parsing: every list present, booleans defaulted. */
export type Task = z.output<typeof taskSchema>;
export type Manifest = z.output<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;
export type Risk = (typeof RISK_LEVELS)[number];
export type AcceptanceCriterion = z.output<typeof acceptanceCriterionSchema>;

/** The lists of a task that hold workspace paths, checked by the path rules. */
export const PATH_FIELDS = [
  'file_scope',
  'test_verification',
  'related_specs',
  'related_adrs',
  'related_guides',
] as const satisfies readonly (keyof Task)[];

/** The lists of a task that hold related documents (the agent's required reading). */
export const DOC_FIELDS = ['related_specs', 'related_adrs', 'related_guides'] as const satisfies readonly (keyof Task)[];

/** Build the JSON Schema shipped with the plugin for editors (`manifest.schema.json`). */
export function buildManifestJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(manifestSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    ...schema,
    $id: 'https://github.com/nx-vtm/nx-vtm/manifest.schema.json',
    title: 'Virtual Task Manifest',
  };
}
