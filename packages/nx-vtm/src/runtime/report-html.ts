/**
 * The picture of a run: `.vtm/runs/<run_id>/report.html`, one self-contained page (inline CSS and SVG, no script, no
 * network) with a timeline of one lane per task (waits with their reasons, then the worktree, agent, save, audit,
 * verification and merge phases from the attempt's stage events), the measured critical path marked, outcomes and
 * costs, slice progress, and the measured makespan against the lower bound and against serial execution. Pure.
 */
import type { Task } from '../manifest/schema';
import { buildFootprint } from '../scheduler/conflicts';
import { lowerBound } from '../scheduler/simulate';
import type { VtmEvent } from '../state/event-log';
import { formatTotals, type RunReport } from './report';

/** A phase of a lane: from one event to the next. */
export interface LaneSegment {
  /** `attempt`: claimed, phases unknown (an attempt that logged no stage events). */
  kind: 'wait' | 'attempt' | 'worktree' | 'agent' | 'save' | 'audit' | 'verify' | 'merge' | 'finish';
  /** Epoch ms. */
  start: number;
  end: number;
  /** The wait reason, for `wait`. */
  label?: string;
}

export interface Lane {
  taskId: string;
  outcome: string;
  segments: LaneSegment[];
  critical: boolean;
}

/** Which phase ends when the attempt completes each stage (stage names of runtime/pipeline.ts). */
const PHASE_ENDED_BY: Record<string, LaneSegment['kind']> = {
  worktree: 'worktree',
  agent: 'agent',
  saved: 'save',
  audited: 'audit',
  verified: 'verify',
  integrated: 'merge',
};
const PHASE_AFTER: Record<string, LaneSegment['kind']> = {
  worktree: 'agent',
  agent: 'save',
  saved: 'audit',
  audited: 'verify',
  verified: 'merge',
  integrated: 'finish',
};

const ms = (e: VtmEvent): number => Date.parse(e.ts);

/**
 * Lanes from the run's events (`events` may hold other runs' events; only `runId`'s are read). A task's lane starts
 * at its first `wait` (or its claim) and ends at its `finish`. The measured critical path: from the last task to end,
 * back through the dependency of the run that ended last before it started. Pure.
 */
export function buildLanes({ report, events, tasks }: { report: RunReport; events: readonly VtmEvent[]; tasks: ReadonlyMap<string, Task> }): Lane[] {
  const ofRun = events.filter((e) => e.run_id === report.run_id && e.task_id);
  const lanes: Lane[] = [];
  for (const t of report.tasks) {
    const mine = ofRun.filter((e) => e.task_id === t.task_id);
    const segments: LaneSegment[] = [];
    const claim = [...mine].reverse().find((e) => e.type === 'claim');
    const finish = [...mine].reverse().find((e) => e.type === 'finish' || e.type === 'outcome');
    const claimAt = claim ? ms(claim) : undefined;
    // Waits before the (last) claim, each until the next wait or the claim.
    const waits = mine.filter((e) => e.type === 'wait' && (claimAt === undefined || ms(e) <= claimAt));
    waits.forEach((w, i) => {
      const end = i + 1 < waits.length ? ms(waits[i + 1]) : (claimAt ?? (finish ? ms(finish) : ms(w)));
      const label = typeof w.line === 'string' ? w.line.replace(/^waiting: /, '') : (w.reason ?? 'waiting');
      if (end > ms(w)) segments.push({ kind: 'wait', start: ms(w), end, label });
    });
    if (claimAt !== undefined) {
      let at = claimAt;
      const stages = mine.filter((x) => x.type === 'stage' && ms(x) >= claimAt);
      let current: LaneSegment['kind'] = stages.length > 0 ? 'worktree' : 'attempt';
      for (const e of stages) {
        const stage = String(e.stage ?? '');
        const kind = PHASE_ENDED_BY[stage] ?? current;
        segments.push({ kind, start: at, end: Math.max(at, ms(e)) });
        at = Math.max(at, ms(e));
        current = PHASE_AFTER[stage] ?? current;
      }
      const end = finish && ms(finish) >= at ? ms(finish) : at;
      if (end > at) segments.push({ kind: current, start: at, end });
    }
    lanes.push({ taskId: t.task_id, outcome: t.outcome, segments, critical: false });
  }

  const span = (l: Lane) => (l.segments.length ? { start: l.segments.find((s) => s.kind !== 'wait')?.start ?? l.segments[0].start, end: l.segments[l.segments.length - 1].end } : undefined);
  const byId = new Map(lanes.map((l) => [l.taskId, l]));
  let current = [...lanes].filter((l) => span(l)).sort((a, b) => span(b)!.end - span(a)!.end)[0];
  while (current) {
    current.critical = true;
    const start = span(current)!.start;
    const deps = (tasks.get(current.taskId)?.depends_on_tasks ?? []).map((d) => byId.get(d)).filter((l): l is Lane => !!l && !!span(l) && span(l)!.end <= start + 1);
    current = deps.sort((a, b) => span(b)!.end - span(a)!.end)[0];
  }
  return lanes;
}

