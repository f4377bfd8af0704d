/**
 * Gathers what a task's finished dependencies did, for its prompt (see `agents/handoff.ts` for how it is shown):
 * from each dependency's record in the task store (integrated commit, files changed from git, criteria, tests) and
 * from its result folder (the summary and notes its agent wrote: `result.json`, else the report kept in
 * `outcome.json`, which covers CLI agents that answer in their last message).
 *
 * Direct dependencies and, through the manifest, theirs (transitive). A dependency that is not completed contributes
 * nothing. The walk and the number of folders read are bounded, so a task at the end of a 10,000-task chain costs a
 * few dozen reads, not thousands.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TASK_ID_PATTERN, type Task } from '../manifest/schema';
import type { TaskRecord } from '../state/task-record';
import { parseReportNotes } from '../agents/outcome';
import { orderHandoffs, type DependencyHandoff } from '../agents/handoff';

/** Where the reader finds dependencies, records and result files. */
export interface HandoffSourcePort {
  /** Called for each dependency reached (direct ones, then theirs) for its manifest entry: title and dependencies. */
  getTask(taskId: string): Task | undefined;
  /** Called for each dependency reached for its record in the task store; undefined when it has none. */
  getRecord(taskId: string): TaskRecord | undefined;
  /** Called for `result.json` and `outcome.json` of the completed dependencies kept; undefined when absent or unreadable. */
  readResultFile(taskId: string, name: 'result.json' | 'outcome.json'): string | undefined;
}

/** Dependencies visited at most (direct and transitive). */
export const MAX_HANDOFF_VISITS = 500;
/** Completed dependencies whose result folders are read (the most relevant ones; the prompt's budget trims further). */
export const MAX_HANDOFF_DEPENDENCIES = 40;

/**
 * The handoffs of a task's completed dependencies, most relevant first (direct before transitive, newest first).
 * Reads only through `port`.
 */
export function readDependencyHandoffs({
  task,
  port,
  maxVisits = MAX_HANDOFF_VISITS,
  maxDependencies = MAX_HANDOFF_DEPENDENCIES,
}: {
  task: Pick<Task, 'task_id' | 'depends_on_tasks'>;
  port: HandoffSourcePort;
  maxVisits?: number;
  maxDependencies?: number;
}): DependencyHandoff[] {
  // Breadth first: the direct dependencies, then theirs; a task reached both ways counts as direct.
  const seen = new Set<string>([task.task_id]);
  const found: { taskId: string; direct: boolean; task?: Task; record: TaskRecord }[] = [];
  let frontier = [...new Set(task.depends_on_tasks)].filter((id) => !seen.has(id));
  frontier.forEach((id) => seen.add(id));
  let direct = true;
  let visits = 0;
  while (frontier.length > 0 && visits < maxVisits) {
    const next: string[] = [];
    for (const id of frontier) {
      if (visits++ >= maxVisits) break;
      const dep = port.getTask(id);
      const record = port.getRecord(id);
      if (record?.status === 'completed') found.push({ taskId: id, direct, task: dep, record });
      for (const d of dep?.depends_on_tasks ?? []) {
        if (!seen.has(d)) {
          seen.add(d);
          next.push(d);
        }
      }
    }
    frontier = next;
    direct = false;
  }

  // Order on what the records say, then read the folders of the most relevant ones only.
  const byId = new Map(found.map((f) => [f.taskId, f]));
  const skeletons = orderHandoffs(found.map((f) => buildDependencyHandoff({ taskId: f.taskId, direct: f.direct, task: f.task, record: f.record })));
  return skeletons.slice(0, maxDependencies).map((h) => {
    const f = byId.get(h.taskId)!;
    return buildDependencyHandoff({
      taskId: f.taskId,
      direct: f.direct,
      task: f.task,
      record: f.record,
      resultJson: port.readResultFile(f.taskId, 'result.json'),
      outcomeJson: port.readResultFile(f.taskId, 'outcome.json'),
    });
  });
}

