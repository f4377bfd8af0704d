/**
 * Help texts: the overview (`nx-vtm help`), one page per command, and the pages of the inferred targets that
 * `nx show project` links to (`npx nx-vtm help implement|verify`).
 */

const COMMANDS: Record<string, { summary: string; page: string }> = {
  next: {
    summary: 'the tasks that can start now, High risk first, then the source\'s priority',
    page: `nx-vtm next [--json]

The tasks that can start now: not completed, open in their source (not blocked, cancelled or in progress),
not provisional, every dependency completed, and no running task on an overlapping file scope. Sorted High risk
first, then the source's priority (Beads 0-4, Task Master critical..low, TODO.md Priority), then id.
Exit code 1 when there are none. Reads only.

  --json    the list as JSON`,
  },
  run: {
    summary: 'run a selection of tasks ("63, 65-67, 88", ids, globs, tag:<glob>) through nx run-many',
    page: `nx-vtm run "<selection>" [--dry-run]

Seed 002's /task syntax: numbers and inclusive ranges ("63, 65-67, 88"), task ids (bd-a3f8, T012, tm-3.2), source
ids ("3.2"), globs over task ids ("todo-6*") and project tags ("tag:vtm:risk:high", "tag:source:*"). A number selects every source task with that number. Unknown ids
and tasks already complete (in their source or the task store) are reported and skipped; the plan (with the
unfinished dependencies Nx will run first) is shown, then \`nx run-many -t implement --projects=...\` runs and its exit
code is returned. See docs/sources.md.

  --dry-run   show the plan and the nx command; run nothing`,
  },
  doctor: {
    summary: 'check that every configured agent CLI can run here (binary, version, flags, credentials), and git, Node, nx, the store',
    page: `nx-vtm doctor [--json] [--timeout <seconds>]

For every agent the nx-vtm options and manifests can route to (agent, agent.byRisk, agent.rules, agent.fallback, a
task's own agent): the binary is found and answers --version; its version is inside the tested range (docs/agents.md,
"Tested versions"; outside it is a warning); every flag nx-vtm passes is listed by that version's --help; credentials
are present (a key variable in the environment or agent.env, or the CLI's own login file). A command agent is only
looked up, never started. Then git (worktrees), Node, nx and the state store (.vtm/state.db). No model is called.
Runs refuse with BLOCKED::AGENT-UNAVAILABLE when an agent is missing or rejects a flag, before any task is
claimed (missing credentials are only a warning there).
Exits 1 when something cannot run; warnings do not fail.

  --json               the checks as JSON
  --timeout <seconds>  how long each --version/--help probe may take (default 30); a timeout is a warning`,
  },
  status: {
    summary: 'progress pulse: counts, progress, running and next tasks, blockers, warnings',
    page: `nx-vtm status [--json]

The Progress Pulse of the workspace's manifests and task state: tasks per status, progress, High-risk progress,
latest completed, tasks in progress (owner pid and host, start, acceptance criteria), next eligible tasks (pending,
every dependency completed, nothing else blocking them; High risk first), blockers with their reason and what to do,
the oldest task in progress, progress per slice, and whether the task state belongs to the current manifest.

Flags: WARN::WIP-OVERLOAD (more tasks in progress than wipLimit), WARN::STALE-IN-PROGRESS (in progress for more
than 2 days), WARN::STALE-CLAIM (its process is gone), WARN::ORPHANED-AGENT (an agent still at work after its run
stopped; it holds a WIP slot), WARN::HIGH-RISK-WITHOUT-TESTS (a completed High-risk task without its
test_verification files), WARN::INCOMPLETE-ACS (completed, but acs_completed lacks criteria),
WARN::CHANGED-SINCE-COMPLETED, WARN::MANIFEST-HASH-MISMATCH, WARN::STATE-NOT-IN-MANIFEST.

Reads only: never creates or changes the task state.

  --json    the pulse as JSON (every list complete)`,
  },
  worktrees: {
    summary: 'list or prune leftover task worktrees (.vtm/worktrees) and vtm/* branches',
    page: `nx-vtm worktrees [list] [--json]
nx-vtm worktrees prune [--dry-run] [--force] [--json]

Each task runs in a git worktree under .vtm/worktrees on branch vtm/<TASK_ID>. Successful tasks clean up after
themselves; failed ones keep theirs so you can look at the work. "list" shows every leftover with what a prune would
do and why; "prune" removes them:
- a worktree with uncommitted changes is kept unless --force (the changes are then lost);
- a branch is deleted only when it is merged into the integration branch (integrationBranch, default HEAD);
- a task that a run holds right now (a live claim in any process) is always kept, even with --force.

  --dry-run   show what prune would do; change nothing
  --force     also remove worktrees with uncommitted changes
  --json      machine-readable output

"nx-vtm prune" is short for "nx-vtm worktrees prune".`,
  },
  reset: {
    summary: 'put tasks back to pending so that they run again',
    page: `nx-vtm reset <TASK_ID...> [--yes]

Puts tasks back to "pending" (any status: completed, blocked, abandoned, or in progress whose process is gone) and
clears their recorded result; the next run runs them again. Refused while a live run holds the task: wait for it or
stop it first. Resetting a completed task asks for confirmation; --yes confirms without asking (needed when stdin is
not a terminal). Completed tasks that depend on it stay completed (they are listed; reset them too if needed).

  -y, --yes   confirm resetting completed tasks`,
  },
  abandon: {
    summary: 'mark a task as no longer wanted (status abandoned)',
    page: `nx-vtm abandon <TASK_ID> --reason "..."

Marks a task "abandoned" with the reason given (recorded in the task state). Abandoned tasks never run, do not count
towards progress, and tasks that depend on them cannot start (status shows them as blockers). Refused while a live
run holds the task. A completed task must be reset first. Undo with "nx-vtm reset <TASK_ID>".

  -r, --reason "..."   why the task is no longer wanted (required)`,
  },
  report: {
    summary: 'print the latest (or a given) run report',
    page: `nx-vtm report [RUN_ID] [--json] [--open]

Prints the report of the latest run (.vtm/runs/<RUN_ID>/report.md), or of the run given (a unique prefix is enough):
outcome per task, acceptance criteria, tests, blockers with remediation, next eligible tasks, slice progress, time
saved against serial execution.

  --json   print report.json instead
  --open   print the path of report.html, the run's picture (a timeline with one lane per task), to open in a
           browser`,
  },
  plan: {
    summary: 'turn a request into manifest tasks (one task, or asked of the configured agent)',
    page: `nx-vtm plan "<REQUEST>" [--dry-run] [--max-rounds N] [--manifest PATH] [--json]

A request small enough for one task (one short sentence, no list or "and") becomes one task. Otherwise the
configured agent (claude, codex, gemini, opencode or a command; its base settings) is asked for tasks in the
manifest format, given the request, the repository's
files, the existing tasks (their ids are taken; new tasks may depend on them), the manifest JSON Schema and the rules
of a runnable plan. Its answer is validated like the manifest itself; every problem (task id and field) goes back
to it in a repair round, up to --max-rounds (default 3). Only a valid plan is written, atomically, appended to the
manifest (or a new one); --dry-run prints it instead. Exit 0 when a valid plan was written (or printed), 1 otherwise,
and then the manifest is untouched.

A CLI's answer is its final message (JSON, or a \`\`\`json block in it). A command planner gets the prompt on stdin;
VTM_PLAN=1, VTM_PLAN_ROUND (1, 2, ...), VTM_RESULT_FILE, VTM_WORKSPACE_ROOT; its answer is {"tasks": [...]} in
VTM_RESULT_FILE or as the last JSON line of stdout. The planner's reported cost is printed with the result.

  --dry-run          print the resulting manifest, write nothing
  --max-rounds N     planner rounds including repairs (1-10, default 3)
  --manifest PATH    the manifest to write (default: the plugin option "manifest", when it is not a glob)
  --json             print {manifest, rounds, written, costUsd, tasks}`,
  },
  preview: {
    summary: 'the execution plan of a run, on the estimates, before anything runs',
    page: `nx-vtm preview [SELECTION...] [--json]

What a run would do, without claiming or running anything: the schedule the scheduler produces when every task
takes its estimate (est.minutes, else the measured duration of an earlier run, else est.size), with each task's
start and end, what it waits for and why (its dependencies, the WIP limit, a file scope held by another task, a
High-risk task running alone), the critical path, and the expected makespan beside serial execution, the lower
bound, and a band (p10, median, p90) for real durations scattering around the estimates.

SELECTION is what you would pass to --projects: task ids, slice-<n>, phase-<n> or tag:<tag> (default: every
task). Their dependencies are included, as nx includes them; completed tasks are left out.

  --json   the plan as JSON`,
  },
  watch: {
    summary: 'a live view of the running workspace: running, waiting and finished tasks',
    page: `nx-vtm watch [--interval SECONDS] [--once] [--exit-when-idle] [--json]

A live view of the workspace's runs, from the task store and the event log, for a second terminal while
\`nx run-many -t implement\` runs (any nx process of the workspace): tasks per status, cost so far, each running
task with what it is doing now (agent working, auditing the diff, verifying, merging), its elapsed time and owner
process, each waiting task with the reason it waits (WIP limit, a file scope held by another task, a High-risk task
running alone) and for how long, and the latest finished tasks. Reads only. Ctrl-C ends it.

In a terminal the view is redrawn in place; otherwise a frame is printed only when something changed.

  --interval SECONDS   refresh period (default 1)
  --once               print one frame and exit
  --exit-when-idle     exit when the run it saw has ended and nothing runs or waits
  --json               one JSON object per frame`,
  },
  help: {
    summary: 'this overview, or the page of a command or target',
    page: `nx-vtm help [COMMAND]

Without a command: the list of commands. With one: its page (also "nx-vtm COMMAND --help").`,
  },
};