const COLORS: Record<LaneSegment['kind'], string> = {
  wait: '#d9d9d9',
  attempt: '#08519c',
  worktree: '#9ecae1',
  agent: '#3182bd',
  save: '#6baed6',
  audit: '#fd8d3c',
  verify: '#31a354',
  merge: '#756bb1',
  finish: '#bdbdbd',
};

const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const minutes = (msValue: number): string => (msValue / 60_000).toFixed(msValue < 600_000 ? 2 : 1);

/** The page. `wipLimit` is the run's limit, for the lower bound. Pure. */
export function formatRunReportHtml({ report, lanes, tasks, wipLimit }: { report: RunReport; lanes: readonly Lane[]; tasks: ReadonlyMap<string, Task>; wipLimit: number }): string {
  const t0 = Date.parse(report.started_at);
  const t1 = Math.max(Date.parse(report.ended_at), ...lanes.flatMap((l) => l.segments.map((s) => s.end)));
  const total = Math.max(1, t1 - t0);
  const width = 900;
  const laneHeight = 22;
  const labelWidth = 260;
  const x = (t: number) => labelWidth + ((t - t0) / total) * width;

  // Measured durations (claim to finish) of the tasks that ran here, for the lower bound and serial time.
  const measured = new Map<string, number>();
  for (const l of lanes) {
    const work = l.segments.filter((s) => s.kind !== 'wait');
    if (work.length > 0) measured.set(l.taskId, (work[work.length - 1].end - work[0].start) / 60_000);
  }
  const simTasks = [...measured].filter(([, m]) => m > 0).map(([id, m]) => {
    const task = tasks.get(id)!;
    return { ...buildFootprint(task), dependsOn: task.depends_on_tasks.filter((d) => measured.has(d)), estimateMinutes: m, actualMinutes: m };
  });
  const lb = simTasks.length > 0 ? lowerBound({ tasks: simTasks }, wipLimit).value : 0;
  const serial = simTasks.reduce((s, t) => s + t.actualMinutes, 0);
  const makespan = total / 60_000;

  const rows = lanes
    .map((l, i) => {
      const y = 30 + i * laneHeight;
      const bars = l.segments
        .map((s) => {
          const title = `${l.taskId}: ${s.kind}${s.label ? ` (${s.label})` : ''}, ${minutes(s.end - s.start)} min`;
          return `<rect class="seg seg-${s.kind}" x="${x(s.start).toFixed(1)}" y="${y}" width="${Math.max(1, x(s.end) - x(s.start)).toFixed(1)}" height="${laneHeight - 6}" fill="${COLORS[s.kind]}"><title>${escapeHtml(title)}</title></rect>`;
        })
        .join('');
      const label = `${l.critical ? '★ ' : ''}${l.taskId}`;
      return `<g class="lane" data-task="${escapeHtml(l.taskId)}" data-outcome="${escapeHtml(l.outcome)}"${l.critical ? ' data-critical="true"' : ''}><text x="4" y="${y + 12}">${escapeHtml(label)}</text>${bars}</g>`;
    })
    .join('\n');
  const height = 40 + lanes.length * laneHeight;
  const ticks = Array.from({ length: 6 }, (_, k) => {
    const t = t0 + (total * k) / 5;
    return `<line x1="${x(t)}" y1="20" x2="${x(t)}" y2="${height}" stroke="#eee"/><text x="${x(t) + 2}" y="14" class="tick">${minutes(t - t0)} min</text>`;
  }).join('');
  const legend = (Object.keys(COLORS) as LaneSegment['kind'][])
    .map((k) => `<span class="key"><span class="swatch" style="background:${COLORS[k]}"></span>${k}</span>`)
    .join(' ');

  const taskRows = report.tasks
    .map(
      (t) =>
        `<tr class="outcome-${escapeHtml(t.outcome)}"><td>${escapeHtml(t.task_id)}</td><td>${escapeHtml(t.title)}</td><td>${escapeHtml(t.risk)}</td><td>${escapeHtml(t.outcome)}${t.reason ? `: ${escapeHtml(t.reason)}` : ''}</td><td>${t.acs_completed}/${t.acs_total}</td><td>${t.tests ? `${t.tests.passing}/${t.tests.total}` : '–'}</td><td>${t.duration_minutes ?? '–'}</td><td>${t.cost_usd !== null ? `$${t.cost_usd.toFixed(2)}` : '–'}</td><td>${t.turns ?? 1}</td></tr>`,
    )
    .join('\n');
  // Each turn that was not accepted, with the evidence its repair turn was given (collapsed: it can be long).
  const repairs = report.tasks
    .filter((t) => (t.repairs ?? []).length > 0)
    .map(
      (t) =>
        `<li data-task="${escapeHtml(t.task_id)}"><b>${escapeHtml(t.task_id)}</b>: ${t.turns} turns, the last ${t.outcome === 'completed' ? 'accepted' : `not accepted (${escapeHtml(t.reason ?? t.outcome)})`}<ol>${t.repairs
          .map((r) => `<li value="${r.turn}">${escapeHtml(r.result)}: ${escapeHtml(r.summary)}<details><summary>evidence</summary><pre>${escapeHtml(r.evidence)}</pre></details></li>`)
          .join('')}</ol></li>`,
    )
    .join('\n');
  const blockers = report.blockers.map((b) => `<li><b>${escapeHtml(b.task_id)}</b>: ${escapeHtml(b.reason)} — ${escapeHtml(b.remediation)}</li>`).join('\n');
  const slices = report.slices.map((s) => `<li>${escapeHtml(s.slice)}: ${s.completed}/${s.total} <progress max="${s.total}" value="${s.completed}"></progress> ${s.percent}%</li>`).join('\n');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nx-vtm run ${escapeHtml(report.run_id)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
.outcome-blocked td,.outcome-skipped td{background:#fff0f0}
svg text{font:12px monospace}.tick{fill:#888}
.key{margin-right:10px}.swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
</style></head>
<body>
<h1>Run ${escapeHtml(report.run_id)}: ${escapeHtml(report.status)}</h1>
<p id="summary">${escapeHtml(formatTotals(report.totals))}.
Measured makespan <b id="makespan">${makespan.toFixed(2)} min</b>; lower bound ${lb.toFixed(2)} min (makespan / LB ${lb > 0 ? (makespan / lb).toFixed(2) : '–'});
serial ${serial.toFixed(2)} min${report.cost.usd !== null ? `; agent cost $${report.cost.usd.toFixed(2)}` : ''}.
Started ${escapeHtml(report.started_at)}, ended ${escapeHtml(report.ended_at)}.</p>
<h2>Timeline</h2>
<p>${legend} <span class="key">★ measured critical path</span></p>
<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="${labelWidth + width + 20}" height="${height}" role="img" aria-label="one lane per task">
${ticks}
${rows}
</svg>
<h2>Tasks</h2>
<table id="tasks"><tr><th>task</th><th>title</th><th>risk</th><th>outcome</th><th>ACs</th><th>tests</th><th>minutes</th><th>cost</th><th>turns</th></tr>
${taskRows}
</table>
${repairs ? `<h2>Repair turns</h2><ul id="repairs">${repairs}</ul>` : ''}
${blockers ? `<h2>Blockers</h2><ul id="blockers">${blockers}</ul>` : ''}
<h2>Slices</h2><ul id="slices">${slices}</ul>
${report.next_eligible.length ? `<h2>Next eligible</h2><p>${report.next_eligible.map(escapeHtml).join(', ')}</p>` : ''}
</body></html>
`;
}
