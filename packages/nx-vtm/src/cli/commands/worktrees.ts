/**
 * `nx-vtm worktrees [list]` and `nx-vtm worktrees prune [--dry-run] [--force]`: leftovers of task runs (worktrees
 * under .vtm/worktrees and `vtm/*` branches), what a prune removes and what it keeps and why.
 *
 * Tasks held by a live claim (a run in any process) are always kept, even with `--force`: their agent is writing in
 * that worktree right now. Uncommitted work is removed only with `--force`; branches only when merged.
 */
import * as path from 'node:path';
import { getDefaultWorktreesDir, listTaskWorktrees, pruneTaskWorktrees, type PruneEntry, type TaskWorktreeInfo } from '../../workspace/worktree';
import { ok, type Result } from '../../manifest/problems';
import type { TaskStatus } from '../../state/task-record';
import { isSameProcess } from '../../state/process-identity';
import type { RunningClaim } from '../../state/task-store';
import { parseCommandArgs, type OptionSpec } from '../args';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type ExitCode } from '../cli-io';
import { getCommandHelp } from '../help';
import { hasTaskStore, openWorkspaceStore, readCliWorkspace, type CliWorkspace } from '../workspace';

type Mode = 'list' | 'dry-run' | 'prune';

/** What the listing shows beside prune's verdict for one entry. */
export interface WorktreeEntryView extends PruneEntry {
  /** Task status in the store, when it has one. */
  status: TaskStatus | null;
  /** Uncommitted paths of the worktree. */
  dirty_paths: string[];
  /** The live claim that keeps the task, if any. */
  live_claim: { pid: number; host: string; run_id: string; owner_alive: boolean; agent_pid: number | null } | null;
}

export async function runWorktreesCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const [first, ...rest] = args;
  const sub = first === undefined || first.startsWith('-') ? 'list' : first;
  const subArgs = first === sub ? rest : args;
  if (sub !== 'list' && sub !== 'prune') {
    io.err(`nx-vtm worktrees: unknown subcommand "${sub}" (use "list" or "prune"). Run \`nx-vtm help worktrees\``);
    return EXIT_USAGE;
  }
  const options: Record<string, OptionSpec> =
    sub === 'prune' ? { json: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, force: { type: 'boolean' } } : { json: { type: 'boolean' } };
  const parsed = parseCommandArgs({ command: `worktrees ${sub}`, args: subArgs, options });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  const values = parsed.value.values;
  if (values.help) {
    io.out(getCommandHelp('worktrees'));
    return EXIT_OK;
  }
  const ws = readCliWorkspace({ cwd });
  if (!ws.ok) {
    io.err(`nx-vtm worktrees: ${ws.error}`);
    return EXIT_FAILURE;
  }
  const mode: Mode = sub === 'list' ? 'list' : values['dry-run'] ? 'dry-run' : 'prune';
  return runWorktrees({ ws: ws.value, io, mode, force: values.force === true, json: values.json === true });
}

async function runWorktrees({ ws, io, mode, force, json }: { ws: CliWorkspace; io: CliIo; mode: Mode; force: boolean; json: boolean }): Promise<ExitCode> {
  const { root, options } = ws;
  const linkDirs = options.worktree.linkDirs;
  const integrationRef = options.integrationBranch ?? 'HEAD';
  const claims = readClaims(ws);
  if (!claims.ok) {
    io.err(`nx-vtm worktrees: ${claims.error}; nothing was changed`);
    return EXIT_FAILURE;
  }
  const { statuses, liveClaims } = claims.value;
  const keepTaskIds = [...liveClaims.keys()];

  const infos = await listTaskWorktrees({ repoRoot: root, linkDirs });
  if (!infos.ok) {
    io.err(`nx-vtm worktrees: cannot list the task worktrees of ${root}: ${infos.error.message}; is it a git repository?`);
    return EXIT_FAILURE;
  }
  const pruned = await pruneTaskWorktrees({ repoRoot: root, linkDirs, keepTaskIds, integrationRef, force, dryRun: mode !== 'prune' });
  if (!pruned.ok) {
    io.err(`nx-vtm worktrees: ${pruned.error.message}`);
    return EXIT_FAILURE;
  }
  const byPath = new Map<string, TaskWorktreeInfo>(infos.value.map((i) => [i.path, i]));
  const views: WorktreeEntryView[] = pruned.value.map((e) => {
    const claim = liveClaims.get(e.taskId);
    return {
      ...e,
      status: statuses.get(e.taskId) ?? null,
      dirty_paths: (e.path && byPath.get(e.path)?.dirtyPaths) || [],
      live_claim: claim
        ? { pid: claim.owner.pid, host: claim.owner.host, run_id: claim.runId, owner_alive: !claim.verdict.stale, agent_pid: claim.agent?.pid ?? null }
        : null,
    };
  });
  if (json) {
    io.out(JSON.stringify({ worktrees_dir: getDefaultWorktreesDir(root), integration_ref: integrationRef, mode, force, entries: views }, null, 2));
  } else {
    io.out(formatWorktreeEntries({ views, root, mode, integrationRef }));
  }
  return EXIT_OK;
}

