/**
 * Nx caching of agent work and affected verification, through the real nx CLI: a second clone sharing a remote cache
 * (Nx's self-hosted OpenAPI protocol, served locally) implements nothing with an agent and ends with the same code;
 * `nx affected -t verify` selects the tasks whose files, documents or manifest entries changed.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentWorkspaceMaker, MANIFEST, task, type AgentWorkspace } from '../support/vtm';
import { startRemoteCacheServer, type RemoteCacheServer } from '../support/remote-cache-server';

const make = agentWorkspaceMaker();
const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream'];

/** Content of the tracked files under src/ and test/ at HEAD: what "the same code" means. */
function codeAt(ws: AgentWorkspace): Record<string, string> {
  const files = ws.git(['ls-tree', '-r', '--name-only', 'HEAD']).split('\n').filter((f) => /^(src|test)\//.test(f));
  return Object.fromEntries(files.map((f) => [f, ws.git(['show', `HEAD:${f}`])]));
}

describe('a second clone sharing a remote cache', () => {
  let server: RemoteCacheServer;
  beforeAll(async () => {
    server = await startRemoteCacheServer();
  });
  afterAll(() => server.close());

  it('implements nothing with an agent and ends with the same code', async () => {
    const tasks = [task('BASE--T01'), task('NEXT--T01', { depends_on_tasks: ['BASE--T01'] }), task('SIDE--T01')];
    const first = make({ tasks });
    const r1 = await first.runAsync(SLICE, {}, server.env);
    if (r1.code !== 0) throw new Error(r1.output.slice(-3000));
    expect(first.agentEvents().filter((e) => e.event === 'start')).toHaveLength(3);
    expect(server.stats.puts).toBeGreaterThanOrEqual(3);

    // Same repository content, separate checkout and local cache: only the remote cache is shared.
    const second = make({ tasks });
    const r2 = await second.runAsync(SLICE, {}, server.env);
    expect(r2.code).toBe(0);
    expect(second.agentEvents()).toEqual([]);
    expect(r2.output).toMatch(/3 from cache/);
    expect(server.stats.hits).toBeGreaterThanOrEqual(3);
    expect(codeAt(second)).toEqual(codeAt(first));
    expect(Object.keys(codeAt(second))).toHaveLength(6);
    const state = second.state().tasks;
    for (const id of ['BASE--T01', 'NEXT--T01', 'SIDE--T01']) expect(state[id]).toMatchObject({ status: 'completed', from_cache: true });
    // The cached work became commits on the branch, in dependency order, with the task's message.
    const subjects = second.git(['log', '--format=%s', 'main']).split('\n');
    expect(subjects.indexOf('feat(NEXT--T01): Implement NEXT--T01')).toBeLessThan(subjects.indexOf('feat(BASE--T01): Implement BASE--T01'));
    expect(second.git(['status', '--porcelain', '--untracked-files=no'])).toBe('');
  });
});

describe('nx-vtm reset', () => {
  it('makes the next run call the agent again instead of serving the discarded result from the Nx cache', () => {
    const ws = make({ tasks: [task('REDO--T01'), task('KEEP--T01')] });
    const cli = (args: string[]) =>
      spawnSync(process.execPath, [join(ws.root, 'node_modules/nx-vtm/src/cli/main.js'), ...args], { cwd: ws.root, encoding: 'utf8' });
    const starts = () => ws.agentEvents().filter((e) => e.event === 'start').map((e) => e.taskId);

    const r1 = ws.run(SLICE);
    if (r1.code !== 0) throw new Error(r1.output.slice(-3000));
    expect(starts().sort()).toEqual(['KEEP--T01', 'REDO--T01']);
    // Without a reset, the next run is served from the cache.
    const r2 = ws.run(SLICE);
    expect(r2.code).toBe(0);
    expect(r2.output).toMatch(/2 from cache/);
    expect(starts()).toHaveLength(2);

    const reset = cli(['reset', 'REDO--T01', '--yes']);
    expect(reset.stderr).toBe('');
    expect(reset.stdout).toMatch(/REDO--T01: completed -> pending/);
    expect(reset.status).toBe(0);

    const redone = "module.exports = 'redone';\n";
    const r3 = ws.run(SLICE, { 'REDO--T01': { content: redone } });
    if (r3.code !== 0) throw new Error(r3.output.slice(-3000));
    expect(starts().slice(2)).toEqual(['REDO--T01']);
    expect(r3.output).toMatch(/1 completed, 1 from cache/);
    expect(ws.state().tasks['REDO--T01']).toMatchObject({ status: 'completed' });
    expect(ws.state().tasks['REDO--T01'].from_cache).toBeFalsy();
    expect(ws.git(['show', 'HEAD:src/redo-t01.js'])).toBe(redone);

    // The re-run's result is cached under the new key: the run after it calls nobody.
    const r4 = ws.run(SLICE);
    expect(r4.code).toBe(0);
    expect(r4.output).toMatch(/2 from cache/);
    expect(starts()).toHaveLength(3);
  });
});

describe('nx affected -t verify', () => {
  let ws: AgentWorkspace;
  const affected = () => {
    const r = ws.nx(['show', 'projects', '--affected', '--base=HEAD~1', '--head=HEAD', '--withTarget=verify', '--json']);
    expect(r.code).toBe(0);
    return (JSON.parse(r.stdout) as string[]).filter((p) => !p.startsWith('slice-') && !p.startsWith('phase-')).sort();
  };
  const passingTest = (id: string) => `const test = require('node:test');\ntest('${id}', () => {});\n`;

  beforeAll(() => {
    ws = make({
      tasks: [
        task('ROOT--T01', { related_specs: ['docs/root-spec.md'] }),
        task('CHILD--T01', { depends_on_tasks: ['ROOT--T01'] }),
        task('LONE--T01'),
        task('LEAF--T01'),
      ],
      files: {
        'docs/root-spec.md': '# root\n',
        ...Object.fromEntries(
          ['root', 'child', 'lone', 'leaf'].flatMap((x) => [
            [`src/${x}-t01.js`, `module.exports = '${x}';\n`],
            [`test/${x}-t01.test.js`, passingTest(x)],
          ]),
        ),
      },
    });
    const sync = ws.nx(['sync']);
    expect(sync.code).toBe(0);
    ws.commitAll('task snapshots');
  });

  it('is in sync after `nx sync` (sync:check passes)', () => {
    expect(ws.nx(['sync:check']).code).toBe(0);
  });

  it('selects exactly the task whose scope file changed (not its dependents, not the others)', () => {
    writeFileSync(join(ws.root, 'src/lone-t01.js'), "module.exports = 'changed';\n");
    ws.commitAll('change lone');
    expect(affected()).toEqual(['LONE--T01']);
    writeFileSync(join(ws.root, 'src/root-t01.js'), "module.exports = 'changed';\n");
    ws.commitAll('change root');
    expect(affected()).toEqual(['ROOT--T01']);
  });

  it("selects a task whose related document changed", () => {
    writeFileSync(join(ws.root, 'docs/root-spec.md'), '# root, revised\n');
    ws.commitAll('revise spec');
    expect(affected()).toEqual(['ROOT--T01']);
  });

  it("an edit of one task's manifest entry affects that task and not the others", () => {
    const m = JSON.parse(ws.read(MANIFEST));
    m.tasks.find((t: { task_id: string }) => t.task_id === 'LEAF--T01').description = 'now with more detail';
    ws.write(MANIFEST, m);
    // Until the snapshots are synced, CI's sync check fails and names the stale snapshot.
    const check = ws.nx(['sync:check']);
    expect(check.code).not.toBe(0);
    expect(check.output).toMatch(/out of (date|sync)/i);
    expect(ws.nx(['sync']).code).toBe(0);
    ws.commitAll('edit LEAF entry');
    expect(affected()).toEqual(['LEAF--T01']);
  });

  it('runs the verification of affected tasks, cached by their inputs', () => {
    const r = ws.nx(['affected', '-t', 'verify', '--base=HEAD~1', '--head=HEAD', '--outputStyle=stream']);
    expect(r.code).toBe(0);
    expect(r.output).toMatch(/LEAF--T01:verify/);
    expect(r.output).not.toMatch(/LONE--T01:verify/);
    expect(r.output).toMatch(/verification passed/);
    const again = ws.nx(['affected', '-t', 'verify', '--base=HEAD~1', '--head=HEAD']);
    expect(again.output).toMatch(/cache/i);
  });
});
