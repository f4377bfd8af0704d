import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { NxJsonConfiguration } from '@nx/devkit';
import { loadRunContext } from './context';
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
