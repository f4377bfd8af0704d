import type { RunningClaim } from '../state/task-store';
import { buildWatchView, formatWatchView } from './watch-view';

const NOW = Date.UTC(2026, 11, 2, 9, 0, 0);
const claim = (taskId: string, parked: boolean): RunningClaim =>
  ({
    taskId,
    token: 't',
    fence: 1,
    runId: 'RUN',
    owner: { host: 'box', pid: 42, startTime: 's', bootId: 'b' },
    agent: null,
    claimedAt: NOW - 5_000,
    heartbeatAt: NOW,
    leaseMs: 60_000,
    footprint: { taskId, fileScope: [], conflictsWith: [], exclusive: false },
    taskHash: null,
    ...(parked ? { parked: true } : {}),
    verdict: { stale: false },
  }) as unknown as RunningClaim;

describe('watch view: the merge queue', () => {
  it('shows a parked task as in the merge queue, not counted against the WIP slots', () => {
    const view = buildWatchView({
      titles: new Map([
        ['A', 'task a'],
        ['B', 'task b'],
      ]),
      records: [],
      claims: [claim('A', true), claim('B', false)],
      waiting: [],
      events: [],
      wipLimit: 1,
      now: NOW,
    });
    expect(view.running.map((r) => [r.taskId, r.phase, r.parked])).toEqual([
      ['A', 'in the merge queue', true],
      ['B', 'running', false],
    ]);
    expect(formatWatchView(view)).toContain('Running (1 of 1 slots; 1 in the merge queue, holding no slot):');
  });

  it('shows an agent still at work after its run stopped among the running, holding a slot', () => {
    const view = buildWatchView({
      titles: new Map([['A', 'task a'], ['B', 'task b']]),
      records: [],
      claims: [claim('B', false)],
      orphans: [{ taskId: 'A', agent: { pid: 4321, host: 'box' }, runId: 'OLD', claimedAt: NOW - 9_000 }],
      waiting: [],
      events: [],
      wipLimit: 3,
      now: NOW,
    });
    const text = formatWatchView(view);
    expect(text).toContain('Running (2 of 3 slots):');
    expect(text).toContain("  A  agent working, its run stopped  9s  (agent pid 4321 holds its slot; the task's next run takes over its work)");
  });

  it('names the agent still at work behind a stale claim, beside the dead run', () => {
    const stale = { ...claim('A', false), agent: { host: 'box', pid: 4321, startTime: 's', bootId: 'b' }, verdict: { stale: true, cause: 'owner-dead' } } as RunningClaim;
    const base = { titles: new Map([['A', 'task a']]), records: [], waiting: [], events: [], wipLimit: 3, now: NOW };
    expect(formatWatchView(buildWatchView({ ...base, claims: [{ ...stale, agentAlive: true }] }))).toContain(
      '  A  running  5s  (process 42 on box is gone; its agent, pid 4321, is still at work: the next run takes over its work)',
    );
    expect(formatWatchView(buildWatchView({ ...base, claims: [{ ...stale, agentAlive: false }] }))).toContain(
      '  A  running  5s  (process 42 on box is gone; the next run reclaims it)',
    );
  });
});
