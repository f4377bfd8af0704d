/**
 * The prompt an agent gets for one task, from the task-batch-coordinator template (seed 000) with the changes that
 * running under an orchestrator needs: the agent never edits task-state.json and never commits (the orchestrator
 * checks the diff against the file scope, records state and commits), and it is told which tests will verify it.
 *
 * Task text goes in verbatim. It is data for the agent, and it reaches the agent on stdin or in a file, never
 * through a shell, so `$(rm -rf ~)`, backticks and quotes need no escaping (and escaping would change the task).
 */
import type { Task } from '../manifest/schema';
import { buildHandoffSection, DEFAULT_HANDOFF_BUDGET_CHARS, type DependencyHandoff } from './handoff';

export interface BuildPromptInput {
  task: Task;
  runId: string;
  /** When given, the agent is also asked to write its return JSON to this file (more reliable than its last message). */
  resultFile?: string;
  /** What the task's finished dependencies did (see `handoff.ts`); untrusted text, quoted and bounded. */
  handoffs?: readonly DependencyHandoff[];
  /** Characters of dependency text the prompt may carry (`agent.handoffBudgetChars`); 0 leaves handoffs out. */
  handoffBudgetChars?: number;
}

const none = '(none)';
const list = (xs: readonly string[]): string => (xs.length ? xs.join(', ') : none);

/** The complete prompt for a task. Pure. */
export function buildPrompt({ task, runId, resultFile, handoffs = [], handoffBudgetChars = DEFAULT_HANDOFF_BUDGET_CHARS }: BuildPromptInput): string {
  const acs = task.acceptance_criteria;
  const high = task.risk === 'High';
  const handoff = buildHandoffSection({ handoffs, budgetChars: handoffBudgetChars }).lines;
  const returnJson = JSON.stringify(
    {
      task_id: task.task_id,
      status: 'completed|blocked|partial',
      acs_completed: ['AC_ID1', 'AC_ID2'],
      acs_remaining: ['AC_ID3'],
      files_modified: ['path1', 'path2'],
      test_results: { total: 0, passing: 0, failing: 0 },
      blockers: [],
      duration_minutes: 0,
    },
    null,
    2,
  );

  const sections = [
    `You are implementing task ${task.task_id} from the Virtual Task Manifest (run ${runId}).`,
    'Other agents may be working on other tasks of this repository at the same time: work ONLY on your assigned files.',
    '',
    '**Task Context:**',
    `- Task ID: ${task.task_id}`,
    `- Title: ${task.title}`,
    `- Capability: ${task.capability_id ?? none}`,
    `- Phase: ${task.phase ?? none}`,
    `- Slice: ${task.slice ?? none}`,
    `- Risk: ${task.risk}`,
    '',
    '**Description:**',
    task.description.trim() === '' ? none : task.description,
    '',
    `**Acceptance Criteria (${acs.length} total):**`,
    ...(acs.length ? acs.map((ac) => `- ${ac.id}: ${ac.text}`) : [none]),
    '',
    '**Required Reading (MANDATORY):**',
    `Specs: ${list(task.related_specs)}`,
    `ADRs: ${list(task.related_adrs)}`,
    `Guides: ${list(task.related_guides)}`,
    '',
    // After the task's own text and before the rules: the rules are read last and are ours alone.
    ...(handoff.length ? [...handoff, ''] : []),
    '**Test Verification (the orchestrator runs these after you finish; they must pass):**',
    ...(task.test_verification.length ? task.test_verification.map((t) => `- ${t}`) : [none]),
    '',
    '**File Scope (DO NOT MODIFY OUTSIDE THIS):**',
    ...(task.file_scope.length ? task.file_scope : ['(none: this task may not modify any file)']),
    '',
    '**Instructions:**',
    handoff.length
      ? '1. Read ALL related specs, ADRs, and guides before implementing, and the handoffs of the tasks you depend on (their work is already in your branch).'
      : '1. Read ALL related specs, ADRs, and guides before implementing.',
    high
      ? `2. Apply strict TDD (risk=${task.risk}): for each acceptance criterion, write a failing test first, then the code that makes it pass.`
      : `2. Apply a TDD approach (risk=${task.risk}): cover each acceptance criterion with a test.`,
    '3. Implement incrementally, satisfying the acceptance criteria one by one.',
    '4. Stay within your file scope. If the task cannot be done without changing other files, stop and report it as a blocker.',
    '5. Do NOT edit task-state.json: the orchestrator records task state.',
    '6. Do NOT commit, and do not create branches or stashes: the orchestrator checks your changes against the file scope and commits them.',
    '7. Run the tests and report the real numbers.',
    '',
    '**CRITICAL - Return Format:**',
    '```json',
    returnJson,
    '```',
    '',
    'Return ONLY the JSON. Do NOT include code snippets, explanations, or preamble.',
    'You may add "summary" (one sentence: what you did) and "notes" (what tasks that build on your work should know: interfaces, decisions, caveats) to the JSON; they are handed to those tasks.',
  ];
  if (resultFile) {
    sections.push(`Also write exactly the same JSON to the file ${resultFile} (the one file outside your scope you may write).`);
  }
  return `${sections.join('\n')}\n`;
}
