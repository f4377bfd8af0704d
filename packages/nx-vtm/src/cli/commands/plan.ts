/**
 * `nx-vtm plan "<request>" [--dry-run] [--max-rounds N] [--json]`: turn a request into manifest tasks. A small request
 * becomes one task; otherwise the configured agent is asked (any process adapter: claude, codex, gemini, opencode, or a
 * `command` with the contract below), its answer (a CLI's final message) is validated
 * with the manifest model and rules, every problem goes back to it for repair within `--max-rounds`, and only a valid
 * plan is written (atomically), or printed with `--dry-run`.
 *
 * Planner contract (any program): the prompt on stdin; environment VTM_PLAN=1, VTM_PLAN_ROUND (1, 2, ...),
 * VTM_RESULT_FILE (where it may write its answer), VTM_WORKSPACE_ROOT; the answer is a JSON object with a `tasks`
 * array, in the result file or as the last JSON line of stdout.
 */
import writeFileAtomicLib from 'write-file-atomic';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getManifestPatterns } from '../../config/plugin-options';
import { getSnapshotDir, getSnapshotPath, buildSnapshotContent } from '../../graph/task-snapshots';
import { parseManifestText } from '../../manifest/parse';
import { formatProblems } from '../../manifest/problems';
import type { Task } from '../../manifest/schema';
import { buildPlannedManifestText, planTasks } from '../../planning/run-plan';
import { parseCommandArgs } from '../args';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type ExitCode } from '../cli-io';
import { getCommandHelp } from '../help';
import { readCliWorkspace } from '../workspace';

/** Writes `content` to `file` through a temporary file in the same folder and a rename: readers never see half. */
function writeFileAtomic(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomicLib.sync(file, content);
}

export async function runPlanCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const parsed = parseCommandArgs({
    command: 'plan',
    args,
    options: { 'dry-run': { type: 'boolean' }, 'max-rounds': { type: 'string' }, json: { type: 'boolean' }, manifest: { type: 'string' } },
    positionals: { min: 1, max: 1, name: 'request' },
  });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  const { values, positionals } = parsed.value;
  if (values.help) {
    io.out(getCommandHelp('plan'));
    return EXIT_OK;
  }
  const request = positionals[0];
  const maxRounds = values['max-rounds'] === undefined ? 3 : Number(values['max-rounds']);
  if (!Number.isInteger(maxRounds) || maxRounds < 1 || maxRounds > 10) {
    io.err(`nx-vtm plan: --max-rounds must be a whole number from 1 to 10, got "${String(values['max-rounds'])}". Run \`nx-vtm help plan\``);
    return EXIT_USAGE;
  }
  const ws = readCliWorkspace({ cwd });
  if (!ws.ok) {
    io.err(`nx-vtm plan: ${ws.error}`);
    return EXIT_FAILURE;
  }
  const root = ws.value.root;
  const manifestFile = typeof values.manifest === 'string' ? values.manifest : getManifestPatterns(ws.value.options)[0];
  if (/[*?[{]/.test(manifestFile)) {
    io.err(`nx-vtm plan: the plugin option "manifest" is a glob (${manifestFile}); name the file to write with --manifest <path>`);
    return EXIT_USAGE;
  }
  const manifestPath = path.join(root, manifestFile);
  let existingText: string | undefined;
  let existing: Task[] = [];
  if (fs.existsSync(manifestPath)) {
    existingText = fs.readFileSync(manifestPath, 'utf8');
    const current = parseManifestText({ text: existingText, file: manifestFile });
    if (!current.ok) {
      io.err(`nx-vtm plan: the existing manifest is invalid; fix it first:\n${formatProblems(current.error)}`);
      return EXIT_FAILURE;
    }
    existing = current.value.tasks;
  }

  const outcome = await planTasks({ root, agent: ws.value.options.agent, request, existing, manifestFile, maxRounds, onNote: (line) => io.err(`nx-vtm plan: ${line}`) });
  // What the planner's CLI reported it cost, over all rounds (a failed plan costs too).
  const cost = outcome.costUsd !== undefined ? `$${outcome.costUsd.toFixed(4)}` : undefined;
  if (!outcome.ok) {
    io.err(`nx-vtm plan: ${outcome.message}${cost ? ` (planner cost ${cost})` : ''}`);
    return EXIT_FAILURE;
  }
  const { planned, rounds } = outcome;

  // The tasks as validated (defaults applied), so the written manifest is exactly what was checked.
  const text = buildPlannedManifestText({ existingText, planned });
  if (values.json || values['dry-run']) io.out(values.json ? JSON.stringify({ manifest: manifestFile, rounds, written: !values['dry-run'], ...(outcome.costUsd !== undefined ? { costUsd: outcome.costUsd } : {}), tasks: planned }, null, 2) : text);
  if (values['dry-run']) return EXIT_OK;
  writeFileAtomic(manifestPath, text);
  // Refresh the per-task snapshots when the workspace keeps them (nx sync writes them; inputs of the verify target).
  if (fs.existsSync(path.join(root, getSnapshotDir(manifestFile)))) {
    for (const t of planned) writeFileAtomic(path.join(root, getSnapshotPath(manifestFile, t.task_id)), buildSnapshotContent(t));
  }
  if (!values.json) {
    io.out(`nx-vtm plan: ${planned.length} task${planned.length === 1 ? '' : 's'} added to ${manifestFile}${rounds > 0 ? ` (${rounds} planner round${rounds === 1 ? '' : 's'}${cost ? `, ${cost}` : ''})` : ' (one task: no planner needed)'}: ${planned.map((t) => t.task_id).join(', ')}`);
    io.out(`Next: npx nx-vtm preview   # the execution plan, before running anything`);
  }
  return EXIT_OK;
}
