/**
 * What an executor or hook needs about the workspace: the plugin options from nx.json and every manifest of the
 * workspace (tasks may depend on tasks of other manifests), validated exactly as inference validated them.
 */
import type { NxJsonConfiguration } from '@nx/devkit';
import { minimatch } from 'minimatch';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SNAPSHOT_DIR_NAME } from '../graph/task-snapshots';
import { getTaskFilePatterns, parsePluginOptions, type PluginOptions } from '../config/plugin-options';
import { formatProblems } from '../manifest/problems';
import { readManifests, type LoadedManifest } from '../manifest/read';
import { getUntrustedCommandProblems } from '../manifest/trust';
import { findSourceSpec } from '../sources/read';
import type { Task } from '../manifest/schema';
import { canonicalJson, hashManifest } from '../manifest/hash';
import { err, ok, type Result } from '../manifest/problems';

export const PLUGIN_NAME = 'nx-vtm';

export interface RunContext {
  workspaceRoot: string;
  options: PluginOptions;
  manifests: LoadedManifest[];
  /** Every task of every manifest, by id, with the manifest it comes from. */
  tasks: Map<string, { task: Task; file: string; status: 'OK' | 'BLOCKED' }>;
  /** Hash over all manifests (what task-state.json records as manifest_hash). */
  manifestHash: string;
}

/** The plugin entries of nx.json that are nx-vtm, with their raw options. */
function getPluginEntries(nxJson: NxJsonConfiguration | undefined): unknown[] {
  return (nxJson?.plugins ?? [])
    .filter((p) => (typeof p === 'string' ? p : p.plugin) === PLUGIN_NAME)
    .map((p) => (typeof p === 'string' ? {} : p.options ?? {}));
}

/** The nx-vtm options that infer `manifestFile` (several registrations may exist, one per manifest set). */
export function findPluginOptions({
  nxJson,
  manifestFile,
}: {
  nxJson: NxJsonConfiguration | undefined;
  manifestFile?: string;
}): Result<PluginOptions, string> {
  const entries = getPluginEntries(nxJson);
  if (entries.length === 0) return err('nx-vtm is not registered in nx.json "plugins"; run `nx g nx-vtm:init`');
  const parsed: PluginOptions[] = [];
  for (const raw of entries) {
    const r = parsePluginOptions(raw);
    if (!r.ok) return err(r.error);
    parsed.push(r.value);
  }
  if (!manifestFile) return ok(parsed[0]);
  const match = parsed.find((o) => getTaskFilePatterns(o).some((p) => p === manifestFile || minimatch(manifestFile, p, { dot: true })));
  return match ? ok(match) : err(`no nx-vtm registration in nx.json selects the manifest ${manifestFile}`);
}

/**
 * Manifest files selected by the plugin options, found without the project graph (hooks run outside executors):
 * the files git knows (tracked and untracked, not ignored: Nx's own view of the workspace) matching the patterns.
 */
export async function findManifestFiles({ workspaceRoot, options }: { workspaceRoot: string; options: PluginOptions }): Promise<string[]> {
  const patterns = getTaskFilePatterns(options);
  const { gitOk } = await import('../workspace/git');
  // .nxignore too, as Nx's own file list does (a glob like docs/backlog/*.json must not pick up the state file).
  const nxignore = existsSync(join(workspaceRoot, '.nxignore')) ? ['--exclude-from=.nxignore'] : [];
  const listed = await gitOk({ cwd: workspaceRoot, args: ['ls-files', '-z', '--cached', '--others', '--exclude-standard', ...nxignore, '--', '*.json', ...options.sources.map((s) => s.path)] });
  if (!listed.ok) return [];
  const files = new Set(listed.value.split('\0').filter(Boolean));
  return [...files]
    .filter((f) => findSourceSpec(options.sources, f) !== undefined || (f !== options.stateFile && !f.includes(`/${SNAPSHOT_DIR_NAME}/`)))
    .filter((f) => patterns.some((p) => f === p || minimatch(f, p, { dot: true })))
    .sort();
}

