/**
 * Around every `nx` command that runs implement tasks (plugin hooks):
 * - before: one run id for the whole command (reaches every executor through the environment), and the run's
 *   preconditions (clean checkout, allowed branch), refusing with the seed's BLOCKED:: codes before any agent starts.
 *   The agents' checks (BLOCKED::AGENT-UNAVAILABLE) are not made here but by the executor before its first claim:
 *   this hook does not know which tasks the command runs, and refusing for an agent no task of it routes to (or
 *   probing every configured CLI for seconds on each nx command) would be wrong;
 * - after: tasks Nx served from its cache are recorded as completed (from cache), dependents Nx skipped because a
 *   dependency failed are recorded blocked (`dependency_failed:<id>`), and the run report is written.
 */
import type { NxJsonConfiguration } from '@nx/devkit';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePluginOptions, type PluginOptions } from '../config/plugin-options';
import { createRunId } from './run-tasks';
import { findManifestFiles, loadRunContext, loadTaskRunContext, type RunContext } from './context';
import { ok } from '../manifest/problems';
import { checkRunPreconditions, getIntegrationBranch, readRefusedTasks, RUNS_DIR } from './preconditions';
import { integrateCachedTasks } from './cache-restore';
import { buildRunReport, formatRunReportMarkdown, formatTotals, type NxTaskStatus } from './report';
import { openTaskStore, TASK_STORE_DB } from '../state/task-store';
import { getResetEnvName } from '../graph/build-graph';
import { buildLanes, formatRunReportHtml } from './report-html';
import { readEventLog } from '../state/event-log';
import type { TaskRecord } from '../state/task-record';
import { printFromHook } from '../plugins/worker-log';

/** Whether an nx command line runs `target` (run-many/affected -t, run p:target, the `nx p:target` shorthand). */
export function commandRunsTarget(argv: readonly string[], target: string): boolean {
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === target || a.endsWith(`:${target}`) || a.includes(`:${target}:`)) return true;
    const m = /^(?:--targets?|-t)=(.*)$/.exec(a);
    if (m && m[1].split(',').includes(target)) return true;
    if ((a === '-t' || a === '--target' || a === '--targets') && args[i + 1]?.split(',').includes(target)) return true;
  }
  return false;
}

const commandFile = (workspaceRoot: string, commandId: string) => join(workspaceRoot, RUNS_DIR, 'by-command', `${commandId}.json`);

class HookError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'nx-vtm';
    this.stack = message; // a refusal is not a crash: no JavaScript stack trace for the user
  }
}

export async function runPreTasksHook({
  rawOptions,
  commandId,
  workspaceRoot,
  argv,
  nxJson,
}: {
  rawOptions: unknown;
  commandId: string;
  workspaceRoot: string;
  argv: readonly string[];
  /** nx.json as Nx read it (for the manifests, read only when a shared checkout has uncommitted paths). */
  nxJson?: NxJsonConfiguration;
}): Promise<void> {
  const parsed = parsePluginOptions(rawOptions);
  if (!parsed.ok) throw new HookError(parsed.error);
  const options = parsed.value;
  if (!commandRunsTarget(argv, options.implementTargetName)) return;
  const runId = process.env.VTM_RUN_ID || createRunId();
  process.env.VTM_RUN_ID = runId;
  // Nx hashes the tasks after this hook, with the environment it leaves (it forwards what we set, also from an
  // isolated plugin worker or the daemon): the reset counts make a reset task miss the cache (graph/build-graph.ts).
  for (const [taskId, generation] of readResetGenerations(workspaceRoot, options)) process.env[getResetEnvName(taskId)] = String(generation);
  mkdirSync(join(workspaceRoot, RUNS_DIR, 'by-command'), { recursive: true });
  writeFileSync(commandFile(workspaceRoot, commandId), JSON.stringify({ runId, argv: argv.slice(2), startedAt: new Date().toISOString() }));
  const ctx: RunContext = { workspaceRoot, options, manifests: [], tasks: new Map(), manifestHash: '' };
  const branch = await getIntegrationBranch(ctx);
  if (!branch.ok) throw new HookError(branch.error);
  const loadTasks = async () => {
    const loaded = await loadTaskRunContext({ workspaceRoot, nxJson, taskIds: [] });
    return loaded.ok ? ok(new Map([...loaded.value.tasks].map(([id, e]) => [id, e.task]))) : loaded;
  };
  const pre = await checkRunPreconditions({ ctx, runId, loadTasks });
  if (!pre.ok) throw new HookError(pre.error);
}

/** The task store's reset counts; none when no task has run yet (no store: nothing was ever reset). */
function readResetGenerations(workspaceRoot: string, { stateFile, coordinator }: Pick<PluginOptions, 'stateFile' | 'coordinator'>): Map<string, number> {
  if (coordinator.type === 'sqlite' && !existsSync(join(workspaceRoot, TASK_STORE_DB))) return new Map();
  const store = openTaskStore({ workspaceRoot, stateFile, coordinator });
  try {
    return store.getResetGenerations();
  } finally {
    store.close();
  }
}

interface NxTaskResultLike {
  task: { id: string; target: { project: string; target: string }; startTime?: number; endTime?: number };
  status: NxTaskStatus;
  code?: number;
}

