import { normaliseManifestPath, getPathProblem, isNamedDocReference, isPathInScope, scopeEntriesOverlap } from './paths';

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
    ['.', /workspace root/],
    ['./', /workspace root/],
    ['a\\b', /uses "\\"/],
    ['a\0b', /NUL/],
    ['~/x', /home/],
    ['.git/config', /\.git/],
    ['src/**/*.ts', /glob/],
    [' a', /whitespace/],
  ])('rejects %j', (p, re) => expect(getPathProblem(p)).toMatch(re));
});

describe('normaliseManifestPath', () => {
  it.each([
    ['./tests/x.spec.ts', 'tests/x.spec.ts'],
    ['src//a.ts', 'src/a.ts'],
    ['src/./a.ts', 'src/a.ts'],
    ['./src/.//a/', 'src/a/'],
    ['src/a/.', 'src/a/'],
    ['src/a//', 'src/a/'],
    ['src/a.ts', 'src/a.ts'],
    ['ADR-0002: Dual Hash Migration', 'ADR-0002: Dual Hash Migration'],
  ])('%j -> %j (and the result is accepted)', (raw, expected) => {
    expect(normaliseManifestPath(raw)).toBe(expected);
    expect(getPathProblem(normaliseManifestPath(raw))).toBeUndefined();
  });

  it.each([
    ['/etc/passwd', /absolute/],
    ['//etc/passwd', /absolute/],
    ['./../outside', /escapes/],
    ['src/./../../x', /escapes/],
    ['./.git/config', /\.git/],
    ['.//.git/', /\.git/],
    ['./a\0b', /NUL/],
    ['.\\a', /uses "\\"/],
    ['./src/*.ts', /glob/],
    [' ./a', /whitespace/],
    ['./', /workspace root/],
    ['.', /workspace root/],
    ['~/x', /home/],
  ])('still refuses %j after normalising', (raw, re) => {
    expect(getPathProblem(normaliseManifestPath(raw))).toMatch(re);
  });

  it('leaves refused spellings as written, so the message quotes them', () => {
    expect(normaliseManifestPath('//etc/passwd')).toBe('//etc/passwd');
    expect(normaliseManifestPath('.\\a//b')).toBe('.\\a//b');
  });
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

describe('plain paths (the one-regex fast path) are judged as the full rules judge them', () => {
  it.each([
    ['packages/p1/src/f1.ts'],
    ['@scope/pkg/index.ts'],
    ['a-b/c_d+e=f,g.ts'],
    ['dir/'],
    ['file.'],
    ['a..b/c'],
    ['a/.hidden/x'],
    ['.github/workflows/ci.yml'],
    ['a/./b'],
    ['a//b'],
    ['a/../b'],
    ['C:/x'],
    ['a:b'],
    ['src/*.ts'],
    ['a b'],
    ['~x/y'],
    ['dir//'],
  ])('%j', (p) => {
    // What the full rules say, spelled out without the fast path: a plain path is one of ordinary segments.
    const segments = (p.endsWith('/') ? p.slice(0, -1) : p).split('/');
    const plain = segments.every((s) => /^[A-Za-z0-9_@+=,-][A-Za-z0-9_@+=,.-]*$/.test(s));
    if (plain) {
      expect(getPathProblem(p)).toBeUndefined();
      expect(normaliseManifestPath(p)).toBe(p);
    } else if (['a/./b', 'a//b', 'dir//'].includes(p)) {
      expect(getPathProblem(p)).toMatch(/not normalised/);
    } else if (['a/.hidden/x', '.github/workflows/ci.yml', '~x/y', 'a b'].includes(p)) {
      expect(getPathProblem(p)).toBeUndefined();
    } else {
      expect(getPathProblem(p)).toBeDefined();
    }
  });
});
