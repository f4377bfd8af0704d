/**
 * The planning loop shared by `nx-vtm plan` and the `nx-vtm:plan` generator: triage, then the planner rounds through
 * the configured agent's adapter and the process runner (argv array, timeout, kill tree), each answer validated and
 * its problems sent back for repair. Writes nothing: callers write the result (the command atomically to disk, the
 * generator to its Tree).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROCESS_ADAPTERS } from '../agents/adapters';
import { agentConfigSchema, formatIssues, type AgentConfig, type AgentOptions } from '../agents/config';
import { firstLine } from '../agents/outcome';
import { runProcess } from '../agents/process-runner';
import { mergeAgentConfig } from '../agents/routing';
import { computeBackoffMs } from '../agents/run-agent';
import { formatProblems, type ManifestProblem } from '../manifest/problems';
import type { Task } from '../manifest/schema';
import { gitOk } from '../workspace/git';
import { buildPlanPrompt, buildSingleTask, isSingleTaskRequest, readPlanAnswer, readPlanAnswerText, validatePlan, type PlanAnswer } from './plan';

/**
 * The planner's settings: the workspace's base agent settings (routing by risk or rule needs a task, and a plan has
 * none yet). Any process adapter plans; `replay` only replays task patches.
 */
export function resolvePlannerConfig(options: AgentOptions | undefined): { ok: true; value: AgentConfig } | { ok: false; error: string } {
  const { byRisk: _byRisk, rules: _rules, fallback: _fallback, ...base } = options ?? {};
  if (!base.adapter) {
    return {
      ok: false,
      error:
        'planning asks the configured agent, and nx.json sets none; set "agent": { "adapter": "claude" } (or codex, gemini, opencode, or ' +
        '"command" with "command": ["node", "my-planner.js"]) in the nx-vtm plugin options, or give a request small enough for one task',
    };
  }
  if (base.adapter === 'replay') return { ok: false, error: 'the "replay" agent applies recorded task patches and cannot plan; configure another agent.adapter for planning' };
  const parsed = agentConfigSchema.safeParse(base);
  if (!parsed.success) return { ok: false, error: formatIssues('incomplete agent settings for planning', 'agent', parsed.error.issues) };
  const readOnly = PLANNER_PERMISSION_MODES[parsed.data.adapter];
  return { ok: true, value: readOnly ? { ...parsed.data, permissionMode: readOnly } : parsed.data };
}

/**
 * A planner answers; it must not change the workspace it plans for (it runs in the workspace itself, not in a task's
 * worktree). So CLIs that have a flag for it plan read-only, whatever the task runs' `permissionMode`: Claude in its
 * `default` mode (edits need an approval nobody gives in -p, so they are denied), Codex in a read-only sandbox,
 * Gemini in `default` approval mode (tools that need approval are not offered headless). opencode follows its own
 * `permission` config; a `command` planner is the user's own program.
 */
export const PLANNER_PERMISSION_MODES: Partial<Record<AgentConfig['adapter'], string>> = { claude: 'default', codex: 'read-only', gemini: 'default' };

/** The total cost of the planner's rounds, when its CLI reported one (USD). */
export type PlanCost = { costUsd?: number };

/** Files of the repository shown to the planner (the first ones git lists): enough for layout, bounded for prompts. */
const LAYOUT_FILES = 300;

export type PlanOutcome = ({ ok: true; planned: Task[]; rounds: number } | { ok: false; message: string }) & PlanCost;

/** The world of the planning loop beyond the planner process: waits between retries, jitter. */
export interface PlanPorts {
  sleep(ms: number): Promise<void>;
  random(): number;
}

const defaultPlanPorts: PlanPorts = { sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: Math.random };

/**
 * The planner's fallback settings (`agent.fallback` merged over the base, read-only like the planner itself), or
 * undefined when none is configured or it is invalid (the base planner's own failure is then reported).
 */
export function resolvePlannerFallback(options: AgentOptions | undefined): AgentConfig | undefined {
  const { byRisk: _byRisk, rules: _rules, fallback, ...base } = options ?? {};
  if (!fallback) return undefined;
  const parsed = agentConfigSchema.safeParse(mergeAgentConfig(base, fallback));
  if (!parsed.success || parsed.data.adapter === 'replay') return undefined;
  const readOnly = PLANNER_PERMISSION_MODES[parsed.data.adapter];
  return readOnly ? { ...parsed.data, permissionMode: readOnly } : parsed.data;
}

