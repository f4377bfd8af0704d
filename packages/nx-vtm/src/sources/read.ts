/**
 * The read port of the source layer: the only I/O (reading the source file, the workspace's top-level entries for
 * tasks without a scope, Task Master's current tag, the age of a Beads export). Everything else is pure.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { minimatch } from 'minimatch';
import { err, ok, type ManifestProblem, type Result } from '../manifest/problems';
import { readUtf8File } from '../manifest/text-file';
import type { PathProbe } from '../manifest/rules';
import type { Manifest } from '../manifest/schema';
import { buildSourceManifest } from './build-manifest';
import { parseSourceText } from './parse';
import type { SourceInfo, SourceSpec } from './types';

/**
 * Never part of a wide scope: version control, our own run-time files, Nx's cache, installed packages, and the
 * task tools' own folders (the backlog is written back by nx-vtm, never by an agent).
 */
const NOT_SCOPE = new Set(['.git', '.vtm', '.nx', 'node_modules', '.beads', '.taskmaster']);

/** Every top-level entry of the workspace (`src/`, `README.md`), the scope of a task whose source names none. */
export function readWideScope(workspaceRoot: string, sourceFile?: string): string[] {
  try {
    return readdirSync(workspaceRoot, { withFileTypes: true })
      .filter((e) => !NOT_SCOPE.has(e.name) && e.name !== sourceFile)
      .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
      .sort();
  } catch {
    return [];
  }
}

/** Task Master's active tag: the entry's `tag`, else `currentTag` of `.taskmaster/state.json`, else "master". */
export function readTaskmasterTag(workspaceRoot: string, spec: SourceSpec): string {
  if (spec.tag) return spec.tag;
  try {
    const state = JSON.parse(readFileSync(join(workspaceRoot, '.taskmaster/state.json'), 'utf8')) as { currentTag?: unknown };
    if (typeof state.currentTag === 'string' && state.currentTag) return state.currentTag;
  } catch {
    // no state file: Task Master's own default
  }
  return 'master';
}

/** Whether a workspace file is the file of a source entry (paths may be globs, e.g. `specs/*\/tasks.md`). */
export const sourceMatches = (spec: SourceSpec, file: string): boolean => spec.path === file || minimatch(file, spec.path, { dot: true });

export function findSourceSpec(specs: readonly SourceSpec[] | undefined, file: string): SourceSpec | undefined {
  return specs?.find((s) => sourceMatches(s, file));
}

export interface LoadedSource {
  file: string;
  manifest: Manifest;
  source: SourceInfo;
}

const STALE_EXPORT_MS = 24 * 60 * 60_000;

/** Read one source file as a manifest. */
export function readSource({
  workspaceRoot,
  spec,
  file = spec.path,
  probe,
  externalIds,
  now = Date.now(),
}: {
  workspaceRoot: string;
  spec: SourceSpec;
  file?: string;
  probe?: PathProbe;
  externalIds?: readonly string[];
  now?: number;
}): Result<LoadedSource, ManifestProblem[]> {
  const abs = join(workspaceRoot, file);
  let text: string;
  try {
    text = readUtf8File(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint =
      spec.type === 'beads'
        ? 'export it with `bd export -o .beads/issues.jsonl` (bd 1.0.5 no longer writes it by default)'
        : 'create it or fix "path" in the plugin option "sources"';
    return err([{ file, path: '(root)', message: code === 'ENOENT' ? `${spec.type} source not found; ${hint}` : `cannot read ${spec.type} source: ${(e as Error).message}` }]);
  }
  const tag = spec.type === 'taskmaster' ? readTaskmasterTag(workspaceRoot, spec) : undefined;
  const parsed = parseSourceText({ type: spec.type, text, tag, now });
  if (spec.type === 'beads') {
    // The JSONL is only an export of bd's Dolt database: say when it looks older than the database.
    const dolt = join(workspaceRoot, '.beads/dolt');
    try {
      if (existsSync(dolt) && statSync(dolt).mtimeMs - statSync(abs).mtimeMs > STALE_EXPORT_MS) {
        parsed.warnings.push(`${file} is older than .beads/dolt; refresh it with \`bd export -o ${file}\``);
      }
    } catch {
      // best effort only
    }
  }
  const built = buildSourceManifest({ type: spec.type, file, parsed, wideScope: readWideScope(workspaceRoot, file), probe, externalIds });
  return built.ok ? ok({ file, ...built.value }) : built;
}

/** Task ids a source defines (for cross-source dependencies), read leniently. */
export function readSourceTaskIds({ workspaceRoot, spec, file = spec.path, now = Date.now() }: { workspaceRoot: string; spec: SourceSpec; file?: string; now?: number }): string[] {
  try {
    const text = readUtf8File(join(workspaceRoot, file));
    const tag = spec.type === 'taskmaster' ? readTaskmasterTag(workspaceRoot, spec) : undefined;
    return parseSourceText({ type: spec.type, text, tag, now }).tasks.map((t) => t.id);
  } catch {
    return [];
  }
}
