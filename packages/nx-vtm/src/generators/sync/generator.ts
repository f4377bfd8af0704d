/**
 * `nx-vtm:sync` (a sync generator, registered on every task's `verify` target): write the task snapshot files of
 * every manifest and delete the snapshots of tasks that no longer exist. `nx sync` applies it; `nx sync:check` fails
 * in CI when someone edited a manifest without committing the refreshed snapshots.
 */
import { glob, readNxJson, type Tree } from '@nx/devkit';
import { getManifestPatterns, parsePluginOptions } from '../../config/plugin-options';
import { parseManifestText } from '../../manifest/parse';
import { formatProblems } from '../../manifest/problems';
import { buildSnapshotContent, getSnapshotDir, getSnapshotPath, SNAPSHOT_DIR_NAME } from '../../graph/task-snapshots';

const PLUGIN_NAME = 'nx-vtm';

/** Nx's sync generator result (not exported by @nx/devkit, so declared here; see nx's utils/sync-generators). */
export type SyncGeneratorResult = void | { outOfSyncMessage?: string; outOfSyncDetails?: string[] };

export async function syncGenerator(tree: Tree): Promise<SyncGeneratorResult> {
  const entries = (readNxJson(tree)?.plugins ?? []).filter((p) => (typeof p === 'string' ? p : p.plugin) === PLUGIN_NAME);
  const changed: string[] = [];
  // Every snapshot first, then deletions: two manifests in one folder share its snapshot folder, and one manifest's
  // pass must not delete the other's snapshots.
  const wanted = new Map<string, string>();
  const dirs = new Set<string>();
  for (const entry of entries) {
    const options = parsePluginOptions(typeof entry === 'string' ? {} : entry.options);
    if (!options.ok) throw new Error(options.error);
    const manifests = glob(tree, getManifestPatterns(options.value)).filter(
      (f) => !f.includes(`/${SNAPSHOT_DIR_NAME}/`) && f !== options.value.stateFile,
    );
    for (const file of manifests) {
      const parsed = parseManifestText({ text: tree.read(file, 'utf8') ?? '', file });
      if (!parsed.ok) throw new Error(formatProblems(parsed.error));
      dirs.add(getSnapshotDir(file));
      for (const task of parsed.value.tasks) wanted.set(getSnapshotPath(file, task.task_id), buildSnapshotContent(task));
    }
  }
  for (const [path, content] of wanted) {
    if (tree.read(path, 'utf8') !== content) {
      tree.write(path, content);
      changed.push(path);
    }
  }
  for (const dir of dirs) {
    for (const child of tree.exists(dir) ? tree.children(dir) : []) {
      const path = `${dir}/${child}`;
      if (child.endsWith('.json') && !wanted.has(path)) {
        tree.delete(path);
        changed.push(path);
      }
    }
  }
  return changed.length > 0
    ? {
        outOfSyncMessage: 'nx-vtm task snapshots are out of date with the manifest; run `nx sync` and commit them',
        outOfSyncDetails: changed.slice(0, 20),
      }
    : undefined;
}

export default syncGenerator;
