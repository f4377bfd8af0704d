/**
 * Cross-field rules of a manifest (pure). Shape is checked by the zod schema first; these rules need the whole
 * manifest: unique ids, known references, acyclic dependencies, unique AC ids, safe workspace paths.
 * Every rule reports all of its findings, with the task id and the field path, so one run shows every problem.
 */
import type { Manifest, Task } from './schema';
import { PATH_FIELDS } from './schema';
import type { ManifestProblem } from './problems';
import { getPathProblem, isNamedDocReference } from './paths';

/** Optional file-system knowledge for the rules that need it; omitted in pure callers. */
export interface PathProbe {
  /** Called for file_scope entries without a trailing "/": true when that path is an existing directory. */
  isDirectory(relativePath: string): boolean;
}

/** A task with its position in the manifest's `tasks` array (positions are kept when some tasks failed to parse). */
export interface IndexedTask {
  index: number;
  task: Task;
}

/**
 * Rules over the tasks that parsed. `otherIds` are ids of tasks whose shape was invalid: references to them are not
 * reported as unknown (their own problems already are).
 */
export function getManifestRuleProblems({
  manifest,
  file,
  probe,
  indexed = manifest.tasks.map((task, index) => ({ index, task })),
  otherIds = [],
}: {
  manifest: Manifest;
  file: string;
  probe?: PathProbe;
  indexed?: readonly IndexedTask[];
  otherIds?: readonly string[];
}): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const add = (index: number, task: Task | undefined, path: string, message: string) =>
    problems.push({ file, taskId: task?.task_id, path: `tasks[${index}]${path}`, message });

  const firstIndexById = new Map<string, number>();
  for (const { index: i, task } of indexed) {
    const first = firstIndexById.get(task.task_id);
    if (first === undefined) firstIndexById.set(task.task_id, i);
    else add(i, task, '.task_id', `duplicate task id "${task.task_id}" (first defined at tasks[${first}])`);
  }
  const others = otherIds.length > 0 ? new Set(otherIds) : undefined;
  const isKnown = (id: string): boolean => firstIndexById.has(id) || others?.has(id) === true;

  // Plain loops, no closures or per-task maps: these rules run over every task of a 10,000-task manifest on every nx
  // command.
  for (const { index: i, task } of indexed) {
    const deps = task.depends_on_tasks;
    for (let k = 0; k < deps.length; k++) {
      const dep = deps[k];
      if (dep === task.task_id) add(i, task, `.depends_on_tasks[${k}]`, 'a task cannot depend on itself');
      else if (!isKnown(dep)) add(i, task, `.depends_on_tasks[${k}]`, `depends on unknown task "${dep}"`);
    }
    const conflicts = task.conflicts_with;
    for (let k = 0; k < conflicts.length; k++) {
      const other = conflicts[k];
      if (other === task.task_id) add(i, task, `.conflicts_with[${k}]`, 'a task cannot conflict with itself');
      else if (!isKnown(other)) add(i, task, `.conflicts_with[${k}]`, `conflicts with unknown task "${other}"`);
    }

    // A task has a handful of criteria: comparing with the earlier ones beats building a map per task.
    const acs = task.acceptance_criteria;
    for (let j = 1; j < acs.length; j++) {
      for (let seen = 0; seen < j; seen++) {
        if (acs[seen].id === acs[j].id) {
          add(i, task, `.acceptance_criteria[${j}].id`, `duplicate acceptance criterion id "${acs[j].id}" (also at acceptance_criteria[${seen}])`);
          break;
        }
      }
    }

    for (const field of PATH_FIELDS) {
      const list = task[field];
      for (let k = 0; k < list.length; k++) {
        const entry = list[k];
        // Named document references ("ADR-0002: Dual Hash Migration") are resolved at run time, not paths.
        if (field.startsWith('related_') && isNamedDocReference(entry)) {
          if (entry.includes('\0')) add(i, task, `.${field}[${k}]`, 'contains a NUL character');
          continue;
        }
        const problem = getPathProblem(entry);
        if (problem) {
          add(i, task, `.${field}[${k}]`, `path ${problem}`);
          continue;
        }
        if (field === 'file_scope' && !entry.endsWith('/') && probe?.isDirectory(entry)) {
          add(i, task, `.${field}[${k}]`, `"${entry}" is a directory; write it as "${entry}/"`);
        }
      }
    }
  }

  problems.push(...getCycleProblems(indexed, () => file));
  return problems;
}