/** One planner invocation's result: an answer to validate, or why there is none and whether trying again may help. */
type Asked =
  | { ok: true; answer: PlanAnswer; costUsd?: number }
  | { ok: false; message: string; costUsd?: number; transient: boolean; unavailable: boolean; rateLimited: boolean };

export async function planTasks({
  root,
  agent,
  request,
  existing,
  manifestFile,
  maxRounds,
  onNote = () => undefined,
  ports = defaultPlanPorts,
}: {
  root: string;
  agent: AgentOptions | undefined;
  request: string;
  existing: readonly Task[];
  manifestFile: string;
  maxRounds: number;
  /** Called with a progress line after each round that did not give a valid plan, each retry and a fallback. */
  onNote?: (line: string) => void;
  ports?: PlanPorts;
}): Promise<PlanOutcome> {
  if (isSingleTaskRequest(request)) {
    const one = validatePlan({ raw: { tasks: [buildSingleTask({ request, existingIds: new Set(existing.map((t) => t.task_id)) })] }, file: manifestFile, existing });
    return one.ok ? { ok: true, planned: one.tasks, rounds: 0 } : { ok: false, message: formatProblems(one.problems) };
  }
  const resolved = resolvePlannerConfig(agent);
  if (!resolved.ok) return { ok: false, message: resolved.error };
  let config = resolved.value;
  let fallback = resolvePlannerFallback(agent);
  const listed = await gitOk({ cwd: root, args: ['ls-files'] });
  const layout = (listed.ok ? listed.value.split('\n').filter(Boolean) : []).slice(0, LAYOUT_FILES);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nx-vtm-plan-'));
  const runId = `plan-${Date.now()}`;
  let problems: ManifestProblem[] = [];
  let previousAnswer: string | undefined;
  let costUsd: number | undefined;
  const withCost = <T extends object>(v: T): T & PlanCost => (costUsd === undefined ? v : { ...v, costUsd: Math.round(costUsd * 1e6) / 1e6 });
  try {
    for (let round = 1; round <= maxRounds; round++) {
      const prompt = buildPlanPrompt({ request, layout, existing, round, problems, previousAnswer });
      let answer: PlanAnswer | undefined;
      // The same round again while the failure is transient (an API 5xx, a stall, exit 75 of a command planner), up
      // to agent.retries with the agents' backoff, as for task runs; a missing binary or a usage limit switches to
      // agent.fallback (another CLI or provider) for the rest of the plan, once.
      for (let attempt = 1; answer === undefined; attempt++) {
        const asked = await askPlanner({ root, config, prompt, round, attempt, runId, scratch, request });
        if (asked.costUsd !== undefined) costUsd = (costUsd ?? 0) + asked.costUsd;
        if (asked.ok) {
          answer = asked.answer;
          break;
        }
        if ((asked.unavailable || asked.rateLimited) && fallback) {
          onNote(`round ${round}: ${asked.message}; planning with the fallback ${fallback.adapter}`);
          config = fallback;
          fallback = undefined;
          attempt = 0;
          continue;
        }
        if (asked.transient && !asked.rateLimited && attempt <= config.retries) {
          const waitMs = computeBackoffMs({ attempt, baseMs: config.backoffMs, random: ports.random() });
          onNote(`round ${round}: ${asked.message}; retrying in ${(waitMs / 1000).toFixed(1)} s (retry ${attempt} of ${config.retries})`);
          await ports.sleep(waitMs);
          continue;
        }
        return withCost({ ok: false as const, message: `${asked.message}; the manifest was not changed` });
      }
      if (answer.ok) {
        const checked = validatePlan({ raw: answer.raw, file: manifestFile, existing });
        if (checked.ok) return withCost({ ok: true as const, planned: checked.tasks, rounds: round });
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
  return withCost({
    ok: false as const,
    message: `no valid plan after ${maxRounds} round${maxRounds === 1 ? '' : 's'}; ${manifestFile} was not changed. Problems of the last answer:\n${formatProblems(problems)}`,
  });
}

/** One planner process through its adapter and the process runner; its answer or why there is none. */
async function askPlanner({
  root,
  config,
  prompt,
  round,
  attempt,
  runId,
  scratch,
  request,
}: {
  root: string;
  config: AgentConfig;
  prompt: string;
  round: number;
  attempt: number;
  runId: string;
  scratch: string;
  request: string;
}): Promise<Asked> {
  const adapter = PROCESS_ADAPTERS[config.adapter as Exclude<AgentConfig['adapter'], 'replay'>];
  const resultFile = path.join(scratch, `answer-${round}-${attempt}.json`);
  const promptFile = path.join(scratch, `prompt-${round}.md`);
  const taskFile = path.join(scratch, 'plan.json');
  fs.writeFileSync(promptFile, prompt);
  fs.writeFileSync(taskFile, `${JSON.stringify({ request }, null, 2)}\n`);
  const invocation = adapter.buildInvocation(config, { taskId: 'PLAN', runId, cwd: root, workspaceRoot: root, prompt, promptFile, taskFile, resultFile, resultDir: scratch });
  const parser = adapter.createParser({ now: new Date(), cwd: root, model: config.model, prices: config.prices, timeoutMs: config.timeoutMs, idleTimeoutMs: config.idleTimeoutMs });
  const run = await runProcess({
    argv: invocation.argv,
    cwd: root,
    // The planner contract on top of the adapter's variables: a planner program can tell a plan from a task.
    env: { ...process.env, ...invocation.env, VTM_PLAN: '1', VTM_PLAN_ROUND: String(round) },
    stdin: invocation.stdin,
    timeoutMs: config.timeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    onStdoutLine: (line) => parser.push(line, 'stdout'),
    onStderrLine: (line) => parser.push(line, 'stderr'),
  });
  const bin = invocation.argv[0];
  const failed = (message: string, o: { transient?: boolean; unavailable?: boolean; rateLimited?: boolean; costUsd?: number } = {}): Asked => ({
    ok: false,
    message,
    transient: !!o.transient,
    unavailable: !!o.unavailable,
    rateLimited: !!o.rateLimited,
    ...(o.costUsd !== undefined ? { costUsd: o.costUsd } : {}),
  });
  if (run.spawnError) {
    return failed(`the planner '${bin}' could not be started (${run.spawnError.message}) in round ${round}; install it, set agent.bin, or configure agent.fallback`, { unavailable: true });
  }
  const resultText = fs.existsSync(resultFile) ? fs.readFileSync(resultFile, 'utf8') : undefined;
  const outcome = parser.finish({ exitCode: run.exitCode, signal: run.signal, timedOut: run.timedOut, stalled: run.stalled, durationMs: run.durationMs, resultFileContent: resultText });
  const cost = { costUsd: outcome.costUsd };
  const verdict = { ...cost, transient: outcome.transient, unavailable: !!outcome.unavailable, rateLimited: outcome.status === 'rate_limited' };
  if (config.adapter === 'command' && (run.exitCode !== 0 || run.timedOut)) {
    const why = run.timedOut ? 'timed out' : `exited with ${run.exitCode ?? run.signal}`;
    const last = run.stderrTail.trim().split('\n').pop() ?? '';
    return failed(`the planner ${JSON.stringify(config.command)} ${why} in round ${round}${last ? `: ${last}` : ''}`, verdict);
  }
  // A CLI's answer is its final message (Claude's result text, ...): a plan is prose around JSON as often as JSON
  // alone. A run that ended without one (API error, limit, timeout) has the adapter's reason instead.
  const finalText = parser.finalText?.();
  if (config.adapter === 'command') return { ok: true, answer: readPlanAnswer({ resultFile: resultText, stdout: run.stdoutTail }), ...cost };
  if (finalText !== undefined && finalText.trim() !== '') return { ok: true, answer: readPlanAnswerText(finalText), ...cost };
  if (resultText !== undefined && resultText.trim() !== '') return { ok: true, answer: readPlanAnswer({ resultFile: resultText, stdout: '' }), ...cost };
  return failed(`the planner (${config.adapter}) gave no answer in round ${round}: ${firstLine(outcome.reason, 300)}`, verdict);
}

/** The manifest text with the planned tasks appended (a new manifest when there is none). Pure. */
export function buildPlannedManifestText({ existingText, planned }: { existingText: string | undefined; planned: readonly Task[] }): string {
  const rawExisting = existingText !== undefined ? (JSON.parse(existingText) as { tasks: unknown[] }) : { status: 'OK', tasks: [] as unknown[] };
  return `${JSON.stringify({ ...rawExisting, tasks: [...rawExisting.tasks, ...planned] }, null, 2)}\n`;
}
