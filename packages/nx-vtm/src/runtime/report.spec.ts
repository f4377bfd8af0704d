import type { TaskRecord } from '../state/task-record';
import { buildTask } from '../test-support/manifest-fixtures';
import { buildTaskRecord } from '../state/test-support/records';
import { buildRunReport, formatRunReportMarkdown, formatTotals } from './report';

const record = (taskId: string, status: TaskRecord['status'], reason: string | null = null): TaskRecord =>
  buildTaskRecord(taskId, { status, reason, attempts: status === 'pending' ? 0 : 1 });

describe('buildRunReport (pure)', () => {
  const tasks = ['A--T01', 'B--T01', 'C--T01', 'D--T01'].map((id) => buildTask(id));

  it('counts tasks a killed run never ended as unfinished, not blocked (Nx reports them all failed)', () => {
    const r = buildRunReport({
      runId: 'r1',
      manifestHash: 'h',
      startTime: 0,
      endTime: 60_000,
      runTasks: new Map(tasks.map((t) => [t.task_id, 'failure'])),
      allTasks: tasks,
      records: new Map([
        ['A--T01', record('A--T01', 'completed')],
        ['B--T01', record('B--T01', 'blocked', 'verification_failed')],
        ['C--T01', record('C--T01', 'in-progress')], // its owner was killed mid-task
        ['D--T01', record('D--T01', 'pending')], // never claimed
      ]),
    });
    expect(r.totals).toEqual({ tasks: 4, completed: 1, from_cache: 0, blocked: 1, skipped: 0, unfinished: 2 });
    expect(r.status).toBe('PARTIAL_SUCCESS');
    expect(formatTotals(r.totals)).toBe('1 completed, 0 from cache, 1 blocked, 0 not started, 2 unfinished (the run ended before they did; run it again to continue them)');
    expect(formatRunReportMarkdown(r)).toContain('2 unfinished');
  });

  it('says nothing of unfinished tasks when there are none, and a run with only unfinished tasks is not a success', () => {
    const done = buildRunReport({
      runId: 'r2',
      manifestHash: 'h',
      startTime: 0,
      endTime: 1,
      runTasks: new Map([['A--T01', 'success']]),
      allTasks: tasks,
      records: new Map([['A--T01', record('A--T01', 'completed')]]),
    });
    expect(done.status).toBe('SUCCESS');
    expect(formatTotals(done.totals)).toBe('1 completed, 0 from cache, 0 blocked, 0 not started');
    const killed = buildRunReport({
      runId: 'r3',
      manifestHash: 'h',
      startTime: 0,
      endTime: 1,
      runTasks: new Map([['C--T01', 'failure']]),
      allTasks: tasks,
      records: new Map([['C--T01', record('C--T01', 'in-progress')]]),
    });
    expect(killed).toMatchObject({ status: 'FAILED', totals: { blocked: 0, unfinished: 1 } });
  });
});
