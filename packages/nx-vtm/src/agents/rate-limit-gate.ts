/**
 * A circuit breaker for usage limits: once an agent reports a rate limit, no new task is dispatched until the reset,
 * instead of failing every task after it. Tasks already running are left alone (they may finish on their budget).
 *
 * The gate holds time only; the clock and the sleep are injected so the logic is tested without waiting. It lives
 * in one process: when tasks run in separate processes (Nx without batch mode), the caller must also persist
 * `blockedUntil` in the shared task store for the others to see.
 */
import type { AgentOutcome } from './outcome';

/** The clock the gate reads. */
export interface GateClock {
  /** Called whenever the gate needs the current time (epoch ms). */
  now(): number;
  /** Called to wait while the gate is closed; resolves early (rejects) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemGateClock: GateClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

// Long sleeps are cut into slices, so that a block extended meanwhile and clock jumps (suspend, NTP) are noticed.
const MAX_SLICE_MS = 60_000;

export class RateLimitGate {
  private until = 0;

  constructor(private readonly clock: GateClock = systemGateClock) {}

  /** Close the gate until `resetAt`. Never shortens an existing block: the latest reset wins. */
  blockUntil(resetAt: Date | string | number): void {
    const t = resetAt instanceof Date ? resetAt.getTime() : typeof resetAt === 'string' ? Date.parse(resetAt) : resetAt;
    if (Number.isFinite(t) && t > this.until) this.until = t;
  }

  /** Whether a new task may be dispatched now. */
  isOpen(): boolean {
    return this.clock.now() >= this.until;
  }

  /** When the gate opens again, or undefined when it is open. */
  get blockedUntil(): Date | undefined {
    return this.isOpen() ? undefined : new Date(this.until);
  }

  /** Resolve once the gate is open (immediately when it is). Rejects with the abort reason when `signal` aborts. */
  async waitUntilOpen(signal?: AbortSignal): Promise<void> {
    for (let left = this.until - this.clock.now(); left > 0; left = this.until - this.clock.now()) {
      if (signal?.aborted) throw signal.reason;
      await this.clock.sleep(Math.min(left, MAX_SLICE_MS), signal);
    }
  }
}

/**
 * When dispatching may resume after a rate-limited outcome: its `resetAt` when the CLI named one, else `now` plus
 * a cooldown (a limit without a stated reset still means "not now"). Pure.
 */
export function getRateLimitResumeAt(
  outcome: Pick<AgentOutcome, 'status' | 'resetAt'>,
  { now, cooldownMs = 15 * 60_000 }: { now: number; cooldownMs?: number },
): Date | undefined {
  if (outcome.status !== 'rate_limited') return undefined;
  const reset = outcome.resetAt ? Date.parse(outcome.resetAt) : NaN;
  return new Date(Number.isFinite(reset) && reset > now ? reset : now + cooldownMs);
}
