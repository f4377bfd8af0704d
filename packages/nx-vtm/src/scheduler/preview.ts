/**
 * The execution plan shown before anything runs (`nx-vtm preview`): the schedule our scheduler would produce if every
 * task took exactly its estimate, with what each task waits for and why, the critical path, and the expected makespan
 * beside serial execution, beside the lower bound and beside the estimates' uncertainty.
 *
 * It is the very simulation the benchmark measures (`simulateListSchedule`: same priorities, same admission, same
 * reservations), so the preview cannot promise a schedule the driver would not produce on the same durations. Pure:
 * the random draws of the uncertainty band come from a seeded generator, so the same manifest previews the same.
 */
import { formatWaitReason } from './admission';
import { buildEstimates, type DurationHistory } from './estimate';
import { buildPriorities } from './priority';
import { buildSimInstance, lowerBound, simulateListSchedule, type ManifestLikeTask } from './simulate';
import type { WaitReason } from './types';

/** Why a task of the plan does not start at minute 0. */
export interface PreviewWait {
  /** `dependencies`: its last dependency ends then; otherwise the admission rule that held it back. */
  kind: 'dependencies' | WaitReason['kind'];
  /** One line for people, e.g. `after A, B` or `src/config/ held by CONFIG--T01`. */
  text: string;
  /** Minute the wait was (last) seen. */
  minute: number;
}

export interface PreviewTask {
  taskId: string;
  title: string;
  risk: string;
  /** Runs with nothing beside it (High risk or `parallel: false`). */
  exclusive: boolean;
  estimateMinutes: number;
  /** Minutes from the start of the run, on the estimates. */
  start: number;
  end: number;
  /** In-plan dependencies. */
  dependsOn: string[];
  /**
   * Why it starts when it does, in the order the waits happened; empty when it starts at once. Its dependencies first,
   * then at most the last `MAX_ADMISSION_WAITS` admission waits (a task behind a long run of High-risk tasks changes
   * reason with each of them: hundreds of entries at 10,000 tasks).
   */
  waits: PreviewWait[];
  /** Admission waits before those listed, left out (0 when all are listed). */
  earlierWaits: number;
  /** On the longest estimated dependency chain. */
  critical: boolean;
  /** 0 = highest critical-path priority. */
  priorityRank: number;
}

/** How many of a task's latest admission waits the plan keeps (after the wait for its dependencies). */
export const MAX_ADMISSION_WAITS = 4;

/**
 * Whether two refusals say the same thing (`formatWaitReason` would give the same text), without building the texts:
 * the simulation refuses waiting tasks on every pass, 15 million times for a 10,000-task plan.
 */
function sameReason(a: WaitReason, b: WaitReason): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'scope': {
      const o = b as typeof a;
      return a.heldEntry === o.heldEntry && a.heldBy === o.heldBy;
    }
    case 'wip':
      return a.running === (b as typeof a).running && a.limit === (b as typeof a).limit;
    case 'exclusive-running':
    case 'declared-conflict':
      return a.heldBy === (b as typeof a).heldBy;
    case 'needs-exclusive': {
      const o = (b as typeof a).running;
      return a.running.length === o.length && a.running.every((id, i) => id === o[i]);
    }
    case 'reserved':
      return a.by === (b as typeof a).by;
    case 'rate-limited':
      return a.until === (b as typeof a).until;
  }
}

/** Tasks of the selection that no run can start, with the reason. */
export interface PreviewExcluded {
  taskId: string;
  reason: string;
}

export interface Preview {
  wipLimit: number;
  /** Tasks in start order. */
  tasks: PreviewTask[];
  /** Tasks left out: already completed, or unable to run. */
  excluded: PreviewExcluded[];
  /** Minutes from first start to last end, on the estimates. */
  makespan: number;
  /** Sum of the estimates: one task after another. */
  serialMinutes: number;
  /** No schedule can be shorter (critical path, work per slot, exclusive work, conflicting scopes). */
  lowerBoundMinutes: number;
  /** Task ids of the longest estimated dependency chain, first to last. */
  criticalPath: string[];
  criticalPathMinutes: number;
  /** Makespans when the real durations scatter around the estimates (lognormal factor with this sigma). */
  uncertainty: { sigma: number; samples: number; p10: number; p50: number; p90: number };
}

/** A task as the preview reads it (manifest fields, defaults may be missing). */
export type PreviewableTask = ManifestLikeTask & { title?: string };

