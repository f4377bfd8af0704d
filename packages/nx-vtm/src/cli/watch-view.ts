/**
 * The frame `nx-vtm watch` draws: tasks by state, what each running task is doing now (its attempt's last completed
 * stage), what each waiting task waits for, elapsed times, cost so far, and the latest run from the event log. Pure:
 * the command reads the store and the event log and passes them in with the clock.
 */
import { formatWaitReason } from '../scheduler/admission';
import type { VtmEvent } from '../state/event-log';
import type { TaskRecord } from '../state/task-record';
import { TASK_STATUSES, type TaskStatus } from '../state/task-record';
import type { RunningClaim, WaitingTask } from '../state/task-store';

/** What a running attempt is doing after its last completed stage (the stages of runtime/pipeline.ts). */
const NEXT_PHASE: Record<string, string> = {
  worktree: 'agent working',
  agent: 'saving the work',
  saved: 'auditing the diff',
  audited: 'verifying',
  verified: 'merging',
  integrated: 'finishing',
};

export interface WatchView {
  /** ISO time of the frame. */
  at: string;
  wipLimit: number;
  counts: Record<TaskStatus, number>;
  /** The latest run in the event log. */
  run: { runId: string; startedAt: string; ended: boolean; status: string | null } | null;
  /** `orphan`: an agent still at work whose run stopped (its task released; it holds its slot); `pid` is the agent's. */
  running: {
    taskId: string;
    title: string;
    phase: string;
    parked: boolean;
    elapsedMs: number;
    pid: number;
    host: string;
    runId: string;
    stale: boolean;
    orphan?: boolean;
    /** A stale claim whose agent still runs: the agent's pid (`pid` is the dead run's). */
    agentPid?: number;
  }[];
  waiting: { taskId: string; title: string; why: string; waitedMs: number }[];
  /** Latest final outcomes, newest first. */
  recent: { taskId: string; status: TaskStatus; reason: string | null; minutes: number | null; at: number }[];
  /** Sum of the known agent costs of every task record. */
  costUsd: number | null;
}

const RECENT = 8;

export function buildWatchView({
  titles,
  records,
  claims,
  orphans = [],
  waiting,
  events,
  wipLimit,
  now,
}: {
  /** Title per task id of the manifests (tasks of the manifests only are counted). */
  titles: ReadonlyMap<string, string>;
  records: readonly TaskRecord[];
  claims: readonly RunningClaim[];
  /** Agents still at work whose run stopped (`TaskStore.listOrphanedAgents`). */
  orphans?: readonly { taskId: string; agent: { pid: number; host: string }; runId: string; claimedAt: number }[];
  waiting: readonly WaitingTask[];
  events: readonly VtmEvent[];
  wipLimit: number;
  now: number;
}): WatchView {
  const recordOf = new Map(records.map((r) => [r.taskId, r]));
  const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
  for (const id of titles.keys()) counts[recordOf.get(id)?.status ?? 'pending']++;

  let run = null as WatchView['run'];
  for (const e of events) {
    if (e.type === 'run-start' && e.run_id && e.run_id !== run?.runId) run = { runId: e.run_id, startedAt: e.ts, ended: false, status: null };
    if (e.type === 'run-end' && run && e.run_id === run.runId) {
      run.ended = true;
      run.status = e.status;
    }
  }

  const running = claims
    .map((c) => {
      const stage = recordOf.get(c.taskId)?.progress?.stage;
      return {
        taskId: c.taskId,
        title: titles.get(c.taskId) ?? '',
        // No completed stage recorded yet: the attempt is starting, or its runner records no stages.
        // Parked: verified work waiting in the merge queue (or tested on the merged result); it holds no WIP slot.
        phase: c.parked ? 'in the merge queue' : stage ? (NEXT_PHASE[stage] ?? `after ${stage}`) : 'running',
        parked: c.parked === true,
        elapsedMs: Math.max(0, now - c.claimedAt),
        pid: c.owner.pid,
        host: c.owner.host,
        runId: c.runId,
        // Its process is gone: the next run reclaims it (status shows WARN::STALE-CLAIM).
        stale: c.verdict.stale,
        ...(c.verdict.stale && c.agentAlive && c.agent ? { agentPid: c.agent.pid } : {}),
      };
    })
    .concat(
      orphans.map((o) => ({
        taskId: o.taskId,
        title: titles.get(o.taskId) ?? '',
        phase: 'agent working, its run stopped',
        parked: false,
        elapsedMs: Math.max(0, now - o.claimedAt),
        pid: o.agent.pid,
        host: o.agent.host,
        runId: o.runId,
        stale: false,
        orphan: true,
      })),
    )
    .sort((a, b) => b.elapsedMs - a.elapsedMs || a.taskId.localeCompare(b.taskId));

  const waitingView = waiting
    .map((w) => ({
      taskId: w.taskId,
      title: titles.get(w.taskId) ?? '',
      why: formatWaitReason(w.reason).replace(/^waiting: /, '') + (w.reservedAt !== null ? ' (reserved: runs next)' : ''),
      waitedMs: Math.max(0, now - w.since),
    }))
    .sort((a, b) => b.waitedMs - a.waitedMs || a.taskId.localeCompare(b.taskId));

  const recent = records
    .filter((r) => r.status === 'completed' || r.status === 'blocked' || r.status === 'abandoned')
    .map((r) => ({
      taskId: r.taskId,
      status: r.status,
      reason: r.reason,
      minutes: typeof r.outcome.duration_minutes === 'number' ? r.outcome.duration_minutes : null,
      at: r.completedAt ?? r.updatedAt,
    }))
    .sort((a, b) => b.at - a.at || a.taskId.localeCompare(b.taskId))
    .slice(0, RECENT);

  const costs = records
    .map((r) => (r.outcome.cost as { usd?: unknown } | undefined)?.usd)
    .filter((c): c is number => typeof c === 'number');
  return {
    at: new Date(now).toISOString(),
    wipLimit,
    counts,
    run,
    running,
    waiting: waitingView,
    recent,
    costUsd: costs.length > 0 ? Math.round(costs.reduce((a, b) => a + b, 0) * 100) / 100 : null,
  };
}