/**
 * One dependency's handoff from its store record and the text of its result files. Pure. Every field is read
 * defensively: records imported from an older task-state.json, or written by other tooling, may lack any of them.
 */
export function buildDependencyHandoff({
  taskId,
  direct,
  task,
  record,
  resultJson,
  outcomeJson,
}: {
  taskId: string;
  direct: boolean;
  task?: Pick<Task, 'title'>;
  record: Pick<TaskRecord, 'completedAt' | 'outcome'>;
  /** The agent's `result.json` (VTM_RESULT_FILE), when it wrote one. */
  resultJson?: string;
  /** The run's `outcome.json` (the normalised agent outcome, with the agent's report). */
  outcomeJson?: string;
}): DependencyHandoff {
  const o = record.outcome ?? {};
  const integration = asObject(o.integration);
  const tests = asObject(o.test_results);
  const handoff: DependencyHandoff = {
    taskId,
    direct,
    completedAt: record.completedAt ?? null,
    files: asStrings(o.files_modified),
    acsCompleted: asStrings(o.acs_completed),
    notes: [],
  };
  if (task?.title) handoff.title = task.title;
  const sha = asString(integration.sha);
  if (sha) handoff.commit = sha;
  const taskSha = asString(integration.task_sha);
  if (taskSha) handoff.taskCommit = taskSha;
  const how = asString(integration.status);
  if (how) handoff.integration = how;
  const branch = asString(integration.into) ?? asString(integration.branch);
  if (branch) handoff.branch = branch;
  if (typeof tests.total === 'number' && typeof tests.passing === 'number' && typeof tests.failing === 'number') {
    handoff.tests = { total: tests.total, passing: tests.passing, failing: tests.failing };
  }
  const verification = asString(asObject(o.verification).status);
  if (verification) handoff.verification = verification;

  // What the agent wrote on purpose (result.json) wins; else the report parsed from its output (outcome.json).
  const fromResult = parseReportNotes(parseJson(resultJson));
  const fromOutcome = parseReportNotes(asObject(parseJson(outcomeJson)).reported);
  // Last: what the task's record kept (the accepted outcome carries them, so a task restored from the Nx cache in
  // another clone, whose result folder is not there, still hands them on).
  const fromRecord = parseReportNotes({ summary: o.summary, notes: o.notes });
  const summary = fromResult.summary ?? fromOutcome.summary ?? fromRecord.summary;
  if (summary) handoff.summary = summary;
  handoff.notes = [fromResult.notes, fromOutcome.notes, fromRecord.notes].find((n) => n.length > 0) ?? [];
  return handoff;
}

/** Result files larger than this are not read (a report is a few KB; anything bigger is not one). */
const MAX_RESULT_FILE_BYTES = 1024 * 1024;

/** The default port: the task store for records, the run context's manifests for tasks, `.vtm/results/` for files. */
export function createHandoffSourcePort({
  workspaceRoot,
  resultsDir,
  getTask,
  getRecord,
}: {
  workspaceRoot: string;
  /** Workspace-relative folder of the result folders (`.vtm/results`). */
  resultsDir: string;
  getTask: HandoffSourcePort['getTask'];
  getRecord: HandoffSourcePort['getRecord'];
}): HandoffSourcePort {
  return {
    getTask,
    getRecord,
    readResultFile: (taskId, name) => {
      // Ids come from depends_on_tasks: only a real task id names a folder (never `..` or a path).
      if (!TASK_ID_PATTERN.test(taskId)) return undefined;
      const file = join(workspaceRoot, resultsDir, taskId, name);
      try {
        if (statSync(file).size > MAX_RESULT_FILE_BYTES) return undefined;
        return readFileSync(file, 'utf8');
      } catch {
        // Missing (a dependency restored from the cache has no agent files) or unreadable: nothing to hand over.
        return undefined;
      }
    },
  };
}

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const asObject = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const asString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const asStrings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
