/**
 * Options of the nx-vtm plugin, as written in nx.json `plugins[].options`. The same object configures inference
 * (createNodes) and the executors, which read it back from nx.json so that one place holds the configuration.
 */
import { z } from 'zod';
import { canonicalJson } from '../manifest/hash';
import { createHash } from 'node:crypto';

export const DEFAULT_MANIFEST = 'docs/backlog/virtual-task-manifest.json';
export const DEFAULT_STATE_FILE = 'docs/backlog/task-state.json';
/** Run-time files (state database, locks, event log, worktrees, results, reports). Gitignored and nxignored by init. */
export const RUNTIME_DIR = '.vtm';

export const pluginOptionsSchema = z.looseObject({
  manifest: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .default(DEFAULT_MANIFEST)
    .describe('Manifest path or glob (or a list), relative to the workspace root.'),
  stateFile: z.string().min(1).default(DEFAULT_STATE_FILE).describe('Where task-state.json is written.'),
  wipLimit: z.number().int().min(1).max(64).default(3).describe('Most tasks in progress at once, across all processes.'),
  implementTargetName: z.string().min(1).default('implement'),
  verifyTargetName: z.string().min(1).default('verify'),
});

export type PluginOptionsInput = z.input<typeof pluginOptionsSchema>;
export type PluginOptions = z.output<typeof pluginOptionsSchema>;

/** Parse options; the error names nx.json and the option path, e.g. `nx.json plugins["nx-vtm"].options.wipLimit`. */
export function parsePluginOptions(raw: unknown): { ok: true; value: PluginOptions } | { ok: false; error: string } {
  const r = pluginOptionsSchema.safeParse(raw ?? {});
  if (r.success) return { ok: true, value: r.data };
  const lines = r.error.issues.map(
    (i) => `  - nx.json plugins["nx-vtm"].options${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`,
  );
  return { ok: false, error: `Invalid nx-vtm plugin options:\n${lines.join('\n')}` };
}

export const getManifestPatterns = (options: PluginOptions): string[] =>
  Array.isArray(options.manifest) ? options.manifest : [options.manifest];

/**
 * Hash of the options that change what an agent run produces. Everything except inference-only settings, so that
 * e.g. renaming a target does not invalidate finished work, while switching agent or model does.
 */
export function hashRunConfig(options: PluginOptions): string {
  const { manifest: _m, implementTargetName: _i, verifyTargetName: _v, wipLimit: _w, stateFile: _s, ...rest } = options;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 16);
}
