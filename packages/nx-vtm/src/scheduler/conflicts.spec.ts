import { decideAdmission } from './admission';
import { buildFootprint, findFootprintConflict, footprintsConflict, isExclusiveTask } from './conflicts';
import { fp } from './test-support/footprints';

describe('findFootprintConflict', () => {
  it.each([
    // [a scope, b scope, conflict?]
    [['packages/storage/'], ['packages/storage/db.ts'], true],
    [['packages/storage/db.ts'], ['packages/storage/db.ts'], true],
    [['packages/'], ['packages/storage/'], true],
    [['src/a'], ['src/ab.ts'], false],
    [['src/a/'], ['src/ab/'], false],
    [['src/a.ts'], ['src/b.ts'], false],
    [[], ['src/'], false],
    [['x.ts', 'package.json'], ['y.ts', 'package.json'], true],
  ])('scope %j vs %j -> %s, in both directions', (a, b, expected) => {
    expect(footprintsConflict(fp('A', a), fp('B', b))).toBe(expected);
    expect(footprintsConflict(fp('B', b), fp('A', a))).toBe(expected);
  });

  it('names the overlapping entries, first footprint first', () => {
    expect(findFootprintConflict(fp('A', ['x.ts', 'packages/storage/db.ts']), fp('B', ['packages/storage/']))).toEqual({
      kind: 'scope',
      entry: 'packages/storage/db.ts',
      otherEntry: 'packages/storage/',
    });
  });

  it('honours conflicts_with declared on either side', () => {
    const a = fp('A', ['a.ts'], { conflictsWith: ['B'] });
    const b = fp('B', ['b.ts']);
    expect(findFootprintConflict(a, b)).toEqual({ kind: 'declared', declaredBy: 'A' });
    expect(findFootprintConflict(b, a)).toEqual({ kind: 'declared', declaredBy: 'A' });
    expect(footprintsConflict(fp('C', ['c.ts'], { conflictsWith: ['Z'] }), b)).toBe(false);
  });

  it('prefers the scope overlap when both apply, and never reports a task against itself', () => {
    expect(findFootprintConflict(fp('A', ['s/'], { conflictsWith: ['B'] }), fp('B', ['s/x']))?.kind).toBe('scope');
    expect(findFootprintConflict(fp('A', ['s/']), fp('A', ['s/']))).toBeUndefined();
  });
});

describe('buildFootprint', () => {
  it.each([
    ['High', true, true],
    ['Medium', false, true],
    ['Low', true, false],
    ['Medium', undefined, false],
  ] as const)('risk %s, parallel %s -> exclusive %s', (risk, parallel, expected) => {
    expect(isExclusiveTask({ risk, parallel })).toBe(expected);
    const f = buildFootprint({ task_id: 'T', risk, parallel, file_scope: ['a/'], conflicts_with: ['U'] });
    expect(f).toEqual({ taskId: 'T', fileScope: ['a/'], conflictsWith: ['U'], exclusive: expected });
  });

  it('defaults missing lists to empty', () => {
    expect(buildFootprint({ task_id: 'T', risk: 'Low' })).toEqual({ taskId: 'T', fileScope: [], conflictsWith: [], exclusive: false });
  });

  it('adds the test_verification files not already inside file_scope, once each', () => {
    const f = buildFootprint({
      task_id: 'T',
      risk: 'Low',
      file_scope: ['src/a/', 'src/b.ts'],
      test_verification: ['tests/a.spec.ts', 'src/a/a.spec.ts', 'tests/a.spec.ts', 'src/b.ts'],
    });
    expect(f.fileScope).toEqual(['src/a/', 'src/b.ts', 'tests/a.spec.ts']);
  });
});

describe('test_verification files in the conflict footprint', () => {
  const writer = (id: string, scope: string, tests: string[]) =>
    buildFootprint({ task_id: id, risk: 'Low', file_scope: [scope], test_verification: tests });

  it('keeps two tasks that write the same test file from running at once', () => {
    const a = writer('A', 'src/a.ts', ['tests/shared.spec.ts']);
    const b = writer('B', 'src/b.ts', ['tests/shared.spec.ts']);
    expect(findFootprintConflict(a, b)).toEqual({ kind: 'scope', entry: 'tests/shared.spec.ts', otherEntry: 'tests/shared.spec.ts' });
    expect(decideAdmission({ candidate: b, running: [{ ...a, startedAt: 0 }], wipLimit: 3 })).toEqual({
      admit: false,
      reason: { kind: 'scope', entry: 'tests/shared.spec.ts', heldBy: 'A', heldEntry: 'tests/shared.spec.ts' },
    });
  });

  it("conflicts when one task's test file lies in the other's file_scope", () => {
    const a = writer('A', 'tests/', []);
    const b = writer('B', 'src/b.ts', ['tests/b.spec.ts']);
    expect(footprintsConflict(a, b)).toBe(true);
    expect(footprintsConflict(b, a)).toBe(true);
  });

  it('admits tasks whose test files differ', () => {
    const a = writer('A', 'src/a.ts', ['tests/a.spec.ts']);
    const b = writer('B', 'src/b.ts', ['tests/b.spec.ts']);
    expect(decideAdmission({ candidate: b, running: [{ ...a, startedAt: 0 }], wipLimit: 3 })).toEqual({ admit: true });
  });
});
