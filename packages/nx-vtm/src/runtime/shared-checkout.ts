/**
 * `isolation: "none"`: the agents of several tasks work in the user's checkout at once, so "what did this task
 * change" cannot be read off the working tree. It is answered by attribution:
 *
 * - a snapshot taken when the task starts: HEAD, and the content hash of every path already changed then (the user's
 *   own edits, other tasks' files, a blocked task's leftovers);
 * - at the end, the task's changes are the paths changed now whose content differs from the snapshot, less the paths
 *   other tasks own: the scopes (and test files) of the tasks running beside it, and the files recorded by the tasks
 *   that finished meanwhile. Paths in the task's own scope are always its own (the scheduler never runs two tasks
 *   whose footprints overlap).
 *
 * Exactly those paths are committed, on the snapshot's HEAD (a commit object built in a private index: the shared
 * index and HEAD are not touched), and saved under `refs/vtm/attempts/<id>/work`. The audit, `files_modified` and
 * the cached `task.patch` are that commit's diff; the tests run; then, under the workspace's lock, the commit is
 * replayed onto the branch's current tip (refused when another commit changed the same paths since) and the branch
 * moves by compare-and-set. Commits by other tasks meanwhile are never in a task's audited range.
 *
 * The stages are those of the worktree pipeline (see pipeline.ts); "worktree" here is the snapshot. Commits are built
 * with plumbing, so the repository's commit hooks do not run in this mode (docs/configuration.md says so).
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { AgentOutcome } from '../agents/outcome';
import { resolveAgentConfig } from '../agents/routing';
import { isPathInScope } from '../manifest/paths';
import { buildTaskCommitMessage } from '../workspace/integrate';
import { getHeadSha, getStatusWithHead, gitOk, isRuntimePath } from '../workspace/git';
import { beginMergeJournal, endMergeJournal, recoverInterruptedMerge } from '../workspace/merge-journal';
import { commitPaths, replayPathsOnto, saveRef } from '../workspace/work-commit';
import type { VerificationResult } from '../workspace/verify';
import { failpoint } from './failpoint';
import { settleInterruptedAgent } from './agent-adoption';
import {
  STAGES,
  agentNotCompleted,
  auditCommit,
  blocked,
  costOf,
  describeAudit,
  getResultPaths,
  lostClaim,
  recordAccepted,
  runStageAgent,
  stageIndex,
  verifyTask,
  withWorktreeLock,
  type PipelineInput,
  type PipelineResult,
  type Stage,
} from './pipeline';

/** Content of each changed path at a moment: a hash, or "-" for a deleted path. */
export type Snapshot = Record<string, string>;

/** A path's content hash as the working tree has it (`-` when it does not exist). Symlinks by target. */
function hashPath(root: string, path: string): string {
  const abs = join(root, path);
  try {
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) return `l:${readlinkSync(abs)}`;
    if (!st.isFile()) return `d:${st.mode}`;
    return createHash('sha1').update(readFileSync(abs)).digest('hex') + `:${st.mode & 0o111 ? 'x' : ''}`;
  } catch {
    return '-';
  }
}

/** What `git status` says now: HEAD's commit and branch, and every changed path (both of a rename) with its hash. */
interface CheckoutState {
  oid: string | null;
  branch: string | null;
  snapshot: Snapshot;
}

/**
 * One `git status` for HEAD and the changed paths (they were three git processes: rev-parse, symbolic-ref, status).
 * The plugin's run-time paths (`ignore`) are left out unread: they are never a task's, and hashing a tracked
 * task-state.json (4.6 MB at 10,000 tasks) twice per task cost ~40 ms a task, growing with the tasks done.
 */
async function takeSnapshot(root: string, ignore: readonly string[]): Promise<{ ok: true; value: CheckoutState } | { ok: false; error: string }> {
  const status = await getStatusWithHead({ cwd: root });
  if (!status.ok) return { ok: false, error: status.error.message };
  const snapshot: Snapshot = {};
  for (const e of status.value.entries) {
    for (const p of e.from ? [e.from, e.path] : [e.path]) if (!isRuntimePath(p, ignore)) snapshot[p] = hashPath(root, p);
  }
  return { ok: true, value: { oid: status.value.oid, branch: status.value.branch, snapshot } };
}

/**
 * The task's own paths: changed now and different from the start snapshot, not the plugin's run-time files, and not
 * owned by another task unless inside the task's own footprint. Pure.
 */
