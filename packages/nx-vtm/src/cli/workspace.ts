/**
 * What the commands read from the workspace: its root (the nearest directory with nx.json), the nx-vtm plugin
 * options registered there, the manifests, and the task state. The only place the command line reads nx.json.
 */
import type { NxJsonConfiguration } from '@nx/devkit';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getTaskFilePatterns, parsePluginOptions, type PluginOptions } from '../config/plugin-options';
import { err, ok, type Result } from '../manifest/problems';
import { findManifestFiles, findPluginOptions, loadRunContext, PLUGIN_NAME, type RunContext } from '../runtime/context';
import { buildImportedRecords, readStateFile } from '../state/state-file';
import type { TaskRecord } from '../state/task-record';
import { openTaskStore, type RunningClaim, type TaskStore, type WaitingTask } from '../state/task-store';
import type { PulseOrphan } from './pulse';

/** The store's database (the store's own default; the command line never moves it). */
export const STATE_DB = path.join('.vtm', 'state.db');

export interface CliWorkspace {
  root: string;
  nxJson: NxJsonConfiguration;
  /** The first nx-vtm registration's options (state file, WIP limit, worktree settings). */
  options: PluginOptions;
  /** Every nx-vtm registration's options (each may select other manifests). */
  registrations: PluginOptions[];
}

/** The nearest directory at or above `cwd` that holds nx.json, or undefined. */
export function findWorkspaceRoot(cwd: string): string | undefined {
  let dir = path.resolve(cwd);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'nx.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Finds the workspace from `cwd` and reads its nx.json and nx-vtm plugin options. */
export function readCliWorkspace({ cwd }: { cwd: string }): Result<CliWorkspace, string> {
  const root = findWorkspaceRoot(cwd);
  if (!root) return err(`no nx.json in ${path.resolve(cwd)} or any folder above it; run nx-vtm inside an Nx workspace`);
  const file = path.join(root, 'nx.json');
  let nxJson: NxJsonConfiguration;
  try {
    nxJson = JSON.parse(fs.readFileSync(file, 'utf8')) as NxJsonConfiguration;
  } catch (e) {
    return err(`cannot read ${file}: ${(e as Error).message}; fix the file`);
  }
  const first = findPluginOptions({ nxJson });
  if (!first.ok) return err(first.error);
  const registrations: PluginOptions[] = [];
  for (const p of nxJson.plugins ?? []) {
    if ((typeof p === 'string' ? p : p.plugin) !== PLUGIN_NAME) continue;
    const parsed = parsePluginOptions(typeof p === 'string' ? {} : p.options);
    if (!parsed.ok) return err(parsed.error);
    registrations.push(parsed.value);
  }
  return ok({ root, nxJson, options: first.value, registrations });
}

/** Reads and validates every manifest the registrations select (as a run would). */
export async function readManifestContext(ws: CliWorkspace): Promise<Result<RunContext, string>> {
  const files = new Set<string>();
  for (const options of ws.registrations) {
    for (const f of await findManifestFiles({ workspaceRoot: ws.root, options })) files.add(f);
  }
  if (files.size === 0) {
    const patterns = ws.registrations.flatMap(getTaskFilePatterns).join(', ');
    return err(
      `no manifest matching ${patterns} is known to git in ${ws.root}; create it (nx g nx-vtm:init writes an example), ` +
        'add it to git, or set the plugin option "manifest" (or "sources") in nx.json',
    );
  }
  return loadRunContext({ workspaceRoot: ws.root, nxJson: ws.nxJson, manifestFiles: [...files].sort() });
}

/** The task state as the commands read it. */
export interface TaskStateView {
  /** Where it came from: the store, a task-state.json without a store (read, not imported), or nothing yet. */
  source: 'store' | 'state-file' | 'none';
  records: TaskRecord[];
  claims: RunningClaim[];
  /** Agents still at work whose run was stopped (their task released, their slot held). */
  orphans: PulseOrphan[];
  waiting: WaitingTask[];
  manifestHash: string | null;
}

/** Whether a task store exists to read: a shared (PostgreSQL) coordinator always is; SQLite once a run created it. */
export const hasTaskStore = (ws: CliWorkspace): boolean =>
  ws.options.coordinator.type !== 'sqlite' || fs.existsSync(path.join(ws.root, STATE_DB));

/**
 * Opens the workspace's task store (creating it when missing); the caller closes it. Failing to open is expected
 * (a store written by a newer nx-vtm, a run holding the write lock past the busy timeout), so it is a result.
 */
export function openWorkspaceStore(ws: CliWorkspace): Result<TaskStore, string> {
  try {
    return ok(openTaskStore({ workspaceRoot: ws.root, stateFile: ws.options.stateFile, coordinator: ws.options.coordinator }));
  } catch (e) {
    const where = ws.options.coordinator.type === 'sqlite' ? STATE_DB : `(coordinator ${ws.options.coordinator.type})`;
    return err(`cannot open the task store ${where}: ${(e as Error).message}`);
  }
}

/**
 * Reads the task state without creating anything: from the store when it exists, else from task-state.json (a file
 * written by earlier tooling, which the first run imports), else empty.
 */
export function readTaskStateView(ws: CliWorkspace, { now }: { now: number }): Result<TaskStateView, string> {
  if (hasTaskStore(ws)) {
    const opened = openWorkspaceStore(ws);
    if (!opened.ok) return opened;
    const store = opened.value;
    try {
      return ok({
        source: 'store',
        records: store.listTasks(),
        claims: store.getRunningClaims(),
        orphans: store.listOrphanedAgents(),
        waiting: store.waitingSummary(),
        manifestHash: store.getManifestHash(),
      });
    } finally {
      store.close();
    }
  }
  const read = readStateFile(path.resolve(ws.root, ws.options.stateFile));
  if (read === undefined) return ok({ source: 'none', records: [], claims: [], orphans: [], waiting: [], manifestHash: null });
  if (!read.ok) return err(`${read.error}; fix or delete it (the next run then starts every task afresh)`);
  return ok({
    source: 'state-file',
    records: buildImportedRecords({ file: read.value, now }),
    claims: [],
    orphans: [],
    waiting: [],
    manifestHash: read.value.manifest_hash ?? null,
  });
}
