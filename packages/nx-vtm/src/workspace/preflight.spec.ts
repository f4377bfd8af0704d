import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  attributeLeftovers,
  buildGitBlockers,
  buildTaskBlockers,
  listContextFiles,
  matchNamedDocReference,
  parseNamedDocReference,
  runPreflight,
  type PreflightTask,
} from './preflight';
import { makeTempRepo, type TempRepo } from './test-support/git-fixture';

// Real git repositories on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(30_000);

const task = (over: Partial<PreflightTask> = {}): PreflightTask => ({
  task_id: 'T1',
  risk: 'Medium',
  acceptance_criteria: [{ id: 'AC01', text: 'works' }],
  related_specs: [],
  related_adrs: [],
  related_guides: [],
  test_verification: [],
  ...over,
});

describe('named document references (pure)', () => {
  const files = [
    'docs/adr/0001-use-sqlite.md',
    'docs/adr/0002-dual-hash-migration.md',
    'docs/rfc/0002-other-thing.md',
    'docs/decisions/ADR-0007-event-log.md',
    'docs/guides/guide-tdd-applicability.md',
  ];

  it('parses prefix, number and title', () => {
    expect(parseNamedDocReference('ADR-0002: Dual Hash Migration')).toEqual({ prefix: 'adr', number: '0002', title: 'Dual Hash Migration' });
    expect(parseNamedDocReference('Dual Hash Migration')).toEqual({ title: 'Dual Hash Migration' });
  });

  it.each([
    ['ADR-0007: Event log', 'docs/decisions/ADR-0007-event-log.md'],
    ['adr-7', 'docs/decisions/ADR-0007-event-log.md'],
    ['ADR-0002: Dual Hash Migration', 'docs/adr/0002-dual-hash-migration.md'],
    ['RFC-0002: Other thing', 'docs/rfc/0002-other-thing.md'],
    ['ADR-0001', 'docs/adr/0001-use-sqlite.md'],
    ['Guide TDD applicability', 'docs/guides/guide-tdd-applicability.md'],
  ])('%s -> %s', (ref, expected) => expect(matchNamedDocReference({ ref, files })).toBe(expected));

  it('does not match a different number or an unknown title', () => {
    expect(matchNamedDocReference({ ref: 'ADR-0020: Future', files })).toBeUndefined();
    expect(matchNamedDocReference({ ref: 'ADR-0003', files })).toBeUndefined();
    expect(matchNamedDocReference({ ref: 'Something else entirely', files })).toBeUndefined();
  });

  it('does not depend on listing order', () => {
    const reversed = [...files].reverse();
    expect(matchNamedDocReference({ ref: 'ADR-0002', files: reversed })).toBe('docs/adr/0002-dual-hash-migration.md');
  });
});

describe('buildGitBlockers (pure)', () => {
  it('reports dirty paths and, only when configured, the wrong branch', () => {
    expect(buildGitBlockers({ branch: 'feat/x', dirtyPaths: [] })).toEqual([]);
    const b = buildGitBlockers({ branch: 'feat/x', dirtyPaths: ['a.ts', 'b.ts'], allowedBranches: ['main', 'master'] });
    expect(b.map((x) => x.code)).toEqual(['BLOCKED::DIRTY-GIT-STATUS', 'BLOCKED::NOT-ON-MAIN-BRANCH']);
    expect(b[0]).toMatchObject({ paths: ['a.ts', 'b.ts'], message: 'BLOCKED::DIRTY-GIT-STATUS: uncommitted changes in a.ts, b.ts; commit or stash them before starting tasks' });
    expect(b[1].message).toBe('BLOCKED::NOT-ON-MAIN-BRANCH: the checkout is on branch feat/x; check out main or master before starting tasks');
    expect(buildGitBlockers({ branch: null, dirtyPaths: [], allowedBranches: ['main'] })[0].message).toMatch(/detached HEAD/);
    expect(buildGitBlockers({ branch: 'main', dirtyPaths: [], allowedBranches: ['main'] })).toEqual([]);
  });
});

describe('attributeLeftovers (pure)', () => {
  it("gives each uncommitted path to the unfinished task whose scope or record holds it; the rest are the user's", () => {
    const unfinished = [
      { taskId: 'A--T01', own: ['src/a/', 'test/a.test.js'], recorded: [] },
      { taskId: 'B--T01', own: ['src/b.js'], recorded: ['docs/b-notes.md'] },
    ];
    const r = attributeLeftovers({ dirtyPaths: ['NOTES.md', 'docs/b-notes.md', 'src/a/x.js', 'src/ab.js', 'src/b.js', 'test/a.test.js', 'src/new/'], unfinished });
    expect(Object.fromEntries(r.byTask)).toEqual({ 'A--T01': ['src/a/x.js', 'test/a.test.js'], 'B--T01': ['docs/b-notes.md', 'src/b.js'] });
    // A prefix is not a scope ("src/a/" does not hold "src/ab.js"); an untracked directory nobody owns stays the user's.
    expect(r.unexplained).toEqual(['NOTES.md', 'src/ab.js', 'src/new/']);
    expect(attributeLeftovers({ dirtyPaths: ['src/a/x.js'], unfinished: [] })).toEqual({ byTask: new Map(), unexplained: ['src/a/x.js'] });
    // Overlapping scopes: the task that recorded the path as its leftover owns it, whatever the order.
    const overlap = [
      { taskId: 'A--T01', own: ['src/'], recorded: [] },
      { taskId: 'Z--T01', own: ['src/z.js'], recorded: ['src/z.js'] },
    ];
    expect(Object.fromEntries(attributeLeftovers({ dirtyPaths: ['src/z.js'], unfinished: overlap }).byTask)).toEqual({ 'Z--T01': ['src/z.js'] });
  });
});

