/**
 * Checks that run before any agent starts, with the blocking codes users already know:
 * `BLOCKED::DIRTY-GIT-STATUS`, `BLOCKED::NOT-ON-MAIN-BRANCH`, and per task `BLOCKED::MISSING-CONTEXT::<id>`,
 * `BLOCKED::EMPTY-AC::<id>`, `BLOCKED::SPEC-REF-GAP::<id>`.
 *
 * The decisions are pure functions of what was read (`buildGitBlockers`, `buildTaskBlockers`,
 * `matchNamedDocReference`); `runPreflight` does the reading.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isNamedDocReference, isPathInScope } from '../manifest/paths';
import { ok, type Result } from '../manifest/problems';
import { DOC_FIELDS, type Task } from '../manifest/schema';
import { getCurrentBranch, isWorkingTreeClean, summarisePaths, type GitError } from './git';

export type BlockerKind = 'DIRTY-GIT-STATUS' | 'NOT-ON-MAIN-BRANCH' | 'MISSING-CONTEXT' | 'EMPTY-AC' | 'SPEC-REF-GAP';

/** A reason not to start: the seed code (e.g. `BLOCKED::EMPTY-AC::T01`) and a one-line message saying what to do. */
export interface Blocker {
  kind: BlockerKind;
  /** Full code: `BLOCKED::<KIND>` or, for task checks, `BLOCKED::<KIND>::<task id>`. */
  code: string;
  taskId?: string;
  message: string;
  /** Dirty paths, or the missing references. */
  paths?: string[];
}

/** The fields of a task the pre-flight checks read. */
export type PreflightTask = Pick<
  Task,
  'task_id' | 'risk' | 'acceptance_criteria' | 'related_specs' | 'related_adrs' | 'related_guides' | 'test_verification'
>;

/** Folders searched for named document references ("ADR-0002: ...") unless configured. */
export const DEFAULT_CONTEXT_DIRS: readonly string[] = ['docs'];

/** The parts of a named reference: "ADR-0002: Dual Hash Migration" -> adr, 0002, "Dual Hash Migration". Pure. */
export function parseNamedDocReference(ref: string): { prefix?: string; number?: string; title: string } {
  const m = /^\s*([A-Za-z]+)[-_ ]?(\d+)\b\s*[:\-\u2013\u2014]?\s*(.*)$/.exec(ref);
  if (m) return { prefix: m[1].toLowerCase(), number: m[2], title: m[3].trim() };
  return { title: ref.trim() };
}

const slug = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Resolve a named document reference against a list of workspace-relative file paths. Pure.
 * In order of preference:
 *  1. a file whose base name contains `<prefix>-<number>` (case-insensitive; "_" or no separator also accepted,
 *     leading zeros ignored), e.g. `docs/adr/adr-0002-dual-hash.md`;
 *  2. a file whose base name starts with `<number>-` (adr-tools style `0002-dual-hash-migration.md`), preferring one
 *     whose folder names the prefix (`docs/adr/`), since RFCs and ADRs are often numbered alike;
 *  3. a file whose base name contains the slug of the title (`dual-hash-migration`).
 * Ties go to the alphabetically first path, so the answer does not depend on directory listing order.
 */
export function matchNamedDocReference({ ref, files }: { ref: string; files: readonly string[] }): string | undefined {
  const { prefix, number, title } = parseNamedDocReference(ref);
  const sorted = [...files].sort();
  const base = (f: string) => path.posix.basename(f).toLowerCase();
  if (prefix && number) {
    const n = String(Number(number));
    const byPrefix = new RegExp(`(^|[^a-z])${escapeRe(prefix)}[-_]?0*${n}(?!\\d)`);
    const hit = sorted.find((f) => byPrefix.test(base(f)));
    if (hit) return hit;
    const byNumber = sorted.filter((f) => {
      const m = /^(\d+)-/.exec(base(f));
      return m !== null && Number(m[1]) === Number(number);
    });
    if (byNumber.length > 0) {
      const inPrefixDir = byNumber.find((f) =>
        path.posix
          .dirname(f)
          .toLowerCase()
          .split('/')
          .some((seg) => seg.includes(prefix)),
      );
      return inPrefixDir ?? byNumber[0];
    }
  }
  const s = slug(title);
  if (s.length >= 3) return sorted.find((f) => base(f).includes(s));
  return undefined;
}

