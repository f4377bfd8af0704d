import { getUtcOffsetMinutes, isRateLimitText, parseResetTime } from './rate-limit';
import { RateLimitGate, getRateLimitResumeAt, type GateClock } from './rate-limit-gate';

const now = new Date('2026-01-01T10:00:00Z');
const at = (text: string, utcOffsetMinutes = 0) => parseResetTime(text, { now, utcOffsetMinutes })?.toISOString();

describe('isRateLimitText', () => {
  it.each([
    '5-hour limit reached ∙ resets 1pm',
    'Claude AI usage limit reached|1767272400',
    "You've hit your usage limit. Try again in 2 hours",
    '429 Too Many Requests',
    'unexpected status 429',
    'Rate limit exceeded (429). Try again in 90 seconds',
    '[API Error: RESOURCE_EXHAUSTED]',
    'Quota exceeded for quota metric',
    'rate_limit_error: Number of request tokens has exceeded your per-minute rate limit',
    // Claude Code 2.1.197, subscriber limit (real output).
    "You've hit your session limit · resets 10:16am (UTC)",
    // Codex 0.171.0 after its retries on 429 (real output).
    'exceeded retry limit, last status: 429 Too Many Requests',
    'You exceeded your current quota, please check your plan and billing details.',
  ])('recognises %j', (text) => expect(isRateLimitText(text)).toBe(true));

  it.each([
    'API Error: 500 Internal server error',
    'Overloaded',
    'Invalid API key',
    'tests failed: 4 of 429 passed',
    // A full disk is not an API limit: pausing the whole workspace for it would be wrong (issue 8).
    'Disk quota exceeded',
    "fatal: unable to write new index file: Disk quota exceeded",
    'EDQUOT: disk quota exceeded, write',
    'Error: line limit reached in file.txt',
  ])(
    'does not flag %j',
    (text) => expect(isRateLimitText(text)).toBe(false),
  );
});

describe('parseResetTime', () => {
  it('reads the epoch seconds of older Claude messages', () => {
    expect(at('Claude AI usage limit reached|1767272400')).toBe('2026-01-01T13:00:00.000Z');
  });

  it('reads clock times as the next occurrence in local time', () => {
    expect(at('5-hour limit reached ∙ resets 1pm')).toBe('2026-01-01T13:00:00.000Z');
    expect(at('resets 1:30pm', 120)).toBe('2026-01-01T11:30:00.000Z'); // 13:30 at UTC+2
    expect(at('resets 9am')).toBe('2026-01-02T09:00:00.000Z'); // already past today
    // A time in the current minute is that minute (printed rounded down), not tomorrow.
    expect(at('Your limit will reset at 10:00')).toBe('2026-01-01T10:01:00.000Z');
    expect(at('Your limit will reset at 9:59')).toBe('2026-01-02T09:59:00.000Z'); // a minute ago: tomorrow
    expect(at('try again at 11:15 PM')).toBe('2026-01-01T23:15:00.000Z');
  });

  it('reads a clock time in the current minute as the end of that minute, not tomorrow', () => {
    // Codex 0.171.0 prints the reset rounded down to the minute (real output).
    const seen = new Date('2026-01-01T01:26:40Z');
    const msg = 'You’ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/settings/usage to purchase more credits or try again at 1:26 AM.';
    expect(parseResetTime(msg, { now: seen, utcOffsetMinutes: 0 })?.toISOString()).toBe('2026-01-01T01:27:00.000Z');
    expect(parseResetTime(msg, { now: new Date('2026-01-01T01:25:10Z'), utcOffsetMinutes: 0 })?.toISOString()).toBe('2026-01-01T01:26:00.000Z');
  });

  it('honours an IANA zone printed next to the time', () => {
    // Berlin is UTC+1 in January: 1:30pm Berlin = 12:30 UTC, whatever the local offset says.
    expect(at('5-hour limit reached ∙ resets 1:30pm (Europe/Berlin)', -300)).toBe('2026-01-01T12:30:00.000Z');
    expect(getUtcOffsetMinutes('America/New_York', now)).toBe(-300);
    expect(getUtcOffsetMinutes('Not/AZone', now)).toBeUndefined();
  });

  it('reads relative durations', () => {
    expect(at('try again in 2 hours 30 minutes')).toBe('2026-01-01T12:30:00.000Z');
    expect(at('Upgrade to Pro or try again in 1 day 2 hours 5 minutes.')).toBe('2026-01-02T12:05:00.000Z');
    expect(at('Please retry in 27.9s.')).toBe('2026-01-01T10:00:27.900Z');
    expect(at('Your quota will reset after 2h30m15s.')).toBe('2026-01-01T12:30:15.000Z');
    expect(at('retry in 500ms')).toBe('2026-01-01T10:00:00.500Z');
  });

  it('reads dates and ISO timestamps', () => {
    expect(at('try again at Jan 3rd, 2026 3:00 PM')).toBe('2026-01-03T15:00:00.000Z');
    expect(at('limit resets at 2026-01-01T18:00:00Z')).toBe('2026-01-01T18:00:00.000Z');
  });

  it('returns undefined when no time is given or it is ambiguous', () => {
    expect(at('usage limit reached')).toBeUndefined();
    expect(at('resets 3')).toBeUndefined();
    expect(at('resets 13pm')).toBeUndefined();
  });
});

