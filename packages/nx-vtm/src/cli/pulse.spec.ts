import { hashTask } from '../manifest/hash';
import type { TaskInput } from '../manifest/schema';
import type { TaskRecord, TaskStatus } from '../state/task-record';
import { buildTask } from '../test-support/manifest-fixtures';
import { buildProgressPulse, formatAge, formatProgressPulse, STALE_IN_PROGRESS_MS, type PulseClaim, type PulseInput, type PulseTask } from './pulse';

const NOW = Date.parse('2025-09-28T10:30:00Z');
const MIN = 60_000;

function task(id: string, over: Partial<TaskInput> = {}, status: PulseTask['status'] = 'OK'): PulseTask {
  return { task: buildTask(id, over), file: 'docs/backlog/virtual-task-manifest.json', status };
}

function record(id: string, status: TaskStatus, over: Partial<TaskRecord> = {}): TaskRecord {
  const base: TaskRecord = {
    taskId: id,
    status,
    reason: null,
    taskHash: null,
    attempts: status === 'pending' ? 0 : 1,
    startedAt: status === 'pending' ? null : NOW - 60 * MIN,
    completedAt: status === 'completed' ? NOW - 30 * MIN : null,
    updatedAt: NOW - 30 * MIN,
    outcome: {},
    claim: null,
    progress: null,
  };
  if (status === 'in-progress') {
    base.claim = {
      token: `tok-${id}`,
      fence: 1,
      runId: 'R1',
      owner: { host: 'h1', pid: 42, startTime: '1', bootId: 'b' },
      agent: null,
      claimedAt: NOW - 25 * MIN,
      heartbeatAt: NOW - MIN,
      leaseMs: 90_000,
      footprint: { taskId: id, fileScope: [], conflictsWith: [], exclusive: false },
      taskHash: null,
    };
    base.startedAt = NOW - 25 * MIN;
  }
  return { ...base, ...over };
}

/** A completed record whose acs_completed covers the task's ACs (the fixture task has one AC). */
const done = (id: string, over: Partial<TaskRecord> = {}) => record(id, 'completed', { outcome: { acs_completed: [`${id}-AC01`] }, ...over });

const claimOf = (r: TaskRecord, verdict: PulseClaim['verdict'] = { stale: false }): PulseClaim => ({
  taskId: r.taskId,
  runId: r.claim!.runId,
  owner: r.claim!.owner,
  claimedAt: r.claim!.claimedAt,
  heartbeatAt: r.claim!.heartbeatAt,
  verdict,
});

function input(over: Partial<PulseInput>): PulseInput {
  return {
    tasks: [],
    records: [],
    claims: [],
    waiting: [],
    manifestHash: 'a'.repeat(64),
    storedManifestHash: 'a'.repeat(64),
    wipLimit: 3,
    now: NOW,
    pathExists: () => true,
    contextFiles: [],
    ...over,
  };
}

const flagCodes = (i: PulseInput) => buildProgressPulse(i).flags.map((f) => f.code);

