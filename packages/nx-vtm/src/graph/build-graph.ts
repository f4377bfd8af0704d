/**
 * From parsed manifests to Nx projects, targets and dependency edges (pure).
 *
 * Every task becomes a project named by its task_id with an `implement` target (runs the agent) and a `verify` target
 * (re-checks the task's tests on the current checkout, for CI). Every slice and phase becomes an aggregate project
 * whose targets depend on its tasks' targets, so `nx run-many -t implement --projects=slice-1.1` runs one slice.
 *
 * Roots are virtual folders that never exist on disk, laid out for `nx graph` (see getTaskRoot). Nx accepts such roots,
 * but a `{projectRoot}` input fails hashing with a misleading "project not found" (shared/notes/nx-24-facts.md), so
 * every target here has explicit `{workspaceRoot}/...` inputs only.
 */
import type { ProjectConfiguration, TargetConfiguration } from '@nx/devkit';
import type { Task } from '../manifest/schema';
import { DOC_FIELDS } from '../manifest/schema';
import { hashTask } from '../manifest/hash';
import { isNamedDocReference } from '../manifest/paths';
import type { ManifestProblem } from '../manifest/problems';
import { getSnapshotDir } from './task-snapshots';

export const EXECUTOR_PACKAGE = 'nx-vtm';
const IMPLEMENT_EXECUTOR = `${EXECUTOR_PACKAGE}:implement`;
const VERIFY_EXECUTOR = `${EXECUTOR_PACKAGE}:verify`;
const SYNC_GENERATOR = `${EXECUTOR_PACKAGE}:sync`;

export interface GraphTargetNames {
  implement: string;
  /** false: no verify targets (plugin option `verifyTargetName: false`). */
  verify: string | false;
}

export interface ManifestForGraph {
  /** Workspace-relative manifest path. */
  file: string;
  status: 'OK' | 'BLOCKED';
  tasks: readonly Task[];
}

export interface BuildGraphInput {
  manifests: readonly ManifestForGraph[];
  targetNames?: GraphTargetNames;
  // No hash of the run settings (agent, verification, integration) in the options: they live in nx.json's plugin
  // options, and Nx hashes nx.json into every task's key (`file:nx.json` in each task's hash plan; e2e graph.e2e.ts
  // checks it), so such an option only repeated 10,000 times what the key already holds.
}

export interface GraphProject {
  /** Manifest the project comes from (its createNodes "config file"). */
  file: string;
  root: string;
  /**
   * Without `root`: createNodes results are keyed by root and Nx takes it from the key, so repeating it in the
   * configuration would be paid once more per task (see taskTargets on why bytes count).
   */
  config: Omit<ProjectConfiguration, 'root'>;
}

export interface GraphEdge {
  source: string;
  target: string;
  /** The manifest that declares the edge. */
  file: string;
}

export interface BuiltGraph {
  projects: GraphProject[];
  edges: GraphEdge[];
  problems: ManifestProblem[];
}

export const DEFAULT_TARGET_NAMES: GraphTargetNames = { implement: 'implement', verify: 'verify' };
/** The folder of tasks that have neither a phase nor a slice. */
export const VIRTUAL_ROOT = '.vtm';

/**
 * Where a task project lives: `phase-<p>/slice-<s>/<task_id>` (or `phase-<p>/<task_id>`, `slice-<s>/<task_id>`, and
 * `.vtm/<task_id>` for a task of neither). Nx 24's `nx graph` draws projects grouped by the folders of their roots and,
 * on first load, expands the top-level folders when there are at most 3 of them and each has at most 15 projects of
 * its own (read in nx/dist/src/core/graph/main.js: autoExpandTopLevelCompositeNodes, autoExpand: 15); deeper folders
 * stay closed, drawn with the edges between them. So phases are the top-level folders and slices the folders inside
 * them: the first view shows the phases (opened when there are few) with their slices and the edges between slices,
 * and a double click opens a slice into its tasks. Under a `.vtm/` prefix the top level would be one folder, opened
 * on one closed folder (the old `./.vtm/projects (12)`). The roots are deep and named after our projects, so no real
 * file of the workspace lies in one (a file in a project root would make the project affected when it changes).
 */
export function getTaskRoot({ taskId, phase, slice }: { taskId: string; phase?: string; slice?: string }): string {
  if (!phase && !slice) return `${VIRTUAL_ROOT}/${taskId}`;
  if (phase && slice) return `${phase}/${slice}/${taskId}`;
  return `${phase || slice}/${taskId}`;
}

