import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentConfigSchema } from '../config';
import { defaultReplayPorts, getPatchPaths, runReplay, type ReplayPorts } from './replay';

const config = agentConfigSchema.parse({ adapter: 'replay', replayDir: 'recordings', timeoutMs: 10_000 });
const PATCH = `diff --git a/src/a.ts b/src/a.ts
--- a/src/a.ts
+++ b/src/a.ts
@@ -1 +1 @@
-export const a = 1;
+export const a = 2;
diff --git a/src/new.ts b/src/new.ts
new file mode 100644
--- /dev/null
+++ b/src/new.ts
@@ -0,0 +1 @@
+export const n = 1;
`;

function fakePorts(files: Record<string, string>, apply: ReplayPorts['applyPatch'] = async () => ({ ok: true })) {
  const sleeps: number[] = [];
  const applied: { cwd: string; patchFile: string }[] = [];
  const ports: ReplayPorts = {
    readFile: async (p) => files[p],
    applyPatch: async (args) => {
      applied.push(args);
      return apply(args);
    },
    sleep: async (ms) => void sleeps.push(ms),
  };
  return { ports, sleeps, applied };
}

describe('runReplay (fake ports)', () => {
  const input = { taskId: 'T1', config, cwd: '/ws/wt', workspaceRoot: '/ws' };

  it('applies <replayDir>/<task>.patch in the task directory, with the recorded report and delay', async () => {
    const { ports, sleeps, applied } = fakePorts({
      '/ws/recordings/T1.patch': PATCH,
      '/ws/recordings/T1.json': JSON.stringify({ delayMs: 250, report: { status: 'partial', acs_remaining: ['AC2'] } }),
    });
    const o = await runReplay(input, ports);
    expect(o).toMatchObject({ status: 'partial', exitCode: 0, reported: { acs_remaining: ['AC2'] }, filesTouched: ['src/a.ts', 'src/new.ts'] });
    expect(sleeps).toEqual([250]);
    expect(applied).toEqual([{ cwd: '/ws/wt', patchFile: '/ws/recordings/T1.patch' }]);
  });

  it('accepts the report at the top level, and no json at all', async () => {
    expect((await runReplay(input, fakePorts({ '/ws/recordings/T1.patch': PATCH, '/ws/recordings/T1.json': '{"status":"blocked","blockers":["x"]}' }).ports)).status).toBe('blocked');
    expect(await runReplay(input, fakePorts({ '/ws/recordings/T1.patch': PATCH }).ports)).toMatchObject({ status: 'completed', reason: 'replayed T1.patch' });
  });

  it('fails clearly on a missing patch, bad json, a patch that does not apply, or a delay beyond the timeout', async () => {
    const missing = await runReplay(input, fakePorts({}).ports);
    expect(missing).toMatchObject({ status: 'failed', transient: false });
    expect(missing.reason).toBe('no recorded patch /ws/recordings/T1.patch; record one with `git diff > T1.patch` or use another adapter');
    expect((await runReplay(input, fakePorts({ '/ws/recordings/T1.patch': PATCH, '/ws/recordings/T1.json': '{' }).ports)).reason).toContain('T1.json is not valid JSON');
    const conflict = await runReplay(input, fakePorts({ '/ws/recordings/T1.patch': PATCH }, async () => ({ ok: false, message: 'error: patch failed: src/a.ts:1' })).ports);
    expect(conflict.reason).toContain('git apply /ws/recordings/T1.patch failed: error: patch failed: src/a.ts:1');
    const slow = await runReplay(input, fakePorts({ '/ws/recordings/T1.patch': PATCH, '/ws/recordings/T1.json': '{"delayMs": 20000}' }).ports);
    expect(slow.status).toBe('timed_out');
  });

  it('getPatchPaths lists created, changed, deleted and renamed paths', () => {
    expect(getPatchPaths(`${PATCH}--- a/old.ts\n+++ /dev/null\nrename from x/a.ts\nrename to x/b.ts\n`)).toEqual(['old.ts', 'src/a.ts', 'src/new.ts', 'x/a.ts', 'x/b.ts']);
  });
});

describe('defaultReplayPorts (real git apply)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vtm-replay-'));
    const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
    git('init', '-q');
    writeFileSync(join(dir, 'placeholder'), '');
    execFileSync('mkdir', ['-p', join(dir, 'src'), join(dir, 'recordings')]);
    writeFileSync(join(dir, 'src/a.ts'), 'export const a = 1;\n');
    writeFileSync(join(dir, 'recordings/T1.patch'), PATCH);
    writeFileSync(join(dir, 'recordings/BAD.patch'), PATCH.replace('-export const a = 1;', '-export const a = 99;').replace('+export const a = 2;', '+export const a = 100;'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('applies the patch; applying it again counts as applied; a misfit patch fails', async () => {
    const input = { config, cwd: dir, workspaceRoot: dir };
    expect(await runReplay({ ...input, taskId: 'T1' }, defaultReplayPorts)).toMatchObject({ status: 'completed' });
    expect(readFileSync(join(dir, 'src/a.ts'), 'utf8')).toBe('export const a = 2;\n');
    expect(readFileSync(join(dir, 'src/new.ts'), 'utf8')).toBe('export const n = 1;\n');
    expect(await runReplay({ ...input, taskId: 'T1' }, defaultReplayPorts)).toMatchObject({ status: 'completed' });
    const bad = await runReplay({ ...input, taskId: 'BAD' }, defaultReplayPorts);
    expect(bad).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(bad.reason).toContain('patch failed');
  });
});