describe('buildProgressPulse: counts, progress, High risk', () => {
  it.each([
    {
      name: 'everything pending without records',
      tasks: [task('A'), task('B')],
      records: [],
      counts: { pending: 2, 'in-progress': 0, blocked: 0, completed: 0, abandoned: 0 },
      progress: { completed: 0, total: 2, percent: 0, abandoned: 0 },
    },
    {
      name: 'one of three completed, percent with one decimal',
      tasks: [task('A'), task('B'), task('C')],
      records: [done('A')],
      counts: { pending: 2, 'in-progress': 0, blocked: 0, completed: 1, abandoned: 0 },
      progress: { completed: 1, total: 3, percent: 33.3, abandoned: 0 },
    },
    {
      name: 'abandoned tasks are not counted in progress',
      tasks: [task('A'), task('B'), task('C')],
      records: [done('A'), record('B', 'abandoned', { reason: 'superseded' })],
      counts: { pending: 1, 'in-progress': 0, blocked: 0, completed: 1, abandoned: 1 },
      progress: { completed: 1, total: 2, percent: 50, abandoned: 1 },
    },
    {
      name: 'every status',
      tasks: [task('A'), task('B'), task('C'), task('D'), task('E')],
      records: [done('A'), record('B', 'in-progress'), record('C', 'blocked', { reason: 'agent_failed' }), record('D', 'abandoned')],
      counts: { pending: 1, 'in-progress': 1, blocked: 1, completed: 1, abandoned: 1 },
      progress: { completed: 1, total: 4, percent: 25, abandoned: 1 },
    },
  ])('$name', ({ tasks, records, counts, progress }) => {
    const p = buildProgressPulse(input({ tasks, records }));
    expect(p.counts).toEqual(counts);
    expect(p.progress).toEqual(progress);
    expect(p.total).toBe(tasks.length);
  });

  it('counts High-risk tasks completed and remaining (abandoned ones are not remaining)', () => {
    const high = (id: string) => task(id, { risk: 'High', test_verification: [`tests/${id}.spec.ts`] });
    const p = buildProgressPulse(
      input({
        tasks: [high('H1'), high('H2'), high('H3'), high('H4'), task('L1')],
        records: [done('H1'), record('H2', 'blocked', { reason: 'agent_failed' }), record('H4', 'abandoned'), done('L1')],
      }),
    );
    expect(p.high_risk).toEqual({ completed: 1, remaining: 2 });
  });

  it('names the latest completed task and how long ago', () => {
    const p = buildProgressPulse(
      input({
        tasks: [task('A'), task('B')],
        records: [done('A', { completedAt: NOW - 50 * MIN }), done('B', { completedAt: NOW - 5 * MIN })],
      }),
    );
    expect(p.latest_completed).toEqual({ task_id: 'B', title: 'Do B', completed_at: new Date(NOW - 5 * MIN).toISOString(), age_ms: 5 * MIN });
  });
});

describe('buildProgressPulse: in progress', () => {
  it('shows owner, run, start and acceptance criteria, oldest first', () => {
    const b = record('B', 'in-progress', { outcome: { acs_completed: ['B-AC01'] } });
    const c = record('C', 'in-progress');
    c.claim = { ...c.claim!, claimedAt: NOW - 90 * MIN, owner: { host: 'h2', pid: 7, startTime: null, bootId: null } };
    const tasks = [task('B', { acceptance_criteria: [{ id: 'B-AC01', text: 'x' }, { id: 'B-AC02', text: 'y' }] }), task('C')];
    const p = buildProgressPulse(input({ tasks, records: [b, c], claims: [claimOf(b), claimOf(c, { stale: true, cause: 'owner-dead' })] }));
    expect(p.in_progress.map((t) => t.task_id)).toEqual(['C', 'B']);
    expect(p.in_progress[1]).toMatchObject({
      owner: { host: 'h1', pid: 42 },
      owner_alive: true,
      run_id: 'R1',
      started_at: new Date(NOW - 25 * MIN).toISOString(),
      acs_completed: ['B-AC01'],
      acs_remaining: ['B-AC02'],
    });
    expect(p.in_progress[0]).toMatchObject({ owner: { host: 'h2', pid: 7 }, owner_alive: false, age_ms: 90 * MIN });
    expect(p.oldest_in_progress).toEqual({ task_id: 'C', started_at: new Date(NOW - 90 * MIN).toISOString(), age_ms: 90 * MIN });
    expect(p.flags.map((f) => f.code)).toEqual(['WARN::STALE-CLAIM::C']);
    expect(p.slice).toBe('Slice 1.1');
  });

  it('names the agent still at work behind a stale claim: the next run takes its work over', () => {
    const c = record('C', 'in-progress');
    const stale = { ...claimOf(c, { stale: true, cause: 'owner-dead' }), agent: { host: 'h1', pid: 4321 }, agentAlive: true };
    const p = buildProgressPulse(input({ tasks: [task('C')], records: [c], claims: [stale] }));
    expect(p.flags).toEqual([
      {
        code: 'WARN::STALE-CLAIM::C',
        task_id: 'C',
        message:
          'C: its owner (pid 42 on h1) is gone, but its agent (pid 4321) is still at work; the next run takes that work over instead of starting the agent again, or run `nx-vtm reset C`',
      },
    ]);
  });

  it('flags an agent still at work after the run that started it stopped (it holds a WIP slot)', () => {
    const p = buildProgressPulse(input({ tasks: [task('D')], records: [], claims: [], orphans: [{ taskId: 'D', agent: { host: 'h1', pid: 4321 }, runId: 'R0', claimedAt: NOW }] }));
    expect(p.flags).toEqual([
      {
        code: 'WARN::ORPHANED-AGENT::D',
        task_id: 'D',
        message: "D: the run that started its agent (pid 4321) stopped, but the agent is still at work and holds a WIP slot; the task's next run takes over its work (`nx run D:implement`), or stop it: `kill -- -4321`",
      },
    ]);
  });
});

