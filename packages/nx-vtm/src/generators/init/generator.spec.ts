import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { readNxJson, type Tree } from '@nx/devkit';
import { initGenerator } from './generator';
import { parseManifestText } from '../../manifest/parse';

describe('init generator', () => {
  let tree: Tree;
  beforeEach(() => {
    tree = createTreeWithEmptyWorkspace();
  });

  it('registers the plugin once, however often it runs', async () => {
    await initGenerator(tree, { skipFormat: true });
    await initGenerator(tree, { skipFormat: true });
    const plugins = readNxJson(tree)!.plugins!;
    const ours = plugins.filter((p) => (typeof p === 'string' ? p : p.plugin) === 'nx-vtm');
    expect(ours).toEqual([
      { plugin: 'nx-vtm', options: { manifest: 'docs/backlog/virtual-task-manifest.json', stateFile: 'docs/backlog/task-state.json', wipLimit: 3 } },
    ]);
  });

  it('keeps an existing registration and its options', async () => {
    const nx = readNxJson(tree)!;
    nx.plugins = ['@nx/js', { plugin: 'nx-vtm', options: { manifest: 'plan/*.json' } }];
    tree.write('nx.json', JSON.stringify(nx));
    await initGenerator(tree, { skipFormat: true });
    expect(readNxJson(tree)!.plugins).toEqual(['@nx/js', { plugin: 'nx-vtm', options: { manifest: 'plan/*.json' } }]);
  });

  it('ignores run-time paths in .gitignore and .nxignore without duplicating lines', async () => {
    tree.write('.gitignore', 'node_modules\n.vtm\n');
    await initGenerator(tree, { skipFormat: true });
    await initGenerator(tree, { skipFormat: true });
    expect(tree.read('.gitignore', 'utf8')).toBe('node_modules\n.vtm\n');
    const nxignore = tree.read('.nxignore', 'utf8')!;
    expect(nxignore.match(/^\.vtm\/$/gm)).toHaveLength(1);
    expect(nxignore).toContain('docs/backlog/task-state.json');
  });

  it('appends to a .gitignore without a trailing newline', async () => {
    tree.write('.gitignore', 'node_modules');
    await initGenerator(tree, { skipFormat: true });
    expect(tree.read('.gitignore', 'utf8')).toBe('node_modules\n\n# nx-vtm run-time files\n.vtm/\n');
  });

  it('creates a valid example manifest when none exists, and never overwrites one', async () => {
    await initGenerator(tree, { skipFormat: true });
    const text = tree.read('docs/backlog/virtual-task-manifest.json', 'utf8')!;
    const parsed = parseManifestText({ text, file: 'docs/backlog/virtual-task-manifest.json' });
    expect(parsed.ok).toBe(true);
    expect(JSON.parse(text).$schema).toBe('../../node_modules/nx-vtm/manifest.schema.json');
    // One snapshot per task, for nx affected.
    expect(tree.children('docs/backlog/tasks').sort()).toEqual(['EXAMPLE_FAREWELL--T01.json', 'EXAMPLE_GREETING--T01.json']);

    tree.write('docs/backlog/virtual-task-manifest.json', '{"tasks":[]}');
    await initGenerator(tree, { skipFormat: true });
    expect(tree.read('docs/backlog/virtual-task-manifest.json', 'utf8')).toBe('{"tasks":[]}');
  });

  it('honours --manifest and --skipExample', async () => {
    await initGenerator(tree, { manifest: 'plan/vtm.json', skipExample: true, skipFormat: true });
    expect(tree.exists('plan/vtm.json')).toBe(false);
    expect(readNxJson(tree)!.plugins).toContainEqual(expect.objectContaining({ options: expect.objectContaining({ manifest: 'plan/vtm.json' }) }));
  });

  it('refuses a manifest path outside the workspace', async () => {
    await expect(initGenerator(tree, { manifest: '../elsewhere/vtm.json', skipFormat: true })).rejects.toThrow(/escapes the workspace/);
  });
});
