/**
 * `nx-vtm reset <TASK_ID...> [--yes]`: tasks the user wants run again go back to `pending` (the store's `invalidate`).
 * `nx-vtm abandon <TASK_ID> --reason "..."`: a task that is no longer wanted becomes `abandoned`.
 *
 * Both are refused while a live claim holds the task (its agent is running; changing its record under it would be
 * lost or, worse, mix two runs). A stale claim (its owner is gone) is released by the store on the way.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunContext } from '../../runtime/context';
import type { TaskRecord } from '../../state/task-record';
import type { TaskStore } from '../../state/task-store';
import { parseCommandArgs } from '../args';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type ExitCode } from '../cli-io';
import { getCommandHelp } from '../help';
import { formatAge } from '../pulse';
import { hasTaskStore, openWorkspaceStore, readCliWorkspace, readManifestContext, type CliWorkspace } from '../workspace';

/** The manifests, when they can be read: reset and abandon still work on a broken manifest (it may be why). */
async function readKnownTasks(ws: CliWorkspace, io: CliIo, command: string): Promise<RunContext | undefined> {
  const ctx = await readManifestContext(ws);
  if (ctx.ok) return ctx.value;
  io.err(`nx-vtm ${command}: warning: the manifests cannot be read, so task ids are checked against the task state only:\n${ctx.error}`);
  return undefined;
}

/** Ids neither in a manifest nor in the task state: most likely typos. */
function findUnknownIds({ ids, ctx, store }: { ids: readonly string[]; ctx: RunContext | undefined; store: TaskStore }): string[] {
  return ids.filter((id) => !ctx?.tasks.has(id) && store.getTask(id) === undefined);
}

/** The refusal for tasks a live run holds, or undefined. */
function findLiveClaims({ ids, store, now }: { ids: readonly string[]; store: TaskStore; now: number }): string | undefined {
  const held = store.getRunningClaims().filter((c) => ids.includes(c.taskId) && !c.verdict.stale);
  if (held.length === 0) return undefined;
  return held
    .map(
      (c) =>
        `${c.taskId} is being run by pid ${c.owner.pid} on ${c.owner.host} (run ${c.runId}, started ${formatAge(now - c.claimedAt)}); ` +
        `wait for that run to finish or stop it (Ctrl-C in its terminal), then run this command again`,
    )
    .join('\n');
}

/** Completed tasks that depend, directly or not, on `taskId` (they keep their status when it is reset). */
function findCompletedDependents({ taskId, ctx, records }: { taskId: string; ctx: RunContext; records: Map<string, TaskRecord> }): string[] {
  const dependents = new Map<string, string[]>();
  for (const { task } of ctx.tasks.values()) {
    for (const d of task.depends_on_tasks) dependents.set(d, [...(dependents.get(d) ?? []), task.task_id]);
  }
  const seen = new Set<string>();
  const stack = [...(dependents.get(taskId) ?? [])];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(dependents.get(id) ?? []));
  }
  return [...seen].filter((id) => records.get(id)?.status === 'completed').sort();
}

