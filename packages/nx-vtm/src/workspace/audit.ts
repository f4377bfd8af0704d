/**
 * The scope audit: which files did a task really change, and are they all inside its declared `file_scope`?
 *
 * The agent's own list of touched files is evidence, not the verdict; git is. Every way of changing a file counts:
 * commits since the base, staged and unstaged edits, untracked files, deletions, and both sides of a rename (moving a
 * file out of scope removes it from a place the task may not touch). `files_modified` in the task state comes from
 * here.
 */
import { isPathInScope } from '../manifest/paths';
import { ok, type Result } from '../manifest/problems';
import { getStatusEntries, gitOk, type GitError } from './git';
import { DEFAULT_LINK_DIRS } from './worktree';

export type ChangeKind = 'added' | 'modified' | 'deleted' | 'renamed' | 'copied' | 'type-changed' | 'unmerged' | 'untracked';
/** Where the change sits: in commits since the base, in the index, only in the working tree, or untracked. */
export type ChangeSource = 'committed' | 'staged' | 'unstaged' | 'untracked';

/** One change of one path. A rename has `from` (the old path) and `path` (the new one). */
export interface ChangeEntry {
  path: string;
  kind: ChangeKind;
  source: ChangeSource;
  from?: string;
}

export interface TaskChanges {
  /** Every path touched (both paths of a rename), sorted, unique. */
  files: string[];
  entries: ChangeEntry[];
}

const KIND_BY_LETTER: Record<string, ChangeKind> = {
  A: 'added',
  M: 'modified',
  D: 'deleted',
  R: 'renamed',
  C: 'copied',
  T: 'type-changed',
  U: 'unmerged',
};

/** Paths an entry touches. A copy leaves its source unchanged, so only the new path counts. Pure. */
export const getTouchedPaths = (e: ChangeEntry): string[] => (e.from && e.kind === 'renamed' ? [e.from, e.path] : [e.path]);

/** Parse `git diff --name-status -z` output (`R100\0old\0new\0`, `M\0path\0`). Pure. */
export function parseNameStatus(out: string, source: ChangeSource = 'committed'): ChangeEntry[] {
  const parts = out.split('\0');
  const entries: ChangeEntry[] = [];
  for (let i = 0; i < parts.length; i++) {
    const status = parts[i];
    if (!status) continue;
    const letter = status[0];
    const kind = KIND_BY_LETTER[letter] ?? 'modified';
    if (letter === 'R' || letter === 'C') {
      const from = parts[++i];
      const to = parts[++i];
      entries.push({ path: to, from, kind, source });
    } else {
      entries.push({ path: parts[++i], kind, source });
    }
  }
  return entries;
}

/** Turn porcelain status entries into change entries (one per staged and one per unstaged change). Pure. */
export function statusToChanges(status: ReadonlyArray<{ index: string; worktree: string; path: string; from?: string }>): ChangeEntry[] {
  const out: ChangeEntry[] = [];
  for (const s of status) {
    if (s.index === '?' && s.worktree === '?') {
      out.push({ path: s.path, kind: 'untracked', source: 'untracked' });
      continue;
    }
    // Both letters U, or A/D paired with U, mean a merge conflict left in the tree.
    if (s.index === 'U' || s.worktree === 'U' || (s.index === 'A' && s.worktree === 'A') || (s.index === 'D' && s.worktree === 'D')) {
      out.push({ path: s.path, kind: 'unmerged', source: 'unstaged' });
      continue;
    }
    if (s.index !== ' ') {
      const kind = KIND_BY_LETTER[s.index] ?? 'modified';
      out.push(kind === 'renamed' || kind === 'copied' ? { path: s.path, from: s.from, kind, source: 'staged' } : { path: s.path, kind, source: 'staged' });
    }
    if (s.worktree !== ' ') {
      const kind = KIND_BY_LETTER[s.worktree] ?? 'modified';
      out.push(kind === 'renamed' || kind === 'copied' ? { path: s.path, from: s.from, kind, source: 'unstaged' } : { path: s.path, kind, source: 'unstaged' });
    }
  }
  return out;
}

/** Sorted unique touched paths of a list of changes. Pure. */
export function buildTaskChanges(entries: readonly ChangeEntry[]): TaskChanges {
  const files = [...new Set(entries.flatMap(getTouchedPaths))].sort();
  return { files, entries: [...entries] };
}

export interface CollectTaskChangesOptions {
  /** The task's worktree. */
  worktree: string;
  /** The commit the task branch started from. */
  baseSha: string;
  /** Folders symlinked in by the worktree setup; their untracked links are not the task's changes. Default `['node_modules']`. */
  linkDirs?: readonly string[];
}

