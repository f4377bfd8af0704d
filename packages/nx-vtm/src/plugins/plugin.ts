/**
 * Nx glue: createNodes (projects and targets from manifests) and createDependencies (edges for `nx graph`).
 * Never writes to the workspace: with the daemon on, any write would re-trigger inference (shared notes).
 */
import type {
  CreateDependencies,
  CreateNodes,
  CreateNodesResult,
  DependencyType,
  PostTasksExecution,
  PreTasksExecution,
  RawProjectGraphDependency,
} from '@nx/devkit';
import { minimatch } from 'minimatch';
import { ManifestError, type ManifestProblem } from '../manifest/problems';
import { readManifests } from '../manifest/read';
import { getUntrustedCommandProblems } from '../manifest/trust';
import { findSourceSpec } from '../sources/read';
import { buildGraph, EXECUTOR_PACKAGE } from '../graph/build-graph';
import { SNAPSHOT_DIR_NAME } from '../graph/task-snapshots';
import { getTaskFilePatterns, hashRunConfig, parsePluginOptions, type PluginOptionsInput } from '../config/plugin-options';

/**
 * Manifests may be named anything (the `manifest` option is a path or glob), but the createNodes glob is fixed when
 * the module loads; so Nx hands us every JSON file (and every Markdown and JSONL file, the formats of task sources:
 * TODO.md, Spec Kit tasks.md, Beads issues.jsonl) and we keep the ones the options select (a cheap string match).
 * Nx re-runs inference when a matched file changes, which is how edits of a source reach the graph.
 */
export const MANIFEST_CANDIDATE_GLOB = '**/*.{json,jsonl,md}';

function groupByFile(problems: readonly ManifestProblem[]): Map<string, ManifestProblem[]> {
  const byFile = new Map<string, ManifestProblem[]>();
  for (const p of problems) byFile.set(p.file, [...(byFile.get(p.file) ?? []), p]);
  return byFile;
}

/**
 * One ManifestError per file, in the error Nx expects from createNodes. @nx/devkit is loaded here, on the error path
 * only: loading it costs every nx command ~150 ms in the plugin worker, and the happy path needs nothing from it.
 */
function throwManifestErrors(problems: readonly ManifestProblem[]): never {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { AggregateCreateNodesError } = require('@nx/devkit') as typeof import('@nx/devkit');
  const errors = [...groupByFile(problems)].map(([file, fileProblems]) => [file, new ManifestError(fileProblems)] as [string, Error]);
  throw new AggregateCreateNodesError(errors, []);
}

/** `DependencyType.implicit`, without loading @nx/devkit at run time (see throwManifestErrors). */
const IMPLICIT = 'implicit' as DependencyType.implicit;

export const createNodes: CreateNodes<PluginOptionsInput> = [
  MANIFEST_CANDIDATE_GLOB,
  (files, rawOptions, context) => {
    const parsedOptions = parsePluginOptions(rawOptions);
    if (!parsedOptions.ok) {
      const e = new Error(parsedOptions.error);
      e.stack = e.message;
      throw e;
    }
    const options = parsedOptions.value;
    const patterns = getTaskFilePatterns(options);
    const manifestFiles = files
      // Our own files are never manifests; a source keeps its path (Task Master's lives in `.taskmaster/tasks/`).
      .filter((f) => findSourceSpec(options.sources, f) !== undefined || (f !== options.stateFile && !f.includes(`/${SNAPSHOT_DIR_NAME}/`)))
      .filter((f) => patterns.some((p) => f === p || minimatch(f, p, { dot: true })));
    if (manifestFiles.length === 0) return [];

    const loaded = readManifests({ workspaceRoot: context.workspaceRoot, files: manifestFiles, sources: options.sources });
    if (!loaded.ok) throwManifestErrors(loaded.error);
    // Trust: unless this registration opts in, a manifest may not choose programs or their powers (manifest/trust.ts).
    if (!options.trustManifestCommands) {
      const untrusted = loaded.value.flatMap(({ file, manifest }) => getUntrustedCommandProblems({ manifest, file, agentOptions: options.agent }));
      if (untrusted.length > 0) throwManifestErrors(untrusted);
    }
    const graph = buildGraph({
      manifests: loaded.value.map(({ file, manifest }) => ({ file, status: manifest.status, tasks: manifest.tasks })),
      targetNames: { implement: options.implementTargetName, verify: options.verifyTargetName },
      runConfigHash: hashRunConfig(options),
    });
    if (graph.problems.length > 0) throwManifestErrors(graph.problems);
    const byFile = new Map<string, CreateNodesResult>();
    for (const p of graph.projects) {
      const result = byFile.get(p.file) ?? { projects: {} };
      result.projects![p.root] = p.config;
      byFile.set(p.file, result);
    }
    return [...byFile];
  },
];