/** A clock whose sleep advances time instead of waiting. */
function fakeClock(start: number) {
  const sleeps: number[] = [];
  let t = start;
  const clock: GateClock = {
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
  };
  return { clock, sleeps, advance: (ms: number) => (t += ms) };
}

describe('RateLimitGate', () => {
  it('is open until blocked, then waits until the reset', async () => {
    const { clock, sleeps } = fakeClock(1_000);
    const gate = new RateLimitGate(clock);
    expect(gate.isOpen()).toBe(true);
    await gate.waitUntilOpen();
    expect(sleeps).toEqual([]);

    gate.blockUntil(new Date(91_000));
    expect(gate.isOpen()).toBe(false);
    expect(gate.blockedUntil?.getTime()).toBe(91_000);
    await gate.waitUntilOpen();
    expect(sleeps).toEqual([60_000, 30_000]); // sliced, so later blocks and clock jumps are noticed
    expect(gate.isOpen()).toBe(true);
    expect(gate.blockedUntil).toBeUndefined();
  });

  it('never shortens a block: the latest reset wins', () => {
    const { clock, advance } = fakeClock(0);
    const gate = new RateLimitGate(clock);
    gate.blockUntil('1970-01-01T00:01:40.000Z'); // 100 s
    gate.blockUntil(50_000);
    gate.blockUntil('not a date');
    advance(60_000);
    expect(gate.isOpen()).toBe(false);
    advance(40_000);
    expect(gate.isOpen()).toBe(true);
  });

  it('stops waiting when aborted', async () => {
    const gate = new RateLimitGate({ now: () => 0, sleep: async () => undefined });
    gate.blockUntil(10_000);
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(gate.waitUntilOpen(ac.signal)).rejects.toThrow('stop');
  });

  it('resumes at resetAt, or after a cooldown when no reset was given', () => {
    expect(getRateLimitResumeAt({ status: 'rate_limited', resetAt: '2026-01-01T13:00:00.000Z' }, { now: now.getTime() })?.toISOString()).toBe(
      '2026-01-01T13:00:00.000Z',
    );
    expect(getRateLimitResumeAt({ status: 'rate_limited' }, { now: now.getTime(), cooldownMs: 60_000 })?.toISOString()).toBe(
      '2026-01-01T10:01:00.000Z',
    );
    expect(getRateLimitResumeAt({ status: 'failed' }, { now: 0 })).toBeUndefined();
  });
});
