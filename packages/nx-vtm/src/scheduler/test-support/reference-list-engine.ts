/**
 * The list-scheduling engine as it was before dispatch passes were made incremental (simulate.ts runListEngine): it
 * re-sorts every ready task and asks decideAdmission about each on every pass. Kept as the reference the fast engine
 * must match event for event (simulate.engine.spec.ts). Test support only.
 */
import { decideAdmission, orderForDispatch, shouldReserve } from '../admission';
import type { SimSchedule, SimTask, WaitObserver, ScheduledRun } from '../simulate';
import type { ExclusiveReservation, RunningTask } from '../types';

const MS_PER_MINUTE = 60_000;
const toMs = (minutes: number): number => Math.max(1, Math.round(minutes * MS_PER_MINUTE));

export function referenceListEngine({
  tasks,
  dependsOn,
  order,
  wipLimit,
  thresholdMs,
  exclusiveFirst,
  onWait,
}: {
  tasks: readonly SimTask[];
  dependsOn: (t: SimTask) => readonly string[];
  order: readonly string[];
  wipLimit: number;
  thresholdMs: number;
  exclusiveFirst: boolean;
  onWait?: WaitObserver;
}): SimSchedule {
  const estimatesMs = new Map(tasks.map((t) => [t.taskId, toMs(t.estimateMinutes)]));
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const rank = new Map(order.map((id, r) => [id, r]));
  const dependents = new Map<string, string[]>(tasks.map((t) => [t.taskId, []]));
  const pending = new Map<string, number>();
  for (const t of tasks) {
    const deps = [...new Set(dependsOn(t))].filter((d) => byId.has(d));
    for (const d of deps) dependents.get(d)!.push(t.taskId);
    pending.set(t.taskId, deps.length);
  }

  let ready: string[] = [];
  const readySince = new Map<string, number>();
  const makeReady = (id: string, now: number): void => {
    ready.push(id);
    readySince.set(id, now);
  };
  for (const t of tasks) if (pending.get(t.taskId) === 0) makeReady(t.taskId, 0);

  const running: (RunningTask & { end: number })[] = [];
  let reservations: ExclusiveReservation[] = [];
  const runs: ScheduledRun[] = [];
  let now = 0;
  let done = 0;

  while (done < tasks.length) {
    ready.sort((a, b) => rank.get(a)! - rank.get(b)!);
    const candidates = ready.map((id) => byId.get(id)!);
    const stillReady: string[] = [];
    for (const task of exclusiveFirst ? orderForDispatch(candidates) : candidates) {
      const id = task.taskId;
      if (
        !reservations.some((r) => r.taskId === id) &&
        shouldReserve({ candidate: task, waitingSinceMs: readySince.get(id)!, now, thresholdMs })
      ) {
        reservations.push({ taskId: id, since: now });
      }
      const decision = decideAdmission({ candidate: task, running, reservations, wipLimit, now, estimatesMs });
      if (!decision.admit) {
        onWait?.({ taskId: id, minute: now / MS_PER_MINUTE, reason: decision.reason });
        stillReady.push(id);
        continue;
      }
      reservations = reservations.filter((r) => r.taskId !== id);
      running.push({ ...task, startedAt: now, end: now + toMs(task.actualMinutes) });
    }
    ready = stillReady;

    let next = Infinity;
    for (const r of running) next = Math.min(next, r.end);
    for (const id of ready) {
      const task = byId.get(id)!;
      if (!task.exclusive || reservations.some((r) => r.taskId === id)) continue;
      const due = readySince.get(id)! + thresholdMs;
      if (due > now) next = Math.min(next, due);
    }
    if (next === Infinity) {
      throw new Error(`simulate: no progress possible at ${now} ms with ready ${ready.join(', ')} (dependency cycle?)`);
    }
    now = next;
    for (let i = running.length - 1; i >= 0; i--) {
      const r = running[i];
      if (r.end > now) continue;
      running.splice(i, 1);
      runs.push({ taskId: r.taskId, start: r.startedAt / MS_PER_MINUTE, end: r.end / MS_PER_MINUTE });
      done++;
      for (const d of dependents.get(r.taskId)!) {
        const left = pending.get(d)! - 1;
        pending.set(d, left);
        if (left === 0) makeReady(d, now);
      }
    }
  }
  runs.sort((a, b) => a.start - b.start || a.end - b.end);
  return { makespan: runs.reduce((m, r) => Math.max(m, r.end), 0), runs };
}
