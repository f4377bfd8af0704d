/**
 * From a request to a plan (pure parts): triage, the planner's prompt, reading its answer, and validating the answer
 * with the manifest model and rules. The command (`nx-vtm plan`) runs the planner and writes the result.
 */
import { findLastJsonObject } from '../agents/outcome';
import { buildManifestJsonSchema, type Task } from '../manifest/schema';
import { parseManifestValue } from '../manifest/parse';
import { formatProblem, type ManifestProblem } from '../manifest/problems';

/** Requests at most this long, with no list or conjunction, are one task (no planner is asked). */
const TRIAGE_MAX_WORDS = 12;

/**
 * Whether a request is small enough for one task: a short single sentence without a list, "and", or several
 * clauses. Deliberately conservative: a wrong "small" costs a task too big for one agent run. Pure.
 */
export function isSingleTaskRequest(request: string): boolean {
  const text = request.trim();
  const words = text.split(/\s+/).filter(Boolean);
  return words.length > 0 && words.length <= TRIAGE_MAX_WORDS && !/[\n;,]|\band\b|\bthen\b|^\s*[-*]|\d\./i.test(text);
}

/** The one task of a small request. Its id is derived from the words and made unique against `existingIds`. Pure. */
export function buildSingleTask({ request, existingIds }: { request: string; existingIds: ReadonlySet<string> }): Record<string, unknown> {
  const base =
    request
      .trim()
      .toUpperCase()
      .replace(/[^A-Z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 40)
      .replace(/_+$/, '') || 'TASK';
  let n = 1;
  let id = `${base}--T01`;
  while (existingIds.has(id)) id = `${base}--T${String(++n).padStart(2, '0')}`;
  return {
    task_id: id,
    capability_id: base,
    title: request.trim(),
    description: request.trim(),
    acceptance_criteria: [{ id: `${base}-AC01`, text: request.trim() }],
    risk: 'Low',
    est: { size: 'S' },
  };
}

/** The rules that make a plan runnable, as the planner is told them. */
export const PLAN_RULES = [
  'Answer with ONE JSON object {"tasks": [...]} in the manifest format (JSON Schema below); "status" is optional.',
  'Small tasks: each one agent run (est.size XS to M preferred; split anything larger).',
  'Every task has acceptance_criteria (ids unique within the task) and, where code changes, test_verification files.',
  'file_scope: the files and directories (ending "/") the task may change; keep scopes of tasks disjoint where possible (overlapping scopes never run at once).',
  'depends_on_tasks: only ids of tasks in your answer or of the existing manifest; no cycles.',
  'task_id: new ids must not collide with existing ones; letters, digits, "_", "-" and single "." only, e.g. "OAUTH_LOGIN--T01".',
  'risk "High" for security, data migration, or anything hard to undo (High tasks run alone and need test_verification).',
];

/** The planner's prompt for a round; a repair round lists every problem of the previous answer. Pure. */
export function buildPlanPrompt({
  request,
  layout,
  existing,
  round,
  problems = [],
  previousAnswer,
}: {
  request: string;
  /** Files of the repository (a sample), one per line. */
  layout: readonly string[];
  existing: readonly Task[];
  round: number;
  problems?: readonly ManifestProblem[];
  previousAnswer?: string;
}): string {
  const parts: string[] = [];
  parts.push(`You are planning work for coding agents. Split the request below into tasks of a Virtual Task Manifest.`);
  parts.push(`## Request\n${request.trim()}`);
  parts.push(`## Rules\n${PLAN_RULES.map((r) => `- ${r}`).join('\n')}`);
  parts.push(`## Repository layout (${layout.length} files shown)\n${layout.join('\n')}`);
  parts.push(
    `## Existing tasks (ids taken; you may depend on them)\n${
      existing.length === 0 ? '(none)' : existing.map((t) => `- ${t.task_id}: ${t.title}${t.file_scope.length ? ` [${t.file_scope.join(', ')}]` : ''}`).join('\n')
    }`,
  );
  parts.push(`## Manifest JSON Schema\n${JSON.stringify(buildManifestJsonSchema())}`);
  if (round > 1) {
    parts.push(
      `## Repair round ${round}: your previous answer had these problems; answer again with the whole corrected plan\n${problems
        .map((p) => `- ${formatProblem(p)}`)
        .join('\n')}${previousAnswer ? `\n\nPrevious answer:\n${previousAnswer}` : ''}`,
    );
  }
  return `${parts.join('\n\n')}\n`;
}

export type PlanAnswer = { ok: true; raw: unknown; text: string } | { ok: false; message: string };

/**
 * The planner's answer: the result file when it wrote one, else the last line of stdout that is a JSON object. Pure.
 */
export function readPlanAnswer({ resultFile, stdout }: { resultFile?: string; stdout: string }): PlanAnswer {
  const candidates = resultFile !== undefined && resultFile.trim() !== '' ? [resultFile.trim()] : stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{')).reverse();
  for (const text of candidates) {
    try {
      return { ok: true, raw: JSON.parse(text), text };
    } catch {
      if (resultFile !== undefined && resultFile.trim() !== '') return { ok: false, message: 'the result file is not valid JSON' };
    }
  }
  return { ok: false, message: 'no answer: nothing in the result file and no JSON object line on stdout' };
}

/**
 * The answer in a CLI agent's final message: the whole text, else its last ```json block, else its last balanced
 * `{...}` (models wrap JSON in prose and fences however they are told). Pure.
 */
export function readPlanAnswerText(text: string): PlanAnswer {
  const obj = findLastJsonObject(text);
  if (!obj) return { ok: false, message: 'no JSON object in the final message; answer with ONE JSON object {"tasks": [...]}' };
  return { ok: true, raw: obj, text: JSON.stringify(obj) };
}

/**
 * Validates an answer against the manifest model and rules as `nx show projects` would, plus: new ids must not
 * collide with existing ones. Dependencies on existing tasks are valid. Pure.
 */
export function validatePlan({ raw, file, existing }: { raw: unknown; file: string; existing: readonly Task[] }): { ok: true; tasks: Task[] } | { ok: false; problems: ManifestProblem[] } {
  const existingIds = existing.map((t) => t.task_id);
  const parsed = parseManifestValue({ raw, file, externalIds: existingIds });
  const problems: ManifestProblem[] = parsed.ok ? [] : [...parsed.error];
  const rawTasks = (raw as { tasks?: unknown[] } | null)?.tasks;
  if (Array.isArray(rawTasks)) {
    rawTasks.forEach((t, i) => {
      const id = (t as { task_id?: unknown } | null)?.task_id;
      if (typeof id === 'string' && existingIds.includes(id)) {
        problems.push({ file, taskId: id, path: `tasks[${i}].task_id`, message: `"${id}" is already a task of the existing manifest; choose a new id` });
      }
    });
    if (rawTasks.length === 0) problems.push({ file, path: 'tasks', message: 'is empty; a plan needs at least one task' });
  }
  if (problems.length > 0 || !parsed.ok) return { ok: false, problems };
  return { ok: true, tasks: parsed.value.tasks };
}
