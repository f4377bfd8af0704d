/**
 * The "Progress Pulse" of seed 001 (pure): task counts per status, progress, High-risk progress, what is running,
 * what can start next, what is blocked and what to do about it, per-slice progress, whether the state belongs to the
 * manifest, and the seed's warning flags (WIP overload, stale work, High-risk tasks completed without tests,
 * completed tasks whose acceptance criteria are not all reported done).
 *
 * `buildProgressPulse` is a function of what was read (manifest tasks, store records and claims, a path probe, the
 * time); `formatProgressPulse` renders it in the seed's Markdown shape. Keys are snake_case like report.json, so
 * `nx-vtm status --json` reads like the other files users already script against.
 */
import { hashTask } from '../manifest/hash';
import type { Task } from '../manifest/schema';
import { formatWaitReason } from '../scheduler/admission';
import type { OwnerVerdict } from '../state/lease';
import { isCompletedFor, TASK_STATUSES, type TaskRecord, type TaskStatus } from '../state/task-record';
import type { WaitingTask } from '../state/task-store';
import { getRemediation } from '../runtime/report';
import { buildTaskBlockers } from '../workspace/preflight';

/** In progress for longer than this counts as stale work (seed: "No tasks in-progress for >2 days"). */
export const STALE_IN_PROGRESS_MS = 2 * 24 * 60 * 60_000;

const RISK_ORDER: Record<string, number> = { High: 0, Medium: 1, Low: 2 };

/** One manifest task with where it comes from (the values of `RunContext.tasks`). */
export interface PulseTask {
  task: Task;
  file: string;
  /** The manifest's own status: tasks of a BLOCKED manifest never run. */
  status: 'OK' | 'BLOCKED';
}

/** A claim as `TaskStore.getRunningClaims` reports it (only the fields the pulse reads). */
export interface PulseClaim {
  taskId: string;
  runId: string;
  owner: { host: string; pid: number };
  claimedAt: number;
  heartbeatAt: number;
  verdict: OwnerVerdict;
  /** The agent its owner started, and (stale claims only) whether it still runs: `RunningClaim`. */
  agent?: { host: string; pid: number } | null;
  agentAlive?: boolean;
}

/** An agent still at work after the run that started it stopped (`TaskStore.listOrphanedAgents`). */
export interface PulseOrphan {
  taskId: string;
  agent: { host: string; pid: number };
  runId: string;
  /** Epoch ms its run claimed the task. */
  claimedAt: number;
}

export interface PulseInput {
  /** Every task of every manifest, in manifest order. */
  tasks: readonly PulseTask[];
  records: readonly TaskRecord[];
  claims: readonly PulseClaim[];
  /** Default none. */
  orphans?: readonly PulseOrphan[];
  waiting: readonly Pick<WaitingTask, 'taskId' | 'reason'>[];
  /** Hash of the manifests now. */
  manifestHash: string;
  /** Hash the task state was recorded against; null before the first run. */
  storedManifestHash: string | null;
  wipLimit: number;
  /** Epoch ms. */
  now: number;
  /** Whether a workspace-relative path exists (related documents, test_verification files). */
  pathExists: (relativePath: string) => boolean;
  /** Files under the plugin's contextDirs, for named references such as "ADR-0002: ...". */
  contextFiles: readonly string[];
  /** Default `STALE_IN_PROGRESS_MS`. */
  staleAfterMs?: number;
}

export interface PulseInProgress {
  task_id: string;
  title: string;
  risk: string;
  slice: string | null;
  run_id: string | null;
  owner: { host: string; pid: number } | null;
  /** False when the owner is gone (its claim is released by the next run or `nx-vtm reset`). */
  owner_alive: boolean | null;
  started_at: string | null;
  age_ms: number | null;
  acs_completed: string[];
  acs_remaining: string[];
}

export interface PulseEligible {
  task_id: string;
  title: string;
  risk: string;
  slice: string | null;
  /** Why a run started for it is waiting right now (another process's view), e.g. "waiting: 3 of 3 slots busy". */
  waiting: string | null;
  /** It was completed against an older version of its manifest entry and runs again. */
  changed_since_completed: boolean;
}