export function attributeChanges({
  now,
  start,
  own,
  ownedElsewhere,
  ignore,
}: {
  now: Snapshot;
  start: Snapshot;
  own: readonly string[];
  ownedElsewhere: readonly string[];
  ignore: readonly string[];
}): string[] {
  return Object.keys(now)
    .filter((p) => now[p] !== start[p])
    .filter((p) => !isRuntimePath(p, ignore))
    .filter((p) => isPathInScope(p, own) || !isPathInScope(p, ownedElsewhere))
    .sort();
}

export async function runSharedCheckoutStages(input: PipelineInput): Promise<PipelineResult> {
  const { workspaceRoot: root, task, options, integrationBranch, log, attempt } = input;
  const id = task.task_id;
  const paths = getResultPaths(root, id);
  const resultDir = relative(root, paths.dir);
  const ignore = ['.vtm/', input.stateFile];
  const own = [...task.file_scope, ...task.test_verification];

  const progress = attempt.progress();
  let done = stageIndex(progress?.stage);
  const data: Record<string, unknown> = { ...(progress?.data ?? {}) };
  if (done >= stageIndex('agent')) log(`continuing the interrupted attempt after stage "${STAGES[done]}" (its agent run is not repeated)`);
  const advance = (stage: Stage, more: Record<string, unknown>): boolean => {
    Object.assign(data, more);
    if (!attempt.advance(stage, more)) return false;
    failpoint(`after-${stage}`, id);
    return true;
  };

  const resolved = resolveAgentConfig({ task, options: options.agent });
  // An attempt whose start (snapshot) is recorded, and whose agent had not finished.
  const continued = done >= stageIndex('worktree') && typeof data.baseSha === 'string' && !!data.snapshot && typeof data.snapshot === 'object';
  // The agent the interrupted attempt started may still run, or have ended since its owner died: adopted when this
  // attempt continues where it ran (its start's snapshot is recorded; the same agent), stopped otherwise.
  const adopt = settleInterruptedAgent({
    dir: paths.dir,
    taskId: id,
    turn: 1,
    adoptable: done === stageIndex('worktree') && continued,
    adapters: resolved.ok ? [resolved.value.config.adapter, resolved.value.fallback?.adapter] : [],
    log,
  });
  if (!resolved.ok) return { outcome: blocked('agent_config', resolved.error, { result_dir: resultDir }), summary: resolved.error };

  if (done < stageIndex('agent')) {
    if (!adopt) {
      rmSync(paths.dir, { recursive: true, force: true });
      mkdirSync(paths.dir, { recursive: true });
    }
    // 1. The snapshot the task's changes are told apart by. An attempt whose agent a kill cut short keeps the
    // snapshot of its start: what that agent already wrote is this task's work. A new snapshot would count it as
    // already there, and an agent run again that writes the same content would have "changed no file" (no_changes).
    // An adopted agent is judged against that snapshot too, without a word: it is the same run.
    if (continued && !adopt) {
      log(`the agent of the interrupted attempt did not finish: running it again, against the snapshot taken when the attempt started (${String(data.baseSha).slice(0, 8)})`);
    } else if (!continued) {
      const snap = await takeSnapshot(root, ignore);
      if (!snap.ok) return { outcome: blocked('git_failed', snap.error, { result_dir: resultDir }), summary: snap.error };
      if (snap.value.oid === null) {
        const message = `Task ${id}: the shared checkout's HEAD (${snap.value.branch ?? 'detached'}) has no commit yet; commit once, then re-run ${id}`;
        return { outcome: blocked('git_failed', message, { result_dir: resultDir }), summary: message };
      }
      // Paths of the task's own scope already changed now are its own earlier work (an attempt that ended blocked and
      // left its files; the run's precondition let them through as this task's, and no task running beside it shares
      // its scope): counted from HEAD, not from now. Otherwise an agent run again that finds its work done and writes
      // the same content "changed no file".
      // A path another task that ended blocked recorded as its leftover stays that task's (scopes may overlap).
      const snapshot: Snapshot = { ...snap.value.snapshot };
      const inScope = Object.keys(snapshot).filter((p) => isPathInScope(p, own));
      const elsewhere = inScope.length > 0 ? (input.getPathsOwnedElsewhere?.(0) ?? []) : [];
      const earlier = inScope.filter((p) => !isPathInScope(p, elsewhere));
      for (const p of earlier) delete snapshot[p];
      if (earlier.length > 0) log(`${earlier.length} path${earlier.length === 1 ? '' : 's'} of the task's own scope already changed in the checkout (an earlier attempt's work), counted as the task's: ${earlier.slice(0, 5).join(', ')}${earlier.length > 5 ? ', ...' : ''}`);
      if (!advance('worktree', { cwd: root, baseSha: snap.value.oid, snapshot, startedAt: Date.now() })) return lostClaim(id, 'worktree');
    }
    const start = { snapshot: data.snapshot as Snapshot };

    // 2. The agent, in the shared checkout.
    const agent = await runStageAgent({ input, config: resolved.value, cwd: root, dir: paths.dir, adopt });
    if (agent.status !== 'completed') {
      // What it left in the checkout is recorded, so the tasks running beside it do not take it for theirs.
      const now = await takeSnapshot(root, ignore);
      const left = now.ok ? attributeChanges({ now: now.value.snapshot, start: start.snapshot, own, ownedElsewhere: input.getPathsOwnedElsewhere?.(Number(data.startedAt)) ?? [], ignore }) : [];
      return agentNotCompleted({ task, agent, extra: { result_dir: resultDir, worktree: null, files_modified: left } });
    }
    if (!advance('agent', { agent })) return lostClaim(id, 'agent');
    done = stageIndex('agent');
  }

  const baseSha = data.baseSha as string;
  const agent = data.agent as AgentOutcome;
  const common = { result_dir: resultDir, cost: costOf(agent), agent_status: agent.status, worktree: null };

  // 3. Save exactly the task's own paths as a commit on the snapshot's HEAD.
  if (done < stageIndex('saved')) {
    const now = await takeSnapshot(root, ignore);
    if (!now.ok) return { agent, outcome: blocked('git_failed', now.error, common), summary: now.error };
    const moved = await checkSharedBranch({ root, id, integrationBranch, baseSha, head: now.value });
    if (moved) return { agent, outcome: blocked('branch_moved', moved, common), summary: moved };
    const mine = attributeChanges({
      now: now.value.snapshot,
      start: data.snapshot as Snapshot,
      own,
      ownedElsewhere: input.getPathsOwnedElsewhere?.(Number(data.startedAt) || 0) ?? [],
      ignore,
    });
    const commit = await commitPaths({
      cwd: root,
      parent: baseSha,
      paths: mine,
      message: buildTaskCommitMessage({ taskId: id, title: task.title, acceptanceCriteria: task.acceptance_criteria }),
    });
    if (!commit.ok) return { agent, outcome: blocked('commit_failed', commit.error.message, common), summary: commit.error.message };
    const ref = `refs/vtm/attempts/${id}/work`;
    const saved = await saveRef({ cwd: root, ref, sha: commit.value });
    if (!saved.ok) return { agent, outcome: blocked('commit_failed', saved.error.message, common), summary: saved.error.message };
    log(`the task's ${mine.length} changed path${mine.length === 1 ? '' : 's'} saved as ${ref} (${commit.value.slice(0, 8)})`);
    // The content each saved path had, to tell afterwards that the tests judged exactly it (see step 5).
    const hashes = Object.fromEntries(mine.map((p) => [p, now.value.snapshot[p] ?? hashPath(root, p)]));
    if (!advance('saved', { sha: commit.value, paths: mine, hashes })) return lostClaim(id, 'saved');
    done = stageIndex('saved');
  }
  const sha = data.sha as string;
  const ownPaths = data.paths as string[];

  // 4. Audit that commit.
  // No path saved: the commit has its parent's tree (commitPaths), so there is no diff to ask git for.
  const audited = await auditCommit({ input, cwd: root, from: baseSha, to: sha, dir: paths.dir, allowNoChanges: resolved.value.config.allowNoChanges, sameTree: ownPaths.length === 0 });
  if (!audited.ok) return { agent, outcome: blocked(audited.reason, audited.message, { ...common, ...audited.extra }), summary: audited.message };
  const audit = audited.audit;
  if (done < stageIndex('audited')) {
    log(describeAudit(audit));
    if (!advance('audited', { files: audit.files })) return lostClaim(id, 'audited');
    done = stageIndex('audited');
  }

  // 5. The tests, in the shared checkout (it holds the task's files as saved, beside the other tasks' work).
  if (done < stageIndex('verified')) {
    const verified = await verifyTask({ input, cwd: root, dir: paths.dir });
    if (!verified.ok) return { agent, outcome: blocked(verified.reason, verified.message, { ...common, files_modified: audit.files, ...verified.extra }), summary: verified.message };
    // The checkout is shared: another agent (or the tests themselves) may have rewritten the task's files between the
    // save and the end of the tests. Then the tests judged other content than the commit, and their pass means nothing.
    const changed = findChangedSince(root, data.hashes as Record<string, string> | undefined);
    if (changed.length > 0) {
      const message = `Task ${id}: ${changed.length} of its files changed while its tests ran (${changed.slice(0, 5).join(', ')}): the tests did not judge the saved commit ${sha.slice(0, 8)}, so nothing was committed. Another agent in the shared checkout, a process, or the tests themselves wrote them; re-run ${id}`;
      log(message);
      return { agent, outcome: blocked('changed_during_verification', message, { ...common, files_modified: audit.files, changed_paths: changed }), summary: message };
    }
    if (!advance('verified', { verification: verified.verification ?? null })) return lostClaim(id, 'verified');
    done = stageIndex('verified');
  }
  const verification = (data.verification ?? undefined) as VerificationResult | undefined;
  const testResults = verification?.counts ? { total: verification.counts.total, passing: verification.counts.passed, failing: verification.counts.failed } : null;

  // 6. Onto the branch: the saved commit replayed on its current tip, under the lock every commit of this mode takes.
  if (done < stageIndex('integrated')) {
    const integrated = await withWorktreeLock(root, () => integrateShared({ root, id, sha, baseSha, paths: ownPaths, integrationBranch, holds: () => attempt.holds() }));
    if (!integrated.ok) {
      if (integrated.reason === 'claim_lost') return lostClaim(id, 'integrated');
      log(integrated.message);
      return {
        agent,
        outcome: blocked(integrated.reason, integrated.message, { ...common, files_modified: audit.files, test_results: testResults, conflicted_paths: integrated.conflicted ?? [] }),
        summary: integrated.message,
      };
    }
    failpoint('after-merge', id);
    log(`${id}: committed on ${integrationBranch} (${integrated.sha.slice(0, 8)})`);
    const integration = { strategy: 'commit', status: 'committed', sha: integrated.sha, into: integrationBranch, task_sha: sha };
    if (!advance('integrated', { integration })) return lostClaim(id, 'integrated');
  }
  return recordAccepted({ input, agent, common, audit, verification, testResults, integration: data.integration as Record<string, unknown> });
}

