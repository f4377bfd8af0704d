import { getPathProblem, isNamedDocReference, isPathInScope, scopeEntriesOverlap } from './paths';

describe('getPathProblem', () => {
  it.each([
    ['src/a.ts'],
    ['packages/storage/'],
    ['docs/adr/0002-dual-hash.md'],
  ])('accepts %s', (p) => expect(getPathProblem(p)).toBeUndefined());

  it.each([
    ['/etc/passwd', /absolute/],
    ['C:/x', /absolute/],
    ['../outside', /escapes/],
    ['a/../../b', /escapes/],
    ['./a', /not normalised.*"a"/],
    ['a//b', /not normalised.*"a\/b"/],
    ['a\\b', /uses "\\"/],
    ['a\0b', /NUL/],
    ['~/x', /home/],
    ['.git/config', /\.git/],
    ['src/**/*.ts', /glob/],
    [' a', /whitespace/],
  ])('rejects %j', (p, re) => expect(getPathProblem(p)).toMatch(re));
});

describe('scopeEntriesOverlap', () => {
  it.each([
    ['src/', 'src/a.ts', true],
    ['src/a.ts', 'src/a.ts', true],
    ['src/a', 'src/ab.ts', false],
    ['src/a/', 'src/ab/', false],
    ['src', 'src/x.ts', true],
    ['packages/storage/', 'packages/', true],
    ['a.ts', 'b.ts', false],
  ])('%s vs %s -> %s', (a, b, expected) => {
    expect(scopeEntriesOverlap(a, b)).toBe(expected);
    expect(scopeEntriesOverlap(b, a)).toBe(expected);
  });
});

it('isPathInScope', () => {
  expect(isPathInScope('src/a/b.ts', ['src/a/'])).toBe(true);
  expect(isPathInScope('src/ab.ts', ['src/a/'])).toBe(false);
  expect(isPathInScope('README.md', ['README.md'])).toBe(true);
});

it('isNamedDocReference', () => {
  expect(isNamedDocReference('ADR-0002: Dual Hash Migration')).toBe(true);
  expect(isNamedDocReference('docs/adr/0002.md')).toBe(false);
  expect(isNamedDocReference('README.md')).toBe(false);
});
