/**
 * Commits built from a working tree without touching what the user (or an agent) shares: no HEAD move, no change to
 * the real index, no entry on the stash stack.
 *
 * Each function stages into a private index file (`GIT_INDEX_FILE` inside the repository's git dir), writes a tree
 * and a commit object, and leaves it to the caller to point a ref at it. Why not `git stash`: the stash stack
 * (`refs/stash`) is shared by every worktree of the repository, so pushing and then dropping `stash@{0}` can save or
 * drop the user's stash, or another task's, when two of them happen at once. Why not `git commit -- <paths>` in a
 * shared checkout: it stages into the index that every agent of the checkout uses.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { err, ok, type Result } from '../manifest/problems';
import { gitOk, type GitError } from './git';
import { getIdentityEnv } from './identity';
import { isFileOpenByAnyProcess, isPidAlive } from './merge-journal';

/** A private index file in the repository's (worktree's) git dir, removed by `dispose`. */
async function createPrivateIndex(cwd: string): Promise<Result<{ env: Record<string, string>; dispose: () => void }, GitError>> {
  const gitDir = await gitOk({ cwd, args: ['rev-parse', '--absolute-git-dir'] });
  if (!gitDir.ok) return gitDir;
  removeDeadPrivateIndexes(gitDir.value.trim());
  const file = path.join(gitDir.value.trim(), `vtm-index-${process.pid}-${randomBytes(4).toString('hex')}`);
  return ok({ env: { GIT_INDEX_FILE: file }, dispose: () => fs.rmSync(file, { force: true }) });
}

/**
 * Private index files (and their `.lock`s) of processes that no longer run: a process killed between creating one
 * and `dispose` left it in the git dir, where it stays (as large as the repository's index) until removed. Files of a
 * running process, or of a pid now reused by another process, are left alone.
 */