const TARGETS: Record<string, string> = {
  implement: `nx-vtm implement target

Runs a coding agent on one task of the Virtual Task Manifest. The target is inferred by the nx-vtm plugin for every
task; its one option (taskHash, the task's entry in the cache key) comes from the manifest and is not written by hand.

  nx run <TASK_ID>:implement                      one task (and, first, the tasks it depends on)
  nx run-many -t implement --projects=slice-1.1    every task of a slice, in dependency order
  nx run-many -t implement --projects=tag:vtm:risk:low

Scheduling: at most wipLimit (default 3) tasks in progress across every nx process of the workspace; tasks whose
file_scope overlaps never run at once; High-risk and parallel:false tasks run alone.
Configuration: nx.json plugins[].options of "nx-vtm" (see docs/configuration.md).
See also: nx-vtm status, nx-vtm report, nx-vtm reset, nx-vtm worktrees.`,
  verify: `nx-vtm verify target

Runs the task's test_verification files on the current checkout. Cached by Nx with the task's related documents,
file scope and test files as inputs, so \`nx affected -t verify\` re-verifies only tasks whose files changed.

  nx run <TASK_ID>:verify
  nx affected -t verify`,
};

/** The commands the command line knows (aliases excluded). */
export const COMMAND_NAMES = Object.keys(COMMANDS);

/** The overview page. */
export function getOverviewHelp(): string {
  const width = Math.max(...COMMAND_NAMES.map((n) => n.length));
  return `nx-vtm: run a Virtual Task Manifest of planned tasks as an Nx task graph of coding-agent runs.

Usage: nx-vtm <command> [options]

Commands:
${COMMAND_NAMES.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n].summary}`).join('\n')}

Targets (run through nx; "nx-vtm help <target>" explains them):
  implement   nx run <TASK_ID>:implement, nx run-many -t implement
  verify      nx run <TASK_ID>:verify, nx affected -t verify

Run commands anywhere inside the workspace (the folder with nx.json or below it).
Exit codes: 0 ok, 1 the command failed (the message says what to do), 2 wrong command line.`;
}

/** The page of a command or target, or undefined when there is none. */
export function findHelpPage(topic: string): string | undefined {
  return COMMANDS[topic]?.page ?? TARGETS[topic];
}

/** The page of a command that exists (for `<command> --help`). */
export function getCommandHelp(command: keyof typeof COMMANDS | string): string {
  return findHelpPage(command) ?? getOverviewHelp();
}
