/**
 * The one git wrapper. Every git command of the plugin goes through `runGit`, so the environment that makes git safe
 * to drive from a program (no prompts, no pager, stable English messages, no shell) is set in exactly one place.
 *
 * The API never throws for git's own failures: `runGit` always resolves with the exit code and output, and the
 * helpers return a `Result` whose error is a `GitError` naming the command, the directory and git's stderr.
 */
import { spawn } from 'node:child_process';
import { isPathInScope } from '../manifest/paths';
import { err, ok, type Result } from '../manifest/problems';

/** What one git invocation produced. `code` is -1 when git could not be started or was killed by a signal. */
export interface GitRunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunGitOptions {
  /** Directory git runs in (a checkout or worktree). */
  cwd: string;
  /** Arguments after `git`; each element is one argv entry, never parsed by a shell. */
  args: readonly string[];
  /** Written to git's stdin (commit messages via `-F -`). */
  input?: string;
  /** Extra environment variables, layered over `process.env` and the wrapper's safety variables. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Environment every git call gets. LC_ALL=C keeps messages parseable and stable; the prompt and pager variables
 * make sure git never waits for a human (a credential prompt in a headless run would hang it until the timeout);
 * GIT_OPTIONAL_LOCKS=0 stops read-only commands such as `git status` from taking `index.lock` for an opportunistic
 * index refresh, which would make a concurrent merge in the same checkout fail with "index.lock exists".
 */
const SAFE_GIT_ENV: Readonly<Record<string, string>> = {
  LC_ALL: 'C',
  LANGUAGE: 'C',
  GIT_TERMINAL_PROMPT: '0',
  GIT_PAGER: 'cat',
  PAGER: 'cat',
  GIT_EDITOR: 'true',
  GIT_MERGE_AUTOEDIT: 'no',
  GIT_OPTIONAL_LOCKS: '0',
};

/**
 * Run `git <args>` in `cwd` without a shell. Always resolves (never rejects): a git that cannot be started yields
 * `code: -1` and the spawn error in `stderr`.
 */
export function runGit({ cwd, args, input, env }: RunGitOptions): Promise<GitRunResult> {
  return new Promise((resolve) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let settled = false;
    const finish = (r: GitRunResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    let child;
    try {
      child = spawn('git', ['--no-pager', ...args], {
        cwd,
        env: { ...process.env, ...SAFE_GIT_ENV, ...env },
        shell: false,
        stdio: ['pipe', 'pipe', 'pipe'],
        windowsHide: true,
      });
    } catch (e) {
      finish({ code: -1, stdout: '', stderr: `could not start git: ${(e as Error).message}` });
      return;
    }
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.on('data', (d: Buffer) => stderr.push(d));
    child.on('error', (e) => finish({ code: -1, stdout: '', stderr: `could not start git in ${cwd}: ${e.message}` }));
    child.on('close', (code) =>
      finish({
        code: code ?? -1,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      }),
    );
    // EPIPE when git exits before reading stdin must not crash the process; the exit code tells the story.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** An unexpected git failure: which command, where, and what git said. Returned as a value, not thrown. */
export class GitError extends Error {
  override readonly name = 'GitError';
  readonly cwd: string;
  readonly args: readonly string[];
  readonly code: number;
  readonly stderr: string;
  constructor({ cwd, args, code, stderr }: { cwd: string; args: readonly string[]; code: number; stderr: string }) {
    const said = firstLines(stderr) || '(no output)';
    super(`git ${args.join(' ')} failed in ${cwd} (exit ${code}): ${said}`);
    this.cwd = cwd;
    this.args = args;
    this.code = code;
    this.stderr = stderr;
  }
}

/** The first few non-empty lines of git's stderr, joined, so a message stays one readable line. */
export function firstLines(text: string, max = 3): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, max)
    .join(' | ');
}

/** Run git and treat a non-zero exit as a `GitError`; stdout on success. */
export async function gitOk(options: RunGitOptions): Promise<Result<string, GitError>> {
  const r = await runGit(options);
  if (r.code !== 0) return err(new GitError({ cwd: options.cwd, args: options.args, code: r.code, stderr: r.stderr || r.stdout }));
  return ok(r.stdout);
}

/** The branch checked out in `cwd`, or null on a detached HEAD. */
export async function getCurrentBranch({ cwd }: { cwd: string }): Promise<Result<string | null, GitError>> {
  // `symbolic-ref` (not `branch --show-current`) so that an unborn branch in a fresh repository is still named.
  const args = ['symbolic-ref', '--quiet', '--short', 'HEAD'];
  const r = await runGit({ cwd, args });
  if (r.code === 0) return ok(r.stdout.trim());
  if (r.code === 1) return ok(null);
  return err(new GitError({ cwd, args, code: r.code, stderr: r.stderr }));
}

/** The full commit sha `ref` (default HEAD) resolves to. */
export async function getHeadSha({ cwd, ref = 'HEAD' }: { cwd: string; ref?: string }): Promise<Result<string, GitError>> {
  const r = await gitOk({ cwd, args: ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`] });
  if (!r.ok) {
    // rev-parse --quiet prints nothing on an unknown ref; say what was asked for.
    if (!r.error.stderr.trim()) {
      return err(new GitError({ cwd, args: r.error.args, code: r.error.code, stderr: `${ref} does not name a commit` }));
    }
    return r;
  }
  return ok(r.value.trim());
}

/** The top-level directory of the checkout or worktree containing `cwd`. */
export async function getRepoRoot({ cwd }: { cwd: string }): Promise<Result<string, GitError>> {
  const r = await gitOk({ cwd, args: ['rev-parse', '--show-toplevel'] });
  return r.ok ? ok(r.value.trim()) : r;
}

/** One line of `git status --porcelain=v1 -z`: two status letters, the path, and the original path of a rename. */
export interface StatusEntry {
  /** Index (staged) status letter, e.g. "M", "A", "D", "R", "?" for untracked, " " for unchanged. */
  index: string;
  /** Working-tree (unstaged) status letter. */
  worktree: string;
  path: string;
  /** For renames and copies: the path it came from. */
  from?: string;
}

/** Parse `git status --porcelain=v1 -z` output. Pure. */
export function parsePorcelainStatus(out: string): StatusEntry[] {
  const parts = out.split('\0');
  const entries: StatusEntry[] = [];
  for (let i = 0; i < parts.length; i++) {
    const rec = parts[i];
    if (rec.length < 4) continue;
    const index = rec[0];
    const worktree = rec[1];
    const path = rec.slice(3);
    // With -z, a rename or copy record is followed by a separate NUL-terminated field holding the source path.
    if (index === 'R' || index === 'C' || worktree === 'R' || worktree === 'C') {
      entries.push({ index, worktree, path, from: parts[++i] });
    } else {
      entries.push({ index, worktree, path });
    }
  }
  return entries;
}

/**
 * Every uncommitted change in `cwd`: staged, unstaged and untracked (each untracked file listed). `noOptionalLocks`:
 * without git's optional index refresh, which would take `index.lock` from under a merge running in the same checkout.
 */
export async function getStatusEntries({ cwd, noOptionalLocks = false }: { cwd: string; noOptionalLocks?: boolean }): Promise<Result<StatusEntry[], GitError>> {
  const args = ['status', '--porcelain=v1', '-z', '--untracked-files=all', '--ignore-submodules=none'];
  const r = await gitOk({ cwd, args: noOptionalLocks ? ['--no-optional-locks', ...args] : args });
  return r.ok ? ok(parsePorcelainStatus(r.value)) : r;
}

/** `git status --porcelain=v2 --branch`: the commit and branch HEAD is on, and the same entries as `getStatusEntries`. */
export interface StatusWithHead {
  /** The commit HEAD points at; null on an unborn branch. */
  oid: string | null;
  /** The branch checked out; null on a detached HEAD. */
  branch: string | null;
  entries: StatusEntry[];
}

/**
 * Parse `git status --porcelain=v2 --branch -z` output into what `parsePorcelainStatus` gives for v1 (v2's "." for an
 * unchanged side is read as v1's " "), plus the branch headers. Pure.
 */
export function parsePorcelainV2(out: string): StatusWithHead {
  const parts = out.split('\0');
  const result: StatusWithHead = { oid: null, branch: null, entries: [] };
  // Fields before the path: "1 XY sub mH mI mW hH hI", "2 ... hI Xscore", "u XY sub m1 m2 m3 mW h1 h2 h3".
  const fieldsBefore: Record<string, number> = { '1': 8, '2': 9, u: 10 };
  for (let i = 0; i < parts.length; i++) {
    const rec = parts[i];
    if (rec.startsWith('# ')) {
      const [key, ...rest] = rec.slice(2).split(' ');
      const value = rest.join(' ');
      if (key === 'branch.oid') result.oid = value === '(initial)' ? null : value;
      else if (key === 'branch.head') result.branch = value === '(detached)' ? null : value;
      continue;
    }
    const kind = rec[0];
    if (kind === '?' || kind === '!') {
      if (rec.length > 2) result.entries.push({ index: kind, worktree: kind, path: rec.slice(2) });
      continue;
    }
    const n = fieldsBefore[kind];
    if (n === undefined) continue;
    let at = 0;
    for (let f = 0; f < n && at >= 0; f++) at = rec.indexOf(' ', at + 1);
    if (at < 0) continue;
    const xy = rec.slice(2, 4).replace(/\./g, ' ');
    const entry: StatusEntry = { index: xy[0], worktree: xy[1], path: rec.slice(at + 1) };
    // A rename or copy ("2") is followed by a separate NUL-terminated field holding the source path.
    if (kind === '2') entry.from = parts[++i];
    result.entries.push(entry);
  }
  return result;
}

/**
 * HEAD's commit and branch and every uncommitted change, from one `git status` (one process instead of `rev-parse`,
 * `symbolic-ref` and `status`; the three read at the same instant).
 */
export async function getStatusWithHead({ cwd }: { cwd: string }): Promise<Result<StatusWithHead, GitError>> {
  const r = await gitOk({ cwd, args: ['status', '--porcelain=v2', '--branch', '-z', '--untracked-files=all', '--ignore-submodules=none'] });
  return r.ok ? ok(parsePorcelainV2(r.value)) : r;
}

export interface WorkingTreeState {
  clean: boolean;
  /** Changed, staged or untracked paths outside `ignorePaths`, sorted; both paths of a rename. */
  dirtyPaths: string[];
}

/**
 * Whether `path` is one of the plugin's run-time paths: inside an entry of `ignorePaths` (entries ending with "/" are
 * directories), or the temp sibling `<file>.<pid>.<thread>.tmp` a run-time file (task-state.json) is written through
 * before its atomic rename: another process's `git status` can see it for that instant (it made a concurrent command
 * refuse to start with BLOCKED::DIRTY-GIT-STATUS in CI). Pure.
 */
export function isRuntimePath(path: string, ignorePaths: readonly string[]): boolean {
  if (isPathInScope(path, ignorePaths)) return true;
  const temp = /^(.*)\.\d+\.\d+\.tmp$/.exec(path);
  return temp !== null && ignorePaths.some((p) => !p.endsWith('/') && p === temp[1]);
}

/**
 * Whether the checkout at `cwd` has uncommitted work outside `ignorePaths`. Run-time paths the plugin itself writes
 * (`.vtm/`, a tracked state file) are passed as `ignorePaths` so that they never count as the user's changes.
 * Entries ending with "/" are directories.
 */
export async function isWorkingTreeClean({
  cwd,
  ignorePaths = ['.vtm/'],
  noOptionalLocks = false,
}: {
  cwd: string;
  ignorePaths?: readonly string[];
  /** See `getStatusEntries`. */
  noOptionalLocks?: boolean;
}): Promise<Result<WorkingTreeState, GitError>> {
  const r = await getStatusEntries({ cwd, noOptionalLocks });
  if (!r.ok) return r;
  const dirty = new Set<string>();
  for (const e of r.value) {
    for (const p of e.from ? [e.from, e.path] : [e.path]) {
      // An untracked directory is reported as "dir/"; compare without the slash.
      const bare = p.endsWith('/') ? p.slice(0, -1) : p;
      if (!isRuntimePath(bare, ignorePaths)) dirty.add(p);
    }
  }
  const dirtyPaths = [...dirty].sort();
  return ok({ clean: dirtyPaths.length === 0, dirtyPaths });
}

/** Whether commit `ancestor` is reachable from `descendant` (`git merge-base --is-ancestor`). */
export async function isAncestor({
  cwd,
  ancestor,
  descendant,
}: {
  cwd: string;
  ancestor: string;
  descendant: string;
}): Promise<Result<boolean, GitError>> {
  const args = ['merge-base', '--is-ancestor', ancestor, descendant];
  const r = await runGit({ cwd, args });
  if (r.code === 0) return ok(true);
  if (r.code === 1) return ok(false);
  return err(new GitError({ cwd, args, code: r.code, stderr: r.stderr }));
}

/** Whether a local branch exists. */
export async function branchExists({ cwd, branch }: { cwd: string; branch: string }): Promise<Result<boolean, GitError>> {
  const args = ['show-ref', '--verify', '--quiet', `refs/heads/${branch}`];
  const r = await runGit({ cwd, args });
  if (r.code === 0) return ok(true);
  if (r.code === 1) return ok(false);
  return err(new GitError({ cwd, args, code: r.code, stderr: r.stderr }));
}

/** Summarise a list of paths for a one-line message: the first few, then "and N more". Pure. */
export function summarisePaths(paths: readonly string[], max = 5): string {
  const shown = paths.slice(0, max).join(', ');
  return paths.length > max ? `${shown} (and ${paths.length - max} more)` : shown;
}