export interface PulseBlocker {
  task_id: string;
  /** Reason code (`agent_failed`, `dependency_failed:<id>`, `empty_ac`, `dependency_abandoned:<id>`, ...). */
  reason: string;
  /** The seed's code when there is one, e.g. `BLOCKED::EMPTY-AC::<id>`. */
  code: string | null;
  error: string | null;
  remediation: string;
}

export interface PulseFlag {
  /** `WARN::WIP-OVERLOAD`, `WARN::STALE-IN-PROGRESS::<id>`, ... */
  code: string;
  task_id: string | null;
  /** One line: what was seen and what to do. */
  message: string;
}

export interface ProgressPulse {
  generated_at: string;
  /** Phase and slice being worked on: of the first task in progress, else of the first eligible task. */
  phase: string | null;
  slice: string | null;
  counts: Record<TaskStatus, number>;
  total: number;
  /** Abandoned tasks are not counted: they will never be done, so 100% stays reachable. */
  progress: { completed: number; total: number; percent: number; abandoned: number };
  high_risk: { completed: number; remaining: number };
  latest_completed: { task_id: string; title: string; completed_at: string; age_ms: number } | null;
  in_progress: PulseInProgress[];
  /** Pending (or due again), every dependency completed, not blocked for another reason; High risk first. */
  next_eligible: PulseEligible[];
  blockers: PulseBlocker[];
  oldest_in_progress: { task_id: string; started_at: string; age_ms: number } | null;
  slices: { slice: string; completed: number; total: number; percent: number }[];
  manifest: { hash: string; state_hash: string | null; state: 'match' | 'mismatch' | 'unrecorded' };
  flags: PulseFlag[];
}

const iso = (ms: number): string => new Date(ms).toISOString();
const percentOf = (part: number, whole: number, decimals: number): number => {
  if (whole === 0) return 0;
  const f = 10 ** decimals;
  return Math.round((100 * f * part) / whole) / f;
};
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

