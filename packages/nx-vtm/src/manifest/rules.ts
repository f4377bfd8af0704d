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
  const known = new Set([...firstIndexById.keys(), ...otherIds]);

  for (const { index: i, task } of indexed) {
    task.depends_on_tasks.forEach((dep, k) => {
      if (dep === task.task_id) add(i, task, `.depends_on_tasks[${k}]`, 'a task cannot depend on itself');
      else if (!known.has(dep)) add(i, task, `.depends_on_tasks[${k}]`, `depends on unknown task "${dep}"`);
    });
    task.conflicts_with.forEach((other, k) => {
      if (other === task.task_id) add(i, task, `.conflicts_with[${k}]`, 'a task cannot conflict with itself');
      else if (!known.has(other)) add(i, task, `.conflicts_with[${k}]`, `conflicts with unknown task "${other}"`);
    });

    const acIndex = new Map<string, number>();
    task.acceptance_criteria.forEach((ac, j) => {
      const seen = acIndex.get(ac.id);
      if (seen === undefined) acIndex.set(ac.id, j);
      else add(i, task, `.acceptance_criteria[${j}].id`, `duplicate acceptance criterion id "${ac.id}" (also at acceptance_criteria[${seen}])`);
    });

    for (const field of PATH_FIELDS) {
      task[field].forEach((entry, k) => {
        // Named document references ("ADR-0002: Dual Hash Migration") are resolved at run time, not paths.
        if (field.startsWith('related_') && isNamedDocReference(entry)) {
          if (entry.includes('\0')) add(i, task, `.${field}[${k}]`, 'contains a NUL character');
          return;
        }
        const problem = getPathProblem(entry);
        if (problem) {
          add(i, task, `.${field}[${k}]`, `path ${problem}`);
          return;
        }
        if (field === 'file_scope' && !entry.endsWith('/') && probe?.isDirectory(entry)) {
          add(i, task, `.${field}[${k}]`, `"${entry}" is a directory; write it as "${entry}/"`);
        }
      });
    }
  }

  problems.push(...getCycleProblems(indexed.map((x) => ({ ...x, file }))));
  return problems;
}

/**
 * Dependency cycles, each reported once with its whole path (`A -> B -> C -> A`) at the edge that closes it.
 * Iterative DFS: a 10,000-task chain must not overflow the stack.
 */
function getCycleProblems(indexed: readonly (IndexedTask & { file: string })[]): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const tasks = indexed.map((x) => x.task);
  const indexById = new Map<string, number>();
  tasks.forEach((t, k) => {
    if (!indexById.has(t.task_id)) indexById.set(t.task_id, k);
  });
  const n = tasks.length;
  const WHITE = 0;
  const GREY = 1;
  const BLACK = 2;
  const color = new Uint8Array(n);
  const deps: number[][] = tasks.map((t) =>
    t.depends_on_tasks
      .map((d) => indexById.get(d))
      .filter((d): d is number => d !== undefined && tasks[d].task_id !== t.task_id),
  );
  const reported = new Set<string>();

  for (let root = 0; root < n; root++) {
    if (color[root] !== WHITE) continue;
    const stack: { node: number; next: number }[] = [{ node: root, next: 0 }];
    const onPath: number[] = [root];
    color[root] = GREY;
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      const edges = deps[frame.node];
      if (frame.next < edges.length) {
        const to = edges[frame.next++];
        if (color[to] === WHITE) {
          color[to] = GREY;
          stack.push({ node: to, next: 0 });
          onPath.push(to);
        } else if (color[to] === GREY) {
          const cycle = onPath.slice(onPath.indexOf(to));
          const key = [...cycle].sort((a, b) => a - b).join(',');
          if (!reported.has(key)) {
            reported.add(key);
            const ids = [...cycle, to].map((k) => tasks[k].task_id);
            const from = tasks[frame.node];
            const edgeIndex = from.depends_on_tasks.indexOf(tasks[to].task_id);
            const files = [...new Set([...cycle].map((k) => indexed[k].file))];
            problems.push({
              file: indexed[frame.node].file,
              taskId: from.task_id,
              path: `tasks[${indexed[frame.node].index}].depends_on_tasks[${edgeIndex}]`,
              message: `dependency cycle: ${ids.join(' -> ')}${files.length > 1 ? ` (across ${files.join(', ')})` : ''}`,
            });
          }
        }
      } else {
        color[frame.node] = BLACK;
        stack.pop();
        onPath.pop();
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
    problems.push(...getCycleProblems(all).filter((p) => p.message.includes('(across ')));
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
