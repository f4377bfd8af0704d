/**
 * The run report (pure): per task outcome, acceptance criteria, tests, blockers with remediation, next eligible
 * tasks, slice progress and time saved against serial execution, in the shape the planners' batch summaries use.
 * Written as `.vtm/runs/<run_id>/report.json` and `report.md` after every run.
 */
import type { Task } from '../manifest/schema';
import type { TaskRecord } from '../state/task-record';

/** How Nx ended each task of the run (from postTasksExecution). */
export type NxTaskStatus = 'success' | 'failure' | 'skipped' | 'local-cache' | 'local-cache-kept-existing' | 'remote-cache' | 'stopped' | string;

export interface RunReportTask {
  task_id: string;
  title: string;
  slice: string | null;
  risk: string;
  outcome: 'completed' | 'completed-from-cache' | 'blocked' | 'skipped' | 'pending' | 'abandoned' | 'in-progress';
  reason: string | null;
  error: string | null;
  acs_completed: number;
  acs_total: number;
  tests: { total: number; passing: number; failing: number } | null;
  files_modified: number;
  duration_minutes: number | null;
  cost_usd: number | null;
  attempts: number;
  result_dir: string | null;
  remediation: string | null;
  /** Agent turns the task took (1 + repair turns). */
  turns: number;
  /** The turns that were not accepted, each with why and the evidence the next turn was given. */
  repairs: { turn: number; result: string; summary: string; evidence: string }[];
}

export interface RunReport {
  run_id: string;
  manifest_hash: string;
  started_at: string;
  ended_at: string;
  status: 'SUCCESS' | 'PARTIAL_SUCCESS' | 'FAILED';
  /** `unfinished`: tasks the run ended without ending (still pending or in progress: the run was killed or stopped). */
  totals: { tasks: number; completed: number; from_cache: number; blocked: number; skipped: number; unfinished: number };
  tasks: RunReportTask[];
  blockers: { task_id: string; reason: string; error: string | null; remediation: string }[];
  next_eligible: string[];
  slices: { slice: string; completed: number; total: number; percent: number }[];
  time: { wall_minutes: number; serial_minutes: number; saved_minutes: number; saved_percent: number };
  cost: { usd: number | null };
}

