import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { NxJsonConfiguration } from '@nx/devkit';
import { execFileSync } from 'node:child_process';
import { loadRunContext, loadTaskRunContext } from './context';
import { buildTaskInput } from '../test-support/manifest-fixtures';

let root: string;
const write = (rel: string, content: unknown) => {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), JSON.stringify(content));
};
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vtm-context-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('loadRunContext: trust (every run goes through it)', () => {
  const nxJson = (planner: Record<string, unknown>): NxJsonConfiguration => ({
    plugins: [
      { plugin: 'nx-vtm', options: { manifest: 'plans/reviewed.json', trustManifestCommands: true } },
      { plugin: 'nx-vtm', options: { manifest: 'plans/planner.json', ...planner } },
    ],
  });
  beforeEach(() => {
    write('plans/reviewed.json', { tasks: [buildTaskInput('R--T01', { verification_command: ['npm', 'test'] })] });
    write('plans/planner.json', { tasks: [buildTaskInput('P--T01', { agent: { command: ['sh', '-c', 'id'] } })] });
  });

  it("judges each manifest by its own registration's trustManifestCommands", () => {
    const r = loadRunContext({ workspaceRoot: root, nxJson: nxJson({}), manifestFiles: ['plans/planner.json', 'plans/reviewed.json'] });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatch(/plans\/planner\.json: task P--T01 \(tasks\[0\]\.agent\.command\): BLOCKED::UNTRUSTED-MANIFEST-COMMAND::P--T01/);
    expect(r.error).not.toMatch(/R--T01/);
  });

  it('loads both when the planner registration opts in too', () => {
    const r = loadRunContext({ workspaceRoot: root, nxJson: nxJson({ trustManifestCommands: true }), manifestFiles: ['plans/planner.json', 'plans/reviewed.json'] });
    expect(r.ok && [...r.value.tasks.keys()].sort()).toEqual(['P--T01', 'R--T01']);
  });

  it('trusts a manifest no registration selects with nothing', () => {
    write('other/x.json', { tasks: [buildTaskInput('X--T01', { verification_command: ['true'] })] });
    const r = loadRunContext({ workspaceRoot: root, nxJson: nxJson({ trustManifestCommands: true }), manifestFiles: ['plans/reviewed.json', 'other/x.json'] });
    expect(!r.ok && r.error).toMatch(/other\/x\.json: task X--T01 \(tasks\[0\]\.verification_command\)/);
  });
});

describe('loadTaskRunContext: the manifests without the project graph (targets carry no manifest path)', () => {
  const nxJson: NxJsonConfiguration = {
    plugins: [
      { plugin: 'nx-vtm', options: { manifest: 'plans/a.json', wipLimit: 2 } },
      { plugin: 'nx-vtm', options: { manifest: 'plans/b.json', wipLimit: 5 } },
    ],
  };
  beforeEach(() => {
    write('plans/a.json', { tasks: [buildTaskInput('A--T01')] });
    write('plans/b.json', { tasks: [buildTaskInput('B--T01', { depends_on_tasks: ['A--T01'] })] });
    write('plans/tasks/A--T01.json', buildTaskInput('A--T01'));
    write('plans/ignored.json', { tasks: [buildTaskInput('I--T01')] });
    // Found as Nx finds files: through git (tracked or not, not ignored).
    writeFileSync(join(root, '.gitignore'), 'plans/ignored.json\n');
    execFileSync('git', ['init', '-q'], { cwd: root });
  });

  it("reads every registration's manifests, under the registration of the first task's own manifest", async () => {
    const b = await loadTaskRunContext({ workspaceRoot: root, nxJson, taskIds: ['B--T01'] });
    expect(b.ok && [...b.value.tasks.keys()].sort()).toEqual(['A--T01', 'B--T01']);
    expect(b.ok && b.value.options.wipLimit).toBe(5);
    const a = await loadTaskRunContext({ workspaceRoot: root, nxJson, taskIds: ['A--T01'] });
    expect(a.ok && a.value.options.wipLimit).toBe(2);
  });

  it('says what to do when no registration selects a manifest git knows', async () => {
    const r = await loadTaskRunContext({ workspaceRoot: root, nxJson: { plugins: [{ plugin: 'nx-vtm', options: { manifest: 'plans/ignored.json' } }] }, taskIds: ['I--T01'] });
    expect(!r.ok && r.error).toMatch(/no manifest selected by the nx-vtm registrations in nx\.json is known to git/);
  });
});
