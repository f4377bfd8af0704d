/**
 * The only I/O of the manifest module: reading manifest files from a workspace and probing paths.
 */
import { readdirSync, statSync } from 'node:fs';
import { readUtf8File } from './text-file';
import { join } from 'node:path';
import type { Manifest } from './schema';
import { err, ok, type ManifestProblem, type Result } from './problems';
import { parseManifestText } from './parse';
import { getCrossManifestProblems, type PathProbe } from './rules';
import { findSourceSpec, readSource, readSourceTaskIds } from '../sources/read';
import type { SourceInfo, SourceSpec } from '../sources/types';

/**
 * A probe answering from the workspace's file system, for one read of the manifests (the file system may change
 * between reads). Most file_scope entries are files that do not exist yet, in folders that often do not exist either,
 * and a 10,000-task manifest has thousands of them: instead of one `stat` per entry, each folder on the way is listed
 * once (`readdir` with types), and a folder missing from its parent's listing is known missing without a system call.
 */
export function createFsPathProbe(workspaceRoot: string): PathProbe {
  /** Folder (workspace-relative, "" for the root) -> its entries that are directories or links, or null if missing. */
  const listings = new Map<string, Map<string, 'dir' | 'link'> | null>();
  const list = (folder: string): Map<string, 'dir' | 'link'> | null => {
    const known = listings.get(folder);
    if (known !== undefined) return known;
    let result: Map<string, 'dir' | 'link'> | null = null;
    const slash = folder.lastIndexOf('/');
    // A folder exists only if its parent lists it as a directory (or as a link, then `stat` decides).
    const parentOk = folder === '' || isDirectoryAt(folder.slice(0, Math.max(slash, 0)), folder.slice(slash + 1));
    if (parentOk) {
      try {
        result = new Map();
        for (const e of readdirSync(join(workspaceRoot, folder), { withFileTypes: true })) {
          if (e.isDirectory()) result.set(e.name, 'dir');
          else if (e.isSymbolicLink()) result.set(e.name, 'link');
        }
      } catch {
        result = null;
      }
    }
    listings.set(folder, result);
    return result;
  };
  const isDirectoryAt = (folder: string, name: string): boolean => {
    if (name === '' || name === '.' || name === '..') return statIsDirectory(folder === '' ? name : `${folder}/${name}`);
    const kind = list(folder)?.get(name);
    if (kind === 'link') return statIsDirectory(folder === '' ? name : `${folder}/${name}`);
    return kind === 'dir';
  };
  // Links (followed, as the agent's file system would) and odd spellings: ask the file system.
  const statIsDirectory = (relativePath: string): boolean => {
    try {
      return statSync(join(workspaceRoot, relativePath), { throwIfNoEntry: false })?.isDirectory() ?? false;
    } catch {
      return false;
    }
  };
  return {
    isDirectory(relativePath) {
      const slash = relativePath.lastIndexOf('/');
      if (slash === -1) return isDirectoryAt('', relativePath);
      const folder = relativePath.slice(0, slash);
      // Paths reach the probe normalised (no "", "." or ".." segments); anything else takes the plain stat.
      if (folder.startsWith('/') || folder.split('/').some((s) => s === '' || s === '.' || s === '..')) return statIsDirectory(relativePath);
      return isDirectoryAt(folder, relativePath.slice(slash + 1));
    },
  };
}

export interface LoadedManifest {
  /** Workspace-relative path of the manifest file. */
  file: string;
  manifest: Manifest;
  /** Present when the file is a task source (TODO.md, Beads, Task Master, Spec Kit) rather than a manifest. */
  source?: SourceInfo;
}

/** A manifest's text, or a problem saying why it cannot be read. */
function readText(workspaceRoot: string, file: string): Result<string, ManifestProblem[]> {
  try {
    return ok(readUtf8File(join(workspaceRoot, file)));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? 'manifest file not found; create it (nx g nx-vtm:init writes an example) or set the plugin option "manifest"'
        : `cannot read manifest: ${(e as Error).message}`;
    return err([{ file, path: '(root)', message }]);
  }
}

/** Read and validate one manifest file (path relative to the workspace root). */
export function readManifest({
  workspaceRoot,
  file,
  externalIds,
}: {
  workspaceRoot: string;
  file: string;
  externalIds?: readonly string[];
}): Result<LoadedManifest, ManifestProblem[]> {
  const text = readText(workspaceRoot, file);
  if (!text.ok) return text;
  const parsed = parseManifestText({ text: text.value, file, probe: createFsPathProbe(workspaceRoot), externalIds });
  return parsed.ok ? ok({ file, manifest: parsed.value }) : parsed;
}

/** Task ids of a manifest's text, read leniently (for cross-manifest references before full validation). */
function getTaskIds(text: string): string[] {
  try {
    const tasks = (JSON.parse(text) as { tasks?: unknown }).tasks;
    if (!Array.isArray(tasks)) return [];
    return tasks.map((t) => (t as { task_id?: unknown } | null)?.task_id).filter((id): id is string => typeof id === 'string');
  } catch {
    return [];
  }
}

/** Read several manifests; problems of all of them (and ids defined twice across them) are reported together. */
export function readManifests({
  workspaceRoot,
  files,
  sources,
}: {
  workspaceRoot: string;
  files: readonly string[];
  /** The plugin option `sources`: files matching one are read by the source layer (docs/sources.md). */
  sources?: readonly SourceSpec[];
}): Result<LoadedManifest[], ManifestProblem[]> {
  const loaded: LoadedManifest[] = [];
  const problems: ManifestProblem[] = [];
  const sourceFiles = files.map((file) => ({ file, spec: findSourceSpec(sources, file) })).filter((x) => x.spec !== undefined);
  const manifestFiles = files.filter((f) => !sourceFiles.some((s) => s.file === f));
  const texts = manifestFiles.map((file) => ({ file, text: readText(workspaceRoot, file) }));
  // Other manifests' ids are only needed when there are other files: a lone manifest is not parsed twice (8 MB of JSON
  // at 10,000 tasks).
  const idsByFile = new Map<string, string[]>();
  if (files.length > 1) {
    for (const { file, text } of texts) idsByFile.set(file, text.ok ? getTaskIds(text.value) : []);
    for (const { file, spec } of sourceFiles) idsByFile.set(file, readSourceTaskIds({ workspaceRoot, spec: spec!, file }));
  }
  const probe = createFsPathProbe(workspaceRoot);
  for (const { file, spec } of sourceFiles) {
    const externalIds = files.filter((f) => f !== file).flatMap((f) => idsByFile.get(f) ?? []);
    const r = readSource({ workspaceRoot, spec: spec!, file, probe, externalIds });
    if (r.ok) loaded.push(r.value);
    else problems.push(...r.error);
  }
  for (const { file, text } of texts) {
    if (!text.ok) {
      problems.push(...text.error);
      continue;
    }
    // Tasks may depend on tasks of the workspace's other manifests.
    const externalIds = files.filter((f) => f !== file).flatMap((f) => idsByFile.get(f) ?? []);
    const r = parseManifestText({ text: text.value, file, probe, externalIds });
    if (r.ok) loaded.push({ file, manifest: r.value });
    else problems.push(...r.error);
  }
  problems.push(...getCrossManifestProblems(loaded));
  return problems.length > 0 ? err(problems) : ok(loaded);
}