/** "Slice 1.1" -> "1.1"; "Phase 2" -> "2"; "Foundation work" -> "foundation-work". */
export function getGroupKey(label: string, word: 'slice' | 'phase'): string {
  const lowered = label.trim().toLowerCase();
  const stripped = lowered.startsWith(word) ? lowered.slice(word.length) : lowered;
  return stripped
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .replace(/\.{2,}/g, '.');
}

export const sliceProjectName = (label: string): string => `slice-${getGroupKey(label, 'slice')}`;
export const phaseProjectName = (label: string): string => `phase-${getGroupKey(label, 'phase')}`;

/** The risk tags, built once (a graph of thousands of tasks asks for them per task). */
const RISK_TAGS: Record<Task['risk'], string> = { High: 'vtm:risk:high', Medium: 'vtm:risk:medium', Low: 'vtm:risk:low' };

/**
 * The Nx project tags of a task's project (what `nx show project` lists and `--projects=tag:...` and
 * `nx-vtm run "tag:..."` select on).
 */
export function buildTaskTags({
  task,
  manifestStatus,
  tagOf = (label, word) => `vtm:${word}:${getGroupKey(label, word)}`,
}: {
  task: Task;
  manifestStatus?: string;
  /** The slice or phase tag of a label; may be a cached one (a graph of thousands of tasks asks per task). */
  tagOf?: (label: string, word: 'slice' | 'phase') => string;
}): string[] {
  // The usual planned task: one list of its final length (these lists are kept in the graph; see taskTargets).
  if (task.slice && task.phase && task.capability_id && !task.provisional && task.tags === undefined && manifestStatus !== 'BLOCKED') {
    return ['vtm:task', RISK_TAGS[task.risk], tagOf(task.slice, 'slice'), tagOf(task.phase, 'phase'), `vtm:capability:${task.capability_id}`];
  }
  const tags = ['vtm:task', RISK_TAGS[task.risk]];
  if (task.slice) tags.push(tagOf(task.slice, 'slice'));
  if (task.phase) tags.push(tagOf(task.phase, 'phase'));
  if (task.capability_id) tags.push(`vtm:capability:${task.capability_id}`);
  if (task.provisional) tags.push('vtm:provisional');
  for (const t of task.tags ?? []) if (!tags.includes(t)) tags.push(t);
  if (manifestStatus === 'BLOCKED') tags.push('vtm:blocked');
  return tags;
}

/**
 * The environment variable holding how many times `nx-vtm reset` reset a task (unset before the first reset); an
 * input of the task's implement target. Task ids are valid in variable names as they are (letters, digits, "_", "-",
 * "."); Nx reads inputs from its own copy of the environment, never a shell.
 */
export const getResetEnvName = (taskId: string): string => `NX_VTM_RESET_${taskId}`;

const asInput = (path: string): string =>
  path.endsWith('/') ? `{workspaceRoot}/${path}**/*` : `{workspaceRoot}/${path}`;

/** The cache inputs of the task's related documents that are paths, in field order (a fresh list, rewritten in place). */
function getDocInputs(task: Task): string[] {
  const paths = getDocPaths(task);
  for (let i = 0; i < paths.length; i++) paths[i] = asInput(paths[i]);
  return paths;
}

/** Related documents that are paths (named references such as "ADR-0002: Title" are resolved at run time). */
export function getDocPaths(task: Task): string[] {
  const out: string[] = [];
  for (const field of DOC_FIELDS) for (const ref of task[field]) if (!isNamedDocReference(ref)) out.push(ref);
  return out;
}

// Fresh objects per target: without plugin isolation Nx merges configurations in place, so nothing may be shared.
// Short texts, one key: Nx copies every project's configuration several times per command (to the plugin worker and
// back, into its graph and source-map caches, to every plugin with createDependencies) and records a source-map entry
// per key, so each byte and each key here is paid 10,000 times. The help command is named in the text instead of a
// `help` object (three more keys per target).
const implementMetadata = () => ({ description: 'Agent run, scope audit, verification, merge (npx nx-vtm help implement)' });
const verifyMetadata = () => ({ description: 'Runs test_verification on this checkout (npx nx-vtm help verify)' });

/**
 * The task's entry in its targets' cache keys: the first 64 bits of `hashTask` (hex). Enough to tell edits of one entry
 * apart (a collision would need 2^32 edits of one task), and 96 bytes per task less for Nx to copy around than the full
 * hash twice; the task store keeps the full hash (`task_hash`).
 */
export const getTaskCacheKey = (task: Task): string => hashTask(task).slice(0, 16);

