/**
 * What the demo prints around the nx run: text built from the manifest, the run report, the event log and git's log,
 * which demo.js reads. No I/O here; emphasis (bold, dim) only when stdout is a terminal.
 */

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

/** A step heading. */
const formatStep = (text) => `\n${bold(`== ${text}`)}`;

/** Whether two file_scope entries overlap (same file, or one a directory containing the other). */
const entriesOverlap = (a, b) => a === b || (a.endsWith('/') && b.startsWith(a)) || (b.endsWith('/') && a.startsWith(b));

const short = (id) => id.replace(/--T\d+$/, '');

/** Why a task cannot simply run whenever it is ready, in a few words each. */
function getTaskNotes(task, tasks) {
  const notes = [];
  if (task.depends_on_tasks.length > 0) notes.push(`after ${task.depends_on_tasks.map(short).join(' + ')}`);
  if (task.risk === 'High') notes.push('High risk: runs alone');
  for (const other of tasks) {
    if (other === task) continue;
    const shared = task.file_scope.find((a) => other.file_scope.some((b) => entriesOverlap(a, b)));
    if (shared) notes.push(`scope ${shared} overlaps ${short(other.task_id)}`);
  }
  for (const c of task.conflicts_with) notes.push(`conflicts_with ${short(c)}`);
  return notes;
}

/** The manifest as a short table per slice, each task with what constrains its scheduling. */
function formatPlan({ manifest, manifestPath, runSlice, wipLimit }) {
  const slices = [...new Set(manifest.tasks.map((t) => t.slice ?? '(no slice)'))];
  const idWidth = Math.max(...manifest.tasks.map((t) => t.task_id.length)) + 2;
  const titleWidth = Math.max(...manifest.tasks.map((t) => t.title.length)) + 2;
  const lines = [`${manifestPath}: ${manifest.tasks.length} tasks in ${slices.length} slices; at most ${wipLimit} run at once`];
  for (const slice of slices) {
    const tasks = manifest.tasks.filter((t) => (t.slice ?? '(no slice)') === slice);
    lines.push('', `${slice}${slice === runSlice ? '  <- this run' : ''}`);
    for (const t of tasks) {
      const notes = getTaskNotes(t, manifest.tasks);
      lines.push(`  ${t.task_id.padEnd(idWidth)}${t.risk.padEnd(8)}${t.title.padEnd(titleWidth)}${dim(notes.join('; '))}`.trimEnd());
    }
  }
  return lines.join('\n');
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * "What just happened": the run's outcome per task (from its report.json), the commits it made, how many agents ran
 * (claim events of this run) and where to look.
 */
function formatSummary({ report, claims, commits, allCommits, paths, seconds, taskIds }) {
  const lines = [];
  const byId = new Map((report?.tasks ?? []).map((t) => [t.task_id, t]));
  const count = (outcome) => taskIds.filter((id) => byId.get(id)?.outcome === outcome).length;
  const fromCache = count('completed-from-cache');
  const ran = count('completed');
  lines.push(report ? `Run ${report.run_id}: ${report.status} in ${seconds} s` : `No run report was written (${seconds} s); see the output above.`);
  for (const id of taskIds) {
    const t = byId.get(id);
    if (!t) {
      lines.push(`  ${id.padEnd(22)}not run (Nx skipped it; see above)`);
      continue;
    }
    const tests = t.tests ? `${t.tests.passing}/${t.tests.total} tests pass` : 'no tests run';
    const what =
      t.outcome === 'completed'
        ? `completed: ${t.acs_completed}/${t.acs_total} acceptance criteria, ${tests}, ${plural(t.files_modified, 'file')} changed`
        : t.outcome === 'completed-from-cache'
          ? 'completed in an earlier run; served from the Nx cache'
          : `${t.outcome}${t.reason ? ` (${t.reason})` : ''}${t.remediation ? `: ${t.remediation}` : ''}`;
    lines.push(`  ${id.padEnd(22)}${what}`);
  }
  lines.push('');
  if (taskIds.length > 0 && fromCache === taskIds.length) {
    lines.push(
      `All ${taskIds.length} tasks came from the Nx cache ("[local cache]" and the plugin's "${fromCache} from cache" above):`,
      `no agent ran, no recording was applied again (${plural(claims, 'claim')} in the event log for this run), no new commit.`,
      'Nx restored each task\'s recorded result. The commits so far:',
      ...allCommits.map((c) => `  ${c}`),
    );
  } else {
    lines.push(
      `${plural(claims, 'task')} ran an agent, here the replay adapter applying the task's recorded patch (one claim each in ` +
        `the event log); ${ran} completed${fromCache > 0 ? `, ${fromCache} came from the Nx cache` : ''}.`,
    );
    if (commits.length > 0) {
      lines.push(`Each accepted task was committed on its branch vtm/<task_id> and merged into main (git log --oneline --no-merges):`);
      lines.push(...commits.map((c) => `  ${c}`));
    }
  }
  const where = [
    ['state', paths.state, 'every task: status, acceptance criteria, tests, files (seed format)'],
    ['events', paths.events, 'every claim, wait and outcome, one JSON object per line'],
    ['report', paths.report ?? '(none written)', "this run's report"],
  ];
  const width = Math.max(...where.map(([, p]) => p.length)) + 3;
  lines.push('', 'Where to look:', ...where.map(([name, p, why]) => `  ${name.padEnd(9)}${p.padEnd(width)}${dim(why)}`));
  return lines.join('\n');
}

/** What to watch for in the run's output, for someone seeing it the first time. */
function formatRunLegend() {
  return [
    'Each line starts with its task. Watch for "waiting:" (why a ready task cannot start yet: the WIP limit, an',
    'overlapping file scope, a declared conflict, a High-risk task running), "diff within scope" (the audit of the',
    'agent\'s changes), "verification passed" (the task\'s test files, run in its own worktree) and "integrated into main".',
  ]
    .map((l) => dim(l))
    .join('\n');
}

/** The commands to try next, run from the demo repository. */
function formatNextSteps({ cdPath, demoCommand }) {
  const rows = [
    [`cd ${cdPath}`, ''],
    ['npx nx run-many -t implement --projects=slice-1.2 --outputStyle=stream', 'the CLI tasks, built on slice 1.1'],
    ['npx nx show project CONFIG_SCHEMA--T01', "one task's targets, inputs and options"],
    ['npx nx run CONFIG_SCHEMA--T01:verify', "re-run one task's tests on the checkout (cached)"],
    ['npx nx graph', 'the backlog as a graph, in the browser'],
    ['npm test', "the library's own tests (node --test)"],
    [demoCommand, 'again, from the nx-vtm repository: every task comes from the Nx cache'],
  ];
  const width = Math.max(...rows.map(([c]) => c.length)) + 3;
  return rows.map(([c, why]) => `  ${c.padEnd(width)}${why ? dim(`# ${why}`) : ''}`.trimEnd()).join('\n');
}

module.exports = { dim, formatRunLegend, formatStep, formatPlan, formatSummary, formatNextSteps, getTaskNotes, entriesOverlap };