/** Alias kept for tools that still look for the v2 name; Nx 24 uses the same signature for both. */
export const createNodesV2 = createNodes;

/**
 * Edges for `nx graph`: `depends_on_tasks`, derived from the inferred task projects themselves (their implement
 * targets' `dependsOn`), so the manifest is not parsed a second time. `implicit` edges, because a `static` edge whose source file is the manifest is silently
 * dropped by Nx (shared notes).
 */
export const createDependencies: CreateDependencies<PluginOptionsInput> = (rawOptions, context) => {
  const parsedOptions = parsePluginOptions(rawOptions);
  if (!parsedOptions.ok) return [];
  const target = parsedOptions.value.implementTargetName;
  const deps: RawProjectGraphDependency[] = [];
  for (const [name, project] of Object.entries(context.projects)) {
    // Task projects only: an edge from a slice or phase to its tasks would make the whole slice affected (and, through
    // its aggregate target, every task of it) whenever one task changes.
    // (Recognised by tag and executor, not by root: task roots are laid out by phase and slice, see getTaskRoot.)
    if (!project.tags?.includes('vtm:task') || project.targets?.[target]?.executor !== `${EXECUTOR_PACKAGE}:implement`) continue;
    const dependsOn = project.targets[target].dependsOn ?? [];
    for (const d of dependsOn) {
      if (typeof d === 'string' || !d.projects || typeof d.projects === 'string') continue;
      for (const dep of d.projects) {
        if (context.projects[dep]) deps.push({ source: name, target: dep, type: IMPLICIT });
      }
    }
  }
  return deps;
};

/**
 * Before tasks run: a run id for the command and the run's preconditions (BLOCKED:: codes). Loaded lazily so that
 * inference (every nx command) never loads SQLite or git code.
 */
export const preTasksExecution: PreTasksExecution<PluginOptionsInput> = async (rawOptions, context) => {
  const { runPreTasksHook } = await import('../runtime/hooks');
  await runPreTasksHook({ rawOptions, commandId: context.id, workspaceRoot: context.workspaceRoot, argv: context.argv });
};

/** After tasks ran: cache hits and skipped dependents recorded, the run report written. */
export const postTasksExecution: PostTasksExecution<PluginOptionsInput> = async (rawOptions, context) => {
  const { runPostTasksHook } = await import('../runtime/hooks');
  // Recording happens after the tasks ran; a failure here must be seen, but must not turn a good run into a failed one
  // (the executors already recorded every task they ran).
  await runPostTasksHook({
    rawOptions,
    commandId: context.id,
    workspaceRoot: context.workspaceRoot,
    nxJson: context.nxJsonConfiguration,
    taskResults: context.taskResults as never,
    startTime: context.startTime,
    endTime: context.endTime,
  }).catch(async (e: Error) => {
    const { printFromHook } = await import('./worker-log');
    printFromHook(`nx-vtm: recording this run's results failed: ${e.message}`, 'error');
  });
};
