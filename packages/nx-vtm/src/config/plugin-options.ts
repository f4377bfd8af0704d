/**
 * Options of the nx-vtm plugin, as written in nx.json `plugins[].options`. The same object configures inference
 * (createNodes) and the executors, which read it back from nx.json so that one place holds the configuration.
 */
import { z } from 'zod';
import { agentOptionsSchema, formatIssues } from '../agents/config';
import { SOURCE_TYPES } from '../sources/types';
import { NAMESPACE_PATTERN } from '../state/db/coordinator-options';

export const DEFAULT_MANIFEST = 'docs/backlog/virtual-task-manifest.json';
export const DEFAULT_STATE_FILE = 'docs/backlog/task-state.json';
/** Run-time files (state database, locks, event log, worktrees, results, reports). Gitignored and nxignored by init. */
export const RUNTIME_DIR = '.vtm';
/** A git remote's name as `git remote` lists it (a URL is refused: fetched refs are kept under refs/remotes/<name>/). */
export const REMOTE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const DEFAULT_VERIFY_COMMAND = ['node', '--test', '{files}'] as const;

export const pluginOptionsSchema = z
  .strictObject({
  manifest: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .default(DEFAULT_MANIFEST)
    .describe('Manifest path or glob (or a list), relative to the workspace root.'),
  sources: z
    .array(
      z.strictObject({
        type: z.enum(SOURCE_TYPES).describe('Format: "todo-md" (seed 002 TODO.md), "beads" (.beads/issues.jsonl), "taskmaster" (tasks.json), "speckit" (tasks.md).'),
        path: z.string().min(1).describe('Workspace-relative path of the source file (a glob is allowed, e.g. "specs/*/tasks.md").'),
        tag: z.string().min(1).optional().describe('Task Master only: the tag to read (default: currentTag of .taskmaster/state.json, else "master").'),
      }),
    )
    .default([])
    .describe('Backlogs in their own format, read beside (or instead of) manifests; see docs/sources.md.'),
  stateFile: z.string().min(1).default(DEFAULT_STATE_FILE).describe('Where task-state.json is written.'),
  wipLimit: z.number().int().min(1).max(64).default(3).describe('Most tasks in progress at once, across all processes.'),
  implementTargetName: z.string().min(1).default('implement'),
  verifyTargetName: z
    .union([z.string().min(1), z.literal(false)])
    .default('verify')
    .describe('Name of the inferred verification target; false infers none (a large backlog that never runs `nx affected -t verify` saves ~20% of every nx command).'),
  agent: agentOptionsSchema.optional(),
  verify: z
    .union([
      z.literal(false),
      z.strictObject({
        command: z
          .array(z.string().min(1))
          .min(1)
          .default([...DEFAULT_VERIFY_COMMAND])
          .describe('Test command as an argv array; "{files}" expands to the task\'s test_verification files.'),
        timeoutMs: z.number().int().positive().default(10 * 60_000),
      }),
    ])
    .default({ command: [...DEFAULT_VERIFY_COMMAND], timeoutMs: 10 * 60_000 })
    .describe('How test_verification files are run; false disables verification (recorded as skipped).'),
  isolation: z
    .enum(['worktree', 'none'])
    .default('worktree')
    .describe('"worktree": each task in its own git worktree (default); "none": agents work in the checkout.'),
  integration: z
    .enum(['merge', 'branch'])
    .default('merge')
    .describe('"merge": finished work is merged into the integration branch; "branch": left on vtm/<task_id> for a pull request.'),
  integrationBranch: z.string().min(1).optional().describe('Branch tasks start from and merge into; default: the branch checked out.'),
  remote: z
    .string()
    .regex(REMOTE_NAME_PATTERN, 'the name of a git remote (as `git remote` lists it, e.g. "origin"), not a URL')
    .optional()
    .describe(
      'Integration across machines (off by default): the git remote holding the shared integration branch. Each task starts from the fetched branch; each merge is pushed (never forced), re-merged when another machine pushed first; "branch" integration pushes vtm/<task_id>. See docs/teams.md.',
    ),
  integrationCheck: z
    .strictObject({
      testMerged: z
        .boolean()
        .default(true)
        .describe(
          'integration "merge": test the merged result before the integration branch moves (the task\'s own verification, re-run when the branch moved since the task started); a failure goes back to the agent as a repair turn.',
        ),
      command: z
        .array(z.string().min(1))
        .min(1)
        .optional()
        .describe('A workspace check run on every merged result (and on a task branch before "branch" declares it ready), e.g. ["npx", "nx", "affected", "-t", "test", "--base=HEAD~1"].'),
      timeoutMs: z.number().int().positive().default(10 * 60_000).describe('Kill the check after this long (it then fails).'),
    })
    .default({ testMerged: true, timeoutMs: 10 * 60_000 })
    .describe('The merge queue: what must pass on the merged result before the integration branch moves.'),
  allowedBranches: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe('When set, runs are refused (BLOCKED::NOT-ON-MAIN-BRANCH) on any other branch, e.g. ["main", "master"].'),
  worktree: z
    .strictObject({
      linkDirs: z.array(z.string().min(1)).default(['node_modules']),
      setupCommand: z.array(z.string().min(1)).min(1).optional(),
      setupTimeoutMs: z.number().int().positive().default(10 * 60_000),
      spares: z
        .number()
        .int()
        .min(0)
        .max(16)
        .default(1)
        .describe('Worktrees checked out ahead of need while agents work, so a task starts without a full checkout (0: off).'),
    })
    .default({ linkDirs: ['node_modules'], setupTimeoutMs: 10 * 60_000, spares: 1 }),
  trustManifestCommands: z
    .boolean()
    .default(false)
    .describe(
      'true: the manifests of this registration may choose programs and powers (a task\'s agent.command, bin, args, env, permissionMode, allowedTools, replayDir and verification_command). Default false: only nx.json may.',
    ),
  contextDirs: z.array(z.string().min(1)).default(['docs']).describe('Where named references such as "ADR-0002: ..." are looked up.'),
  leaseMs: z.number().int().positive().default(90_000).describe('A claim not renewed for this long is taken over.'),
  heartbeatMs: z.number().int().positive().default(15_000),
  exclusiveWaitMs: z
    .number()
    .int()
    .nonnegative()
    .default(10 * 60_000)
    .describe('A High-risk task waiting longer than this holds back new starts until it can run alone.'),
  pollMs: z.number().int().positive().default(500).describe('How often a waiting task re-checks the other processes.'),
  coordinator: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('sqlite').describe('One checkout: .vtm/state.db, shared by the processes of this machine.') }),
      z.strictObject({
        type: z.literal('postgres').describe('One PostgreSQL database shared by every machine working on the backlog.'),
        url: z
          .string()
          .regex(/^(postgres(ql)?:\/\/|env:[A-Za-z_][A-Za-z0-9_]*$)/, 'a postgres:// connection string, or env:NAME to read it from an environment variable')
          .describe('postgres://user:password@host:5432/database, or "env:VTM_PG_URL" to read it from that environment variable (keeps the password out of nx.json).'),
        namespace: z
          .string()
          .regex(NAMESPACE_PATTERN, '1-48 letters, digits, "_" or "-"')
          .describe('The backlog\'s name in that database: machines with the same database and namespace share claims, the WIP limit and pauses.'),
      }),
    ])
    .default({ type: 'sqlite' })
    .describe('Where claims, leases, reservations and pauses are kept: this checkout (sqlite, default) or a database shared by a team or CI fleet (postgres); see docs/teams.md.'),
  })
  // Strict: a misspelt option ("wiplimit") is an error, not silently the default.
  .refine((o) => o.heartbeatMs < o.leaseMs, { message: 'heartbeatMs must be less than leaseMs (a claim would expire between heartbeats)', path: ['heartbeatMs'] })
  // Fetching and pushing happen around task worktrees; with isolation "none" agents work in the checkout itself.
  .refine((o) => !(o.remote && o.isolation === 'none'), { message: 'remote needs isolation "worktree" (with "none" nothing would be fetched or pushed)', path: ['remote'] });

export type PluginOptionsInput = z.input<typeof pluginOptionsSchema>;
export type PluginOptions = z.output<typeof pluginOptionsSchema>;

/** Parse options; the error names nx.json and the option path, e.g. `nx.json plugins["nx-vtm"].options.wipLimit`. */
export function parsePluginOptions(raw: unknown): { ok: true; value: PluginOptions } | { ok: false; error: string } {
  const r = pluginOptionsSchema.safeParse(raw ?? {});
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: formatIssues('Invalid nx-vtm plugin options', 'nx.json plugins["nx-vtm"].options', r.error.issues) };
}

export const getManifestPatterns = (options: PluginOptions): string[] =>
  Array.isArray(options.manifest) ? options.manifest : [options.manifest];

/** Manifest patterns and source paths: every file whose tasks this registration infers. */
export const getTaskFilePatterns = (options: PluginOptions): string[] => [...getManifestPatterns(options), ...options.sources.map((s) => s.path)];