export function loadRunContext({
  workspaceRoot,
  nxJson,
  manifestFiles,
  manifestFile,
}: {
  workspaceRoot: string;
  nxJson: NxJsonConfiguration | undefined;
  manifestFiles: readonly string[];
  /** The manifest whose plugin registration applies (the task's own). */
  manifestFile?: string;
}): Result<RunContext, string> {
  const options = findPluginOptions({ nxJson, manifestFile: manifestFile ?? manifestFiles[0] });
  if (!options.ok) return options;
  const loaded = readManifests({ workspaceRoot, files: manifestFiles, sources: options.value.sources });
  if (!loaded.ok) return err(formatProblems(loaded.error));
  // Trust, checked here too (every run goes through this function): each manifest against its own registration's
  // `trustManifestCommands`; a manifest no registration selects is trusted with nothing.
  const untrusted = loaded.value.flatMap(({ file, manifest }) => {
    const own = findPluginOptions({ nxJson, manifestFile: file });
    if (own.ok && own.value.trustManifestCommands) return [];
    return getUntrustedCommandProblems({ manifest, file, agentOptions: own.ok ? own.value.agent : undefined });
  });
  if (untrusted.length > 0) return err(formatProblems(untrusted));
  const tasks: RunContext['tasks'] = new Map();
  const hash = createHash('sha256');
  for (const m of loaded.value) {
    hash.update(`${m.file}\0${hashManifest(m.manifest)}\0`);
    for (const task of m.manifest.tasks) tasks.set(task.task_id, { task, file: m.file, status: m.manifest.status });
  }
  // One manifest (the common case): its own content hash, comparable with what the planner tooling records.
  const manifestHash = loaded.value.length === 1 ? hashManifest(loaded.value[0].manifest) : hash.digest('hex');
  return ok({ workspaceRoot, options: options.value, manifests: loaded.value, tasks, manifestHash });
}

/**
 * Every manifest file of every nx-vtm registration in nx.json (found as `findManifestFiles` finds them), sorted.
 * What the executors and hooks read: the inferred targets carry neither task ids nor manifest paths (each would be
 * paid once per task in every Nx command, see graph/build-graph.ts), so a run finds its manifests as the CLI does.
 */
export async function findAllManifestFiles({ workspaceRoot, nxJson }: { workspaceRoot: string; nxJson: NxJsonConfiguration | undefined }): Promise<string[]> {
  const files = new Set<string>();
  for (const raw of getPluginEntries(nxJson)) {
    const options = parsePluginOptions(raw);
    // A registration with bad options has no manifests here; loadRunContext reports its error.
    if (!options.ok) continue;
    for (const f of await findManifestFiles({ workspaceRoot, options: options.value })) files.add(f);
  }
  return [...files].sort();
}

/**
 * The run context for tasks named by their ids (the Nx project names): every manifest of the workspace, read under
 * the registration whose manifest defines the first task (its agent, verification and state settings apply).
 */
export async function loadTaskRunContext({
  workspaceRoot,
  nxJson,
  taskIds,
}: {
  workspaceRoot: string;
  nxJson: NxJsonConfiguration | undefined;
  taskIds: readonly string[];
}): Promise<Result<RunContext, string>> {
  const manifestFiles = await findAllManifestFiles({ workspaceRoot, nxJson });
  if (manifestFiles.length === 0) {
    return err('nx-vtm: no manifest selected by the nx-vtm registrations in nx.json is known to git; add the manifest to git or fix the "manifest" option');
  }
  const first = loadRunContext({ workspaceRoot, nxJson, manifestFiles });
  if (!first.ok || taskIds.length === 0) return first;
  const own = first.value.tasks.get(taskIds[0])?.file;
  if (own === undefined || own === manifestFiles[0]) return first;
  // Several registrations: read again under the task's own one when its settings differ (rare; costs one more parse).
  const ownOptions = findPluginOptions({ nxJson, manifestFile: own });
  if (!ownOptions.ok || canonicalJson(ownOptions.value) === canonicalJson(first.value.options)) return first;
  return loadRunContext({ workspaceRoot, nxJson, manifestFiles, manifestFile: own });
}
