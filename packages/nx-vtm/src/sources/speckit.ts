/**
 * Spec Kit `specs/<feature>/tasks.md`: checklist lines `- [ ] T012 [P] [US1] Create User model in src/models/user.py`
 * under `## Phase N: ...` headings. Dependencies are implicit (shared notes task-sources.md §2):
 * - a phase waits for the phases before it, except that user-story phases (tasks tagged `[USn]`) wait only for the
 *   phases before the first story, not for each other (stories are independent by design);
 * - inside a phase, a task without `[P]` waits for the tasks above it; a `[P]` task does not;
 * - "depends on T012, T013" (or "after T012") in a line adds those edges.
 * Paths in the line are the task's file scope; the same file in two tasks serialises them through the scope rule. Pure.
 */
import type { ParsedSource, SourceProblem, SourceTask } from './types';
import { extractPaths } from './types';

const TASK_LINE = /^\s*[-*]\s+\[([ xX])\]\s+(T\d{3,})\b(.*)$/;
const PHASE = /^#{2,3}\s+(Phase\s+(\d+)[^:]*)(?::\s*(.*))?$/i;
const INDEPENDENT_TEST = /^\s*\*\*Independent Test\*\*\s*:\s*(.*)$/i;

export function parseSpeckitTasks({ text }: { text: string }): ParsedSource {
  const problems: SourceProblem[] = [];
  interface Phase {
    label: string;
    title: string;
    test?: string;
    tasks: { t: SourceTask; parallel: boolean; story?: string }[];
  }
  const phases: Phase[] = [];
  let phase: Phase | undefined;
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((l, i) => {
    const line = i + 1;
    const p = PHASE.exec(l);
    if (p) {
      phase = { label: `Phase ${p[2]}`, title: (p[3] ?? p[1]).trim(), tasks: [] };
      phases.push(phase);
      return;
    }
    const it = INDEPENDENT_TEST.exec(l);
    if (it && phase) phase.test = it[1].trim();
    const m = TASK_LINE.exec(l);
    if (!m) return;
    if (!phase) {
      phase = { label: 'Phase 0', title: 'Tasks', tasks: [] };
      phases.push(phase);
    }
    const id = m[2];
    if (seen.has(id)) {
      problems.push({ line, taskId: id, message: `${id} appears twice (also at line ${seen.get(id)}); renumber one of them` });
      return;
    }
    seen.set(id, line);
    let rest = m[3];
    const parallel = /\[P\]/.test(rest);
    const story = /\[(US\d+)\]/.exec(rest)?.[1];
    rest = rest.replace(/\[P\]|\[US\d+\]/g, '').replace(/\s+/g, ' ').trim();
    const deps = [...rest.matchAll(/(?:depends on|after|requires)\s+((?:T\d{3,}(?:\s*(?:,|and|&)\s*)?)+)/gi)].flatMap((x) => x[1].match(/T\d{3,}/g) ?? []);
    const paths = extractPaths(rest);
    const done = m[1] !== ' ';
    phase.tasks.push({
      parallel,
      story,
      t: {
        id,
        sourceId: id,
        line,
        title: rest.length > 200 ? `${rest.slice(0, 197)}...` : rest || id,
        description: rest,
        acceptance: [],
        dependsOn: deps.map((d) => ({ id: d, line })),
        fileScope: paths.length > 0 ? paths : undefined,
        status: done ? 'done' : 'open',
        rawStatus: done ? `[${m[1]}]` : '[ ]',
        priority: 2,
        phase: phase.label,
        tags: story ? [`story:${story}`] : [],
        parallelGroup: parallel ? phase.label.toLowerCase().replace(/\s+/g, '-') : undefined,
      },
    });
  });

  const isStoryPhase = (ph: Phase) => ph.tasks.some((x) => x.story !== undefined);
  const tasks: SourceTask[] = [];
  let before: string[] = []; // every task of the phases a new phase waits for
  let beforeStories: string[] | undefined;
  const storyTasks: string[] = [];
  for (const ph of phases) {
    const story = isStoryPhase(ph);
    if (story && beforeStories === undefined) beforeStories = before;
    const waitsFor = story ? beforeStories! : [...before, ...storyTasks];
    const above: string[] = [];
    for (const { t, parallel } of ph.tasks) {
      const own = [...waitsFor, ...(parallel ? [] : above)];
      for (const d of own) if (!t.dependsOn.some((x) => x.id === d)) t.dependsOn.push({ id: d, line: t.line });
      if (story && ph.test) t.acceptance.push(`Independent test of ${ph.title}: ${ph.test}`);
      above.push(t.id);
      tasks.push(t);
    }
    if (story) storyTasks.push(...ph.tasks.map((x) => x.t.id));
    else before = [...before, ...storyTasks, ...ph.tasks.map((x) => x.t.id)];
  }
  return { tasks, problems, warnings: [] };
}