export async function runPostTasksHook({
  rawOptions,
  commandId,
  workspaceRoot,
  nxJson,
  taskResults,
  startTime,
  endTime,
  print = (line: string) => printFromHook(line),
}: {
  rawOptions: unknown;
  commandId: string;
  workspaceRoot: string;
  nxJson: NxJsonConfiguration;
  taskResults: Record<string, NxTaskResultLike>;
  startTime: number;
  endTime: number;
  print?: (line: string) => void;
}): Promise<void> {
  const parsed = parsePluginOptions(rawOptions);
  if (!parsed.ok) return;
  const options: PluginOptions = parsed.value;
  const ours = Object.values(taskResults).filter((r) => r.task.target.target === options.implementTargetName);
  if (ours.length === 0) return;

  const manifestFiles = await findManifestFiles({ workspaceRoot, options });
  const loaded = loadRunContext({ workspaceRoot, nxJson, manifestFiles });
  if (!loaded.ok) {
    print(`nx-vtm: results of this run not recorded: ${loaded.error}`);
    return;
  }
  const ctx = loaded.value;
  const runTasks = new Map<string, NxTaskStatus>();
  for (const r of ours) if (ctx.tasks.has(r.task.target.project)) runTasks.set(r.task.target.project, r.status);
  if (runTasks.size === 0) return;

  let runId = process.env.VTM_RUN_ID;
  const file = commandFile(workspaceRoot, commandId);
  if (existsSync(file)) runId = (JSON.parse(readFileSync(file, 'utf8')) as { runId: string }).runId;
  runId ??= createRunId(new Date(startTime));

  const store = openTaskStore({ workspaceRoot, stateFile: options.stateFile, coordinator: options.coordinator });
  try {
    // 1. Served from the Nx cache: completed (from cache); the accepted patch is applied where the branch lacks it.
    const cached = [...runTasks].filter(([, status]) => status.includes('cache')).map(([id]) => id);
    const restored = await integrateCachedTasks({ ctx, taskIds: cached, store, runId, log: (id, line) => print(`nx-vtm: [${id}] ${line}`) });
    for (const [id, outcome] of restored) if (outcome.status === 'failed') runTasks.set(id, 'failure');
    // 2. Dependents Nx never started because a dependency failed (absent from the results): blocked, with the cause.
    // Not after a refusal before any claim (BLOCKED::AGENT-UNAVAILABLE): nothing failed, nothing ran, nothing changes.
    const refused = readRefusedTasks({ workspaceRoot, runId });
    const failed = [...runTasks].filter(([id, s]) => s === 'failure' && !refused.has(id)).map(([id]) => id);
    const dependents = buildDependents(ctx);
    for (const f of failed) {
      for (const d of collectTransitive(dependents, f)) {
        const record = store.getTask(d);
        if (runTasks.has(d) && runTasks.get(d) !== 'skipped') continue;
        // Already recorded by the batch executor in this run (Nx leaves batch-skipped tasks out of its results).
        if (record?.status === 'blocked' && record.reason?.startsWith('dependency_failed:') && record.updatedAt >= startTime) {
          runTasks.set(d, 'skipped');
          continue;
        }
        if (record && record.status !== 'pending') continue;
        const r = store.recordOutcome({ taskId: d, runId, outcome: { status: 'blocked', reason: `dependency_failed:${f}`, error: `not started: ${f} failed` } });
        if (r.ok && [...runTasks.keys()].length > 0) runTasks.set(d, runTasks.get(d) ?? 'skipped');
      }
    }
    // 3. The report.
    const records = new Map<string, TaskRecord>(store.listTasks().map((r) => [r.taskId, r]));
    const report = buildRunReport({
      runId,
      manifestHash: ctx.manifestHash,
      startTime,
      endTime,
      runTasks,
      allTasks: [...ctx.tasks.values()].map((e) => e.task),
      records,
    });
    const dir = join(workspaceRoot, RUNS_DIR, runId);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(dir, 'report.md'), formatRunReportMarkdown(report));
    // The picture of the run, from this run's events (the store appended them before this hook runs).
    const taskById = new Map([...ctx.tasks].map(([id, e]) => [id, e.task]));
    const { events } = readEventLog(join(workspaceRoot, '.vtm', 'events.jsonl'));
    const lanes = buildLanes({ report, events, tasks: taskById });
    writeFileSync(join(dir, 'report.html'), formatRunReportHtml({ report, lanes, tasks: taskById, wipLimit: options.wipLimit }));
    store.logEvent({ type: 'run-end', runId, taskId: null, status: report.status, reason: null, extra: { totals: report.totals } });
    print('');
    print(
      `nx-vtm: ${report.status}: ${formatTotals(report.totals)}` +
        (report.time.saved_minutes > 0 ? `; ${report.time.saved_minutes} min saved vs serial` : ''),
    );
    for (const b of report.blockers) print(`  ${b.task_id}: ${b.reason} -> ${b.remediation}`);
    if (report.next_eligible.length > 0) print(`  next eligible: ${report.next_eligible.slice(0, 8).join(', ')}${report.next_eligible.length > 8 ? ', ...' : ''}`);
    print(`  report: ${join(RUNS_DIR, runId, 'report.md')} (picture: report.html)  state: ${options.stateFile}  events: .vtm/events.jsonl`);
  } finally {
    store.close();
  }
}

function buildDependents(ctx: RunContext): Map<string, string[]> {
  const dependents = new Map<string, string[]>();
  for (const { task } of ctx.tasks.values()) {
    for (const dep of task.depends_on_tasks) dependents.set(dep, [...(dependents.get(dep) ?? []), task.task_id]);
  }
  return dependents;
}

function collectTransitive(dependents: Map<string, string[]>, from: string): string[] {
  const seen = new Set<string>();
  const stack = [...(dependents.get(from) ?? [])];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(dependents.get(id) ?? []));
  }
  return [...seen];
}