describe('buildProgressPulse: next eligible and blockers', () => {
  const cases: {
    name: string;
    tasks: PulseTask[];
    records?: TaskRecord[];
    over?: Partial<PulseInput>;
    eligible: string[];
    blockers?: { task_id: string; reason: string; code?: string | null }[];
    flags?: string[];
  }[] = [
    {
      name: 'pending with every dependency completed; a task waiting on a pending dependency is not eligible',
      tasks: [task('A'), task('B', { depends_on_tasks: ['A'] }), task('C', { depends_on_tasks: ['B'] })],
      records: [done('A')],
      eligible: ['B'],
    },
    {
      name: 'High risk first, then Medium, then Low, manifest order within a risk',
      tasks: [
        task('L1'),
        task('M1', { risk: 'Medium' }),
        task('H1', { risk: 'High', test_verification: ['t/h1.spec.ts'] }),
        task('L2'),
        task('H2', { risk: 'High', test_verification: ['t/h2.spec.ts'] }),
      ],
      eligible: ['H1', 'H2', 'M1', 'L1', 'L2'],
    },
    {
      name: 'blocked for its own reason is a blocker with remediation, not eligible',
      tasks: [task('A')],
      records: [record('A', 'blocked', { reason: 'agent_failed', outcome: { error: 'exit 1' } })],
      eligible: [],
      blockers: [{ task_id: 'A', reason: 'agent_failed' }],
    },
    {
      name: 'blocked by a failed dependency that has completed since is eligible again',
      tasks: [task('A'), task('B', { depends_on_tasks: ['A'] })],
      records: [done('A'), record('B', 'blocked', { reason: 'dependency_failed:A' })],
      eligible: ['B'],
    },
    {
      name: 'blocked by a failed dependency still not done stays a blocker',
      tasks: [task('A'), task('B', { depends_on_tasks: ['A'] })],
      records: [record('A', 'blocked', { reason: 'agent_failed' }), record('B', 'blocked', { reason: 'dependency_failed:A' })],
      eligible: [],
      blockers: [
        { task_id: 'A', reason: 'agent_failed' },
        { task_id: 'B', reason: 'dependency_failed:A' },
      ],
    },
    {
      name: 'a dependency completed against an older task version does not count; the changed task is due again',
      tasks: [task('A'), task('B', { depends_on_tasks: ['A'] })],
      records: [done('A', { taskHash: 'old' })],
      eligible: ['A'],
      flags: ['WARN::CHANGED-SINCE-COMPLETED::A'],
    },
    {
      name: 'a completed dependency with the current task hash counts',
      tasks: [task('A'), task('B', { depends_on_tasks: ['A'] })],
      records: [done('A', { taskHash: hashTask(buildTask('A')) })],
      eligible: ['B'],
    },
    {
      name: 'in progress, completed and abandoned tasks are not eligible',
      tasks: [task('A'), task('B'), task('C')],
      records: [record('A', 'in-progress'), done('B'), record('C', 'abandoned')],
      eligible: [],
    },
    {
      name: 'an abandoned dependency is a blocker naming what to do',
      tasks: [task('A'), task('B', { depends_on_tasks: ['A'] })],
      records: [record('A', 'abandoned', { reason: 'superseded' })],
      eligible: [],
      blockers: [{ task_id: 'B', reason: 'dependency_abandoned:A' }],
    },
    {
      name: 'no acceptance criteria: BLOCKED::EMPTY-AC',
      tasks: [task('A', { acceptance_criteria: [] })],
      eligible: [],
      blockers: [{ task_id: 'A', reason: 'empty_ac', code: 'BLOCKED::EMPTY-AC::A' }],
    },
    {
      name: 'High risk without test_verification: BLOCKED::SPEC-REF-GAP',
      tasks: [task('A', { risk: 'High' })],
      eligible: [],
      blockers: [{ task_id: 'A', reason: 'spec_ref_gap', code: 'BLOCKED::SPEC-REF-GAP::A' }],
    },
    {
      name: 'a missing related document: BLOCKED::MISSING-CONTEXT (checked only once the dependencies are done)',
      tasks: [task('A', { related_specs: ['docs/a.md'] }), task('B', { related_specs: ['docs/b.md'], depends_on_tasks: ['A'] })],
      over: { pathExists: () => false },
      eligible: [],
      blockers: [{ task_id: 'A', reason: 'missing_context', code: 'BLOCKED::MISSING-CONTEXT::A' }],
    },
    {
      name: 'a named reference resolved through the context files is not missing',
      tasks: [task('A', { related_adrs: ['ADR-0002: Dual Hash Migration'] })],
      over: { pathExists: () => false, contextFiles: ['docs/adr/adr-0002-dual-hash.md'] },
      eligible: ['A'],
    },
    {
      name: 'tasks of a BLOCKED manifest never run',
      tasks: [task('A', {}, 'BLOCKED')],
      eligible: [],
      flags: ['BLOCKED::MANIFEST-STATUS-BLOCKED'],
    },
  ];

  it.each(cases)('$name', ({ tasks, records = [], over = {}, eligible, blockers = [], flags = [] }) => {
    const p = buildProgressPulse(input({ tasks, records, ...over }));
    expect(p.next_eligible.map((t) => t.task_id)).toEqual(eligible);
    expect(p.blockers.map((b) => ({ task_id: b.task_id, reason: b.reason, ...(b.code ? { code: b.code } : {}) }))).toEqual(
      blockers.map((b) => ({ task_id: b.task_id, reason: b.reason, ...(b.code ? { code: b.code } : {}) })),
    );
    for (const b of p.blockers) expect(b.remediation).toMatch(/\S/);
    expect(p.flags.map((f) => f.code)).toEqual(flags);
  });

  it('gives the remediation of the reason code and the error seen', () => {
    const p = buildProgressPulse(
      input({ tasks: [task('A')], records: [record('A', 'blocked', { reason: 'verification_failed', outcome: { error: '2 tests failed', result_dir: '.vtm/results/A' } })] }),
    );
    expect(p.blockers[0]).toMatchObject({ error: '2 tests failed' });
    expect(p.blockers[0].remediation).toContain('.vtm/results/A/verify.log');
  });

  it('shows why a ready task is waiting in another process', () => {
    const p = buildProgressPulse(input({ tasks: [task('A')], waiting: [{ taskId: 'A', reason: { kind: 'wip', running: 3, limit: 3 } }] }));
    expect(p.next_eligible[0].waiting).toBe('waiting: 3 of 3 slots busy');
  });
});

