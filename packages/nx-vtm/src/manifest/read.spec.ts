import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFsPathProbe } from './read';

describe('createFsPathProbe (real file system)', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'vtm-probe-'));
    mkdirSync(join(root, 'packages/storage/src'), { recursive: true });
    writeFileSync(join(root, 'packages/storage/src/a.ts'), '');
    writeFileSync(join(root, 'README.md'), '');
    mkdirSync(join(root, 'docs'));
    symlinkSync(join(root, 'packages/storage'), join(root, 'linked-dir'));
    symlinkSync(join(root, 'README.md'), join(root, 'packages/linked-file'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('tells directories from files and from paths that do not exist, at any depth', () => {
    const probe = createFsPathProbe(root);
    expect(probe.isDirectory('packages/storage')).toBe(true);
    expect(probe.isDirectory('packages/storage/src')).toBe(true);
    expect(probe.isDirectory('docs')).toBe(true);
    expect(probe.isDirectory('packages')).toBe(true);
    expect(probe.isDirectory('packages/storage/src/a.ts')).toBe(false);
    expect(probe.isDirectory('README.md')).toBe(false);
    expect(probe.isDirectory('packages/storage/src/new.ts')).toBe(false);
    expect(probe.isDirectory('packages/missing/src/deep/x.ts')).toBe(false);
    expect(probe.isDirectory('missing')).toBe(false);
  });

  it('follows links, as the file system does', () => {
    const probe = createFsPathProbe(root);
    expect(probe.isDirectory('linked-dir')).toBe(true);
    expect(probe.isDirectory('linked-dir/src')).toBe(true);
    expect(probe.isDirectory('packages/linked-file')).toBe(false);
  });

  it('answers odd spellings like stat does', () => {
    const probe = createFsPathProbe(root);
    expect(probe.isDirectory('packages/./storage')).toBe(true);
    expect(probe.isDirectory('packages/../docs')).toBe(true);
  });
});
