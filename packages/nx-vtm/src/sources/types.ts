/**
 * The source layer's model: what every format parser produces (`SourceTask`), before it becomes manifest tasks.
 *
 * Parsers are pure (text in, `ParsedSource` out) and never throw on user data: every problem carries the 1-based
 * line of the source file, so an error reads `TODO.md:41: ...` rather than a manifest field path the user never wrote.
 */
import type { Risk } from '../manifest/schema';

export const SOURCE_TYPES = ['todo-md', 'beads', 'taskmaster', 'speckit'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

/** One entry of the plugin option `sources`. */
export interface SourceSpec {
  type: SourceType;
  /** Workspace-relative path of the source file. */
  path: string;
  /** Task Master only: the tag to read (default: `currentTag` of `.taskmaster/state.json`, else "master"). */
  tag?: string;
}

/**
 * Our status of a source task, mapped from each format's own words (see docs/sources.md):
 * `done` tasks are never run, `blocked` and `cancelled` ones are never started (their dependents are skipped with the
 * reason), `open` and `in_progress` ones run.
 */
export type SourceStatus = 'open' | 'in_progress' | 'done' | 'blocked' | 'cancelled';

/** A dependency as written, resolved to a task id of the same source, with where it was written. */
export interface SourceDependency {
  id: string;
  line: number;
}

export interface SourceTask {
  /** Nx project name / manifest task_id, e.g. `todo-63`, `bd-a3f8`, `tm-3.2`, `T012`. */
  id: string;
  /** The id as the source writes it (`63`, `bd-a3f8`, `3.2`, `T012`): what write-back and selection use. */
  sourceId: string;
  /** 1-based line where the task starts (its heading, JSONL line, `"id"` member or checklist line). */
  line: number;
  title: string;
  description: string;
  acceptance: string[];
  dependsOn: SourceDependency[];
  /** Paths the task may change; undefined when the source does not say (the task then runs alone: docs/sources.md). */
  fileScope?: string[];
  status: SourceStatus;
  /** The source's own status word, for messages (`[BLOCKED]`, `deferred`, ...). */
  rawStatus: string;
  /** Lower runs first (Beads 0-4; Task Master critical 0 .. low 3; TODO.md Critical/High/Medium/Low). */
  priority: number;
  risk?: Risk;
  phase?: string;
  /** Parallel-safe hint (`[P:Group-X]`, Spec Kit `[P]`); never a barrier. */
  parallelGroup?: string;
  tags?: string[];
  /**
   * Beads parent-child / Task Master subtask: a task with children is a container, not run itself; its children run,
   * inherit its dependencies and its blocked state, and a dependency on it waits for all of them (docs/sources.md).
   */
  parentId?: string;
}

export interface SourceProblem {
  line: number;
  taskId?: string;
  message: string;
}

export interface ParsedSource {
  tasks: SourceTask[];
  problems: SourceProblem[];
  /** Not errors, but worth saying once (e.g. a Beads export that looks stale). */
  warnings: string[];
}

/** What the runtime keeps about a source task besides its manifest entry (status never enters the task hash). */
export interface SourceTaskInfo {
  sourceId: string;
  line: number;
  status: SourceStatus;
  rawStatus: string;
  priority: number;
  parallelGroup?: string;
  dependsOn: string[];
  /** True for a task with children (not run itself). */
  container?: boolean;
  /** Its tags (`source:<type>`, `parallel-group:<name>`, labels), kept for tasks that are not projects (done, containers). */
  tags?: string[];
}

export interface SourceInfo {
  type: SourceType;
  file: string;
  /** Every task of the source, done ones included, by task id. */
  tasks: Map<string, SourceTaskInfo>;
  warnings: string[];
}

/** 1-based line number of a character offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Workspace paths named in free text: `src/a.ts`, `` `lib/x.py` ``, `docs/` (a slash and an extension, or a trailing slash). */
export function extractPaths(text: string): string[] {
  const out = new Set<string>();
  const re = /(?:^|[\s`'"(\[])((?:[A-Za-z0-9_.@-]+\/)+(?:[A-Za-z0-9_.@-]+\.[A-Za-z0-9]{1,8}|(?=[\s`'")\],;:]|$)))/g;
  for (const m of text.matchAll(re)) {
    let p = m[1].replace(/^\.\//, '');
    if (p.startsWith('http') || p.includes('..') || p.startsWith('/')) continue;
    p = p.replace(/[.,;:]+$/, '');
    if (p.length > 0) out.add(p);
  }
  return [...out];
}