/** `upstream`: the implement target's `dependsOn` entry (`^implement`) when the task has dependencies, built once per graph. */
function taskTargets(task: Task, taskHash: string, snapshotDir: string, names: GraphTargetNames, upstream: string | undefined) {
  const id = task.task_id;
  // This runs once per task (10,000 times), and every list it builds is kept in the result: the lists are allocated
  // at their final length (a list grown by push from empty reserves 16 slots), so the garbage collector copies no
  // spare room, and no intermediate array is spread.
  const docs = getDocInputs(task);
  const implementInputs: NonNullable<TargetConfiguration['inputs']> = new Array(docs.length + 3);
  for (let i = 0; i < docs.length; i++) implementInputs[i] = docs[i];
  // Upstream results are part of the key: a dependency implemented again makes its dependents due again.
  implementInputs[docs.length] = { dependentTasksOutputFiles: '**/*', transitive: true };
  // `nx-vtm reset` must re-run the task, not have Nx serve the result the user just discarded. The task's reset
  // count lives in the task store, which inference cannot read (it changes without any workspace file changing);
  // the preTasksExecution hook sets this variable from the store before Nx hashes the tasks.
  implementInputs[docs.length + 1] = { env: getResetEnvName(id) };
  // No npm packages: installing or upgrading a package must not make finished agent work due again (naming
  // nx-vtm here fails in workspaces whose lock file does not list it).
  implementInputs[docs.length + 2] = { externalDependencies: [] };
  const implement: TargetConfiguration = {
    executor: IMPLEMENT_EXECUTOR,
    // The task's own hash is an option, so editing one manifest entry changes only that task's cache key. Nothing else
    // per task: the executors take the task id from the project name and find the manifests as the CLI does
    // (runtime/context.ts loadTaskRunContext), so no option repeats what Nx already knows.
    options: { taskHash },
    cache: true,
    inputs: implementInputs,
    outputs: [`{workspaceRoot}/.vtm/results/${id}/outcome`],
    // Metadata is repeated for every task and Nx serialises it into its graph cache: keep it short (10,000 tasks).
    metadata: implementMetadata(),
  };
  // The project graph's edges (createDependencies, one per depends_on_tasks entry) say which tasks come first; naming
  // them again here would repeat every edge in every project's configuration.
  if (upstream !== undefined) implement.dependsOn = [upstream];
  // No verify target (`verifyTargetName: false`): nothing of it is built.
  if (names.verify === false) return { [names.implement]: implement };

  const scope = task.file_scope;
  const tests = task.test_verification;
  const verifyInputs: string[] = new Array(1 + docs.length + scope.length + tests.length);
  let at = 0;
  verifyInputs[at++] = `{workspaceRoot}/${snapshotDir}/${id}.json`;
  for (let i = 0; i < docs.length; i++) verifyInputs[at++] = docs[i];
  for (let i = 0; i < scope.length; i++) verifyInputs[at++] = asInput(scope[i]);
  for (let i = 0; i < tests.length; i++) verifyInputs[at++] = asInput(tests[i]);
  const verify: TargetConfiguration = {
    executor: VERIFY_EXECUTOR,
    options: { taskHash },
    cache: true,
    inputs: verifyInputs,
    // Keeps the per-task snapshot files in step with the manifest (`nx sync`; `nx sync:check` in CI).
    syncGenerators: [SYNC_GENERATOR],
    metadata: verifyMetadata(),
  };
  return { [names.implement]: implement, [names.verify]: verify };
}

function aggregateTargets(members: readonly string[], names: GraphTargetNames, what: string) {
  const target = (name: string, verb: string): TargetConfiguration => ({
    executor: 'nx:noop',
    // Aggregates hash nothing of their own, but they need explicit inputs: Nx replaces a missing or empty list with
    // the default named input, whose {projectRoot} fails for virtual roots. An env input reads no file, so editing
    // the manifest never marks a whole slice affected.
    inputs: [{ env: 'NX_VTM_AGGREGATE' }],
    dependsOn: [{ projects: [...members], target: name }],
    metadata: { description: `${verb} every task of ${what} (${members.length} tasks)` },
  });
  if (names.verify === false) return { [names.implement]: target(names.implement, 'Implement') };
  return { [names.implement]: target(names.implement, 'Implement'), [names.verify]: target(names.verify, 'Verify') };
}

/** The list without repeated entries, in order; the list itself when it has none (the usual case: no copy, no Set). */
function withoutRepeats(list: readonly string[]): readonly string[] {
  // Pairwise for the usual handful; a long list (a task after hundreds of others) takes the Set.
  if (list.length > 16) return [...new Set(list)];
  for (let i = 1; i < list.length; i++) {
    for (let j = 0; j < i; j++) if (list[i] === list[j]) return [...new Set(list)];
  }
  return list;
}