describe('buildProgressPulse: flags', () => {
  const inProgress = (n: number) => Array.from({ length: n }, (_, i) => record(`T${i}`, 'in-progress'));
  const tasksFor = (records: TaskRecord[]) => records.map((r) => task(r.taskId));
  const stale = (ms: number) => {
    const r = record('S', 'in-progress');
    r.claim = { ...r.claim!, claimedAt: NOW - ms };
    return [r];
  };
  const high = (over: Partial<TaskInput> = {}) => [task('H', { risk: 'High', test_verification: ['tests/h.spec.ts'], ...over })];

  it.each([
    { name: 'WIP overload above the limit', tasks: tasksFor(inProgress(4)), records: inProgress(4), flags: ['WARN::WIP-OVERLOAD'] },
    { name: 'no WIP overload at the limit', tasks: tasksFor(inProgress(3)), records: inProgress(3), flags: [] },
    {
      name: 'WIP overload against a configured limit',
      tasks: tasksFor(inProgress(2)),
      records: inProgress(2),
      over: { wipLimit: 1 },
      flags: ['WARN::WIP-OVERLOAD'],
    },
    { name: 'in progress for more than 2 days is stale', tasks: [task('S')], records: stale(STALE_IN_PROGRESS_MS + MIN), flags: ['WARN::STALE-IN-PROGRESS::S'] },
    { name: 'in progress for exactly 2 days is not yet stale', tasks: [task('S')], records: stale(STALE_IN_PROGRESS_MS), flags: [] },
    {
      name: 'High risk completed without test_verification entries is an anomaly',
      tasks: high({ test_verification: [] }),
      records: [done('H')],
      flags: ['WARN::HIGH-RISK-WITHOUT-TESTS::H'],
    },
    {
      name: 'High risk completed whose test files are missing is an anomaly',
      tasks: high(),
      records: [done('H')],
      over: { pathExists: (p: string) => p !== 'tests/h.spec.ts' },
      flags: ['WARN::HIGH-RISK-WITHOUT-TESTS::H'],
    },
    { name: 'High risk completed with its test files is fine', tasks: high(), records: [done('H')], flags: [] },
    { name: 'Low risk completed without tests is fine', tasks: [task('L')], records: [done('L')], flags: [] },
    {
      name: 'completed with acceptance criteria missing from acs_completed',
      tasks: [task('A', { acceptance_criteria: [{ id: 'A-AC01', text: 'x' }, { id: 'A-AC02', text: 'y' }] })],
      records: [done('A')],
      flags: ['WARN::INCOMPLETE-ACS::A'],
    },
    { name: 'completed without any acs_completed', tasks: [task('A')], records: [record('A', 'completed')], flags: ['WARN::INCOMPLETE-ACS::A'] },

    { name: 'manifest hash mismatch', tasks: [task('A')], records: [], over: { storedManifestHash: 'b'.repeat(64) }, flags: ['WARN::MANIFEST-HASH-MISMATCH'] },
    { name: 'state of a task in no manifest', tasks: [task('A')], records: [done('GONE')], flags: ['WARN::STATE-NOT-IN-MANIFEST'] },
  ])('$name', ({ tasks, records, over = {}, flags }) => {
    expect(flagCodes(input({ tasks, records, ...over }))).toEqual(flags);
  });

  it('each flag says what to do', () => {
    const p = buildProgressPulse(input({ tasks: tasksFor(inProgress(4)), records: inProgress(4) }));
    expect(p.flags[0].message).toMatch(/4 tasks in progress, more than the WIP limit of 3; let running tasks finish/);
  });
});

