/**
 * `nx g nx-vtm:plan --request="..."`: the generator form of `nx-vtm plan`. The same planning loop; the result is
 * written through the Tree, so `--dry-run` and Nx's change listing work as for any generator. A plan that never
 * becomes valid fails the generator (Nx then writes nothing).
 */
import { logger, readNxJson, type Tree } from '@nx/devkit';
import { getManifestPatterns, parsePluginOptions } from '../../config/plugin-options';
import { buildSnapshotContent, getSnapshotDir, getSnapshotPath } from '../../graph/task-snapshots';
import { parseManifestText } from '../../manifest/parse';
import { formatProblems } from '../../manifest/problems';
import { buildPlannedManifestText, planTasks } from '../../planning/run-plan';
import type { PlanGeneratorSchema } from './schema';

export async function planGenerator(tree: Tree, schema: PlanGeneratorSchema): Promise<void> {
  const entry = (readNxJson(tree)?.plugins ?? []).find((p) => (typeof p === 'string' ? p : p.plugin) === 'nx-vtm');
  if (!entry) throw new Error('nx-vtm is not registered in nx.json "plugins"; run `nx g nx-vtm:init` first');
  const options = parsePluginOptions(typeof entry === 'string' ? {} : entry.options);
  if (!options.ok) throw new Error(options.error);
  const manifestFile = schema.manifest ?? getManifestPatterns(options.value)[0];
  if (/[*?[{]/.test(manifestFile)) throw new Error(`the plugin option "manifest" is a glob (${manifestFile}); name the file to write with --manifest`);
  const existingText = tree.read(manifestFile, 'utf8') ?? undefined;
  let existing: Parameters<typeof planTasks>[0]['existing'] = [];
  if (existingText !== undefined) {
    const current = parseManifestText({ text: existingText, file: manifestFile });
    if (!current.ok) throw new Error(`the existing manifest is invalid; fix it first:\n${formatProblems(current.error)}`);
    existing = current.value.tasks;
  }
  const outcome = await planTasks({
    root: tree.root,
    agent: options.value.agent,
    request: schema.request,
    existing,
    manifestFile,
    maxRounds: schema.maxRounds ?? 3,
    onNote: (line) => process.stderr.write(`nx-vtm plan: ${line}\n`),
  });
  // What the planner's CLI reported it cost over all rounds (a failed plan costs too), as `nx-vtm plan` prints it.
  const cost = outcome.costUsd !== undefined ? `$${outcome.costUsd.toFixed(4)}` : undefined;
  if (!outcome.ok) throw new Error(`${outcome.message}${cost ? ` (planner cost ${cost})` : ''}`);
  const how = outcome.rounds > 0 ? `${outcome.rounds} planner round${outcome.rounds === 1 ? '' : 's'}${cost ? `, ${cost}` : ''}` : 'one task: no planner needed';
  logger.info(`nx-vtm plan: ${outcome.planned.length} task${outcome.planned.length === 1 ? '' : 's'} planned for ${manifestFile} (${how}): ${outcome.planned.map((t) => t.task_id).join(', ')}`);
  tree.write(manifestFile, buildPlannedManifestText({ existingText, planned: outcome.planned }));
  if (tree.exists(getSnapshotDir(manifestFile))) {
    for (const t of outcome.planned) tree.write(getSnapshotPath(manifestFile, t.task_id), buildSnapshotContent(t));
  }
}

export default planGenerator;
