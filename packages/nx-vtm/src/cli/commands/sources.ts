/**
 * `nx-vtm next [--json]` (the tasks that can start now) and `nx-vtm run "<selection>"` (seed 002's `/task 63, 65-67`
 * as a real `nx run-many -t implement --projects=...`). Both read manifests and sources as a run would.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { hashTask } from '../../manifest/hash';
import type { Task } from '../../manifest/schema';
import { buildFootprint, footprintsConflict } from '../../scheduler/conflicts';
import { isCompletedFor } from '../../state/task-record';
import { runProcess } from '../../agents/process-runner';
import { buildReadyTasks, buildRunPlan, listSelectableTasks, parseSelection, resolveSelection } from '../../sources/selection';
import { parseCommandArgs } from '../args';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type ExitCode } from '../cli-io';
import { getCommandHelp } from '../help';
import { readCliWorkspace, readManifestContext, readTaskStateView } from '../workspace';

async function loadView(command: string, cwd: string, io: CliIo) {
  const ws = readCliWorkspace({ cwd });
  if (!ws.ok) return io.err(`nx-vtm ${command}: ${ws.error}`);
  const ctx = await readManifestContext(ws.value);
  if (!ctx.ok) return io.err(`nx-vtm ${command}: ${ctx.error}`);
  const state = readTaskStateView(ws.value, { now: io.now() });
  if (!state.ok) return io.err(`nx-vtm ${command}: ${state.error}`);
  const records = new Map(state.value.records.map((r) => [r.taskId, r]));
  const tasks = ctx.value.tasks;
  // Completed for the task's current entry; a dependency that is no task (done in its source) counts as completed.
  const isCompleted = (id: string) => {
    const t = tasks.get(id);
    if (!t) return true;
    const r = records.get(id);
    return r !== undefined && isCompletedFor(r, hashTask(t.task));
  };
  return { root: ws.value.root, ctx: ctx.value, claims: state.value.claims, isCompleted };
}

export async function runNextCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const parsed = parseCommandArgs({ command: 'next', args, options: { json: { type: 'boolean' } } });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  if (parsed.value.values.help) {
    io.out(getCommandHelp('next'));
    return EXIT_OK;
  }
  const view = await loadView('next', cwd, io);
  if (!view) return EXIT_FAILURE;
  const running = new Set(view.claims.map((c) => c.taskId));
  const ready = buildReadyTasks({
    manifests: view.ctx.manifests,
    isCompleted: view.isCompleted,
    isRunning: (id) => running.has(id),
    conflictsWithRunning: (t: Task) => view.claims.some((c) => footprintsConflict(buildFootprint(t), c.footprint)),
  });
  if (parsed.value.values.json) io.out(JSON.stringify(ready, null, 2));
  else if (ready.length === 0) io.out('nx-vtm next: no task can start now (see `nx-vtm status` for what blocks them)');
  else for (const t of ready) io.out(`${t.id}\t${t.risk}\tP${t.priority}\t${t.title}${t.source ? `\t(${t.source})` : ''}`);
  return ready.length > 0 ? EXIT_OK : EXIT_FAILURE;
}

/** The workspace's own nx CLI (node_modules/nx), run with this Node. */
function resolveNxBin(root: string): string | undefined {
  try {
    const pkgFile = createRequire(join(root, 'package.json')).resolve('nx/package.json');
    const bin = (require(pkgFile) as { bin?: Record<string, string> }).bin?.nx;
    return bin ? join(pkgFile, '..', bin) : undefined;
  } catch {
    return undefined;
  }
}

export async function runRunCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const parsed = parseCommandArgs({ command: 'run', args, options: { 'dry-run': { type: 'boolean' } }, positionals: { min: 1, max: 100, name: 'selection' } });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  if (parsed.value.values.help) {
    io.out(getCommandHelp('run'));
    return EXIT_OK;
  }
  const tokens = parseSelection(parsed.value.positionals.join(','));
  if (!tokens.ok) {
    io.err(`nx-vtm run: ${tokens.error}`);
    return EXIT_USAGE;
  }
  const view = await loadView('run', cwd, io);
  if (!view) return EXIT_FAILURE;
  const selection = resolveSelection({ tokens: tokens.value, tasks: listSelectableTasks(view.ctx.manifests), isCompleted: view.isCompleted });
  for (const u of selection.unknown) io.err(`nx-vtm run: ${u}: no such task (skipped)`);
  for (const s of selection.skipped) io.out(`nx-vtm run: ${s.id}: ${s.why} (skipped)`);
  if (selection.run.length === 0) {
    io.err('nx-vtm run: nothing to run');
    return EXIT_FAILURE;
  }
  const taskMap = new Map([...view.ctx.tasks].map(([id, e]) => [id, e.task]));
  const plan = buildRunPlan({ selected: selection.run, tasks: taskMap, isCompleted: view.isCompleted });
  const extra = plan.filter((id) => !selection.run.includes(id));
  io.out(`nx-vtm run: ${selection.run.length} selected${extra.length > 0 ? ` + ${extra.length} unfinished dependenc${extra.length === 1 ? 'y' : 'ies'}` : ''}:`);
  const shown = plan.slice(0, 20);
  for (const id of shown) io.out(`  ${id}${extra.includes(id) ? ' (dependency)' : ''}  ${taskMap.get(id)?.title ?? ''}`);
  if (plan.length > shown.length) io.out(`  ... and ${plan.length - shown.length} more`);
  // Nx adds the unfinished dependencies itself (the implement targets' dependsOn); naming the selection is enough.
  const nxArgs = ['run-many', '-t', view.ctx.options.implementTargetName, `--projects=${selection.run.join(',')}`];
  io.out(`nx-vtm run: nx ${nxArgs.join(' ')}`);
  if (parsed.value.values['dry-run']) return EXIT_OK;
  const nxBin = resolveNxBin(view.root);
  if (!nxBin) {
    io.err('nx-vtm run: nx is not installed in this workspace (node_modules/nx); run npm install');
    return EXIT_FAILURE;
  }
  const r = await runProcess({ argv: [process.execPath, nxBin, ...nxArgs], cwd: view.root, env: process.env, onStdoutLine: (l) => io.out(l), onStderrLine: (l) => io.err(l) });
  return (r.exitCode === 0 ? EXIT_OK : EXIT_FAILURE) as ExitCode;
}