describe('buildProgressPulse: manifest hash and slices', () => {
  it.each([
    { stored: 'a'.repeat(64), state: 'match' },
    { stored: 'b'.repeat(64), state: 'mismatch' },
    { stored: null, state: 'unrecorded' },
  ])('a stored hash that is $state', ({ stored, state }) => {
    expect(buildProgressPulse(input({ storedManifestHash: stored })).manifest).toEqual({ hash: 'a'.repeat(64), state_hash: stored, state });
  });

  it('reports progress per slice in manifest order, abandoned tasks not counted', () => {
    const p = buildProgressPulse(
      input({
        tasks: [task('A', { slice: 'Slice 1.2' }), task('B', { slice: 'Slice 1.2' }), task('C', { slice: 'Slice 1.1' }), task('D', { slice: 'Slice 1.1' }), task('E', { slice: undefined })],
        records: [done('A'), done('C'), record('D', 'abandoned')],
      }),
    );
    expect(p.slices).toEqual([
      { slice: 'Slice 1.2', completed: 1, total: 2, percent: 50 },
      { slice: 'Slice 1.1', completed: 1, total: 1, percent: 100 },
    ]);
  });
});

describe('formatProgressPulse', () => {
  it('renders the seed pulse', () => {
    const b = record('B', 'in-progress', { outcome: { acs_completed: ['B-AC01'] } });
    const text = formatProgressPulse(
      buildProgressPulse(
        input({
          tasks: [
            task('A'),
            task('B', { acceptance_criteria: [{ id: 'B-AC01', text: 'x' }, { id: 'B-AC02', text: 'y' }] }),
            task('C', { depends_on_tasks: ['A'] }),
            task('D', { depends_on_tasks: ['B'] }),
          ],
          records: [done('A', { completedAt: NOW - 5 * MIN }), b],
          claims: [claimOf(b)],
        }),
      ),
    );
    expect(text.split('\n')).toEqual([
      '### Implementation Pulse (2025-09-28T10:30:00.000Z)',
      '- Phase: Phase 1',
      '- Slice: Slice 1.1',
      '- Tasks: pending 2 | in-progress 1 | blocked 0 | completed 1 | abandoned 0',
      '- Progress: 25% (1/4 tasks)',
      '- High Risk: 0 completed, 0 remaining',
      '- Latest Completed: A (completed 5m ago)',
      '- In Progress: B (1 ACs completed, 1 remaining; pid 42 on h1, run R1, started 25m ago)',
      '- Next Eligible: C',
      '- Blockers: none',
      '- Oldest In-Progress: B (started 25m ago)',
      '- Manifest: aaaaaaaaaaaa matches the task state',
      '- Slices: Slice 1.1 1/4 (25%)',
      '- Flags: none',
      '',
    ]);
  });

  it('lists blockers with remediation and flags, and cuts long lists', () => {
    const tasks = Array.from({ length: 12 }, (_, i) => task(`T${String(i).padStart(2, '0')}`));
    const text = formatProgressPulse(
      buildProgressPulse(
        input({
          tasks: [...tasks, task('X')],
          records: [record('X', 'blocked', { reason: 'merge_conflict', outcome: { error: 'CONFLICT in a.ts\nmore' } })],
          storedManifestHash: 'c'.repeat(64),
        }),
      ),
    );
    expect(text).toContain('- Next Eligible: T00, T01, T02, T03, T04, T05, T06, T07, T08, T09, and 2 more');
    expect(text).toContain('- Blockers: 1\n  - X: merge_conflict (CONFLICT in a.ts)\n    Remediation: Merging vtm/X conflicted');
    expect(text).toContain('- Manifest: aaaaaaaaaaaa MISMATCH: the task state belongs to cccccccccccc');
    expect(text).toContain('- Flags: 1\n  - WARN::MANIFEST-HASH-MISMATCH: ');
  });
});

describe('formatAge', () => {
  it.each([
    [0, 'just now'],
    [59_000, 'just now'],
    [5 * MIN, '5m ago'],
    [59 * MIN, '59m ago'],
    [60 * MIN, '1h 0m ago'],
    [25 * 60 * MIN + 3 * MIN, '25h 3m ago'],
    [49 * 60 * MIN, '2d 1h ago'],
    [-5 * MIN, 'just now'],
  ])('%d ms -> %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });
});

describe('WARN::INCOMPLETE-ACS tells "reported not done" from "not reported"', () => {
  it('names each kind', () => {
    const t = task('A', { acceptance_criteria: [{ id: 'A-AC01', text: 'x' }, { id: 'A-AC02', text: 'y' }, { id: 'A-AC03', text: 'z' }] });
    const r = record('A', 'completed', { outcome: { acs_completed: ['A-AC01'], acs_remaining: ['A-AC02'], acs_not_reported: ['A-AC03'] } });
    const flag = buildProgressPulse(input({ tasks: [t], records: [r] })).flags.find((f) => f.code === 'WARN::INCOMPLETE-ACS::A');
    expect(flag?.message).toMatch(/reported A-AC02 not done; the agent did not report A-AC03 \(not counted as done\)/);
  });
});