export function removeDeadPrivateIndexes(gitDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(gitDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /^vtm-index-(\d+)-[0-9a-f]+(\.lock)?$/.exec(name);
    if (!m || Number(m[1]) === process.pid || isPidAlive(Number(m[1]))) continue;
    fs.rmSync(path.join(gitDir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * Runs `stage(env)` on a private index loaded with `base`'s tree, then writes that index as a tree; returns the tree's
 * sha. The index file is removed whatever happens.
 */
async function buildTree(
  cwd: string,
  base: string,
  stage: (env: Record<string, string>) => Promise<Result<unknown, GitError>>,
): Promise<Result<string, GitError>> {
  const index = await createPrivateIndex(cwd);
  if (!index.ok) return index;
  const { env, dispose } = index.value;
  try {
    const read = await gitOk({ cwd, args: ['read-tree', base], env });
    if (!read.ok) return read;
    const staged = await stage(env);
    if (!staged.ok) return staged;
    const tree = await gitOk({ cwd, args: ['write-tree'], env });
    return tree.ok ? ok(tree.value.trim()) : tree;
  } finally {
    dispose();
  }
}

/** `git commit-tree` of `tree` on `parent` with `message` (author from git config, or nx-vtm's fallback). */
async function commitTree({ cwd, tree, parent, message }: { cwd: string; tree: string; parent: string; message: string }) {
  const env = await getIdentityEnv(cwd);
  const sha = await gitOk({ cwd, args: ['commit-tree', tree, '-p', parent, '-F', '-'], input: message, env });
  return sha.ok ? ok(sha.value.trim()) : sha;
}

/**
 * A commit of everything in the working tree of `cwd` (tracked changes, deletions and untracked files; ignored files,
 * and so the linked folders, left out) on top of `parent` (usually HEAD). Returns the commit's sha; `null` when the
 * working tree has no change against `parent`.
 */
export async function commitWorkingTree({
  cwd,
  parent,
  message,
}: {
  cwd: string;
  parent: string;
  message: string;
}): Promise<Result<string | null, GitError>> {
  const tree = await buildTree(cwd, parent, (env) => gitOk({ cwd, args: ['add', '-A', '--', '.'], env }));
  if (!tree.ok) return tree;
  const parentTree = await gitOk({ cwd, args: ['rev-parse', `${parent}^{tree}`] });
  if (!parentTree.ok) return parentTree;
  if (tree.value === parentTree.value.trim()) return ok(null);
  return commitTree({ cwd, tree: tree.value, parent, message });
}

/**
 * A commit of exactly `paths` as they are in the working tree of `cwd` now (a path that no longer exists is
 * deleted), on top of `parent`; every other path keeps `parent`'s content. For a shared checkout, where the working
 * tree also holds other tasks' files.
 */
export async function commitPaths({
  cwd,
  parent,
  paths,
  message,
}: {
  cwd: string;
  parent: string;
  paths: readonly string[];
  message: string;
}): Promise<Result<string, GitError>> {
  // No path: the parent's own tree (a check-only task's record), without a private index (three git processes fewer).
  if (paths.length === 0) return commitTree({ cwd, tree: `${parent}^{tree}`, parent, message });
  // --add for new files, --remove for deleted ones; update-index reads each file's mode and symlink target itself.
  // Paths go through stdin (-z), so no argv length limit and no pathspec magic.
  const tree = await buildTree(cwd, parent, (env) => gitOk({ cwd, args: ['update-index', '--add', '--remove', '-z', '--stdin'], env, input: `${paths.join('\0')}\0` }));
  if (!tree.ok) return tree;
  return commitTree({ cwd, tree: tree.value, parent, message });
}

/**
 * Replays the changes of commit `sha` (relative to its first parent) for `paths` onto `onto`: a new commit whose tree
 * is `onto`'s with those paths taken from `sha`. Refuses (`conflicted`) when `onto` changed any of the paths since
 * `sha`'s parent: someone else's work would be overwritten.
 */
export async function replayPathsOnto({
  cwd,
  sha,
  onto,
  paths,
  message,
}: {
  cwd: string;
  sha: string;
  onto: string;
  paths: readonly string[];
  message: string;
}): Promise<Result<{ sha: string } | { conflicted: string[] }, GitError>> {
  const changed = await gitOk({ cwd, args: ['diff', '--name-only', '-z', '--no-renames', `${sha}^`, onto, '--', ...paths.map((p) => `:(literal)${p}`)] });
  if (!changed.ok) return changed;
  const conflicted = paths.length > 0 ? changed.value.split('\0').filter(Boolean) : [];
  if (conflicted.length > 0) return ok({ conflicted });
  const listed = await gitOk({ cwd, args: ['ls-tree', '-r', '-z', '--full-tree', sha, '--', ...paths.map((p) => `:(literal)${p}`)] });
  if (!listed.ok) return listed;
  const present = new Map<string, string>();
  for (const entry of listed.value.split('\0').filter(Boolean)) {
    const tab = entry.indexOf('\t');
    const [mode, , blob] = entry.slice(0, tab).split(' ');
    present.set(entry.slice(tab + 1), `${mode} ${blob}`);
  }
  // --index-info: "<mode> <sha>\t<path>" adds or replaces; mode 0 removes.
  const lines = paths.map((p) => (present.has(p) ? `${present.get(p)}\t${p}` : `0 ${'0'.repeat(40)}\t${p}`));
  const tree = await buildTree(cwd, onto, async (env) =>
    lines.length > 0 ? gitOk({ cwd, args: ['update-index', '-z', '--index-info'], env, input: `${lines.join('\0')}\0` }) : ok(''),
  );
  if (!tree.ok) return tree;
  const commit = await commitTree({ cwd, tree: tree.value, parent: onto, message });
  return commit.ok ? ok({ sha: commit.value }) : commit;
}

/**
 * Points `ref` at `sha` (creating it). `ref` must be one only the caller writes (a task's own attempt ref, under its
 * claim): a lock on it that no running process holds open was left by a git killed while updating it (a run killed
 * at that instant), and without removing it the task's re-run failed `commit_failed` on every attempt ("cannot lock
 * ref ... File exists"). Such a lock is removed and the update tried once more; found from git's own message, so the
 * common path costs no extra process.
 */
export async function saveRef({ cwd, ref, sha }: { cwd: string; ref: string; sha: string }): Promise<Result<void, GitError>> {
  const r = await gitOk({ cwd, args: ['update-ref', ref, sha] });
  if (r.ok) return ok(undefined);
  const lock = staleOwnRefLock(r.error.stderr, ref);
  if (lock === undefined) return err(r.error);
  fs.rmSync(lock, { force: true });
  const again = await gitOk({ cwd, args: ['update-ref', ref, sha] });
  return again.ok ? ok(undefined) : err(again.error);
}

/**
 * The lock file git's "Unable to create '<path>.lock': File exists" names, when it is `ref`'s own lock and no running
 * process holds it open; otherwise undefined (another lock, or one in use: leave it alone).
 */
export function staleOwnRefLock(stderr: string, ref: string): string | undefined {
  const named = /Unable to create '([^']+\.lock)': File exists/.exec(stderr)?.[1];
  if (named === undefined) return undefined;
  const expected = `${ref}.lock`.split('/').join(path.sep);
  if (!path.normalize(named).endsWith(`${path.sep}${expected}`)) return undefined;
  return fs.existsSync(named) && !isFileOpenByAnyProcess(named) ? named : undefined;
}