/** Global blockers from the state of the main checkout. `allowedBranches` empty: any branch is fine. Pure. */
export function buildGitBlockers({
  branch,
  dirtyPaths,
  allowedBranches = [],
}: {
  /** null on a detached HEAD. */
  branch: string | null;
  dirtyPaths: readonly string[];
  allowedBranches?: readonly string[];
}): Blocker[] {
  const blockers: Blocker[] = [];
  if (dirtyPaths.length > 0) {
    blockers.push({
      kind: 'DIRTY-GIT-STATUS',
      code: 'BLOCKED::DIRTY-GIT-STATUS',
      paths: [...dirtyPaths],
      message: `BLOCKED::DIRTY-GIT-STATUS: uncommitted changes in ${summarisePaths(dirtyPaths)}; commit or stash them before starting tasks`,
    });
  }
  if (allowedBranches.length > 0 && (branch === null || !allowedBranches.includes(branch))) {
    const current = branch === null ? 'a detached HEAD' : `branch ${branch}`;
    blockers.push({
      kind: 'NOT-ON-MAIN-BRANCH',
      code: 'BLOCKED::NOT-ON-MAIN-BRANCH',
      message: `BLOCKED::NOT-ON-MAIN-BRANCH: the checkout is on ${current}; check out ${allowedBranches.join(' or ')} before starting tasks`,
    });
  }
  return blockers;
}

/** A task nx-vtm started and did not complete, as far as its leftovers in a shared checkout go. */
export interface UnfinishedTask {
  taskId: string;
  /** Its own paths: `file_scope` and `test_verification` (what the shared-checkout attribution counts as its own). */
  own: readonly string[];
  /** The paths its outcome recorded as left behind (a blocked task's `blockedLeftovers`). */
  recorded: readonly string[];
}

/**
 * isolation "none": which uncommitted paths of the shared checkout are the work of tasks nx-vtm started and did not
 * complete (an attempt interrupted by a kill, whose re-run continues it; a task that ended blocked), and which are
 * nobody's but the user's. Without this, any kill of a run in this mode left the agents' files in the checkout and
 * every later run refused with DIRTY-GIT-STATUS, so the interrupted tasks could never be resumed. Pure.
 */
export function attributeLeftovers({ dirtyPaths, unfinished }: { dirtyPaths: readonly string[]; unfinished: readonly UnfinishedTask[] }): {
  byTask: Map<string, string[]>;
  unexplained: string[];
} {
  const byTask = new Map<string, string[]>();
  const unexplained: string[] = [];
  for (const p of dirtyPaths) {
    // An untracked directory can be reported as "dir/".
    const bare = p.endsWith('/') ? p.slice(0, -1) : p;
    // What a task recorded as its leftover is its own before any scope that also covers it (scopes may overlap).
    const owner = unfinished.find((t) => t.recorded.includes(bare)) ?? unfinished.find((t) => isPathInScope(bare, t.own));
    if (owner === undefined) unexplained.push(p);
    else byTask.set(owner.taskId, [...(byTask.get(owner.taskId) ?? []), bare]);
  }
  return { byTask, unexplained };
}

export interface TaskBlockerInputs {
  task: PreflightTask;
  /** Whether a workspace-relative path exists and is readable. */
  pathExists: (relativePath: string) => boolean;
  /** Workspace-relative files under the context folders, for named references. */
  contextFiles: readonly string[];
}

/**
 * Per-task blockers: missing related documents, no acceptance criteria, a High-risk task without
 * test_verification. Also returns how named references were resolved, for prompt building. Pure given its inputs.
 */