/** The saved paths whose content now differs from what was saved (`hashes`: absent in attempts of older versions). */
function findChangedSince(root: string, hashes: Record<string, string> | undefined): string[] {
  return Object.entries(hashes ?? {})
    .filter(([p, h]) => hashPath(root, p) !== h)
    .map(([p]) => p);
}

/**
 * The shared checkout must still be on the integration branch, and every commit made on it since the task started
 * must be another task's (with a `VTM-Task` trailer): an agent that switched branches, or committed itself (possibly
 * other tasks' files with its own), cannot be attributed. Returns the message when it moved.
 */
async function checkSharedBranch({
  root,
  id,
  integrationBranch,
  baseSha,
  head,
}: {
  root: string;
  id: string;
  integrationBranch: string;
  baseSha: string;
  /** HEAD as `git status` read it with the task's changes. */
  head: { oid: string | null; branch: string | null };
}): Promise<string | null> {
  if (head.branch !== integrationBranch) {
    const where = head.branch ?? 'a detached HEAD';
    return `Task ${id}: the shared checkout is on ${where}, not ${integrationBranch} (isolation "none": agents must not switch branches); nothing was committed. The task's files are in the working tree; switch back to ${integrationBranch} and re-run ${id}`;
  }
  // Still on the commit the task started from: no commit of anyone's in between (the common case; no rev-list).
  if (head.oid === baseSha) return null;
  const foreign = await gitOk({ cwd: root, args: ['rev-list', '--invert-grep', '--grep=^VTM-Task: ', `${baseSha}..${head.oid ?? 'HEAD'}`] });
  if (!foreign.ok) return `Task ${id}: ${integrationBranch} no longer contains the commit the task started from (${baseSha.slice(0, 8)}): it was reset or rewritten during the task; nothing was committed. Re-run ${id}`;
  const shas = foreign.value.split('\n').filter(Boolean);
  if (shas.length > 0) {
    return `Task ${id}: ${shas.length} commit${shas.length === 1 ? '' : 's'} without a VTM-Task trailer appeared on ${integrationBranch} during the task (${shas.slice(0, 3).map((s) => s.slice(0, 8)).join(', ')}): made by an agent or by hand, they cannot be attributed (isolation "none": agents must not commit). Nothing was committed for ${id}; inspect them, then re-run ${id}`;
  }
  return null;
}

