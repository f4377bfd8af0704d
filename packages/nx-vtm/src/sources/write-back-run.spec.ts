/**
 * The I/O half of write-back on real files, a real git repository and a stand-in `bd` executable on PATH.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePluginOptions } from '../config/plugin-options';
import type { RunContext } from '../runtime/context';
import { readManifests } from '../manifest/read';
import { rewriteFile, withTaskmasterLock, writeBackResult, writeBackStart } from './write-back-run';
import { editTodoMd } from './write-back';

let root: string;
const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' });
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vtm-wb-'));
  git('init', '-q', '-b', 'main');
  git('config', 'user.email', 't@t');
  git('config', 'user.name', 't');
  git('config', 'commit.gpgsign', 'false');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function context(sources: unknown[], extra: Record<string, unknown> = {}): RunContext {
  const options = parsePluginOptions({ sources, ...extra });
  if (!options.ok) throw new Error(options.error);
  const loaded = readManifests({ workspaceRoot: root, files: options.value.sources.map((s) => s.path), sources: options.value.sources });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.error));
  return { workspaceRoot: root, options: options.value, manifests: loaded.value, tasks: new Map(), manifestHash: '' };
}
const TODO = '# TODO\n\n### 1. First\n- **Status**: [NOT STARTED]\n\n### 2. Second\n- **Status**: [NOT STARTED]\n';

describe('writeBackResult', () => {
  it('records a TODO.md completion and commits that file alone', async () => {
    writeFileSync(join(root, 'TODO.md'), TODO);
    writeFileSync(join(root, 'other.txt'), 'x');
    writeFileSync(join(root, '.gitignore'), '.vtm/\n');
    git('add', '-A');
    git('commit', '-qm', 'init');
    writeFileSync(join(root, 'other.txt'), 'user change');
    const lines: string[] = [];
    await writeBackResult({ ctx: context([{ type: 'todo-md', path: 'TODO.md' }]), taskId: 'todo-1', status: 'success', ports: { print: (l) => lines.push(l), today: () => '2026-01-02', env: process.env } });
    expect(readFileSync(join(root, 'TODO.md'), 'utf8')).toBe(TODO.replace('### 1. First', '### 1. First \u2705').replace('- **Status**: [NOT STARTED]\n\n', '- **Status**: [COMPLETED]\n- **Completed**: 2026-01-02\n\n'));
    expect(git('log', '-1', '--format=%s')).toBe('nx-vtm: TODO.md: task 1 completed\n');
    expect(git('status', '--porcelain')).toBe(' M other.txt\n'); // the user's change is neither committed nor touched
    expect(lines).toEqual(['nx-vtm: [todo-1] TODO.md: task 1 recorded as completed']);
  });

  it('leaves the edit uncommitted beside uncommitted changes of the user to the same file, and says so', async () => {
    writeFileSync(join(root, 'TODO.md'), TODO);
    git('add', '-A');
    git('commit', '-qm', 'init');
    const ctx = context([{ type: 'todo-md', path: 'TODO.md' }]);
    writeFileSync(join(root, 'TODO.md'), `${TODO}\n### 3. Added by the user\n`);
    const lines: string[] = [];
    await writeBackResult({ ctx, taskId: 'todo-2', status: 'failure', reason: 'agent_failed', ports: { print: (l) => lines.push(l), today: () => '2026-01-02', env: process.env } });
    const text = readFileSync(join(root, 'TODO.md'), 'utf8');
    expect(text).toContain('### 3. Added by the user');
    expect(text).toContain('### 2. Second\n- **Status**: [FAILED]');
    expect(git('log', '--format=%s')).toBe('init\n');
    expect(lines[0]).toMatch(/recorded as failed \(agent_failed\); TODO.md had uncommitted changes of yours/);
  });

  it('Beads without bd on PATH is read-only and says what to run; with bd, closes through it (argv)', async () => {
    mkdirSync(join(root, '.beads'));
    writeFileSync(join(root, '.beads/issues.jsonl'), '{"id":"bd-1","title":"A","status":"open","priority":1}\n');
    const ctx = context([{ type: 'beads', path: '.beads/issues.jsonl' }]);
    const lines: string[] = [];
    const ports = (PATH: string) => ({ print: (l: string) => lines.push(l), today: () => '2026-01-02', env: { ...process.env, PATH } });
    await writeBackResult({ ctx, taskId: 'bd-1', status: 'success', ports: ports(join(root, 'nothing-here')) });
    expect(lines.pop()).toBe('nx-vtm: [bd-1] .beads/issues.jsonl: read-only (no `bd` on PATH); record it with: bd close bd-1 --reason "completed by nx-vtm"');

    const bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'bd'), `#!/bin/sh\nprintf '%s\\n' "$@" > "${join(root, 'bd-args')}"\n`);
    chmodSync(join(bin, 'bd'), 0o755);
    await writeBackResult({ ctx, taskId: 'bd-1', status: 'success', ports: ports(`${bin}:/usr/bin:/bin`) });
    expect(readFileSync(join(root, 'bd-args'), 'utf8')).toBe('close\nbd-1\n--reason\ncompleted by nx-vtm\n--json\n');
    expect(lines.pop()).toBe('nx-vtm: [bd-1] .beads/issues.jsonl: closed bd-1 with bd');
    expect(readFileSync(join(root, '.beads/issues.jsonl'), 'utf8')).toContain('"status":"open"'); // the export is never edited
  });

  it('Beads: a start claims the issue with bd update --claim, a success closes it; bd gets argv, one call each, in order', async () => {
    mkdirSync(join(root, '.beads'));
    // A title a shell would run: it must reach nobody's shell (argv only; bd is called with the id alone).
    writeFileSync(join(root, '.beads/issues.jsonl'), '{"id":"bd-a3f8.1","title":"x; touch pwned $(id)","status":"open","priority":1}\n');
    const ctx = context([{ type: 'beads', path: '.beads/issues.jsonl' }]);
    const bin = join(root, 'bin');
    mkdirSync(bin);
    // The stand-in bd appends one JSON line per call: its argv and working directory.
    writeFileSync(join(bin, 'bd'), `#!/usr/bin/env node\nrequire('fs').appendFileSync(${JSON.stringify(join(root, 'bd-calls'))}, JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd() }) + '\\n');\n`);
    chmodSync(join(bin, 'bd'), 0o755);
    const lines: string[] = [];
    const ports = { print: (l: string) => lines.push(l), today: () => '2026-01-02', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } };
    await writeBackStart({ ctx, taskId: 'bd-a3f8.1', ports });
    await writeBackResult({ ctx, taskId: 'bd-a3f8.1', status: 'success', ports });
    const calls = readFileSync(join(root, 'bd-calls'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(calls).toEqual([
      { argv: ['update', 'bd-a3f8.1', '--claim', '--json'], cwd: root },
      { argv: ['close', 'bd-a3f8.1', '--reason', 'completed by nx-vtm', '--json'], cwd: root },
    ]);
    expect(lines).toEqual(['nx-vtm: .beads/issues.jsonl: claimed bd-a3f8.1 with bd', 'nx-vtm: [bd-a3f8.1] .beads/issues.jsonl: closed bd-a3f8.1 with bd']);
    expect(existsSync(join(root, 'pwned'))).toBe(false);
  });

  it('Beads: a refused claim ("already claimed") is printed with bd\'s reason and does not stop the task; no bd is read-only', async () => {
    mkdirSync(join(root, '.beads'));
    writeFileSync(join(root, '.beads/issues.jsonl'), '{"id":"bd-1","title":"A","status":"in_progress","assignee":"alice","priority":1}\n');
    const ctx = context([{ type: 'beads', path: '.beads/issues.jsonl' }]);
    const bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'bd'), '#!/bin/sh\necho "Error: issue bd-1 already claimed by alice" >&2\nexit 1\n');
    chmodSync(join(bin, 'bd'), 0o755);
    const lines: string[] = [];
    const ports = (PATH: string) => ({ print: (l: string) => lines.push(l), today: () => '2026-01-02', env: { ...process.env, PATH } });
    await expect(writeBackStart({ ctx, taskId: 'bd-1', ports: ports(`${bin}:/usr/bin:/bin`) })).resolves.toBeUndefined();
    expect(lines.pop()).toBe('nx-vtm: .beads/issues.jsonl: bd update bd-1 --claim failed (exit 1): Error: issue bd-1 already claimed by alice; the task runs anyway (check bd show bd-1 for who has it)');
    await writeBackStart({ ctx, taskId: 'bd-1', ports: ports(join(root, 'nothing-here')) });
    expect(lines.pop()).toBe('nx-vtm: .beads/issues.jsonl: read-only (no `bd` on PATH); bd does not know bd-1 is being worked on: bd update bd-1 --claim');
  });

  it('a start of a task of another format writes nothing', async () => {
    writeFileSync(join(root, 'TODO.md'), TODO);
    const ctx = context([{ type: 'todo-md', path: 'TODO.md' }]);
    const lines: string[] = [];
    await writeBackStart({ ctx, taskId: 'todo-1', ports: { print: (l) => lines.push(l), today: () => '2026-01-02', env: process.env } });
    expect(readFileSync(join(root, 'TODO.md'), 'utf8')).toBe(TODO);
    expect(lines).toEqual([]);
  });

  it('Task Master: only the status changes, under its lock', async () => {
    mkdirSync(join(root, '.taskmaster/tasks'), { recursive: true });
    const text = '{\n  "master": {\n    "tasks": [\n      { "id": "1", "title": "A", "status": "pending", "dependencies": [] }\n    ],\n    "metadata": { "x": 1 }\n  }\n}\n';
    writeFileSync(join(root, '.taskmaster/tasks/tasks.json'), text);
    const ctx = context([{ type: 'taskmaster', path: '.taskmaster/tasks/tasks.json' }], { integration: 'branch' });
    await writeBackResult({ ctx, taskId: 'tm-1', status: 'success', ports: { print: () => undefined, today: () => '2026-01-02', env: process.env } });
    expect(readFileSync(join(root, '.taskmaster/tasks/tasks.json'), 'utf8')).toBe(text.replace('"pending"', '"done"'));
    expect(existsSync(join(root, '.taskmaster/tasks/tasks.json.lock'))).toBe(false);
  });
});

describe('rewriteFile', () => {
  it('recomputes the edit when the file changes between read and rename: both edits are kept', async () => {
    const file = join(root, 'TODO.md');
    writeFileSync(file, TODO);
    let calls = 0;
    const r = await rewriteFile({
      abs: file,
      edit: (text) => {
        // The user saves while nx-vtm is editing (once).
        if (calls++ === 0) writeFileSync(file, `${TODO}\n### 3. New\n`);
        return editTodoMd({ text, sourceId: '1', status: 'completed', date: '2026-01-02' });
      },
    });
    expect(r).toEqual({ ok: true, value: true });
    expect(calls).toBe(2);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('### 3. New');
    expect(text).toContain('### 1. First \u2705');
  });
});

describe('withTaskmasterLock', () => {
  it('waits for a held lock and takes over a stale one', async () => {
    const file = join(root, 'tasks.json');
    mkdirSync(`${file}.lock`);
    const started = Date.now();
    await withTaskmasterLock(file, async () => undefined, { staleMs: 300, waitMs: 5_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });
});