/** What to do about a blocked task, by reason code. */
export function getRemediation(taskId: string, reason: string | null, record?: TaskRecord): string {
  const dir = (record?.outcome.result_dir as string | undefined) ?? `.vtm/results/${taskId}`;
  const worktree = record?.outcome.worktree as string | undefined;
  const kept = worktree ? ` The worktree is kept at ${worktree}.` : '';
  const rerun = `then re-run \`nx run ${taskId}:implement\``;
  if (!reason) return `Inspect ${dir}, ${rerun}.`;
  if (reason.startsWith('dependency_failed:')) {
    const dep = reason.slice('dependency_failed:'.length);
    return `Fix ${dep} first; ${taskId} starts when ${dep} completes.`;
  }
  const byReason: Record<string, string> = {
    agent_failed: `Read what the agent did in ${dir}/ (outcome.json, and transcript.* for CLI agents), fix the cause (prompt, permissions, API, recording), ${rerun}.`,
    agent_partial: `The agent finished only part of the acceptance criteria (see ${dir}/outcome.json).${kept} Split the task or ${rerun}.`,
    agent_blocked: `The agent reported a blocker (see blockers and ${dir}/outcome.json); resolve it, ${rerun}.`,
    timed_out: `The agent exceeded agent.timeoutMs; raise it or split the task, ${rerun}.`,
    stalled: `The agent printed nothing for agent.idleTimeoutMs and was stopped; check ${dir}/transcript.*, ${rerun}.`,
    rate_limited: `The agent's usage limit was reached; wait until it resets (see reset_at), ${rerun}.`,
    budget_exceeded: `The agent hit agent.maxBudgetUsd; raise the budget or split the task, ${rerun}.`,
    permission_denied: `The agent was denied a tool it needed; allow it (agent.allowedTools / agent.permissionMode), ${rerun}.`,
    scope_violation: `The agent changed files outside file_scope (see outside_scope).${kept} Widen file_scope in the manifest if the change is right, or discard it; ${rerun}.`,
    verification_failed: `The task's tests failed (see ${dir}/verify.log).${kept} Fix the implementation or the tests, ${rerun}.`,
    missing_tests: `test_verification files do not exist after the agent ran.${kept} Have the task write them or fix their paths in the manifest, ${rerun}.`,
    merge_conflict: `Merging vtm/${taskId} conflicted (see conflicted_paths); the branch is kept. Merge it by hand (git merge vtm/${taskId}, resolve, commit), ${rerun}: a branch merged by hand is recorded completed without calling the agent.`,
    wrote_outside_worktree: `its agent wrote files of its scope in the main checkout instead of its worktree (see stray_paths; kept under stray_ref, and moved out of the main checkout). Make the agent write in its working directory (a command agent: not under VTM_WORKSPACE_ROOT), ${rerun}.`,
    changed_during_verification: `the task's files changed while its tests ran (see changed_paths), so the tests did not judge its saved commit; nothing was merged. In a worktree the writer is the task's own tests or what they start (with isolation "none", possibly another agent or a process): make them leave the repository's files as they are, ${rerun}.`,
    no_changes: `The agent reported success but changed no file (see ${dir}/ and its transcript). If the task needs no change, set agent.allowNoChanges for it; otherwise improve the task's description, ${rerun}.`,
    missing_context: `Add the missing related documents (BLOCKED::MISSING-CONTEXT) or fix their paths in the manifest, ${rerun}.`,
    empty_ac: 'Add acceptance criteria to the task in the manifest (BLOCKED::EMPTY-AC).',
    provisional: `Provisional tasks wait until every non-provisional High-risk task is in progress or done (BLOCKED::PROVISIONAL); run those first, or set "provisional": false, ${rerun}.`,
    spec_ref_gap: 'Add test_verification files to this High-risk task in the manifest (BLOCKED::SPEC-REF-GAP).',
    worktree_failed: `The task's git worktree could not be created (see error); clean up with \`npx nx-vtm worktrees prune\`, ${rerun}.`,
    setup_failed: `The worktree setup command failed (see ${dir}/setup.log); fix worktree.setupCommand, ${rerun}.`,
    agent_config: 'Fix the agent settings named in the error (nx.json plugin options "agent" or the task\'s own "agent").',
    touches_linked_folder: `The task changed a linked folder (node_modules); discard that change in its branch, ${rerun}.`,
    dirty_worktree: `The main checkout has uncommitted changes; commit or stash them, ${rerun}.`,
    source_blocked: 'Its task source (TODO.md, Beads, Task Master) marks it blocked (BLOCKED::SOURCE-STATUS); change its status there, then run it again.',
    source_cancelled: 'Its task source marks it cancelled or abandoned (BLOCKED::SOURCE-STATUS); reopen it there to run it, or remove the dependencies on it.',
  };
  return byReason[reason] ?? `See ${dir} and the error above, ${rerun}.`;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function outcomeOf(record: TaskRecord | undefined, nxStatus: NxTaskStatus | undefined): RunReportTask['outcome'] {
  if (nxStatus && nxStatus.includes('cache')) return 'completed-from-cache';
  if (!record) return nxStatus === 'skipped' ? 'skipped' : 'pending';
  if (record.status === 'completed') return record.outcome.from_cache ? 'completed-from-cache' : 'completed';
  if (record.status === 'blocked' && record.reason?.startsWith('dependency_failed:')) return 'skipped';
  return record.status;
}

export function buildRunReport({
  runId,
  manifestHash,
  startTime,
  endTime,
  runTasks,
  allTasks,
  records,
}: {
  runId: string;
  manifestHash: string;
  startTime: number;
  endTime: number;
  /** The tasks of this run and how Nx ended them. */
  runTasks: ReadonlyMap<string, NxTaskStatus>;
  /** Every task of the workspace's manifests (for next eligible tasks and slice progress). */
  allTasks: readonly Task[];
  records: ReadonlyMap<string, TaskRecord>;
}): RunReport {
  const byId = new Map(allTasks.map((t) => [t.task_id, t]));
  const tasks: RunReportTask[] = [];
  for (const [taskId, nxStatus] of runTasks) {
    const task = byId.get(taskId);
    if (!task) continue;
    const record = records.get(taskId);
    const o = record?.outcome ?? {};
    const outcome = outcomeOf(record, nxStatus);
    const tests = (o.test_results as RunReportTask['tests']) ?? null;
    const cost = o.cost as { usd?: number | null } | undefined;
    const reason = outcome === 'completed' || outcome === 'completed-from-cache' ? null : record?.reason ?? (nxStatus === 'skipped' ? 'dependency_failed' : null);
    tasks.push({
      task_id: taskId,
      title: task.title,
      slice: task.slice ?? null,
      risk: task.risk,
      outcome,
      reason,
      error: (o.error as string | undefined) ?? null,
      acs_completed: Array.isArray(o.acs_completed) ? o.acs_completed.length : outcome.startsWith('completed') ? task.acceptance_criteria.length : 0,
      acs_total: task.acceptance_criteria.length,
      tests,
      files_modified: Array.isArray(o.files_modified) ? o.files_modified.length : 0,
      duration_minutes: typeof o.duration_minutes === 'number' ? o.duration_minutes : null,
      cost_usd: typeof cost?.usd === 'number' ? cost.usd : null,
      attempts: record?.attempts ?? 0,
      result_dir: (o.result_dir as string | undefined) ?? null,
      remediation: reason ? getRemediation(taskId, reason, record) : null,
      turns: 1 + (typeof o.repair_turns === 'number' ? o.repair_turns : 0),
      repairs: Array.isArray(o.turns)
        ? (o.turns as Record<string, unknown>[]).map((t) => ({
            turn: Number(t.turn),
            result: String(t.result),
            summary: String(t.summary ?? ''),
            evidence: String(t.evidence ?? ''),
          }))
        : [],
    });
  }

  const isDone = (id: string) => records.get(id)?.status === 'completed';
  const nextEligible = allTasks
    .filter((t) => !isDone(t.task_id) && records.get(t.task_id)?.status !== 'in-progress' && records.get(t.task_id)?.status !== 'abandoned')
    .filter((t) => t.depends_on_tasks.every(isDone))
    .filter((t) => !(records.get(t.task_id)?.status === 'blocked' && !records.get(t.task_id)?.reason?.startsWith('dependency_failed:')))
    .map((t) => t.task_id);

  const sliceTotals = new Map<string, { completed: number; total: number }>();
  for (const t of allTasks) {
    if (!t.slice) continue;
    const s = sliceTotals.get(t.slice) ?? { completed: 0, total: 0 };
    s.total++;
    if (isDone(t.task_id)) s.completed++;
    sliceTotals.set(t.slice, s);
  }

  // Serial time: what the tasks run here took one after another; wall time: what the run took.
  const serialMinutes = tasks.filter((t) => t.outcome !== 'completed-from-cache').reduce((sum, t) => sum + (t.duration_minutes ?? 0), 0);
  const wallMinutes = (endTime - startTime) / 60_000;
  const saved = Math.max(0, serialMinutes - wallMinutes);
  const costs = tasks.map((t) => t.cost_usd).filter((c): c is number => c !== null);
  const completed = tasks.filter((t) => t.outcome === 'completed').length;
  const fromCache = tasks.filter((t) => t.outcome === 'completed-from-cache').length;
  const skipped = tasks.filter((t) => t.outcome === 'skipped').length;
  // A killed executor makes Nx report every task of its batch failed; the store knows which ones never ended. Counted
  // apart, so a kill is not reported as tasks "blocked" (they continue when the run is started again).
  const unfinished = tasks.filter((t) => t.outcome === 'pending' || t.outcome === 'in-progress').length;
  const blocked = tasks.length - completed - fromCache - skipped - unfinished;
  return {
    run_id: runId,
    manifest_hash: manifestHash,
    started_at: new Date(startTime).toISOString(),
    ended_at: new Date(endTime).toISOString(),
    status: blocked + skipped + unfinished === 0 ? 'SUCCESS' : completed + fromCache > 0 ? 'PARTIAL_SUCCESS' : 'FAILED',
    totals: { tasks: tasks.length, completed, from_cache: fromCache, blocked, skipped, unfinished },
    tasks,
    blockers: tasks
      .filter((t) => t.reason)
      .map((t) => ({ task_id: t.task_id, reason: t.reason!, error: t.error, remediation: t.remediation ?? '' })),
    next_eligible: nextEligible,
    slices: [...sliceTotals].map(([slice, s]) => ({ slice, ...s, percent: Math.round((100 * s.completed) / s.total) })),
    time: {
      wall_minutes: round1(wallMinutes),
      serial_minutes: round1(serialMinutes),
      saved_minutes: round1(saved),
      saved_percent: serialMinutes > 0 ? Math.round((100 * saved) / serialMinutes) : 0,
    },
    cost: { usd: costs.length > 0 ? Math.round(costs.reduce((a, b) => a + b, 0) * 100) / 100 : null },
  };
}

const ICON: Record<RunReportTask['outcome'], string> = {
  completed: '✅',
  'completed-from-cache': '✅',
  blocked: '🚫',
  skipped: '⏭️',
  pending: '⏸️',
  abandoned: '🗑️',
  'in-progress': '⏳',
};

/** "2 completed, 0 from cache, 1 blocked, 0 not started" (and ", 2 unfinished (...)" when the run ended early). */
export function formatTotals(t: RunReport['totals']): string {
  const unfinished = t.unfinished > 0 ? `, ${t.unfinished} unfinished (the run ended before they did; run it again to continue them)` : '';
  return `${t.completed} completed, ${t.from_cache} from cache, ${t.blocked} blocked, ${t.skipped} not started${unfinished}`;
}

/** The report as Markdown (fits on a screen for small runs). */
export function formatRunReportMarkdown(r: RunReport): string {
  const lines: string[] = [];
  lines.push(`## nx-vtm run ${r.run_id}`, '');
  lines.push(`**Status:** ${r.status}  `);
  lines.push(`**Started:** ${r.started_at}  **Ended:** ${r.ended_at}  `);
  lines.push(
    `**Tasks:** ${r.totals.tasks} — ${formatTotals(r.totals)}`,
    '',
  );
  lines.push('### Results', '');
  lines.push('| | task | risk | ACs | tests | files | minutes | cost | outcome |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const t of r.tasks) {
    const tests = t.tests ? `${t.tests.passing}/${t.tests.total}` : '–';
    const cost = t.cost_usd !== null ? `$${t.cost_usd.toFixed(2)}` : '–';
    const outcome = t.outcome === 'completed-from-cache' ? 'completed (from cache)' : t.reason ? `${t.outcome}: ${t.reason}` : t.outcome;
    lines.push(
      `| ${ICON[t.outcome]} | ${t.task_id} | ${t.risk} | ${t.acs_completed}/${t.acs_total} | ${tests} | ${t.files_modified} | ${t.duration_minutes ?? '–'} | ${cost} | ${outcome} |`,
    );
  }
  lines.push('');
  if (r.blockers.length > 0) {
    lines.push('### Blockers requiring attention', '');
    r.blockers.forEach((b, i) => {
      lines.push(`${i + 1}. **${b.task_id}** — ${b.reason}`);
      if (b.error) lines.push(`   - Seen: ${b.error.split('\n')[0]}`);
      lines.push(`   - Remediation: ${b.remediation}`);
    });
    lines.push('');
  }
  const repaired = r.tasks.filter((t) => t.repairs.length > 0);
  if (repaired.length > 0) {
    lines.push('### Repair turns', '');
    for (const t of repaired) {
      const last = t.outcome === 'completed' ? 'accepted' : `not accepted (${t.reason ?? t.outcome})`;
      lines.push(`- **${t.task_id}** — ${t.turns} turns, the last ${last}`);
      for (const turn of t.repairs) {
        lines.push(`  - turn ${turn.turn}: ${turn.result} — ${turn.summary.split('\n')[0]}`);
        const evidence = turn.evidence.trim().split('\n').slice(-3).join(' ⏎ ');
        if (evidence && evidence !== turn.summary.split('\n')[0]) lines.push(`    - evidence (end): ${evidence.slice(0, 300)}`);
      }
    }
    lines.push('');
  }
  lines.push('### Next eligible tasks', '');
  lines.push(r.next_eligible.length > 0 ? r.next_eligible.map((id) => `- ${id}`).join('\n') : '- none (everything is done or waiting on blocked work)');
  lines.push('');
  if (r.slices.length > 0) {
    lines.push('### Slice progress', '');
    for (const s of r.slices) lines.push(`- ${s.slice}: ${s.completed}/${s.total} tasks (${s.percent}%)`);
    lines.push('');
  }
  lines.push('### Time', '');
  lines.push(
    `Wall time ${r.time.wall_minutes} min vs ${r.time.serial_minutes} min of task time run one after another: ${r.time.saved_minutes} min saved (${r.time.saved_percent}%).`,
  );
  if (r.cost.usd !== null) lines.push(`Agent cost: $${r.cost.usd.toFixed(2)}.`);
  lines.push('');
  return lines.join('\n');
}