/** "4s", "2m05s", "1h03m". Pure. */
export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The frame as text. Pure. */
export function formatWatchView(v: WatchView): string {
  const lines: string[] = [];
  const run = v.run ? `run ${v.run.runId}${v.run.ended ? ` ended (${v.run.status ?? 'unknown'})` : ' in progress'}` : 'no run yet';
  lines.push(`nx-vtm watch  ${v.at}  ${run}`);
  lines.push(
    `Tasks: ${TASK_STATUSES.map((s) => `${s} ${v.counts[s]}`).join(' | ')}` + (v.costUsd !== null ? ` | cost so far $${v.costUsd.toFixed(2)}` : ''),
  );
  lines.push('');
  const queued = v.running.filter((r) => r.parked).length;
  lines.push(`Running (${v.running.length - queued} of ${v.wipLimit} slots${queued ? `; ${queued} in the merge queue, holding no slot` : ''}):`);
  if (v.running.length === 0) lines.push('  none');
  for (const r of v.running) {
    const owner = r.orphan
      ? `agent pid ${r.pid} holds its slot; the task's next run takes over its work`
      : r.stale && r.agentPid !== undefined
        ? `process ${r.pid} on ${r.host} is gone; its agent, pid ${r.agentPid}, is still at work: the next run takes over its work`
        : r.stale
          ? `process ${r.pid} on ${r.host} is gone; the next run reclaims it`
        : `pid ${r.pid} on ${r.host}`;
    lines.push(`  ${r.taskId}  ${r.phase}  ${formatElapsed(r.elapsedMs)}  (${owner})`);
  }
  lines.push(`Waiting (${v.waiting.length}):`);
  if (v.waiting.length === 0) lines.push('  none');
  for (const w of v.waiting) lines.push(`  ${w.taskId}  ${w.why}  for ${formatElapsed(w.waitedMs)}`);
  lines.push('Finished (latest first):');
  if (v.recent.length === 0) lines.push('  none');
  for (const r of v.recent) {
    const what = r.status === 'completed' ? 'completed' : `${r.status}${r.reason ? `: ${r.reason}` : ''}`;
    lines.push(`  ${r.taskId}  ${what}${r.minutes !== null ? `  ${r.minutes} min` : ''}`);
  }
  return lines.join('\n');
}

/** The frame without its clocks: two frames with the same key show the same state. Pure. */
export function getWatchViewKey(v: WatchView): string {
  return JSON.stringify({ ...v, at: null, running: v.running.map((r) => ({ ...r, elapsedMs: 0 })), waiting: v.waiting.map((w) => ({ ...w, waitedMs: 0 })) });
}