/** Build every project and edge of the given (already validated) manifests. */
export function buildGraph({ manifests, targetNames = DEFAULT_TARGET_NAMES }: BuildGraphInput): BuiltGraph {
  const projects: GraphProject[] = [];
  const edges: GraphEdge[] = [];
  const problems: ManifestProblem[] = [];
  const groups = new Map<string, { file: string; label: string; kind: 'slice' | 'phase'; members: string[]; folder: string }>();
  const taskIds = new Set<string>();
  for (const m of manifests) for (const t of m.tasks) taskIds.add(t.task_id);

  // Labels repeat across thousands of tasks: derive each key, project name and tag once per label.
  const derived = { slice: new Map<string, { key: string; name: string; tag: string }>(), phase: new Map<string, { key: string; name: string; tag: string }>() };
  const derive = (label: string, word: 'slice' | 'phase') => {
    let v = derived[word].get(label);
    if (v === undefined) {
      const key = getGroupKey(label, word);
      derived[word].set(label, (v = { key, name: `${word}-${key}`, tag: `vtm:${word}:${key}` }));
    }
    return v;
  };
  const tagOf = (label: string, word: 'slice' | 'phase') => derive(label, word).tag;
  /** Adds the task to its slice or phase; returns the group's project name (undefined when it has none). */
  const addToGroup = (kind: 'slice' | 'phase', label: string, file: string, taskId: string, index: number, parentFolder: string | undefined) => {
    const { key, name } = derive(label, kind);
    if (key === '') {
      problems.push({ file, taskId, path: `tasks[${index}].${kind}`, message: `cannot derive a project name from ${JSON.stringify(label)}` });
      return undefined;
    }
    if (taskIds.has(name)) {
      problems.push({ file, taskId, path: `tasks[${index}].${kind}`, message: `${kind} project name "${name}" is also a task id; rename the task or the ${kind}` });
      return undefined;
    }
    // A slice whose tasks span phases is drawn in each; its own project sits in the folder of its first task.
    const group = groups.get(name);
    if (group) group.members.push(taskId);
    else groups.set(name, { file, label, kind, members: [taskId], folder: parentFolder ? `${parentFolder}/${name}` : name });
    return name;
  };

  const upstream = `^${targetNames.implement}`;
  for (const m of manifests) {
    const snapshotDir = getSnapshotDir(m.file);
    // Every cache key first, then the projects: hashing serialises each task (megabytes of short-lived strings at
    // 10,000 tasks), and the young-generation collections that garbage causes are cheap while little else is young;
    // interleaved with building the projects, each of them also copied the projects built since the last one.
    const keys = new Array<string>(m.tasks.length);
    for (let k = 0; k < m.tasks.length; k++) keys[k] = getTaskCacheKey(m.tasks[k]);
    m.tasks.forEach((task, index) => {
      const tags = buildTaskTags({ task, manifestStatus: m.status, tagOf });
      const phase = task.phase ? addToGroup('phase', task.phase, m.file, task.task_id, index, undefined) : undefined;
      const slice = task.slice ? addToGroup('slice', task.slice, m.file, task.task_id, index, phase) : undefined;
      const root = getTaskRoot({ taskId: task.task_id, phase, slice });
      const deps = withoutRepeats(task.depends_on_tasks);
      projects.push({
        file: m.file,
        root,
        config: {
          name: task.task_id,
          // Set, so Nx does not probe the (virtual) root for tsconfig.lib.json, tsconfig.app.json and package.json to
          // guess it: three failed file-system calls per project, on every nx command.
          projectType: 'library',
          tags,
          metadata: { description: task.title },
          targets: taskTargets(task, keys[index], snapshotDir, targetNames, deps.length > 0 ? upstream : undefined),
        },
      });
      for (const dep of deps) edges.push({ source: task.task_id, target: dep, file: m.file });
    });
  }

  for (const [name, group] of groups) {
    // Inside its own folder (`phase-1/phase-1`, `phase-1/slice-1.1/slice-1.1`): beside the folder it aggregates, a
    // project of the same name would be drawn twice, once as a node and once as a folder.
    const root = `${group.folder}/${name}`;
    projects.push({
      file: group.file,
      root,
      config: {
        name,
        projectType: 'library',
        tags: [`vtm:${group.kind}`],
        metadata: { description: `${group.label}: ${group.members.length} tasks` },
        targets: aggregateTargets(group.members, targetNames, group.label),
      },
    });
    // No project edges from a slice or phase to its tasks: Nx marks every dependent of a changed project affected,
    // and an affected slice would pull every task of it into `nx affected -t verify`. Membership is in the targets
    // and the tags.
  }
  return { projects, edges, problems };
}
