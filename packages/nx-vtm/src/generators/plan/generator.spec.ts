import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { logger, type Tree } from '@nx/devkit';
import * as path from 'node:path';
import { buildTaskInput } from '../../test-support/manifest-fixtures';
import { makeTempRepo, type TempRepo } from '../../workspace/test-support/git-fixture';
import { planGenerator } from './generator';

jest.setTimeout(60_000);

const PLANNER = path.resolve(__dirname, '../../planning/__fixtures__/planner.js');
const MANIFEST = 'docs/backlog/virtual-task-manifest.json';
const REQUEST = 'Add OAuth login with GitHub and Google, and a settings page to link accounts';

let repo: TempRepo | undefined;
afterEach(() => repo?.cleanup());

/** A generator tree whose unrecorded files come from a real git repository (the planner runs there). */
function makeTree(agent?: Record<string, unknown>): Tree {
  repo = makeTempRepo();
  repo.commit({ 'src/app.ts': 'export {};\n' }, 'layout');
  const tree = createTreeWithEmptyWorkspace();
  // The planner needs a real working directory; FsTree reads and resolves paths through `root`.
  (tree as { root: string }).root = repo.root;
  tree.write('nx.json', JSON.stringify({ plugins: [{ plugin: 'nx-vtm', options: { manifest: MANIFEST, ...(agent ? { agent } : {}) } }] }));
  tree.write(MANIFEST, JSON.stringify({ status: 'OK', tasks: [buildTaskInput('A')] }, null, 2));
  return tree;
}
const ids = (tree: Tree) => (JSON.parse(tree.read(MANIFEST, 'utf8')!) as { tasks: { task_id: string }[] }).tasks.map((t) => t.task_id);

describe('nx g nx-vtm:plan', () => {
  it('a small request: one task appended, no planner', async () => {
    const tree = makeTree();
    await planGenerator(tree, { request: 'Add a health endpoint' });
    expect(ids(tree)).toEqual(['A', 'ADD_A_HEALTH_ENDPOINT--T01']);
  });

  it('a planner answer repaired in round 2 is written to the tree', async () => {
    const tree = makeTree({ adapter: 'command', command: ['node', PLANNER, 'repair'] });
    const info = jest.spyOn(logger, 'info').mockImplementation(() => undefined);
    await planGenerator(tree, { request: REQUEST });
    expect(ids(tree)).toEqual(['A', 'OAUTH--T01', 'OAUTH--T02']);
    expect(info).toHaveBeenCalledWith(`nx-vtm plan: 2 tasks planned for ${MANIFEST} (2 planner rounds): OAUTH--T01, OAUTH--T02`);
    info.mockRestore();
  });

  it('never valid: the generator fails with the problems and leaves the manifest as it was', async () => {
    const tree = makeTree({ adapter: 'command', command: ['node', PLANNER, 'never'] });
    const before = tree.read(MANIFEST, 'utf8');
    await expect(planGenerator(tree, { request: REQUEST, maxRounds: 1 })).rejects.toThrow(/no valid plan after 1 round;[\s\S]*tasks\[0\]\.task_id/);
    expect(tree.read(MANIFEST, 'utf8')).toBe(before);
  });
});