/** mulberry32: a small seeded generator, enough for sampling durations. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * The plan for `tasks` (the tasks a run would execute: dependencies outside this list count as done). `history`
 * refines estimates as in real runs. `sigma` is the spread of real durations around estimates for the uncertainty
 * band (0.5: a task as often takes 60% as 165% of its estimate); `samples` draws are simulated. Pure.
 */
export function buildPreview({
  tasks,
  wipLimit,
  history,
  sigma = 0.5,
  samples = tasks.length > 2000 ? 5 : 100,
  seed = 1,
}: {
  tasks: readonly PreviewableTask[];
  wipLimit: number;
  history?: DurationHistory;
  sigma?: number;
  samples?: number;
  seed?: number;
}): Omit<Preview, 'excluded'> {
  const ids = new Set(tasks.map((t) => t.task_id));
  const inPlan = tasks.map((t) => ({ ...t, depends_on_tasks: (t.depends_on_tasks ?? []).filter((d) => ids.has(d)) }));
  const estimates = buildEstimates({ tasks: inPlan, history });
  const instance = buildSimInstance({ tasks: inPlan, actualMinutes: estimates });
  const priorities = buildPriorities({ tasks: inPlan, estimates });

  // Per task: its latest waits (the reason kept for comparing, its text built once) and how many older ones fell off.
  const waitsSeen = new Map<string, { waits: (PreviewWait & { reason: WaitReason })[]; dropped: number }>();
  const schedule = simulateListSchedule(instance, {
    wipLimit,
    order: priorities.order,
    onWait: ({ taskId, minute, reason }) => {
      let seen = waitsSeen.get(taskId);
      if (seen === undefined) waitsSeen.set(taskId, (seen = { waits: [], dropped: 0 }));
      // The same reason seen again on a later pass: keep one entry, at its last minute.
      const last = seen.waits[seen.waits.length - 1];
      if (last && sameReason(last.reason, reason)) {
        last.minute = minute;
        return;
      }
      seen.waits.push({ kind: reason.kind, text: formatWaitReason(reason).replace(/^waiting: /, ''), minute, reason });
      if (seen.waits.length > MAX_ADMISSION_WAITS) {
        seen.waits.shift();
        seen.dropped++;
      }
    },
  });
  const runOf = new Map(schedule.runs.map((r) => [r.taskId, r]));

  // Critical path: from the source with the highest bottom level, follow the dependent with the highest bottom level.
  const dependents = new Map<string, string[]>(inPlan.map((t) => [t.task_id, []]));
  for (const t of inPlan) for (const d of new Set(t.depends_on_tasks)) dependents.get(d)!.push(t.task_id);
  const bottom = (id: string) => priorities.byId.get(id)!.bottomLevel;
  const criticalPath: string[] = [];
  const sources = inPlan.filter((t) => t.depends_on_tasks.length === 0).map((t) => t.task_id);
  let current = sources.sort((a, b) => bottom(b) - bottom(a) || priorities.compare(a, b))[0];
  while (current !== undefined) {
    criticalPath.push(current);
    current = [...dependents.get(current)!].sort((a, b) => bottom(b) - bottom(a) || priorities.compare(a, b))[0];
  }
  const critical = new Set(criticalPath);

  const simTaskOf = new Map(instance.tasks.map((x) => [x.taskId, x]));
  const previewTasks: PreviewTask[] = inPlan.map((t) => {
    const run = runOf.get(t.task_id)!;
    const depsEnd = Math.max(0, ...t.depends_on_tasks.map((d) => runOf.get(d)!.end));
    const waits: PreviewWait[] = [];
    if (t.depends_on_tasks.length > 0) {
      const last = t.depends_on_tasks.filter((d) => Math.abs(runOf.get(d)!.end - depsEnd) < 1e-6);
      waits.push({ kind: 'dependencies', text: `after ${[...new Set(last)].join(', ')}`, minute: depsEnd });
    }
    const seen = waitsSeen.get(t.task_id);
    for (const { kind, text, minute } of seen?.waits ?? []) if (minute < run.start) waits.push({ kind, text, minute });
    return {
      taskId: t.task_id,
      title: t.title ?? '',
      risk: t.risk,
      exclusive: simTaskOf.get(t.task_id)!.exclusive,
      estimateMinutes: estimates.get(t.task_id)!,
      start: run.start,
      end: run.end,
      dependsOn: [...new Set(t.depends_on_tasks)],
      waits,
      earlierWaits: seen?.dropped ?? 0,
      critical: critical.has(t.task_id),
      priorityRank: priorities.byId.get(t.task_id)!.rank,
    };
  });
  previewTasks.sort((a, b) => a.start - b.start || a.priorityRank - b.priorityRank);

  const random = seededRandom(seed);
  const makespans: number[] = [];
  for (let s = 0; s < samples && tasks.length > 0; s++) {
    const actual = new Map<string, number>();
    for (const t of inPlan) {
      // Box-Muller: a standard normal draw, then a lognormal factor around the estimate.
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      actual.set(t.task_id, estimates.get(t.task_id)! * Math.exp(sigma * z));
    }
    const sampled = { tasks: instance.tasks.map((t) => ({ ...t, actualMinutes: actual.get(t.taskId)! })) };
    makespans.push(simulateListSchedule(sampled, { wipLimit, order: priorities.order }).makespan);
  }
  makespans.sort((a, b) => a - b);

  let serialMinutes = 0;
  for (const m of estimates.values()) serialMinutes += m;
  return {
    wipLimit,
    tasks: previewTasks,
    makespan: schedule.makespan,
    serialMinutes,
    lowerBoundMinutes: tasks.length > 0 ? lowerBound(instance, wipLimit).value : 0,
    criticalPath,
    criticalPathMinutes: criticalPath.reduce((sum, id) => sum + estimates.get(id)!, 0),
    uncertainty: { sigma, samples: makespans.length, p10: quantile(makespans, 0.1), p50: quantile(makespans, 0.5), p90: quantile(makespans, 0.9) },
  };
}

