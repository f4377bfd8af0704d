import { findStrayWrites } from './stray-writes';

describe('findStrayWrites (pure)', () => {
  it('counts only paths changed since the agent started, split by the task scope (directories and files)', () => {
    const before = new Set(['src/user-edit.ts', 'lib/x.ts']);
    const after = new Set(['src/user-edit.ts', 'lib/x.ts', 'src/a/one.ts', 'src/ab.ts', 'test/a.test.ts', 'README.md']);
    expect(findStrayWrites({ before, after, scope: ['src/a/', 'test/a.test.ts', 'src/user-edit.ts'] })).toEqual({
      inScope: ['src/a/one.ts', 'test/a.test.ts'],
      elsewhere: ['README.md', 'src/ab.ts'],
    });
  });

  it('finds nothing when the main checkout did not change', () => {
    const same = new Set(['a.ts']);
    expect(findStrayWrites({ before: same, after: same, scope: ['a.ts'] })).toEqual({ inScope: [], elsewhere: [] });
  });
});