describe('buildTaskBlockers (pure)', () => {
  const exists = (p: string) => ['docs/spec.md', 'docs/guides/g.md'].includes(p);
  const contextFiles = ['docs/adr/0002-dual-hash.md'];

  it('passes a complete task and resolves its named references', () => {
    const r = buildTaskBlockers({
      task: task({ related_specs: ['docs/spec.md'], related_adrs: ['ADR-0002: Dual Hash Migration'], related_guides: ['docs/guides/g.md'] }),
      pathExists: exists,
      contextFiles,
    });
    expect(r).toEqual({ blockers: [], resolvedDocs: { 'ADR-0002: Dual Hash Migration': 'docs/adr/0002-dual-hash.md' } });
  });

  it('reports missing context, empty ACs and a High-risk task without tests, with the task id in the code', () => {
    const r = buildTaskBlockers({
      task: task({
        task_id: 'CONTENT_HASH--T01',
        risk: 'High',
        acceptance_criteria: [],
        related_specs: ['docs/missing.md'],
        related_adrs: ['ADR-0009: Nowhere'],
      }),
      pathExists: exists,
      contextFiles,
    });
    expect(r.blockers.map((b) => b.code)).toEqual([
      'BLOCKED::MISSING-CONTEXT::CONTENT_HASH--T01',
      'BLOCKED::EMPTY-AC::CONTENT_HASH--T01',
      'BLOCKED::SPEC-REF-GAP::CONTENT_HASH--T01',
    ]);
    expect(r.blockers[0].paths).toEqual(['related_specs[0] "docs/missing.md"', 'related_adrs[0] "ADR-0009: Nowhere" (no matching file)']);
    expect(r.blockers[0].message).toMatch(/^BLOCKED::MISSING-CONTEXT::CONTENT_HASH--T01: missing or unreadable related documents: related_specs\[0\] "docs\/missing.md"/);
    expect(r.blockers.every((b) => b.taskId === 'CONTENT_HASH--T01')).toBe(true);
  });

  it('does not ask Medium or Low tasks for test_verification', () => {
    expect(buildTaskBlockers({ task: task({ risk: 'Low' }), pathExists: exists, contextFiles }).blockers).toEqual([]);
  });
});

describe('runPreflight (real repository)', () => {
  let repo: TempRepo;
  beforeEach(() => {
    repo = makeTempRepo();
    repo.commit(
      {
        'docs/specs/staging.md': '# spec',
        'docs/adr/0002-dual-hash-migration.md': '# adr',
        'docs/node_modules/ignored.md': '',
        'design/ADR-0005-elsewhere.md': '# adr 5',
      },
      'docs',
    );
  });
  afterEach(() => repo.cleanup());

  it('lists context files under the configured folders', () => {
    expect(listContextFiles({ workspaceRoot: repo.root })).toEqual(['docs/adr/0002-dual-hash-migration.md', 'docs/specs/staging.md']);
    expect(listContextFiles({ workspaceRoot: repo.root, contextDirs: ['design/', 'nope'] })).toEqual(['design/ADR-0005-elsewhere.md']);
  });

  it('passes a clean checkout on an allowed branch with complete tasks', async () => {
    const r = await runPreflight({
      workspaceRoot: repo.root,
      allowedBranches: ['main'],
      tasks: [task({ related_specs: ['docs/specs/staging.md'], related_adrs: ['ADR-0002: Dual Hash Migration'] })],
    });
    expect(r).toEqual({
      ok: true,
      value: {
        ok: true,
        blockers: [],
        taskBlockers: {},
        resolvedDocs: { T1: { 'ADR-0002: Dual Hash Migration': 'docs/adr/0002-dual-hash-migration.md' } },
      },
    });
  });

  it('blocks on a dirty checkout (run-time paths excepted), the wrong branch, and per-task gaps', async () => {
    repo.git(['checkout', '-q', '-b', 'feature']);
    repo.write({ 'README.md': 'edited', 'docs/backlog/task-state.json': '{}' });
    fs.mkdirSync(path.join(repo.root, '.vtm'), { recursive: true });
    const r = await runPreflight({
      workspaceRoot: repo.root,
      allowedBranches: ['main', 'master'],
      ignorePaths: ['.vtm/', 'docs/backlog/task-state.json'],
      contextDirs: ['docs', 'design'],
      tasks: [
        task({ task_id: 'OK', related_adrs: ['ADR-0005'] }),
        task({ task_id: 'BAD', related_guides: ['docs/guides/missing.md'] }),
      ],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.ok).toBe(false);
    expect(r.value.blockers.map((b) => b.code)).toEqual(['BLOCKED::DIRTY-GIT-STATUS', 'BLOCKED::NOT-ON-MAIN-BRANCH']);
    expect(r.value.blockers[0].paths).toEqual(['README.md']);
    expect(r.value.blockers[1].message).toMatch(/on branch feature/);
    expect(Object.keys(r.value.taskBlockers)).toEqual(['BAD']);
    expect(r.value.resolvedDocs.OK).toEqual({ 'ADR-0005': 'design/ADR-0005-elsewhere.md' });
  });
});