const fmt = (minutes: number): string => {
  const m = Math.round(minutes);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}` : `${m}m`;
};

/** The preview as text for a terminal. Pure. */
export function formatPreview(p: Preview): string {
  const lines: string[] = [];
  lines.push(`Execution plan: ${p.tasks.length} task${p.tasks.length === 1 ? '' : 's'}, WIP limit ${p.wipLimit}, on the estimates (nothing was run or claimed)`);
  if (p.tasks.length > 0) {
    const idWidth = Math.max(4, ...p.tasks.map((t) => t.taskId.length));
    lines.push('');
    lines.push(`  ${'start'.padStart(6)} ${'end'.padStart(6)} ${'est'.padStart(6)}  ${'task'.padEnd(idWidth + 1)} risk    waits for`);
    for (const t of p.tasks) {
      const mark = t.critical ? '*' : '';
      const risk = `${t.risk}${t.exclusive ? ' !' : ''}`.padEnd(7);
      const texts = t.waits.map((w) => w.text);
      // After the dependencies (always shown), how many admission waits came before the last ones listed.
      if (t.earlierWaits > 0) texts.splice(t.waits[0]?.kind === 'dependencies' ? 1 : 0, 0, `${t.earlierWaits} earlier wait${t.earlierWaits === 1 ? '' : 's'}`);
      const waits = texts.length === 0 ? '-' : texts.join('; then ');
      lines.push(`  ${fmt(t.start).padStart(6)} ${fmt(t.end).padStart(6)} ${fmt(t.estimateMinutes).padStart(6)}  ${`${t.taskId}${mark}`.padEnd(idWidth + 1)} ${risk} ${waits}`);
    }
    lines.push('');
    lines.push(`Critical path (*): ${p.criticalPath.join(' -> ')} (${fmt(p.criticalPathMinutes)})`);
    lines.push('Runs alone (!): High risk or parallel: false');
    const speedup = p.makespan > 0 ? p.serialMinutes / p.makespan : 1;
    lines.push(
      `Expected makespan: ${fmt(p.makespan)} (serial ${fmt(p.serialMinutes)}, ${speedup.toFixed(1)}x; lower bound ${fmt(p.lowerBoundMinutes)})`,
    );
    const u = p.uncertainty;
    if (u.samples > 0) {
      lines.push(
        `If durations scatter around the estimates (lognormal sigma ${u.sigma}, ${u.samples} draws): p10 ${fmt(u.p10)}, median ${fmt(u.p50)}, p90 ${fmt(u.p90)}`,
      );
    }
  }
  if (p.excluded.length > 0) {
    lines.push('');
    lines.push('Not in the plan:');
    for (const e of p.excluded) lines.push(`  ${e.taskId}: ${e.reason}`);
  }
  return lines.join('\n');
}
