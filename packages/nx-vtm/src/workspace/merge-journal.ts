/**
 * A merge into the user's checkout that is killed half-way (kill -9, power loss) leaves git mid-operation:
 * `.git/index.lock` and often MERGE_HEAD. Git cannot tell whose they are, so every later git command fails and the
 * user is told to delete files by hand. nx-vtm writes a journal entry (`.vtm/merging.json`: which process merged what)
 * just before merging and removes it right after; a later integration (under the same lock) that finds the entry of a
 * dead process knows the half-done operation is its own and undoes it: removes the stale lock (only when no running
 * process holds it open) and aborts the merge.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gitOk } from './git';
import { isSameProcess, readProcessIdentity } from '../state/process-identity';
import type { ProcessIdentity } from '../state/task-record';

interface JournalEntry {
  owner: ProcessIdentity;
  taskId: string;
  branch: string;
  /** The commit being merged: MERGE_HEAD of our merge. Absent in journals of older versions. */
  sha?: string;
  /**
   * 'fast-forward': the merge queue moving the branch to its tested merge commit (`sha`), which leaves no MERGE_HEAD;
   * a kill half-way leaves the index and files updated but the branch not (and HEAD.lock): recovery completes it.
   */
  kind?: 'merge' | 'fast-forward';
  startedAt: string;
}

const journalFile = (repoRoot: string) => path.join(repoRoot, '.vtm', 'merging.json');

/** Record that this process is about to merge `branch` into the checkout at `repoRoot`. Call under the integration lock. */
export function beginMergeJournal({
  repoRoot,
  taskId,
  branch,
  sha,
  kind = 'merge',
}: {
  repoRoot: string;
  taskId: string;
  branch: string;
  sha: string;
  kind?: JournalEntry['kind'];
}): void {
  const entry: JournalEntry = { owner: readProcessIdentity(), taskId, branch, sha, kind, startedAt: new Date().toISOString() };
  fs.mkdirSync(path.dirname(journalFile(repoRoot)), { recursive: true });
  fs.writeFileSync(journalFile(repoRoot), JSON.stringify(entry));
}

/** The merge finished (merged, or aborted cleanly). */
export function endMergeJournal({ repoRoot }: { repoRoot: string }): void {
  fs.rmSync(journalFile(repoRoot), { force: true });
}

/** Whether a process with this pid exists (another user's counts: EPERM). Pid reuse can fool it; callers accept that. */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether any running process has `file` open (Linux /proc); unknown elsewhere, then assumed open (be safe). */
export function isFileOpenByAnyProcess(file: string): boolean {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return true;
  }
  const target = path.resolve(file);
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return true;
      } catch {
        // the fd closed meanwhile
      }
    }
  }
  return false;
}

/**
 * Undo a merge of a dead nx-vtm process, if the journal shows one. Call under the integration lock, before touching
 * the checkout. Returns a line describing what was done, or undefined when there was nothing to recover.
 */
export async function recoverInterruptedMerge({ repoRoot }: { repoRoot: string }): Promise<string | undefined> {
  let entry: JournalEntry;
  try {
    entry = JSON.parse(fs.readFileSync(journalFile(repoRoot), 'utf8')) as JournalEntry;
  } catch {
    return undefined;
  }
  if (isSameProcess(entry.owner)) return undefined; // still merging (another thread of work in a live process)
  const gitDir = await gitOk({ cwd: repoRoot, args: ['rev-parse', '--absolute-git-dir'] });
  if (!gitDir.ok) return undefined;
  const lock = path.join(gitDir.value.trim(), 'index.lock');
  const mergeHeadFile = path.join(gitDir.value.trim(), 'MERGE_HEAD');
  const mergeHead = fs.existsSync(mergeHeadFile) ? fs.readFileSync(mergeHeadFile, 'utf8').trim().split('\n')[0] : undefined;
  // Only our own merge is ours to undo: a MERGE_HEAD that is not the journaled commit is the user's (they started a
  // merge after our process died). Leave it, and the lock, alone; the integration then stops with
  // `operation_in_progress`, telling them to finish it.
  const ours = mergeHead === undefined || mergeHead === entry.sha;
  if (!ours) {
    endMergeJournal({ repoRoot });
    return `a merge interrupted by the death of pid ${entry.owner.pid} (${entry.taskId}) was found, but the merge in progress now (${mergeHead!.slice(0, 8)}) is not ours; left untouched`;
  }
  const done: string[] = [];
  if (fs.existsSync(lock)) {
    if (isFileOpenByAnyProcess(lock)) return undefined; // someone is using git right now: leave it alone
    fs.rmSync(lock, { force: true });
    done.push('removed the stale .git/index.lock');
  }
  // A merge killed while updating refs leaves their locks too (ORIG_HEAD.lock, HEAD.lock, refs/heads/<branch>.lock;
  // seen in the kill benchmark): every later merge then fails "cannot lock ref". Only locks created after our journal
  // entry, and held open by no process, are ours.
  const since = Date.parse(entry.startedAt) - 1000;
  for (const stale of findRefLocks(gitDir.value.trim())) {
    const st = fs.statSync(stale, { throwIfNoEntry: false });
    if (!st || st.mtimeMs < since || isFileOpenByAnyProcess(stale)) continue;
    fs.rmSync(stale, { force: true });
    done.push(`removed the stale ${path.relative(path.dirname(gitDir.value.trim()), stale)}`);
  }
  if (entry.kind === 'fast-forward' && entry.sha && mergeHead === undefined) {
    // The tested merge commit is a descendant of HEAD: finishing the move (the index and files may already show it)
    // lands exactly what passed, as the killed process was doing.
    const head = await gitOk({ cwd: repoRoot, args: ['rev-parse', 'HEAD'] });
    if (head.ok && head.value.trim() !== entry.sha) {
      const ff = await gitOk({ cwd: repoRoot, args: ['merge', '--ff-only', '--quiet', entry.sha] });
      if (!ff.ok) return `could not complete the interrupted fast-forward to ${entry.sha.slice(0, 8)} (${entry.taskId}): ${ff.error.message}`;
      done.push(`completed the interrupted fast-forward to the tested merge ${entry.sha.slice(0, 8)}`);
    }
  }
  if (mergeHead !== undefined) {
    const aborted = await gitOk({ cwd: repoRoot, args: ['merge', '--abort'] });
    if (!aborted.ok) return `could not abort the interrupted merge of ${entry.branch}: ${aborted.error.message}`;
    done.push(`aborted the interrupted merge of ${entry.branch}`);
  }
  endMergeJournal({ repoRoot });
  return `recovered from a merge interrupted by the death of pid ${entry.owner.pid} (${entry.taskId}): ${done.join(', ') || 'nothing left to undo'}`;
}

/** Lock files of refs a merge updates: `<gitdir>/*_HEAD.lock`, `HEAD.lock`, and `refs/heads/.../*.lock`. */
function findRefLocks(gitDir: string): string[] {
  const top = fs
    .readdirSync(gitDir)
    .filter((f) => f.endsWith('.lock') && f !== 'index.lock' && /^[A-Z_]+\.lock$/.test(f))
    .map((f) => path.join(gitDir, f));
  const heads: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.lock')) heads.push(p);
    }
  };
  if (fs.existsSync(path.join(gitDir, 'refs', 'heads'))) walk(path.join(gitDir, 'refs', 'heads'));
  return [...top, ...heads];
}
