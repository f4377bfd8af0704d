/**
 * The planning loop shared by `nx-vtm plan` and the `nx-vtm:plan` generator: triage, then the planner rounds through
 * the process runner (argv array, timeout, kill tree), each answer validated and its problems sent back for repair.
 * Writes nothing: callers write the result (the command atomically to disk, the generator to its Tree).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AgentOptions } from '../agents/config';
import { DEFAULT_TIMEOUT_MS } from '../agents/config';
import { runProcess } from '../agents/process-runner';
import { formatProblems, type ManifestProblem } from '../manifest/problems';
import type { Task } from '../manifest/schema';
import { gitOk } from '../workspace/git';
import { buildPlanPrompt, buildSingleTask, isSingleTaskRequest, readPlanAnswer, validatePlan } from './plan';

/** Files of the repository shown to the planner (the first ones git lists): enough for layout, bounded for prompts. */
const LAYOUT_FILES = 300;

export type PlanOutcome = { ok: true; planned: Task[]; rounds: number } | { ok: false; message: string };

export async function planTasks({
  root,
  agent,
  request,
  existing,
  manifestFile,
  maxRounds,
  onNote = () => undefined,
}: {
  root: string;
  agent: AgentOptions | undefined;
  request: string;
  existing: readonly Task[];
  manifestFile: string;
  maxRounds: number;
  /** Called with a progress line after each round that did not give a valid plan. */
  onNote?: (line: string) => void;
}): Promise<PlanOutcome> {
  if (isSingleTaskRequest(request)) {
    const one = validatePlan({ raw: { tasks: [buildSingleTask({ request, existingIds: new Set(existing.map((t) => t.task_id)) })] }, file: manifestFile, existing });
    return one.ok ? { ok: true, planned: one.tasks, rounds: 0 } : { ok: false, message: formatProblems(one.problems) };
  }
  if (agent?.adapter !== 'command' || !agent.command) {
    return {
      ok: false,
      message:
        'planning asks the configured agent, and this version supports the "command" adapter only; set ' +
        '"agent": { "adapter": "command", "command": ["node", "my-planner.js"] } in nx.json (or give a request small enough for one task)',
    };
  }
  const listed = await gitOk({ cwd: root, args: ['ls-files'] });
  const layout = (listed.ok ? listed.value.split('\n').filter(Boolean) : []).slice(0, LAYOUT_FILES);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nx-vtm-plan-'));
  let problems: ManifestProblem[] = [];
  let previousAnswer: string | undefined;
  try {
    for (let round = 1; round <= maxRounds; round++) {
      const resultFile = path.join(scratch, `answer-${round}.json`);
      const run = await runProcess({
        argv: agent.command,
        cwd: root,
        env: { ...process.env, VTM_PLAN: '1', VTM_PLAN_ROUND: String(round), VTM_RESULT_FILE: resultFile, VTM_WORKSPACE_ROOT: root },
        stdin: buildPlanPrompt({ request, layout, existing, round, problems, previousAnswer }),
        timeoutMs: agent.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      });
      if (run.spawnError || run.exitCode !== 0) {
        const why = run.spawnError ? run.spawnError.message : run.timedOut ? 'timed out' : `exited with ${run.exitCode ?? run.signal}`;
        const last = run.stderrTail.trim().split('\n').pop() ?? '';
        return { ok: false, message: `the planner ${JSON.stringify(agent.command)} ${why} in round ${round}${last ? `: ${last}` : ''}; the manifest was not changed` };
      }
      const answer = readPlanAnswer({ resultFile: fs.existsSync(resultFile) ? fs.readFileSync(resultFile, 'utf8') : undefined, stdout: run.stdoutTail });
      if (answer.ok) {
        const checked = validatePlan({ raw: answer.raw, file: manifestFile, existing });
        if (checked.ok) return { ok: true, planned: checked.tasks, rounds: round };
        problems = checked.problems;
        previousAnswer = answer.text;
      } else {
        problems = [{ file: manifestFile, path: '(root)', message: answer.message }];
        previousAnswer = undefined;
      }
      onNote(`round ${round}: ${problems.length} problem${problems.length === 1 ? '' : 's'}${round < maxRounds ? '; asking the planner to repair them' : ''}`);
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return {
    ok: false,
    message: `no valid plan after ${maxRounds} round${maxRounds === 1 ? '' : 's'}; ${manifestFile} was not changed. Problems of the last answer:\n${formatProblems(problems)}`,
  };
}

/** The manifest text with the planned tasks appended (a new manifest when there is none). Pure. */
export function buildPlannedManifestText({ existingText, planned }: { existingText: string | undefined; planned: readonly Task[] }): string {
  const rawExisting = existingText !== undefined ? (JSON.parse(existingText) as { tasks: unknown[] }) : { status: 'OK', tasks: [] as unknown[] };
  return `${JSON.stringify({ ...rawExisting, tasks: [...rawExisting.tasks, ...planned] }, null, 2)}\n`;
}