/**
 * Every path the task changed in its worktree: committed since `baseSha` (`git diff --name-status -z -M
 * <base>...HEAD`), staged, unstaged and untracked (`git status --porcelain=v1 -z --untracked-files=all`).
 */
export async function collectTaskChanges({
  worktree,
  baseSha,
  linkDirs = DEFAULT_LINK_DIRS,
}: CollectTaskChangesOptions): Promise<Result<TaskChanges, GitError>> {
  // -M: report renames as renames (both paths) whatever the user's diff.renames setting says. --no-ext-diff and
  // --no-textconv keep user diff drivers out of a plumbing read.
  const committed = await gitOk({
    cwd: worktree,
    args: ['diff', '--name-status', '-z', '-M', '--no-ext-diff', '--no-textconv', `${baseSha}...HEAD`, '--'],
  });
  if (!committed.ok) return committed;
  const status = await getStatusEntries({ cwd: worktree });
  if (!status.ok) return status;
  // Only the untracked symlink itself is setup, not work. A link folder that was committed or staged stays in the
  // list: merged into the main checkout it would replace the user's real folder with a symlink.
  const entries = [...parseNameStatus(committed.value, 'committed'), ...statusToChanges(status.value)].filter(
    (e) => !(e.source === 'untracked' && isPathInScope(e.path.replace(/\/$/, ''), linkDirs)),
  );
  return ok(buildTaskChanges(entries));
}

/**
 * Every path the commit range `from..to` changes (`git diff --name-status -z -M from to`): what integrating `to` on
 * top of `from` brings, and nothing else. The audit runs on this range, the one that is merged, so a file written
 * after the audit (by a test, a hook, a process the agent left behind) can never reach the integration branch
 * unaudited.
 */
export async function collectCommittedChanges({ cwd, from, to }: { cwd: string; from: string; to: string }): Promise<Result<TaskChanges, GitError>> {
  const committed = await gitOk({ cwd, args: ['diff', '--name-status', '-z', '-M', '--no-ext-diff', '--no-textconv', from, to, '--'] });
  if (!committed.ok) return committed;
  return ok(buildTaskChanges(parseNameStatus(committed.value, 'committed')));
}

/** A change outside the task's scope: the path and every way it was changed, e.g. "deleted (committed)". */
export interface OutsideChange {
  path: string;
  how: string[];
}

export interface ScopeAudit {
  /** True when every touched path is inside `fileScope` or `allowedExtra`. */
  ok: boolean;
  /** Every touched path (what goes into `files_modified`). */
  files: string[];
  outside: OutsideChange[];
}

const describeChange = (e: ChangeEntry, p: string): string => {
  if (e.kind === 'renamed') return p === e.from ? `renamed to ${e.path} (${e.source})` : `renamed from ${e.from} (${e.source})`;
  return `${e.kind} (${e.source})`;
};

/**
 * Check the changes against the task's scope. Pure. `fileScope` entries ending with "/" are directories;
 * `allowedExtra` lists paths the task may touch besides its scope (e.g. its `test_verification` files).
 */
export function auditScope({
  changes,
  fileScope,
  allowedExtra = [],
}: {
  changes: TaskChanges;
  fileScope: readonly string[];
  allowedExtra?: readonly string[];
}): ScopeAudit {
  const allowed = [...fileScope, ...allowedExtra];
  const outside = new Map<string, string[]>();
  for (const e of changes.entries) {
    for (const p of getTouchedPaths(e)) {
      if (isPathInScope(p, allowed)) continue;
      const how = outside.get(p) ?? [];
      const d = describeChange(e, p);
      if (!how.includes(d)) how.push(d);
      outside.set(p, how);
    }
  }
  const list = [...outside.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([path, how]) => ({ path, how }));
  return { ok: list.length === 0, files: changes.files, outside: list };
}

/** One-line message for a failed audit, naming the task and what to do. Pure. */
export function formatScopeViolation({ taskId, audit }: { taskId: string; audit: ScopeAudit }): string {
  const shown = audit.outside.slice(0, 5).map((o) => `${o.path} [${o.how.join(', ')}]`);
  const more = audit.outside.length > 5 ? ` (and ${audit.outside.length - 5} more)` : '';
  return `Task ${taskId} changed ${audit.outside.length} path${audit.outside.length === 1 ? '' : 's'} outside its file_scope: ${shown.join('; ')}${more}. Revert them in the task worktree or widen the task's file_scope in the manifest, then re-run ${taskId}`;
}
