import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { readNxJson, updateNxJson, type Tree } from '@nx/devkit';
import { syncGenerator } from './generator';
import { buildTaskInput } from '../../test-support/manifest-fixtures';

describe('sync generator (task snapshots)', () => {
  let tree: Tree;
  const manifest = 'docs/backlog/virtual-task-manifest.json';
  beforeEach(() => {
    tree = createTreeWithEmptyWorkspace();
    const nx = readNxJson(tree)!;
    nx.plugins = [{ plugin: 'nx-vtm', options: {} }];
    updateNxJson(tree, nx);
    tree.write(manifest, JSON.stringify({ tasks: [buildTaskInput('A--T01'), buildTaskInput('B--T01')] }));
  });

  it('writes one snapshot per task and reports the workspace out of sync until then', async () => {
    const first = await syncGenerator(tree);
    expect(first).toMatchObject({ outOfSyncMessage: expect.stringContaining('nx sync') });
    expect(tree.children('docs/backlog/tasks').sort()).toEqual(['A--T01.json', 'B--T01.json']);
    expect(JSON.parse(tree.read('docs/backlog/tasks/A--T01.json', 'utf8')!).task_id).toBe('A--T01');
    expect(await syncGenerator(tree)).toBeUndefined(); // in sync now
  });

  it('changes only the edited task\'s snapshot, and removes snapshots of removed tasks', async () => {
    await syncGenerator(tree);
    const before = tree.read('docs/backlog/tasks/B--T01.json', 'utf8');
    tree.write(manifest, JSON.stringify({ tasks: [buildTaskInput('A--T01', { description: 'edited' })] }));
    const r = await syncGenerator(tree);
    expect(r && r.outOfSyncDetails?.sort()).toEqual(['docs/backlog/tasks/A--T01.json', 'docs/backlog/tasks/B--T01.json']);
    expect(tree.exists('docs/backlog/tasks/B--T01.json')).toBe(false);
    expect(before).toBeDefined();
  });

  it('keeps the snapshots of two manifests that share a folder', async () => {
    const nx = readNxJson(tree)!;
    nx.plugins = [{ plugin: 'nx-vtm', options: { manifest: 'plan/*.vtm.json' } }];
    updateNxJson(tree, nx);
    tree.write('plan/a.vtm.json', JSON.stringify({ tasks: [buildTaskInput('A--T01')] }));
    tree.write('plan/b.vtm.json', JSON.stringify({ tasks: [buildTaskInput('B--T01')] }));
    await syncGenerator(tree);
    expect(tree.children('plan/tasks').sort()).toEqual(['A--T01.json', 'B--T01.json']);
    expect(await syncGenerator(tree)).toBeUndefined();
  });

  it('fails with the manifest problems when the manifest is invalid', async () => {
    tree.write(manifest, JSON.stringify({ tasks: [buildTaskInput('A--T01', { risk: 'Severe' as never })] }));
    await expect(syncGenerator(tree)).rejects.toThrow(/task A--T01 \(tasks\[0\]\.risk\)/);
  });
});
