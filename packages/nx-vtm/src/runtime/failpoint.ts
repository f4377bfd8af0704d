/**
 * Failpoints: named instants of the task pipeline where a test or the kill-recovery benchmark can make this process
 * die with SIGKILL, to prove that a run killed exactly there loses nothing and pays for no agent twice.
 *
 * `NX_VTM_FAILPOINT` is a comma-separated list of `<point>` or `<point>@<task_id>` (e.g. `after-agent@T-7,after-merge`).
 * Points: `after-<stage>` for every stage of the pipeline (worktree, agent, saved, audited, verified, integrated),
 * `agent-spawned` (the keeper started the agent; its pid not yet recorded here), `after-merge` (merged, not yet
 * recorded), `after-local-merge` (with `remote`: merged into the local integration branch, not yet pushed) and
 * `before-finish` (outcome written, state not yet). Unset in normal runs:
 * one environment read per point.
 */
export function failpoint(point: string, taskId: string): void {
  const spec = process.env.NX_VTM_FAILPOINT;
  if (!spec) return;
  for (const item of spec.split(',')) {
    const [name, id] = item.trim().split('@');
    if (name === point && (id === undefined || id === taskId)) {
      process.stderr.write(`nx-vtm: failpoint ${point} reached for ${taskId}: killing this process (SIGKILL)\n`);
      process.kill(process.pid, 'SIGKILL');
    }
  }
}
