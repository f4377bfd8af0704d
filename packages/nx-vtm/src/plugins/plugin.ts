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
import { buildGraph, type BuiltGraph, type GraphEdge } from '../graph/build-graph';
import { SNAPSHOT_DIR_NAME } from '../graph/task-snapshots';
import { getTaskFilePatterns, parsePluginOptions, type PluginOptionsInput } from '../config/plugin-options';

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

/**
 * Projects and edges of the manifests among `files` that the options select (throws the errors Nx shows per file).
 * Shared by createNodes and, when it has to, createDependencies.
 */
function inferGraph(files: readonly string[], rawOptions: PluginOptionsInput | undefined, workspaceRoot: string): BuiltGraph {
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
  if (manifestFiles.length === 0) return { projects: [], edges: [], problems: [] };

  const loaded = readManifests({ workspaceRoot, files: manifestFiles, sources: options.sources });
  if (!loaded.ok) throwManifestErrors(loaded.error);
  // Trust: unless this registration opts in, a manifest may not choose programs or their powers (manifest/trust.ts).
  if (!options.trustManifestCommands) {
    const untrusted = loaded.value.flatMap(({ file, manifest }) => getUntrustedCommandProblems({ manifest, file, agentOptions: options.agent }));
    if (untrusted.length > 0) throwManifestErrors(untrusted);
  }
  const graph = buildGraph({
    manifests: loaded.value.map(({ file, manifest }) => ({ file, status: manifest.status, tasks: manifest.tasks })),
    targetNames: { implement: options.implementTargetName, verify: options.verifyTargetName },
  });
  if (graph.problems.length > 0) throwManifestErrors(graph.problems);
  return graph;
}

/**
 * The task edges of the last successful createNodes, per registration (its options, as Nx passes them). Nx calls a
 * plugin's createNodes and then its createDependencies in the same process (the isolated plugin worker, the daemon,
 * or the CLI), so createDependencies can hand on the edges createNodes already computed instead of reading them back
 * out of the project configurations: the task targets carry `dependsOn: ["^implement"]`, not the list of projects.
 */
const lastEdges = new Map<string, readonly GraphEdge[]>();
const registrationKey = (rawOptions: PluginOptionsInput | undefined): string => JSON.stringify(rawOptions ?? {});

export const createNodes: CreateNodes<PluginOptionsInput> = [
  MANIFEST_CANDIDATE_GLOB,
  (files, rawOptions, context) => {
    const key = registrationKey(rawOptions);
    // Never the edges of an older graph: a failing inference leaves none behind.
    lastEdges.delete(key);
    const graph = inferGraph(files, rawOptions, context.workspaceRoot);
    lastEdges.set(key, graph.edges);
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
 * Edges for `nx graph`, for affected, and for task order (the implement targets' `dependsOn: ["^implement"]` follows
 * them): one per `depends_on_tasks` entry whose task is a project. `implicit` edges, because a `static` edge whose
 * source file is the manifest is silently dropped by Nx (shared notes). Only task-to-task edges: an edge from a slice
 * or phase to its tasks would make the whole slice affected (and, through its aggregate target, every task of it)
 * whenever one task changes.
 */
export const createDependencies: CreateDependencies<PluginOptionsInput> = (rawOptions, context) => {
  let edges = lastEdges.get(registrationKey(rawOptions));
  if (edges === undefined) {
    // Not seen createNodes in this process (no known Nx path does this): infer again from the workspace's files.
    const files = [...context.fileMap.nonProjectFiles.map((f) => f.file), ...Object.values(context.fileMap.projectFileMap).flatMap((fs) => fs.map((f) => f.file))];
    try {
      edges = inferGraph(files.filter((f) => minimatch(f, MANIFEST_CANDIDATE_GLOB, { dot: true })), rawOptions, context.workspaceRoot).edges;
    } catch {
      // createNodes reports the problems; without a graph there are no edges to draw.
      return [];
    }
  }
  const deps: RawProjectGraphDependency[] = [];
  for (const e of edges) {
    if (context.projects[e.source] && context.projects[e.target]) deps.push({ source: e.source, target: e.target, type: IMPLICIT });
  }
  return deps;
};

/**
 * Before tasks run: a run id for the command and the run's preconditions (BLOCKED:: codes). Loaded lazily so that
 * inference (every nx command) never loads SQLite or git code.
 */
export const preTasksExecution: PreTasksExecution<PluginOptionsInput> = async (rawOptions, context) => {
  const { runPreTasksHook } = await import('../runtime/hooks');
  await runPreTasksHook({ rawOptions, commandId: context.id, workspaceRoot: context.workspaceRoot, argv: context.argv, nxJson: context.nxJsonConfiguration });
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