/**
 * Task statuses and live claims from the store (none when no run has created it yet). Without them a prune could
 * remove a running task's worktree, so a store that cannot be read stops the command.
 */
function readClaims(ws: CliWorkspace): Result<{ statuses: Map<string, TaskStatus>; liveClaims: Map<string, RunningClaim> }, string> {
  const statuses = new Map<string, TaskStatus>();
  const liveClaims = new Map<string, RunningClaim>();
  if (!hasTaskStore(ws)) return ok({ statuses, liveClaims });
  const opened = openWorkspaceStore(ws);
  if (!opened.ok) return opened;
  const store = opened.value;
  try {
    for (const r of store.listTasks()) statuses.set(r.taskId, r.status);
    for (const c of store.getRunningClaims()) {
      // A claim whose owner died may have left its agent running (it is killed when a run takes the task over);
      // that agent still writes in the worktree, so it counts as in use too.
      const orphanWriting = c.agent !== null && c.agent.host === store.self.host && isSameProcess(c.agent);
      if (!c.verdict.stale || orphanWriting) liveClaims.set(c.taskId, c);
    }
  } finally {
    store.close();
  }
  return ok({ statuses, liveClaims });
}

const WORKTREE_VERB: Record<PruneEntry['worktree'], string | null> = {
  removed: 'worktree removed',
  'would-remove': 'worktree would be removed',
  kept: 'worktree kept',
  none: null,
};
const BRANCH_VERB: Record<PruneEntry['branchAction'], string | null> = {
  deleted: 'branch deleted (merged)',
  'would-delete': 'branch would be deleted (merged)',
  kept: 'branch kept',
  none: null,
};

/** The listing or prune result as text (pure): one block per task, then a summary line. */
export function formatWorktreeEntries({
  views,
  root,
  mode,
  integrationRef,
}: {
  views: readonly WorktreeEntryView[];
  root: string;
  mode: Mode;
  integrationRef: string;
}): string {
  if (views.length === 0) return `No task worktrees or ${'vtm/*'} branches in ${root}.\n`;
  const lines: string[] = [];
  lines.push(mode === 'list' ? 'Task worktrees and branches (and what `nx-vtm worktrees prune` would do):' : mode === 'dry-run' ? 'Dry run: nothing is changed.' : 'Pruned task worktrees and branches:');
  for (const v of views) {
    const where = v.path ? path.relative(root, v.path) || '.' : 'no worktree';
    const dirty = v.dirty_paths.length > 0 ? `, ${v.dirty_paths.length} uncommitted path(s)` : v.path ? ', clean' : '';
    lines.push(`- ${v.taskId}${v.status ? ` [${v.status}]` : ''}: ${where}${v.branch ? ` (${v.branch})` : ''}${dirty}`);
    const actions = [WORKTREE_VERB[v.worktree], BRANCH_VERB[v.branchAction]].filter(Boolean).join(', ');
    lines.push(`  ${mode === 'list' ? 'prune: ' : ''}${actions}${v.reason ? ` (${v.reason})` : ''}`);
    for (const hint of getHints({ v, root, integrationRef })) lines.push(`  -> ${hint}`);
  }
  const count = (pred: (v: WorktreeEntryView) => boolean) => views.filter(pred).length;
  const removed = count((v) => v.worktree === 'removed' || v.worktree === 'would-remove');
  const deleted = count((v) => v.branchAction === 'deleted' || v.branchAction === 'would-delete');
  const keptWorktrees = count((v) => v.worktree === 'kept');
  const keptBranches = count((v) => v.branchAction === 'kept');
  const verb = mode === 'prune' ? ['removed', 'deleted', 'kept'] : ['would remove', 'would delete', 'would keep'];
  lines.push(
    '',
    `${mode === 'list' ? 'prune ' : ''}${verb[0]} ${removed} worktree(s) and ${verb[1]} ${deleted} branch(es); ${verb[2]} ${keptWorktrees} worktree(s) and ${keptBranches} branch(es).`,
  );
  return `${lines.join('\n')}\n`;
}

/** What the user can do about what was kept. */
function getHints({ v, root, integrationRef }: { v: WorktreeEntryView; root: string; integrationRef: string }): string[] {
  const hints: string[] = [];
  const claim = v.live_claim;
  if (claim) {
    hints.push(
      claim.owner_alive
        ? `a run holds ${v.taskId} (pid ${claim.pid} on ${claim.host}, run ${claim.run_id}); prune after it ends`
        : `the run of ${v.taskId} is gone but its agent (pid ${claim.agent_pid}) still runs; stop it (kill -- -${claim.agent_pid}) or let the next run take the task over, then prune`,
    );
    return hints;
  }
  if (v.worktree === 'kept' && v.dirty_paths.length > 0) {
    hints.push(`commit or discard the changes in ${path.relative(root, v.path!)}, or run \`nx-vtm worktrees prune --force\` to discard them`);
  }
  if (v.branchAction === 'kept' && v.branch && v.reason?.includes('not merged')) {
    hints.push(`${v.branch} has commits not in ${integrationRef}: merge them (git merge ${v.branch}) or delete the branch (git branch -D ${v.branch})`);
  }
  return hints;
}
