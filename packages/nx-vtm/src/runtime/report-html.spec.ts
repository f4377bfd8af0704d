import { buildTask } from '../test-support/manifest-fixtures';
import type { VtmEvent } from '../state/event-log';
import { formatRunReportMarkdown, type RunReport, type RunReportTask } from './report';
import { buildLanes, formatRunReportHtml } from './report-html';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const ev = (s: number, type: VtmEvent['type'], taskId: string, extra: Record<string, unknown> = {}, runId = 'RUN1'): VtmEvent => ({
  ts: at(s),
  run_id: runId,
  type,
  task_id: taskId,
  status: null,
  reason: null,
  ...extra,
});
const reportTask = (id: string, over: Partial<RunReportTask> = {}): RunReportTask => ({
  task_id: id,
  title: `Do <${id}>`,
  slice: 'Slice 1.1',
  risk: 'Low',
  outcome: 'completed',
  reason: null,
  error: null,
  acs_completed: 1,
  acs_total: 1,
  tests: { total: 1, passing: 1, failing: 0 },
  files_modified: 1,
  duration_minutes: 1,
  cost_usd: 0.1,
  attempts: 1,
  result_dir: null,
  remediation: null,
  turns: 1,
  repairs: [],
  ...over,
});

describe('report.html', () => {
  const tasks = new Map([
    ['A', buildTask('A')],
    ['B', buildTask('B', { depends_on_tasks: ['A'] })],
    ['C', buildTask('C', { file_scope: ['src/a/x.ts'] })],
  ]);
  const report: RunReport = {
    run_id: 'RUN1',
    manifest_hash: 'h',
    started_at: at(0),
    ended_at: at(300),
    status: 'PARTIAL_SUCCESS',
    totals: { tasks: 3, completed: 2, from_cache: 0, blocked: 1, skipped: 0, unfinished: 0 },
    tasks: [reportTask('A'), reportTask('B'), reportTask('C', { outcome: 'blocked', reason: 'scope_violation', cost_usd: null })],
    blockers: [{ task_id: 'C', reason: 'scope_violation', error: null, remediation: 'Widen file_scope' }],
    next_eligible: [],
    slices: [{ slice: 'Slice 1.1', completed: 2, total: 3, percent: 67 }],
    time: { wall_minutes: 5, serial_minutes: 6, saved_minutes: 1, saved_percent: 17 },
    cost: { usd: 0.2 },
  };
  const events: VtmEvent[] = [
    ev(0, 'claim', 'A'),
    ev(0, 'wait', 'C', { line: 'waiting: src/a/ held by A', reason: 'scope' }),
    ev(10, 'stage', 'A', { stage: 'worktree' }),
    ev(70, 'stage', 'A', { stage: 'agent' }),
    ev(75, 'stage', 'A', { stage: 'saved' }),
    ev(80, 'stage', 'A', { stage: 'audited' }),
    ev(100, 'stage', 'A', { stage: 'verified' }),
    ev(110, 'stage', 'A', { stage: 'integrated' }),
    ev(112, 'finish', 'A'),
    ev(112, 'claim', 'B'),
    ev(113, 'claim', 'C'),
    ev(150, 'finish', 'C'),
    ev(290, 'finish', 'B'),
    ev(5, 'claim', 'A', {}, 'OTHER-RUN'),
  ];

  it('builds one lane per task: waits with their reason, then the pipeline phases; the measured critical path', () => {
    const lanes = buildLanes({ report, events, tasks });
    expect(lanes.map((l) => l.taskId)).toEqual(['A', 'B', 'C']);
    const a = lanes[0];
    expect(a.segments.map((s) => [s.kind, (s.start - T0) / 1000, (s.end - T0) / 1000])).toEqual([
      ['worktree', 0, 10],
      ['agent', 10, 70],
      ['save', 70, 75],
      ['audit', 75, 80],
      ['verify', 80, 100],
      ['merge', 100, 110],
      ['finish', 110, 112],
    ]);
    expect(lanes[2].segments[0]).toMatchObject({ kind: 'wait', label: 'src/a/ held by A', start: T0, end: T0 + 113_000 });
    // No stage events: one bar from claim to finish, phases unknown.
    expect(lanes[2].segments.slice(1)).toEqual([{ kind: 'attempt', start: T0 + 113_000, end: T0 + 150_000 }]);
    expect(lanes.filter((l) => l.critical).map((l) => l.taskId)).toEqual(['A', 'B']);
  });

  it('is one self-contained page: no script, no external resource, escaped text, the yardsticks', () => {
    const html = formatRunReportHtml({ report, lanes: buildLanes({ report, events, tasks }), tasks, wipLimit: 3 });
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|src=|href=|@import|url\(/i);
    expect(html.match(/<g class="lane"/g)).toHaveLength(3);
    expect(html).toContain('data-task="A" data-outcome="completed" data-critical="true"');
    expect(html).toContain('Do &lt;A&gt;');
    expect(html).not.toContain('Do <A>');
    // Measured: A 112 s, B 178 s (chain 290 s = 4.83 min), C 37 s; makespan 300 s.
    expect(html).toContain('Measured makespan <b id="makespan">5.00 min</b>; lower bound 4.83 min (makespan / LB 1.03)');
    expect(html).toContain('serial 5.45 min; agent cost $0.20');
    expect(html).toContain('<li><b>C</b>: scope_violation — Widen file_scope</li>');
  });
});

describe('repair turns in the reports', () => {
  const repaired = reportTask('R', {
    turns: 2,
    repairs: [{ turn: 1, result: 'verification_failed', summary: 'Task R: verification failed (0 passed, 1 failed of 1)', evidence: 'not ok 1 - R works\n# fail 1 <script>' }],
  });
  const report: RunReport = {
    run_id: 'RUN2',
    manifest_hash: 'h',
    started_at: at(0),
    ended_at: at(60),
    status: 'SUCCESS',
    totals: { tasks: 1, completed: 1, from_cache: 0, blocked: 0, skipped: 0, unfinished: 0 },
    tasks: [repaired],
    blockers: [],
    next_eligible: [],
    slices: [],
    time: { wall_minutes: 1, serial_minutes: 1, saved_minutes: 0, saved_percent: 0 },
    cost: { usd: null },
  };

  it('markdown lists each turn that was not accepted, with the end of its evidence', () => {
    const md = formatRunReportMarkdown(report);
    expect(md).toContain('### Repair turns');
    expect(md).toContain('- **R** — 2 turns, the last accepted');
    expect(md).toContain('  - turn 1: verification_failed — Task R: verification failed (0 passed, 1 failed of 1)');
    expect(md).toContain('not ok 1 - R works ⏎ # fail 1 <script>');
    expect(formatRunReportMarkdown({ ...report, tasks: [reportTask('A')] })).not.toContain('Repair turns');
  });

  it('html shows the turns column and the evidence, escaped', () => {
    const html = formatRunReportHtml({ report, lanes: [], tasks: new Map([['R', buildTask('R')]]), wipLimit: 3 });
    expect(html).toContain('<th>turns</th>');
    expect(html).toMatch(/<ul id="repairs"><li data-task="R"><b>R<\/b>: 2 turns, the last accepted/);
    expect(html).toContain('# fail 1 &lt;script&gt;');
    expect(html).not.toContain('<script>');
  });
});