export async function runResetCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const parsed = parseCommandArgs({
    command: 'reset',
    args,
    options: { yes: { type: 'boolean', short: 'y' } },
    positionals: { min: 1, max: Infinity, name: 'task id (nx-vtm reset <TASK_ID...>)' },
  });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  if (parsed.value.values.help) {
    io.out(getCommandHelp('reset'));
    return EXIT_OK;
  }
  const ids = [...new Set(parsed.value.positionals)];
  const ws = readCliWorkspace({ cwd });
  if (!ws.ok) {
    io.err(`nx-vtm reset: ${ws.error}`);
    return EXIT_FAILURE;
  }
  const ctx = await readKnownTasks(ws.value, io, 'reset');
  if (!hasTaskStore(ws.value)) {
    // Without a store every task is pending (a task-state.json of earlier tooling is imported when the store opens).
    if (!fs.existsSync(path.resolve(ws.value.root, ws.value.options.stateFile))) {
      const unknown = ids.filter((id) => !ctx?.tasks.has(id));
      if (unknown.length > 0) {
        io.err(`nx-vtm reset: unknown task ${unknown.join(', ')}: in no manifest; check the id (nx-vtm status lists the tasks)`);
        return EXIT_FAILURE;
      }
      io.out(`Nothing to reset: no task has run yet, so ${ids.join(', ')} ${ids.length === 1 ? 'is' : 'are'} pending.`);
      return EXIT_OK;
    }
  }

  const opened = openWorkspaceStore(ws.value);
  if (!opened.ok) {
    io.err(`nx-vtm reset: ${opened.error}; nothing was reset`);
    return EXIT_FAILURE;
  }
  const store = opened.value;
  try {
    const unknown = findUnknownIds({ ids, ctx, store });
    if (unknown.length > 0) {
      io.err(`nx-vtm reset: unknown task ${unknown.join(', ')}: in no manifest and not in the task state; check the id (nx-vtm status lists the tasks)`);
      return EXIT_FAILURE;
    }
    const held = findLiveClaims({ ids, store, now: io.now() });
    if (held) {
      io.err(`nx-vtm reset: nothing was reset:\n${held}`);
      return EXIT_FAILURE;
    }
    const completed = ids.filter((id) => store.getTask(id)?.status === 'completed');
    if (completed.length > 0 && !parsed.value.values.yes) {
      const what = `${completed.join(', ')} ${completed.length === 1 ? 'is' : 'are'} completed; resetting clears the recorded result and the task runs again on the next run`;
      const answer = await io.confirm(`${what}. Reset?`);
      if (answer === undefined) {
        io.err(`nx-vtm reset: ${what}. Run it again with --yes to confirm (nothing was reset)`);
        return EXIT_USAGE;
      }
      if (!answer) {
        io.err('nx-vtm reset: cancelled; nothing was reset');
        return EXIT_FAILURE;
      }
    }

    let failed = false;
    let changed = 0;
    const records = new Map(store.listTasks().map((r) => [r.taskId, r]));
    for (const id of ids) {
      const before = store.getTask(id)?.status ?? 'pending';
      const r = store.invalidate({ taskId: id });
      if (!r.ok) {
        failed = true;
        io.err(`nx-vtm reset: ${r.error.message}`);
        continue;
      }
      if (before !== 'pending') changed++;
      io.out(before === 'pending' ? `${id}: already pending` : `${id}: ${before} -> pending`);
      if (before === 'completed' && ctx) {
        const dependents = findCompletedDependents({ taskId: id, ctx, records }).filter((d) => !ids.includes(d));
        if (dependents.length > 0) {
          io.out(`  note: completed tasks that depend on ${id} stay completed: ${dependents.join(', ')}; reset them too if they must be redone`);
        }
      }
    }
    if (!failed && changed > 0) io.out(`Run \`nx run-many -t implement --projects=${ids.join(',')}\` (or your usual command) to run ${ids.length === 1 ? 'it' : 'them'} again.`);
    return failed ? EXIT_FAILURE : EXIT_OK;
  } finally {
    store.close();
  }
}

export async function runAbandonCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const parsed = parseCommandArgs({
    command: 'abandon',
    args,
    options: { reason: { type: 'string', short: 'r' } },
    positionals: { min: 1, max: 1, name: 'task id (nx-vtm abandon <TASK_ID> --reason "...")' },
  });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  if (parsed.value.values.help) {
    io.out(getCommandHelp('abandon'));
    return EXIT_OK;
  }
  const reason = typeof parsed.value.values.reason === 'string' ? parsed.value.values.reason.replace(/\s+/g, ' ').trim() : '';
  if (!reason) {
    io.err('nx-vtm abandon: missing --reason "..." (why the task is no longer wanted; it is recorded in the task state). Run `nx-vtm help abandon`');
    return EXIT_USAGE;
  }
  const [id] = parsed.value.positionals;
  const ws = readCliWorkspace({ cwd });
  if (!ws.ok) {
    io.err(`nx-vtm abandon: ${ws.error}`);
    return EXIT_FAILURE;
  }
  const ctx = await readKnownTasks(ws.value, io, 'abandon');
  const opened = openWorkspaceStore(ws.value);
  if (!opened.ok) {
    io.err(`nx-vtm abandon: ${opened.error}; nothing was changed`);
    return EXIT_FAILURE;
  }
  const store = opened.value;
  try {
    const unknown = findUnknownIds({ ids: [id], ctx, store });
    if (unknown.length > 0) {
      io.err(`nx-vtm abandon: unknown task ${id}: in no manifest and not in the task state; check the id (nx-vtm status lists the tasks)`);
      return EXIT_FAILURE;
    }
    const held = findLiveClaims({ ids: [id], store, now: io.now() });
    if (held) {
      io.err(`nx-vtm abandon: ${id} was not abandoned:\n${held}`);
      return EXIT_FAILURE;
    }
    const before = store.getTask(id)?.status ?? 'pending';
    const r = store.recordOutcome({ taskId: id, outcome: { status: 'abandoned', reason } });
    if (!r.ok) {
      const hint = before === 'completed' ? `; run \`nx-vtm reset ${id} --yes\` first, then abandon it` : '';
      io.err(`nx-vtm abandon: ${r.error.message}${hint}`);
      return EXIT_FAILURE;
    }
    io.out(`${id}: ${before} -> abandoned (${reason})`);
    const waiting = ctx
      ? [...ctx.tasks.values()]
          .filter(({ task }) => task.depends_on_tasks.includes(id) && store.getTask(task.task_id)?.status !== 'completed')
          .map(({ task }) => task.task_id)
      : [];
    if (waiting.length > 0) {
      io.out(`  note: ${waiting.join(', ')} depend${waiting.length === 1 ? 's' : ''} on ${id} and cannot start now; remove ${id} from their depends_on_tasks, or abandon them too`);
    }
    return EXIT_OK;
  } finally {
    store.close();
  }
}
