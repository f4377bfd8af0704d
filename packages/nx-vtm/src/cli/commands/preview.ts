/**
 * `nx-vtm preview [SELECTION...] [--json]`: the execution plan a run would follow, on the estimates, before anything
 * runs. Reads the manifests and the task state; never claims, writes or starts anything.
 */
import { hashTask } from '../../manifest/hash';
import type { Task } from '../../manifest/schema';
import { buildTaskTags, phaseProjectName, sliceProjectName } from '../../graph/build-graph';
import { buildPreview, formatPreview, type Preview, type PreviewExcluded } from '../../scheduler/preview';
import { isCompletedFor, type TaskRecord } from '../../state/task-record';
import { parseCommandArgs } from '../args';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type ExitCode } from '../cli-io';
import { getCommandHelp } from '../help';
import { readCliWorkspace, readManifestContext, readTaskStateView } from '../workspace';

/**
 * The tasks a run of `selectors` would execute, as `nx run-many -t implement --projects=<selectors>` does: the selected
 * tasks (task id, `slice-<n>`, `phase-<n>` or `tag:<tag>`; all tasks without selectors) and, transitively, their
 * dependencies, minus what is already completed for its current manifest entry. Tasks that cannot run (abandoned, in
 * a BLOCKED manifest, or depending on one of those) are excluded with the reason. Pure.
 */
export function selectPlannedTasks({
  tasks,
  records,
  selectors,
}: {
  tasks: ReadonlyMap<string, { task: Task; status: 'OK' | 'BLOCKED' }>;
  records: readonly TaskRecord[];
  selectors: readonly string[];
}): { ok: true; planned: Task[]; excluded: PreviewExcluded[] } | { ok: false; message: string } {
  const all = [...tasks.values()].map((e) => e.task);
  const selected = new Set<string>();
  for (const s of selectors) {
    const matched = all.filter((t) =>
      s.startsWith('tag:')
        ? buildTaskTags({ task: t }).includes(s.slice(4))
        : t.task_id === s || (t.slice && sliceProjectName(t.slice) === s) || (t.phase && phaseProjectName(t.phase) === s),
    );
    if (matched.length === 0) {
      return { ok: false, message: `"${s}" selects no task; give a task id, slice-<n>, phase-<n> or tag:<tag> (see \`nx show projects\`)` };
    }
    for (const t of matched) selected.add(t.task_id);
  }
  if (selectors.length === 0) for (const t of all) selected.add(t.task_id);

  // Close over dependencies, as Nx does through the implement target's dependsOn.
  const queue = [...selected];
  for (let k = 0; k < queue.length; k++) {
    for (const dep of tasks.get(queue[k])?.task.depends_on_tasks ?? []) {
      if (!selected.has(dep) && tasks.has(dep)) {
        selected.add(dep);
        queue.push(dep);
      }
    }
  }

  const recordOf = new Map(records.map((r) => [r.taskId, r]));
  const excluded: PreviewExcluded[] = [];
  const cannotRun = new Map<string, string>();
  const done = new Set<string>();
  // Manifest order is not topological; resolve "cannot run" by walking dependencies first.
  const visit = (id: string, seen = new Set<string>()): void => {
    if (cannotRun.has(id) || done.has(id) || seen.has(id)) return;
    seen.add(id);
    const entry = tasks.get(id)!;
    const record = recordOf.get(id);
    if (record && isCompletedFor(record, hashTask(entry.task))) {
      done.add(id);
      return;
    }
    if (record?.status === 'abandoned') return void cannotRun.set(id, 'abandoned');
    if (entry.status === 'BLOCKED') return void cannotRun.set(id, 'its manifest has "status": "BLOCKED"');
    for (const dep of entry.task.depends_on_tasks) {
      if (!tasks.has(dep)) continue;
      visit(dep, seen);
      if (cannotRun.has(dep)) return void cannotRun.set(id, `depends on ${dep}, which cannot run`);
    }
  };
  for (const id of selected) visit(id);

  const planned: Task[] = [];
  for (const t of all) {
    if (!selected.has(t.task_id)) continue;
    if (done.has(t.task_id)) excluded.push({ taskId: t.task_id, reason: 'completed' });
    else if (cannotRun.has(t.task_id)) excluded.push({ taskId: t.task_id, reason: cannotRun.get(t.task_id)! });
    else planned.push(t);
  }
  return { ok: true, planned, excluded };
}

export async function runPreviewCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const parsed = parseCommandArgs({
    command: 'preview',
    args,
    options: { json: { type: 'boolean' } },
    positionals: { min: 0, max: Number.MAX_SAFE_INTEGER, name: 'selection' },
  });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  if (parsed.value.values.help) {
    io.out(getCommandHelp('preview'));
    return EXIT_OK;
  }
  const ws = readCliWorkspace({ cwd });
  if (!ws.ok) {
    io.err(`nx-vtm preview: ${ws.error}`);
    return EXIT_FAILURE;
  }
  const ctx = await readManifestContext(ws.value);
  if (!ctx.ok) {
    io.err(`nx-vtm preview: ${ctx.error}`);
    return EXIT_FAILURE;
  }
  const state = readTaskStateView(ws.value, { now: io.now() });
  if (!state.ok) {
    io.err(`nx-vtm preview: ${state.error}`);
    return EXIT_FAILURE;
  }
  const selection = selectPlannedTasks({ tasks: ctx.value.tasks, records: state.value.records, selectors: parsed.value.positionals });
  if (!selection.ok) {
    io.err(`nx-vtm preview: ${selection.message}`);
    return EXIT_USAGE;
  }
  // Measured durations of earlier runs refine the estimates exactly as a run does (run-tasks.ts).
  const history = new Map<string, number[]>();
  for (const r of state.value.records) {
    const minutes = r.outcome.duration_minutes;
    if (typeof minutes === 'number' && minutes > 0) history.set(r.taskId, [minutes]);
  }
  const preview: Preview = {
    ...buildPreview({ tasks: selection.planned, wipLimit: ws.value.options.wipLimit, history }),
    excluded: selection.excluded,
  };
  io.out(parsed.value.values.json ? JSON.stringify(preview, null, 2) : formatPreview(preview));
  return EXIT_OK;
}