/** Builds the pulse (pure). Records of tasks that are in no manifest are reported as a flag, never counted. */
export function buildProgressPulse(input: PulseInput): ProgressPulse {
  const { tasks, now, wipLimit, pathExists, contextFiles } = input;
  const staleAfterMs = input.staleAfterMs ?? STALE_IN_PROGRESS_MS;
  const records = new Map(input.records.map((r) => [r.taskId, r]));
  const claims = new Map(input.claims.map((c) => [c.taskId, c]));
  const waiting = new Map(input.waiting.map((w) => [w.taskId, w]));
  const byId = new Map(tasks.map((t) => [t.task.task_id, t]));
  const statusOf = (id: string): TaskStatus => records.get(id)?.status ?? 'pending';
  // Completed counts only for the manifest entry it was completed against: an edited task runs again.
  const hashes = new Map<string, string>();
  const hashOf = (t: Task): string => {
    let h = hashes.get(t.task_id);
    if (h === undefined) hashes.set(t.task_id, (h = hashTask(t)));
    return h;
  };
  const isDone = (id: string): boolean => {
    const r = records.get(id);
    const t = byId.get(id);
    return r !== undefined && isCompletedFor(r, t ? hashOf(t.task) : null);
  };

  const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
  for (const { task } of tasks) counts[statusOf(task.task_id)]++;
  const flags: PulseFlag[] = [];
  const blockers: PulseBlocker[] = [];

  // In progress, oldest first.
  const inProgress: PulseInProgress[] = [];
  for (const { task } of tasks) {
    const id = task.task_id;
    const record = records.get(id);
    if (record?.status !== 'in-progress') continue;
    const claim = claims.get(id);
    const startedMs = record.claim?.claimedAt ?? claim?.claimedAt ?? record.startedAt;
    const owner = record.claim?.owner ?? claim?.owner ?? null;
    const done = strings(record.outcome.acs_completed);
    inProgress.push({
      task_id: id,
      title: task.title,
      risk: task.risk,
      slice: task.slice ?? null,
      run_id: record.claim?.runId ?? claim?.runId ?? null,
      owner: owner && { host: owner.host, pid: owner.pid },
      owner_alive: claim ? !claim.verdict.stale : null,
      started_at: startedMs === null ? null : iso(startedMs),
      age_ms: startedMs === null ? null : now - startedMs,
      acs_completed: done,
      acs_remaining: task.acceptance_criteria.map((ac) => ac.id).filter((ac) => !done.includes(ac)),
    });
    if (claim?.verdict.stale) {
      const cause = claim.verdict.cause === 'lease-expired' ? 'stopped renewing its lease' : claim.verdict.cause === 'rebooted' ? 'ran before a reboot' : 'is gone';
      flags.push({
        code: `WARN::STALE-CLAIM::${id}`,
        task_id: id,
        message:
          claim.agentAlive && claim.agent
            ? `${id}: its owner (pid ${claim.owner.pid} on ${claim.owner.host}) ${cause}, but its agent (pid ${claim.agent.pid}) is still at work; the next run takes that work over instead of starting the agent again, or run \`nx-vtm reset ${id}\``
            : `${id}: its owner (pid ${claim.owner.pid} on ${claim.owner.host}) ${cause}; the next run takes it over, or run \`nx-vtm reset ${id}\``,
      });
    }
    if (startedMs !== null && now - startedMs > staleAfterMs) {
      flags.push({
        code: `WARN::STALE-IN-PROGRESS::${id}`,
        task_id: id,
        message: `${id} has been in progress since ${iso(startedMs)} (more than ${Math.round(staleAfterMs / 3_600_000)} h); check its run, or stop it and run \`nx-vtm reset ${id}\``,
      });
    }
  }
  inProgress.sort((a, b) => (b.age_ms ?? -1) - (a.age_ms ?? -1));
  for (const o of input.orphans ?? []) {
    flags.push({
      code: `WARN::ORPHANED-AGENT::${o.taskId}`,
      task_id: o.taskId,
      message: `${o.taskId}: the run that started its agent (pid ${o.agent.pid}) stopped, but the agent is still at work and holds a WIP slot; the task's next run takes over its work (\`nx run ${o.taskId}:implement\`), or stop it: \`kill -- -${o.agent.pid}\``,
    });
  }
  if (inProgress.length > wipLimit) {
    flags.push({
      code: 'WARN::WIP-OVERLOAD',
      task_id: null,
      message: `${inProgress.length} tasks in progress, more than the WIP limit of ${wipLimit}; let running tasks finish before starting more (nx.json plugin option wipLimit)`,
    });
  }

  // Next eligible tasks, and the blockers that keep otherwise ready tasks from starting.
  const eligible: (PulseEligible & { order: number })[] = [];
  const blockedManifests = new Map<string, number>();
  tasks.forEach(({ task, file, status: manifestStatus }, order) => {
    const id = task.task_id;
    const record = records.get(id);
    const status = statusOf(id);
    const changed = status === 'completed' && !isDone(id);
    const depFailed = status === 'blocked' && (record?.reason ?? '').startsWith('dependency_failed:');
    const due = status === 'pending' || changed || depFailed;
    const depsDone = task.depends_on_tasks.every(isDone);

    if (status === 'blocked' && !(depFailed && depsDone)) {
      const reason = record?.reason ?? 'blocked';
      blockers.push({
        task_id: id,
        reason,
        code: strings(record?.outcome.blockers).find((b) => b.startsWith('BLOCKED::')) ?? null,
        error: typeof record?.outcome.error === 'string' ? record.outcome.error : null,
        remediation: getRemediation(id, reason, record),
      });
      return;
    }
    if (!due) return;
    const abandonedDep = task.depends_on_tasks.find((d) => statusOf(d) === 'abandoned');
    if (abandonedDep) {
      blockers.push({
        task_id: id,
        reason: `dependency_abandoned:${abandonedDep}`,
        code: null,
        error: null,
        remediation: `${abandonedDep} was abandoned, so ${id} can never start: remove it from depends_on_tasks of ${id} in the manifest, or run \`nx-vtm reset ${abandonedDep}\` to bring it back.`,
      });
      return;
    }
    if (!depsDone) return;
    if (manifestStatus === 'BLOCKED') {
      blockedManifests.set(file, (blockedManifests.get(file) ?? 0) + 1);
      return;
    }
    // The same checks a run makes before starting (missing documents, no ACs, High risk without tests).
    const pre = buildTaskBlockers({ task, pathExists, contextFiles }).blockers;
    if (pre.length > 0) {
      for (const b of pre) {
        const reason = b.kind === 'MISSING-CONTEXT' ? 'missing_context' : b.kind === 'EMPTY-AC' ? 'empty_ac' : 'spec_ref_gap';
        blockers.push({ task_id: id, reason, code: b.code, error: b.message, remediation: getRemediation(id, reason, record) });
      }
      return;
    }
    const wait = waiting.get(id);
    eligible.push({
      task_id: id,
      title: task.title,
      risk: task.risk,
      slice: task.slice ?? null,
      waiting: wait ? formatWaitReason(wait.reason) : null,
      changed_since_completed: changed,
      order,
    });
  });
  eligible.sort((a, b) => (RISK_ORDER[a.risk] ?? 3) - (RISK_ORDER[b.risk] ?? 3) || a.order - b.order);
  for (const [file, n] of blockedManifests) {
    flags.push({
      code: 'BLOCKED::MANIFEST-STATUS-BLOCKED',
      task_id: null,
      message: `${file} has "status": "BLOCKED", so its ${n} ready task(s) cannot run; resolve its gaps and set it to "OK"`,
    });
  }

  // Completed work: latest, High risk, anomalies.
  let latest: ProgressPulse['latest_completed'] = null;
  let highCompleted = 0;
  let highRemaining = 0;
  for (const { task } of tasks) {
    const id = task.task_id;
    const record = records.get(id);
    const status = statusOf(id);
    if (task.risk === 'High') {
      if (status === 'completed') highCompleted++;
      else if (status !== 'abandoned') highRemaining++;
    }
    if (status !== 'completed' || !record) continue;
    if (record.completedAt !== null && (latest === null || record.completedAt > Date.parse(latest.completed_at))) {
      latest = { task_id: id, title: task.title, completed_at: iso(record.completedAt), age_ms: now - record.completedAt };
    }
    if (!isDone(id)) {
      flags.push({
        code: `WARN::CHANGED-SINCE-COMPLETED::${id}`,
        task_id: id,
        message: `${id} was completed against an older version of its manifest entry; it runs again on the next run (restore the entry if the change was not meant to redo it)`,
      });
    }
    if (task.risk === 'High') {
      const missing = task.test_verification.filter((f) => !pathExists(f));
      if (task.test_verification.length === 0 || missing.length > 0) {
        const what = task.test_verification.length === 0 ? 'lists no test_verification files' : `test_verification files are missing: ${missing.join(', ')}`;
        flags.push({
          code: `WARN::HIGH-RISK-WITHOUT-TESTS::${id}`,
          task_id: id,
          message: `anomaly: High-risk ${id} is completed but ${what}; add the tests, or run \`nx-vtm reset ${id}\` to redo it`,
        });
      }
    }
    // Criteria are recorded done only when the agent reported them: "reported not done" and "not reported at all"
    // call for different checks, so the message tells them apart.
    const done = strings(record.outcome.acs_completed);
    const reportedRemaining = strings(record.outcome.acs_remaining);
    const notDone = task.acceptance_criteria.map((ac) => ac.id).filter((ac) => !done.includes(ac));
    if (notDone.length > 0) {
      const remaining = notDone.filter((ac) => reportedRemaining.includes(ac));
      const unreported = notDone.filter((ac) => !reportedRemaining.includes(ac));
      const parts = [
        ...(remaining.length > 0 ? [`the agent reported ${remaining.join(', ')} not done`] : []),
        ...(unreported.length > 0 ? [`the agent did not report ${unreported.join(', ')} (not counted as done)`] : []),
      ];
      flags.push({
        code: `WARN::INCOMPLETE-ACS::${id}`,
        task_id: id,
        message: `${id} is completed (diff audited, tests passed) but ${parts.join('; ')}; verify those criteria, or run \`nx-vtm reset ${id}\` to redo it`,
      });
    }
  }

  // Manifest hash.
  const stateHash = input.storedManifestHash;
  const hashState = stateHash === null ? 'unrecorded' : stateHash === input.manifestHash ? 'match' : 'mismatch';
  if (hashState === 'mismatch') {
    flags.push({
      code: 'WARN::MANIFEST-HASH-MISMATCH',
      task_id: null,
      message: `the task state belongs to manifest ${stateHash!.slice(0, 12)}, the manifest is now ${input.manifestHash.slice(0, 12)}; the next run adopts it: tasks whose entries changed run again, unchanged completed tasks are kept`,
    });
  }
  const orphans = input.records.filter((r) => !byId.has(r.taskId)).map((r) => r.taskId);
  if (orphans.length > 0) {
    const shown = orphans.slice(0, 5).join(', ') + (orphans.length > 5 ? `, and ${orphans.length - 5} more` : '');
    flags.push({
      code: 'WARN::STATE-NOT-IN-MANIFEST',
      task_id: null,
      message: `the task state has ${orphans.length} task(s) that are in no manifest (${shown}); they are not counted (a renamed task starts afresh)`,
    });
  }

  // Slices, in manifest order.
  const slices = new Map<string, { completed: number; total: number }>();
  for (const { task } of tasks) {
    if (!task.slice) continue;
    const status = statusOf(task.task_id);
    const s = slices.get(task.slice) ?? { completed: 0, total: 0 };
    if (status !== 'abandoned') s.total++;
    if (status === 'completed') s.completed++;
    slices.set(task.slice, s);
  }

  const countable = tasks.length - counts.abandoned;
  const oldest = inProgress.find((t) => t.started_at !== null);
  const current = inProgress[0] ?? eligible[0];
  const currentTask = current ? byId.get(current.task_id)?.task : undefined;
  return {
    generated_at: iso(now),
    phase: currentTask?.phase ?? null,
    slice: currentTask?.slice ?? null,
    counts,
    total: tasks.length,
    progress: { completed: counts.completed, total: countable, percent: percentOf(counts.completed, countable, 1), abandoned: counts.abandoned },
    high_risk: { completed: highCompleted, remaining: highRemaining },
    latest_completed: latest,
    in_progress: inProgress,
    next_eligible: eligible.map(({ order: _order, ...e }) => e),
    blockers,
    oldest_in_progress: oldest ? { task_id: oldest.task_id, started_at: oldest.started_at!, age_ms: oldest.age_ms! } : null,
    slices: [...slices].map(([slice, s]) => ({ slice, ...s, percent: percentOf(s.completed, s.total, 0) })),
    manifest: { hash: input.manifestHash, state_hash: stateHash, state: hashState },
    flags,
  };
}