/**
 * Dependency cycles, each reported once with its whole path (`A -> B -> C -> A`) at the edge that closes it.
 * Iterative DFS: a 10,000-task chain must not overflow the stack.
 */
function getCycleProblems(indexed: readonly IndexedTask[], fileOf: (k: number) => string): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const n = indexed.length;
  const indexById = new Map<string, number>();
  for (let k = 0; k < n; k++) {
    const id = indexed[k].task.task_id;
    if (!indexById.has(id)) indexById.set(id, k);
  }
  // The edges in one flat list (each task's run from `first[k]` to `first[k + 1]`), in depends_on_tasks order: one
  // array for the whole graph instead of one per task, which at 10,000 tasks was garbage on every nx command.
  const first = new Int32Array(n + 1);
  const edges: number[] = [];
  for (let k = 0; k < n; k++) {
    first[k] = edges.length;
    const t = indexed[k].task;
    const deps = t.depends_on_tasks;
    for (let e = 0; e < deps.length; e++) {
      const to = indexById.get(deps[e]);
      if (to !== undefined && indexed[to].task.task_id !== t.task_id) edges.push(to);
    }
  }
  first[n] = edges.length;
  const WHITE = 0;
  const GREY = 1;
  const BLACK = 2;
  const color = new Uint8Array(n);
  const reported = new Set<string>();
  // The DFS stack as two typed arrays (node, next edge) rather than an object per frame: at most n frames. The stack's
  // nodes are the current path, from `root` to the node on top.
  const stackNode = new Int32Array(n);
  const stackNext = new Int32Array(n);

  for (let root = 0; root < n; root++) {
    if (color[root] !== WHITE) continue;
    let depth = 0;
    stackNode[0] = root;
    stackNext[0] = first[root];
    color[root] = GREY;
    while (depth >= 0) {
      const node = stackNode[depth];
      if (stackNext[depth] < first[node + 1]) {
        const to = edges[stackNext[depth]++];
        if (color[to] === WHITE) {
          color[to] = GREY;
          depth++;
          stackNode[depth] = to;
          stackNext[depth] = first[to];
        } else if (color[to] === GREY) {
          let at = 0;
          while (stackNode[at] !== to) at++;
          const cycle = Array.from(stackNode.subarray(at, depth + 1));
          const key = [...cycle].sort((a, b) => a - b).join(',');
          if (!reported.has(key)) {
            reported.add(key);
            const ids = [...cycle, to].map((k) => indexed[k].task.task_id);
            const from = indexed[node].task;
            const edgeIndex = from.depends_on_tasks.indexOf(indexed[to].task.task_id);
            const files = [...new Set(cycle.map((k) => fileOf(k)))];
            problems.push({
              file: fileOf(node),
              taskId: from.task_id,
              path: `tasks[${indexed[node].index}].depends_on_tasks[${edgeIndex}]`,
              message: `dependency cycle: ${ids.join(' -> ')}${files.length > 1 ? ` (across ${files.join(', ')})` : ''}`,
            });
          }
        }
      } else {
        color[node] = BLACK;
        depth--;
      }
    }
  }
  return problems;
}

/**
 * Rules across the manifests of one workspace: a task id defined in more than one manifest (one problem per extra
 * definition, naming both files), and dependency cycles that pass through several manifests (cycles inside one
 * manifest are reported by its own rules).
 */
export function getCrossManifestProblems(manifests: readonly { file: string; manifest: Manifest }[]): ManifestProblem[] {
  const firstById = new Map<string, { file: string; index: number }>();
  const problems: ManifestProblem[] = [];
  if (manifests.length > 1) {
    const all = manifests.flatMap(({ file, manifest }) => manifest.tasks.map((task, index) => ({ file, index, task })));
    problems.push(...getCycleProblems(all, (k) => all[k].file).filter((p) => p.message.includes('(across ')));
  }
  for (const { file, manifest } of manifests) {
    manifest.tasks.forEach((task, index) => {
      const first = firstById.get(task.task_id);
      if (!first) firstById.set(task.task_id, { file, index });
      else if (first.file !== file) {
        problems.push({
          file,
          taskId: task.task_id,
          path: `tasks[${index}].task_id`,
          message: `task id "${task.task_id}" is also defined in ${first.file} (tasks[${first.index}]); task ids must be unique across manifests`,
        });
      }
    });
  }
  return problems;
}
