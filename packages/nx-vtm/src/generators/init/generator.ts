/**
 * `nx g nx-vtm:init`: register the plugin, keep its run-time files out of git and out of Nx's file watching, and
 * give a new user a manifest to start from. Safe to run again: it never duplicates an entry or overwrites a manifest.
 */
import { formatFiles, readNxJson, updateNxJson, type Tree } from '@nx/devkit';
import { posix } from 'node:path';
import { DEFAULT_MANIFEST, DEFAULT_STATE_FILE, RUNTIME_DIR } from '../../config/plugin-options';
import { getPathProblem } from '../../manifest/paths';
import { buildExampleManifest } from './example-manifest';
import { syncGenerator } from '../sync/generator';
import type { InitGeneratorSchema } from './schema';

export const PLUGIN_NAME = 'nx-vtm';

function appendLines(tree: Tree, file: string, lines: string[], header: string): void {
  const existing = tree.exists(file) ? tree.read(file, 'utf8') ?? '' : '';
  const present = new Set(existing.split(/\r?\n/).map((l) => l.trim()));
  const missing = lines.filter((l) => !present.has(l) && !present.has(l.replace(/\/$/, '')));
  if (missing.length === 0) return;
  const sep = existing === '' || existing.endsWith('\n') ? '' : '\n';
  tree.write(file, `${existing}${sep}${existing === '' ? '' : '\n'}${header}\n${missing.join('\n')}\n`);
}

export async function initGenerator(tree: Tree, schema: InitGeneratorSchema = {}): Promise<void> {
  const manifest = schema.manifest ?? DEFAULT_MANIFEST;
  const problem = getPathProblem(manifest, { allowGlob: true });
  if (problem) throw new Error(`nx-vtm:init: --manifest ${problem}`);

  const nxJson = readNxJson(tree) ?? {};
  const plugins = nxJson.plugins ?? [];
  const registered = plugins.some((p) => (typeof p === 'string' ? p : p.plugin) === PLUGIN_NAME);
  if (!registered) {
    plugins.push({ plugin: PLUGIN_NAME, options: { manifest, stateFile: DEFAULT_STATE_FILE, wipLimit: 3 } });
    nxJson.plugins = plugins;
    updateNxJson(tree, nxJson);
  }

  // .vtm/ holds the state database, locks, logs, worktrees and results: never committed, never watched (a watched
  // write would make the Nx daemon recompute the project graph on every state update).
  appendLines(tree, '.gitignore', [`${RUNTIME_DIR}/`], '# nx-vtm run-time files');
  appendLines(tree, '.nxignore', [`${RUNTIME_DIR}/`, DEFAULT_STATE_FILE], '# nx-vtm run-time files');

  const isLiteral = !/[*?[\]{}]/.test(manifest);
  if (!schema.skipExample && isLiteral && !tree.exists(manifest)) {
    const schemaPath = posix.relative(posix.dirname(manifest), 'node_modules/nx-vtm/manifest.schema.json');
    tree.write(manifest, `${JSON.stringify(buildExampleManifest(schemaPath), null, 2)}\n`);
  }
  // Task snapshots for `nx affected` (kept current afterwards by the sync generator: `nx sync`).
  await syncGenerator(tree);
  if (!schema.skipFormat) await formatFiles(tree);
}

export default initGenerator;