/** "just now", "5m", "3h 20m", "2d 4h" (pure). */
export function formatAge(ms: number): string {
  const minutes = Math.floor(Math.max(0, ms) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m ago`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h ago`;
}

const LIST_LIMIT = 10;
const listIds = (ids: readonly string[]): string =>
  ids.length === 0 ? 'none' : ids.slice(0, LIST_LIMIT).join(', ') + (ids.length > LIST_LIMIT ? `, and ${ids.length - LIST_LIMIT} more` : '');

function describeInProgress(t: PulseInProgress): string {
  const acs = `${t.acs_completed.length} ACs completed, ${t.acs_remaining.length} remaining`;
  const owner = t.owner ? `; pid ${t.owner.pid} on ${t.owner.host}${t.owner_alive === false ? ' (gone)' : ''}` : '';
  const run = t.run_id ? `, run ${t.run_id}` : '';
  const started = t.age_ms !== null ? `, started ${formatAge(t.age_ms)}` : '';
  return `${t.task_id} (${acs}${owner}${run}${started})`;
}

/** The pulse in the seed's Markdown shape (pure). Long lists are cut at 10 entries; `--json` has them all. */
export function formatProgressPulse(p: ProgressPulse): string {
  const lines: string[] = [];
  lines.push(`### Implementation Pulse (${p.generated_at})`);
  if (p.phase) lines.push(`- Phase: ${p.phase}`);
  if (p.slice) lines.push(`- Slice: ${p.slice}`);
  lines.push(`- Tasks: ${TASK_STATUSES.map((s) => `${s} ${p.counts[s]}`).join(' | ')}`);
  const abandoned = p.progress.abandoned > 0 ? `, ${p.progress.abandoned} abandoned not counted` : '';
  lines.push(`- Progress: ${p.progress.percent}% (${p.progress.completed}/${p.progress.total} tasks${abandoned})`);
  lines.push(`- High Risk: ${p.high_risk.completed} completed, ${p.high_risk.remaining} remaining`);
  lines.push(
    `- Latest Completed: ${p.latest_completed ? `${p.latest_completed.task_id} (completed ${formatAge(p.latest_completed.age_ms)})` : 'none'}`,
  );
  if (p.in_progress.length <= 1) {
    lines.push(`- In Progress: ${p.in_progress.length === 0 ? 'none' : describeInProgress(p.in_progress[0])}`);
  } else {
    lines.push(`- In Progress: ${p.in_progress.length}`);
    for (const t of p.in_progress.slice(0, LIST_LIMIT)) lines.push(`  - ${describeInProgress(t)}`);
  }
  const next = p.next_eligible.map((t) => `${t.task_id}${t.changed_since_completed ? ' (changed)' : ''}${t.waiting ? ` (${t.waiting})` : ''}`);
  lines.push(`- Next Eligible: ${listIds(next)}`);
  if (p.blockers.length === 0) {
    lines.push('- Blockers: none');
  } else {
    lines.push(`- Blockers: ${p.blockers.length}`);
    for (const b of p.blockers.slice(0, LIST_LIMIT)) {
      lines.push(`  - ${b.task_id}: ${b.code ?? b.reason}${b.error ? ` (${b.error.split('\n')[0]})` : ''}`);
      lines.push(`    Remediation: ${b.remediation}`);
    }
    if (p.blockers.length > LIST_LIMIT) lines.push(`  - and ${p.blockers.length - LIST_LIMIT} more (nx-vtm status --json)`);
  }
  lines.push(
    `- Oldest In-Progress: ${p.oldest_in_progress ? `${p.oldest_in_progress.task_id} (started ${formatAge(p.oldest_in_progress.age_ms)})` : 'none'}`,
  );
  const short = (h: string) => h.slice(0, 12);
  const m = p.manifest;
  lines.push(
    `- Manifest: ${short(m.hash)} ${
      m.state === 'match'
        ? 'matches the task state'
        : m.state === 'mismatch'
          ? `MISMATCH: the task state belongs to ${short(m.state_hash!)}`
          : '(no run has recorded a manifest hash yet)'
    }`,
  );
  if (p.slices.length > 0) {
    lines.push(`- Slices: ${p.slices.map((s) => `${s.slice} ${s.completed}/${s.total} (${s.percent}%)`).join(' | ')}`);
  }
  if (p.flags.length === 0) {
    lines.push('- Flags: none');
  } else {
    lines.push(`- Flags: ${p.flags.length}`);
    for (const f of p.flags.slice(0, 2 * LIST_LIMIT)) lines.push(`  - ${f.code}: ${f.message}`);
    if (p.flags.length > 2 * LIST_LIMIT) lines.push(`  - and ${p.flags.length - 2 * LIST_LIMIT} more (nx-vtm status --json)`);
  }
  return `${lines.join('\n')}\n`;
}
