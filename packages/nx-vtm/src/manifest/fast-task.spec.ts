import { readTaskFast, TASK_KEYS } from './fast-task';
import { taskSchema } from './schema';
import { hashTask } from './hash';

const base = (): Record<string, unknown> => ({
  task_id: 'CAP--T01',
  capability_id: 'CAP',
  phase: 'Phase 1',
  slice: 'Slice 1.1',
  title: 'Do it',
  description: 'Why',
  acceptance_criteria: [{ id: 'CAP-AC01', text: 'done' }],
  risk: 'Low',
  est: { size: 'M', minutes: 30 },
  depends_on_tasks: ['CAP--T00'],
  related_specs: ['docs/spec.md'],
  related_adrs: ['ADR-0002: Dual Hash'],
  related_guides: [],
  test_verification: ['tests/a.spec.ts'],
  file_scope: ['src/a.ts', 'src/b/'],
  conflicts_with: [],
  parallel: true,
  provisional: false,
  gap_codes: ['GAP::SPEC-MISSING'],
  tags: ['frontend'],
  verification_command: ['npx', 'jest', '{files}'],
  agent: { adapter: 'claude', model: 'x', nested: { a: [1, 2] } },
});

/** Values tried for each field: valid ones, invalid ones, and absence (`undefined`). */
const VARIANTS: Record<string, unknown[]> = {
  task_id: [undefined, 'a', 'A.b_c-1', '', '.x', 'a..b', 'a b', 7, null],
  capability_id: [undefined, 'C', '', 3, null],
  phase: [undefined, 'P', '', [], null],
  slice: [undefined, 'S', '', {}, null],
  title: [undefined, 'T', '', 1],
  description: [undefined, '', 'd', 5, null],
  acceptance_criteria: [
    undefined,
    [],
    [{ id: 'a', text: 'b' }],
    [{ text: 'b', id: 'a' }],
    [{ id: 'a', text: 'b', extra: 1 }],
    [{ extra: 1, id: 'a', text: 'b' }],
    [{ 0: 'x', id: 'a', text: 'b' }],
    [{ id: '', text: 'b' }],
    [{ id: 'a' }],
    [null],
    [['a']],
    'x',
  ],
  risk: [undefined, 'High', 'Medium', 'Low', 'low', '', 1],
  est: [undefined, {}, { size: 'XS' }, { minutes: 5 }, { minutes: 5, size: 'S' }, { size: 'M', x: 1 }, { y: 2, size: 'M' }, { size: 'XXL' }, { minutes: 0 }, { minutes: -1 }, { minutes: '5' }, null, []],
  depends_on_tasks: [undefined, [], ['a', 'b'], [''], [1], 'a', null],
  related_specs: [undefined, [], ['./a.md'], [''], [null]],
  related_adrs: [undefined, ['x'], [''], {}],
  related_guides: [undefined, ['g.md'], [3]],
  test_verification: [undefined, ['t.ts'], ['']],
  file_scope: [undefined, ['src//a.ts', 'b/'], [''], [true]],
  conflicts_with: [undefined, ['x'], [''], [null]],
  parallel: [undefined, true, false, 'true', 0, null],
  provisional: [undefined, true, false, 1],
  gap_codes: [undefined, [], [''], ['G'], [1]],
  tags: [undefined, [], ['a'], ['a b'], ['a,b'], [''], [1], 'a'],
  verification_command: [undefined, ['npm', 'test'], [], [''], ['a', 2], 'npm'],
  agent: [undefined, {}, { adapter: 'x', env: { A: '1' } }, [], null, 'claude'],
};

/** readTaskFast must return zod's result exactly (the hash depends on key order), or nothing. */
function expectSameAsZod(raw: unknown): 'fast' | 'zod' {
  const fast = readTaskFast(raw);
  const zod = taskSchema.safeParse(raw);
  if (fast === undefined) return 'zod';
  expect(zod.success).toBe(true);
  expect(JSON.stringify(fast)).toBe(JSON.stringify(zod.data));
  expect(fast).toStrictEqual(zod.data);
  expect(Object.keys(fast)).toEqual(Object.keys(zod.data!));
  expect(hashTask(fast)).toBe(hashTask(zod.data!));
  return 'fast';
}

describe('readTaskFast', () => {
  it('knows every field of the schema, in the schema\'s order (a new field needs a check here too)', () => {
    expect([...TASK_KEYS]).toEqual(Object.keys(taskSchema.shape));
    expect(Object.keys(VARIANTS).sort()).toEqual([...TASK_KEYS].sort());
  });

  it('returns exactly what zod returns for every variant of every field, or leaves the task to zod', () => {
    for (const [field, values] of Object.entries(VARIANTS)) {
      for (const value of values) {
        const raw = base();
        if (value === undefined) delete raw[field];
        else raw[field] = value;
        const path = expectSameAsZod(raw);
        // Whatever zod accepts in these variants, the fast path accepts too: it must not be a path that never runs.
        const zodAccepts = taskSchema.safeParse(raw).success;
        expect({ field, value, path }).toEqual({ field, value, path: zodAccepts ? 'fast' : 'zod' });
      }
    }
  });

  it('keeps zod\'s key order whatever the order in the file: known keys in schema order, unknown keys after them', () => {
    let seed = 7;
    // A small deterministic generator (LCG): the same shuffles on every run.
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let round = 0; round < 50; round++) {
      const entries = Object.entries({ ...base(), zeta: 1, alpha: { b: 1, a: 2 }, 10: 'numeric key' });
      for (let i = entries.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [entries[i], entries[j]] = [entries[j], entries[i]];
      }
      const raw = Object.fromEntries(entries);
      expect(expectSameAsZod(raw)).toBe('fast');
    }
  });

  it('leaves odd objects to zod: arrays, null, a "__proto__" key', () => {
    expect(readTaskFast([])).toBeUndefined();
    expect(readTaskFast(null)).toBeUndefined();
    const raw = JSON.parse(`{"__proto__": {"x": 1}, ${JSON.stringify(base()).slice(1)}`);
    expect(readTaskFast(raw)).toBeUndefined();
    expectSameAsZod(raw);
  });

  it('takes the input lists over without copying them (the parse owns JSON.parse output)', () => {
    const raw = base();
    const task = readTaskFast(raw)!;
    expect(task.file_scope).toBe(raw.file_scope);
    expect(task.depends_on_tasks).toBe(raw.depends_on_tasks);
  });
});
