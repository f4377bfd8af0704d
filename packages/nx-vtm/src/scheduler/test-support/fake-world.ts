/**
 * Fake ports for driver specs: a virtual clock, a shared in-memory "task store" that admits with the real
 * `decideAdmission` across any number of driver "processes", and runs that take a set virtual time.
 *
 * Time only moves when every driver is blocked: the clock advances from a setImmediate callback, which runs after all
 * pending promise callbacks (the drivers' reactions) have settled, and then fires the earliest timers.
 */
import { decideAdmission, shouldReserve } from '../admission';
import type { DriverEvent, DriverPorts, RunOutcome, TryStartOutcome } from '../driver';
import type { ExclusiveReservation, RunningTask, TaskFootprint } from '../types';

export class FakeClock {
  now = 0;
  private timers: { at: number; seq: number; fire: () => void }[] = [];
  private seq = 0;
  private tickScheduled = false;

  /** Call `fire` at virtual time `at`; returns a cancel function. */
  at(at: number, fire: () => void): () => void {
    const timer = { at: Math.max(at, this.now), seq: this.seq++, fire };
    this.timers.push(timer);
    this.scheduleTick();
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  private scheduleTick(): void {
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    setImmediate(() => {
      this.tickScheduled = false;
      if (this.timers.length === 0) return;
      const next = Math.min(...this.timers.map((t) => t.at));
      this.now = next;
      const due = this.timers.filter((t) => t.at === next).sort((a, b) => a.seq - b.seq);
      this.timers = this.timers.filter((t) => t.at !== next);
      for (const t of due) t.fire();
      if (this.timers.length > 0) this.scheduleTick();
    });
  }
}

export interface RunRecord {
  taskId: string;
  owner: string;
  start: number;
  end?: number;
}

/** The cross-process coordinator, in memory. */
export class FakeStore {
  readonly claims = new Map<string, RunningTask & { owner: string }>();
  reservations: ExclusiveReservation[] = [];
  readonly outcomes = new Map<string, RunOutcome>();
  readonly runs: RunRecord[] = [];
  readonly tryStartCalls: { owner: string; taskId: string; reserveOnly: boolean; at: number }[] = [];
  maxConcurrent = 0;

  constructor(
    readonly clock: FakeClock,
    readonly footprints: ReadonlyMap<string, TaskFootprint>,
    readonly options: { wipLimit: number; thresholdMs: number; estimatesMs?: ReadonlyMap<string, number> },
  ) {}

  tryStart(owner: string, taskId: string, waitingSinceMs: number, reserveOnly: boolean): TryStartOutcome {
    const now = this.clock.now;
    this.tryStartCalls.push({ owner, taskId, reserveOnly, at: now });
    const outcome = this.outcomes.get(taskId);
    if (outcome) return { kind: 'finished', ...outcome };
    const claim = this.claims.get(taskId);
    if (claim) return { kind: 'running-elsewhere', owner: claim.owner };
    const candidate = this.footprints.get(taskId)!;
    if (
      !this.reservations.some((r) => r.taskId === taskId) &&
      shouldReserve({ candidate, waitingSinceMs, now, thresholdMs: this.options.thresholdMs })
    ) {
      this.reservations.push({ taskId, since: now });
    }
    const decision = decideAdmission({
      candidate,
      running: [...this.claims.values()],
      reservations: this.reservations,
      wipLimit: this.options.wipLimit,
      now,
      estimatesMs: this.options.estimatesMs,
    });
    if (!decision.admit) return { kind: 'wait', reason: decision.reason };
    if (reserveOnly) throw new Error(`fake store: ${taskId} admitted on a reserveOnly call (the driver's local check is wrong)`);
    this.claim(owner, taskId);
    return { kind: 'started' };
  }

  /** Record a claim (also used to script another process's work). */
  claim(owner: string, taskId: string): void {
    this.claims.set(taskId, { ...this.footprints.get(taskId)!, startedAt: this.clock.now, owner });
    this.reservations = this.reservations.filter((r) => r.taskId !== taskId);
    this.runs.push({ taskId, owner, start: this.clock.now });
    this.maxConcurrent = Math.max(this.maxConcurrent, this.claims.size);
  }

  /** Record an outcome and release the claim. */
  finish(taskId: string, outcome: RunOutcome): void {
    this.claims.delete(taskId);
    this.outcomes.set(taskId, outcome);
    const run = [...this.runs].reverse().find((r) => r.taskId === taskId && r.end === undefined);
    if (run) run.end = this.clock.now;
  }
}

/** Ports of one driver "process" over the shared clock and store. */
export function createFakePorts({
  clock,
  store,
  owner = 'this',
  durations,
  outcomes = new Map(),
  events = [],
}: {
  clock: FakeClock;
  store: FakeStore;
  owner?: string;
  /** Virtual ms per task id. */
  durations: ReadonlyMap<string, number>;
  /** Outcome per task id; success by default. A function is called at the end of the run (may throw). */
  outcomes?: ReadonlyMap<string, RunOutcome | (() => RunOutcome)>;
  events?: DriverEvent[];
}): DriverPorts & { events: DriverEvent[]; ran: string[] } {
  const ran: string[] = [];
  return {
    events,
    ran,
    tryStart: (taskId, waitingSinceMs, options) => store.tryStart(owner, taskId, waitingSinceMs, options?.reserveOnly ?? false),
    run: (taskId) =>
      new Promise<RunOutcome>((resolve, reject) => {
        ran.push(taskId);
        const duration = durations.get(taskId);
        if (duration === undefined) throw new Error(`fake: no duration for ${taskId}`);
        clock.at(clock.now + duration, () => {
          try {
            const o = outcomes.get(taskId);
            const outcome = typeof o === 'function' ? o() : (o ?? { success: true });
            store.finish(taskId, outcome);
            resolve(outcome);
          } catch (e) {
            store.finish(taskId, { success: false, reason: 'threw' });
            reject(e);
          }
        });
      }),
    now: () => clock.now,
    waitForChange: (ms, signal) =>
      new Promise<void>((resolve) => {
        const cancel = clock.at(clock.now + ms, resolve);
        signal.addEventListener('abort', () => {
          cancel();
          resolve();
        });
      }),
    report: (event) => events.push(event),
  };
}
