/**
 * From a parsed source to our manifest model (pure): the one place where the formats' differences end. Everything
 * downstream (graph, scheduling, worktrees, audit, state, reports) sees ordinary manifest tasks.
 *
 * Decisions (docs/sources.md):
 * - Tasks done in the source are not tasks of the manifest: they never run, and an edge to one is satisfied.
 * - The source status never enters a task's manifest entry (hence its hash and cache key): it changes as work
 *   progresses and would make finished work look edited. It travels beside the manifest in `SourceInfo`.
 * - A task without a file scope may change anything: it gets every top-level entry of the workspace as its scope
 *   (so the diff audit passes) and `parallel: false` (so it never runs beside another task): unknown is unsafe.
 * - A task without acceptance criteria gets one, its own title: the source's task line is the whole specification.
 */
import type { Manifest, TaskInput } from '../manifest/schema';
import { parseManifestValue } from '../manifest/parse';
import type { PathProbe } from '../manifest/rules';
import { err, ok, type ManifestProblem, type Result } from '../manifest/problems';
import type { ParsedSource, SourceInfo, SourceTask, SourceType } from './types';

export interface BuiltSource {
  manifest: Manifest;
  source: SourceInfo;
}

const FIELD_WORDS: Record<string, string> = {
  depends_on_tasks: 'dependencies',
  file_scope: 'file scope',
  acceptance_criteria: 'acceptance criteria',
  task_id: 'id',
};

/** `tasks[3].file_scope[1]` of the generated manifest -> `line 41, file scope` of the source. */
function describeField(path: string): string {
  const m = /^tasks\[\d+\]\.?([a-z_]+)?/.exec(path);
  const field = m?.[1];
  return field ? `, ${FIELD_WORDS[field] ?? field.replace(/_/g, ' ')}` : '';
}

export function buildSourceManifest({
  type,
  file,
  parsed,
  wideScope,
  probe,
  externalIds = [],
}: {
  type: SourceType;
  file: string;
  parsed: ParsedSource;
  /** The scope of a task whose source names none: every top-level entry of the workspace (`src/`, `README.md`). */
  wideScope: readonly string[];
  probe?: PathProbe;
  /** Task ids of the workspace's other manifests and sources (cross-source dependencies). */
  externalIds?: readonly string[];
}): Result<BuiltSource, ManifestProblem[]> {
  const lineOf = new Map(parsed.tasks.map((t) => [t.id, t.line]));
  const problems: ManifestProblem[] = parsed.problems.map((p) => ({ file, taskId: p.taskId, path: `line ${p.line}`, message: p.message }));
  const byId = new Map<string, SourceTask>();
  for (const t of parsed.tasks) if (!byId.has(t.id)) byId.set(t.id, { ...t }); // copies: statuses are adjusted below
  const external = new Set(externalIds);

  // Containers (a Beads parent, a Task Master task with subtasks): their children are the work.
  const children = new Map<string, string[]>();
  for (const t of byId.values()) {
    if (t.parentId && t.parentId !== t.id && byId.has(t.parentId)) children.set(t.parentId, [...(children.get(t.parentId) ?? []), t.id]);
  }
  const isContainer = (id: string) => children.has(id);
  const leaves = (id: string, seen = new Set<string>()): string[] => {
    if (seen.has(id)) return [];
    seen.add(id);
    return isContainer(id) ? children.get(id)!.flatMap((c) => leaves(c, seen)) : [id];
  };
  const ancestors = (t: SourceTask): SourceTask[] => {
    const out: SourceTask[] = [];
    for (let p = t.parentId ? byId.get(t.parentId) : undefined; p && !out.includes(p) && p !== t; p = p.parentId ? byId.get(p.parentId) : undefined) out.push(p);
    return out;
  };
  // "A blocked parent blocks its children" (Beads), and a cancelled one cancels the work under it.
  for (const t of byId.values()) {
    if (t.status === 'done' || t.status === 'cancelled') continue;
    const stopped = ancestors(t).find((a) => a.status === 'blocked' || a.status === 'cancelled');
    if (stopped) {
      t.status = stopped.status;
      t.rawStatus = `parent ${stopped.id} is ${stopped.rawStatus}`;
    }
  }

  const tagsOf = (t: SourceTask): string[] => [
    ...new Set([`source:${type}`, ...(t.parallelGroup ? [`parallel-group:${t.parallelGroup}`] : []), ...(t.tags ?? [])].map((x) => x.replace(/[\s,]+/g, '-'))),
  ];
  const entries: TaskInput[] = [];
  for (const t of byId.values()) {
    if (t.status === 'done' || isContainer(t.id)) continue;
    const deps: string[] = [];
    const own = t.dependsOn.map((d) => ({ ...d, inherited: false }));
    const inherited = ancestors(t).flatMap((a) => a.dependsOn.map((d) => ({ ...d, inherited: true })));
    for (const d of [...own, ...inherited]) {
      if (byId.has(d.id)) {
        for (const leaf of leaves(d.id)) {
          if (leaf !== t.id && byId.get(leaf)!.status !== 'done' && !deps.includes(leaf)) deps.push(leaf);
        }
      } else if (external.has(d.id)) {
        if (!deps.includes(d.id)) deps.push(d.id);
      } else if (!d.inherited) {
        problems.push({ file, taskId: t.id, path: `line ${d.line}`, message: `depends on ${d.id}, which is not a task of ${file}; fix the reference or add the task` });
      }
    }
    const acceptance = t.acceptance.length > 0 ? t.acceptance : [t.title];
    entries.push({
      task_id: t.id,
      title: t.title,
      description: [t.description, `Source: ${file}, task ${t.sourceId}.`].filter(Boolean).join('\n\n'),
      acceptance_criteria: acceptance.map((text, i) => ({ id: `${t.id}-AC${String(i + 1).padStart(2, '0')}`, text })),
      risk: t.risk ?? 'Medium',
      depends_on_tasks: deps,
      file_scope: t.fileScope ?? [...wideScope],
      // Unknown scope: the wide scope already overlaps every other task; `parallel: false` also covers tasks whose
      // scope lies outside it (a top-level folder created later).
      parallel: t.fileScope !== undefined,
      ...(t.phase ? { phase: t.phase } : {}),
      tags: tagsOf(t),
    });
  }
  const parsedManifest = parseManifestValue({ raw: { status: 'OK', tasks: entries }, file, probe, externalIds });
  if (!parsedManifest.ok) {
    for (const p of parsedManifest.error) {
      const line = p.taskId ? lineOf.get(p.taskId) : undefined;
      problems.push({ ...p, path: line ? `line ${line}${describeField(p.path)}` : p.path });
    }
  }
  if (problems.length > 0 || !parsedManifest.ok) return err(problems);

  const tasks: SourceInfo['tasks'] = new Map();
  for (const t of byId.values()) {
    tasks.set(t.id, {
      sourceId: t.sourceId,
      line: t.line,
      status: t.status,
      rawStatus: t.rawStatus,
      priority: t.priority,
      parallelGroup: t.parallelGroup,
      dependsOn: [...new Set(t.dependsOn.map((d) => d.id))],
      ...(isContainer(t.id) ? { container: true } : {}),
      tags: tagsOf(t),
    });
  }
  return ok({ manifest: parsedManifest.value, source: { type, file, tasks, warnings: parsed.warnings } });
}