export function buildTaskBlockers({ task, pathExists, contextFiles }: TaskBlockerInputs): {
  blockers: Blocker[];
  resolvedDocs: Record<string, string>;
} {
  const id = task.task_id;
  const blockers: Blocker[] = [];
  const resolvedDocs: Record<string, string> = {};
  const missing: string[] = [];
  for (const field of DOC_FIELDS) {
    task[field].forEach((ref, i) => {
      if (isNamedDocReference(ref)) {
        const hit = matchNamedDocReference({ ref, files: contextFiles });
        if (hit) resolvedDocs[ref] = hit;
        else missing.push(`${field}[${i}] ${JSON.stringify(ref)} (no matching file)`);
      } else if (!pathExists(ref)) {
        missing.push(`${field}[${i}] ${JSON.stringify(ref)}`);
      }
    });
  }
  if (missing.length > 0) {
    blockers.push({
      kind: 'MISSING-CONTEXT',
      code: `BLOCKED::MISSING-CONTEXT::${id}`,
      taskId: id,
      paths: missing,
      message: `BLOCKED::MISSING-CONTEXT::${id}: missing or unreadable related documents: ${summarisePaths(missing, 4)}; add them or fix the references in the manifest`,
    });
  }
  if (task.acceptance_criteria.length === 0) {
    blockers.push({
      kind: 'EMPTY-AC',
      code: `BLOCKED::EMPTY-AC::${id}`,
      taskId: id,
      message: `BLOCKED::EMPTY-AC::${id}: acceptance_criteria is empty; add at least one criterion to the task in the manifest`,
    });
  }
  if (task.risk === 'High' && task.test_verification.length === 0) {
    blockers.push({
      kind: 'SPEC-REF-GAP',
      code: `BLOCKED::SPEC-REF-GAP::${id}`,
      taskId: id,
      message: `BLOCKED::SPEC-REF-GAP::${id}: a High risk task needs test_verification; list the test files that will verify it in the manifest`,
    });
  }
  return { blockers, resolvedDocs };
}

/** Workspace-relative paths of every file under `contextDirs` (dot folders and node_modules skipped). */
export function listContextFiles({
  workspaceRoot,
  contextDirs = DEFAULT_CONTEXT_DIRS,
}: {
  workspaceRoot: string;
  contextDirs?: readonly string[];
}): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(workspaceRoot, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(child);
      else out.push(child);
    }
  };
  for (const d of contextDirs) walk(d.replace(/\/+$/, ''));
  return [...new Set(out)].sort();
}

const readable = (workspaceRoot: string) => (rel: string): boolean => {
  try {
    fs.accessSync(path.join(workspaceRoot, rel), fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
};

export interface PreflightOptions {
  /** The main checkout. */
  workspaceRoot: string;
  tasks: readonly PreflightTask[];
  /** Branches tasks may start from, e.g. `['main', 'master']`. Empty or absent: not checked. */
  allowedBranches?: readonly string[];
  /** Run-time paths that do not make the checkout dirty. Default `['.vtm/']`; add a tracked state file here. */
  ignorePaths?: readonly string[];
  /** Where named document references are looked up. Default `['docs']`. */
  contextDirs?: readonly string[];
}

export interface PreflightReport {
  /** True when nothing blocks. */
  ok: boolean;
  /** Blockers for the whole run (git state). */
  blockers: Blocker[];
  /** Blockers per task id (only tasks with blockers appear). */
  taskBlockers: Record<string, Blocker[]>;
  /** How each task's named references resolved: task id -> reference -> path. */
  resolvedDocs: Record<string, Record<string, string>>;
}

/** Read the checkout and the documents, then apply the pure checks. A git failure is returned, not thrown. */
export async function runPreflight({
  workspaceRoot,
  tasks,
  allowedBranches = [],
  ignorePaths = ['.vtm/'],
  contextDirs = DEFAULT_CONTEXT_DIRS,
}: PreflightOptions): Promise<Result<PreflightReport, GitError>> {
  const state = await isWorkingTreeClean({ cwd: workspaceRoot, ignorePaths });
  if (!state.ok) return state;
  let branch: string | null = null;
  if (allowedBranches.length > 0) {
    const b = await getCurrentBranch({ cwd: workspaceRoot });
    if (!b.ok) return b;
    branch = b.value;
  }
  const blockers = buildGitBlockers({ branch, dirtyPaths: state.value.dirtyPaths, allowedBranches });
  const contextFiles = listContextFiles({ workspaceRoot, contextDirs });
  const pathExists = readable(workspaceRoot);
  const taskBlockers: Record<string, Blocker[]> = {};
  const resolvedDocs: Record<string, Record<string, string>> = {};
  for (const task of tasks) {
    const r = buildTaskBlockers({ task, pathExists, contextFiles });
    if (r.blockers.length > 0) taskBlockers[task.task_id] = r.blockers;
    if (Object.keys(r.resolvedDocs).length > 0) resolvedDocs[task.task_id] = r.resolvedDocs;
  }
  return ok({ ok: blockers.length === 0 && Object.keys(taskBlockers).length === 0, blockers, taskBlockers, resolvedDocs });
}
