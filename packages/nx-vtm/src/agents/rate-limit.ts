/**
 * Recognising rate and usage limits in agent output, and when they lift.
 *
 * A usage limit ("5-hour limit reached ∙ resets 1pm") means "wait", not "fail": every task dispatched before the
 * reset would fail the same way. The CLIs announce resets in free text and in many shapes, so this module turns
 * the shapes seen in practice into an absolute time, relative to an injected `now` (pure, testable across time
 * zones):
 *   - Claude (older):   "Claude AI usage limit reached|1760000000"           (epoch seconds)
 *   - Claude:           "5-hour limit reached ∙ resets 1pm", "resets 1:30pm (Europe/Berlin)"
 *   - Codex:            "try again in 2 days 3 hours 20 minutes", "try again at Sep 5th, 2025 3:00 PM"
 *   - Gemini / APIs:    "Please retry in 27.9s", ISO timestamps
 */

/**
 * Whether an error text is one of the agents' (or their APIs') own rate or usage limit messages. Pure.
 *
 * Only limit messages count, because a limit pauses dispatch for the whole workspace: words that also occur in
 * ordinary failures stay out ("Disk quota exceeded" from a full disk, a bare "429" in a test count, "limit" alone).
 * The shapes below are the ones the CLIs print (see docs/agents.md):
 *   Claude "You've hit your session limit · resets 10:16am (UTC)", "5-hour limit reached ∙ resets 1pm",
 *   "Claude AI usage limit reached|<epoch>", `rate_limit_error`; Codex "exceeded retry limit, last status: 429 Too
 *   Many Requests", "You've hit your usage limit"; Gemini "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric",
 *   "status 429"; OpenAI-style "You exceeded your current quota".
 */
export function isRateLimitText(text: string): boolean {
  return RATE_LIMIT_TEXT.test(text);
}

const RATE_LIMIT_TEXT = new RegExp(
  [
    'usage limit',
    '\\brate[ _-]?limit',
    'too many requests',
    // A bare "429" is too common in ordinary text (test counts, line numbers); only an HTTP status 429 counts.
    '(?:status|error|http|code)[: =]*429\\b',
    '\\(429\\)',
    'resource[_ ]exhausted',
    'resource has been exhausted',
    'exceeded your (?:current )?quota',
    'quota exceeded for (?:quota )?metric',
    'exhausted your (?:capacity|quota)',
    'quota will reset',
    '(?:terminal|retryable)quotaerror',
    '(?:session|weekly|daily|hourly|\\d+-hour|opus|sonnet|usage) limit reached',
    "hit your (?:\\w+ )?limit",
  ].join('|'),
  'i',
);

export interface ResetTimeOptions {
  now: Date;
  /**
   * Offset of the user's local time from UTC in minutes (e.g. 120 for UTC+2), used for clock times without a zone
   * ("resets 1pm" is printed in the local time of the machine running the CLI). Defaults to this process's zone.
   */
  utcOffsetMinutes?: number;
}

const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * The absolute time a limit lifts, parsed from a limit message, or undefined when the text names none. A clock time
 * without a date means its next occurrence after `now`. Pure.
 */
export function parseResetTime(text: string, { now, utcOffsetMinutes }: ResetTimeOptions): Date | undefined {
  const epoch = /limit reached\|(\d{10,13})\b/i.exec(text);
  if (epoch) {
    const n = Number(epoch[1]);
    return new Date(epoch[1].length > 10 ? n : n * 1000);
  }

  const iso = /\b(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)/.exec(text);
  if (iso) {
    const t = Date.parse(iso[1]);
    if (!Number.isNaN(t)) return new Date(t);
  }

  const relative =
    /\b(?:try again|retry|resets?|available again|wait)\s+(?:in|after)\s+((?:\d+(?:\.\d+)?\s*(?:milliseconds?|ms|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)(?![a-z])[\s,]*(?:and\s+)?)+)/i.exec(
      text,
    );
  if (relative) {
    let ms = 0;
    for (const part of relative[1].matchAll(/(\d+(?:\.\d+)?)\s*([a-z]+)/gi)) {
      const unit = part[2].toLowerCase();
      ms += Number(part[1]) * (unit === 'ms' || unit.startsWith('milli') ? 1 : (UNIT_MS[unit[0]] ?? 0));
    }
    if (ms > 0) return new Date(now.getTime() + Math.ceil(ms));
  }

  const clock =
    /\b(?:resets?|try again|available again)(?:\s+at)?\s+(?:([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(?:(\d{4}),?\s+)?)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?(?:\s*\(([A-Za-z_]+(?:\/[A-Za-z_+-]+)*)\))?/i.exec(
      text,
    );
  // Require am/pm or minutes: "resets 3" alone is too ambiguous to wait for.
  if (clock && (clock[5] !== undefined || clock[6] !== undefined)) {
    const [, monthName, dayText, yearText, hourText, minuteText, ampm, zone] = clock;
    let hour = Number(hourText);
    const minute = minuteText === undefined ? 0 : Number(minuteText);
    if (ampm) {
      if (hour < 1 || hour > 12) return undefined;
      hour = (hour % 12) + (ampm.toLowerCase() === 'pm' ? 12 : 0);
    }
    if (hour > 23 || minute > 59) return undefined;
    const offset =
      (zone ? getUtcOffsetMinutes(zone, now) : undefined) ?? utcOffsetMinutes ?? -now.getTimezoneOffset();
    const local = new Date(now.getTime() + offset * 60_000);
    const month = monthName ? MONTHS.indexOf(monthName.slice(0, 3).toLowerCase()) : -1;
    if (monthName && month >= 0) {
      const year = yearText ? Number(yearText) : local.getUTCFullYear();
      return new Date(Date.UTC(year, month, Number(dayText), hour, minute) - offset * 60_000);
    }
    let at = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate(), hour, minute) - offset * 60_000;
    // Clock times are printed rounded down to the minute ("try again at 1:26 AM" for 1:26:40): a time in the current
    // minute means the end of that minute, not the same time tomorrow.
    if (at <= now.getTime() && now.getTime() - at < 60_000) return new Date(at + 60_000);
    if (at <= now.getTime()) at += 86_400_000;
    return new Date(at);
  }
  return undefined;
}

/** Offset from UTC in minutes of an IANA zone ("Europe/Berlin", "UTC") at an instant, or undefined if unknown. */
export function getUtcOffsetMinutes(timeZone: string, at: Date): number | undefined {
  try {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      })
        .formatToParts(at)
        .map((p) => [p.type, p.value]),
    );
    const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return Math.round((wall - Math.floor(at.getTime() / 1000) * 1000) / 60_000);
  } catch {
    return undefined;
  }
}