type SharedIntegration = { ok: true; sha: string } | { ok: false; reason: string; message: string; conflicted?: string[] };

/** Replay the task's commit onto the branch tip and move the branch by compare-and-set; idempotent after a crash. */
async function integrateShared({
  root,
  id,
  sha,
  baseSha,
  paths,
  integrationBranch,
  holds,
}: {
  root: string;
  id: string;
  sha: string;
  baseSha: string;
  paths: string[];
  integrationBranch: string;
  holds: () => boolean;
}): Promise<SharedIntegration> {
  if (!holds()) return { ok: false, reason: 'claim_lost', message: `Task ${id}: claim lost` };
  // A run killed while it moved the branch or reset the index (below) left `refs/heads/<branch>.lock` or
  // `.git/index.lock`: every later commit, ours and the user's, failed on it. The journal says it was ours.
  const recovered = await recoverInterruptedMerge({ repoRoot: root });
  if (recovered) process.stdout.write(`nx-vtm: ${recovered}\n`);
  const tip = await getHeadSha({ cwd: root, ref: `refs/heads/${integrationBranch}` });
  if (!tip.ok) return { ok: false, reason: 'git_failed', message: tip.error.message };
  // No path: nothing goes onto the branch (so no earlier run can have put a commit of it there either).
  if (paths.length === 0) return { ok: true, sha: tip.value };
  // Already on the branch (a crash after the commit, before the state write): recognised by its trailer.
  const found = await gitOk({ cwd: root, args: ['rev-list', '-n', '1', '--fixed-strings', `--grep=VTM-Task: ${id}`, `${baseSha}..${tip.value}`] });
  // The shared index follows the branch for the task's paths only (other tasks' staged changes stay as they are).
  const resetIndex = () => gitOk({ cwd: root, args: ['reset', '-q', '--', ...paths.map((p) => `:(literal)${p}`)] });
  if (found.ok && found.value.trim()) {
    await journaled(resetIndex);
    return { ok: true, sha: found.value.trim() };
  }
  const message = await gitOk({ cwd: root, args: ['log', '-1', '--format=%B', sha] });
  const replayed = await replayPathsOnto({ cwd: root, sha, onto: tip.value, paths, message: message.ok ? message.value : `feat(${id})\n\nVTM-Task: ${id}\n` });
  if (!replayed.ok) return { ok: false, reason: 'git_failed', message: replayed.error.message };
  if ('conflicted' in replayed.value) {
    const c = replayed.value.conflicted;
    return {
      ok: false,
      reason: 'merge_conflict',
      conflicted: c,
      message: `Task ${id}: ${c.length} of its files changed on ${integrationBranch} since the task started (${c.slice(0, 5).join(', ')}); its work is kept as refs/vtm/attempts/${id}/work (${sha.slice(0, 8)}); merge it by hand or re-run ${id}`,
    };
  }
  const next = replayed.value.sha;
  return journaled(async () => {
    const moved = await gitOk({ cwd: root, args: ['update-ref', '-m', `nx-vtm: ${id}`, `refs/heads/${integrationBranch}`, next, tip.value] });
    if (!moved.ok) return { ok: false, reason: 'git_failed', message: `Task ${id}: ${integrationBranch} moved while committing (${moved.error.message}); re-run ${id}` };
    await resetIndex();
    return { ok: true, sha: next };
  });

  /** Runs the git writes to the shared checkout's refs and index inside a merge-journal entry (see merge-journal.ts). */
  async function journaled<T>(write: () => Promise<T>): Promise<T> {
    beginMergeJournal({ repoRoot: root, taskId: id, branch: integrationBranch, sha });
    try {
      return await write();
    } finally {
      endMergeJournal({ repoRoot: root });
    }
  }
}
