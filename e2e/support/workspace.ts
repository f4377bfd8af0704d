/**
 * Real temporary Nx workspaces for e2e tests: a git repository with nx.json, the packed nx-vtm plugin installed in
 * node_modules, and the repository's own node_modules (nx 24.0.6 and the plugin's dependencies) linked in, so tests
 * run the real `nx` CLI against the real built package without a network install per test.
 */
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const REPO_ROOT = join(__dirname, '../..');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout + stderr, for assertions on messages that Nx prints to either. */
  output: string;
}

export interface TestWorkspace {
  root: string;
  /** Run the real nx CLI in the workspace. */
  nx(args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): RunResult;
  /** The same without blocking this process (needed when this process serves something nx talks to). */
  nxAsync(args: string[], opts?: { env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  git(args: string[]): string;
  write(rel: string, content: string | object): void;
  read(rel: string): string;
  commitAll(message: string): void;
  remove(): void;
}

function linkNodeModules(target: string): void {
  const source = join(REPO_ROOT, 'node_modules');
  mkdirSync(target, { recursive: true });
  for (const entry of readdirSync(source)) {
    if (entry === '.bin' || entry === 'nx-vtm' || entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      mkdirSync(join(target, entry), { recursive: true });
      for (const scoped of readdirSync(join(source, entry))) {
        symlinkSync(join(source, entry, scoped), join(target, entry, scoped), 'dir');
      }
    } else {
      symlinkSync(join(source, entry), join(target, entry), 'dir');
    }
  }
  // `npx nx ...` (what the demo tells a user to type) needs node_modules/.bin/nx; without it npx looks nx up in the
  // registry instead of using the linked one.
  mkdirSync(join(target, '.bin'), { recursive: true });
  symlinkSync('../nx/dist/bin/nx.js', join(target, '.bin/nx'), 'file');
}

function installPlugin(nodeModules: string): void {
  const tarball = process.env.NX_VTM_E2E_TARBALL;
  if (!tarball || !existsSync(tarball)) throw new Error('NX_VTM_E2E_TARBALL not set: the e2e globalSetup packs the plugin');
  const dir = join(nodeModules, 'nx-vtm');
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1']);
  // The package's bin, as npm would link it: `npx nx-vtm status` (what the docs tell a user to type) works here too.
  mkdirSync(join(nodeModules, '.bin'), { recursive: true });
  symlinkSync('../nx-vtm/src/cli/main.js', join(nodeModules, '.bin/nx-vtm'), 'file');
}

/**
 * Returns `track`: `track(w)` returns `w` and removes it once the test file's tests are done. Call it once, at the top
 * of a test file (it registers that file's afterAll).
 */
export function removeAfterAll<T extends { remove(): void }>(): (w: T) => T {
  const made: T[] = [];
  afterAll(() => {
    for (const w of made.splice(0)) w.remove();
  });
  return (w) => {
    made.push(w);
    return w;
  };
}

export function createTestWorkspace({
  plugins = [{ plugin: 'nx-vtm', options: {} }],
  files = {},
  nxJson = {},
  root = mkdtempSync(join(tmpdir(), 'vtm-e2e-')),
}: {
  plugins?: unknown[];
  files?: Record<string, string | object>;
  nxJson?: Record<string, unknown>;
  /** Directory to create the workspace in (must be empty or absent); a fresh temp dir by default. */
  root?: string;
} = {}): TestWorkspace {
  mkdirSync(root, { recursive: true });
  const write = (rel: string, content: string | object) => {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
  };
  write('package.json', { name: 'vtm-e2e-workspace', private: true, devDependencies: { nx: '24.0.6', 'nx-vtm': '0.1.0' } });
  write('nx.json', { analytics: false, plugins, ...nxJson });
  write('.gitignore', 'node_modules/\n.nx/\n.vtm/\n');
  write('.nxignore', '.vtm/\n');
  for (const [rel, content] of Object.entries(files)) write(rel, content);
  linkNodeModules(join(root, 'node_modules'));
  installPlugin(join(root, 'node_modules'));

  const git = (args: string[]) =>
    execFileSync('git', args, { cwd: root, encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
  git(['init', '-q', '-b', 'main']);
  git(['config', 'user.email', 'e2e@nx-vtm.test']);
  git(['config', 'user.name', 'nx-vtm e2e']);
  git(['config', 'commit.gpgsign', 'false']);
  git(['add', '-A']);
  git(['commit', '-q', '-m', 'initial']);

  const nxEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    ...process.env,
    NX_DAEMON: 'false',
    NX_NO_CLOUD: 'true',
    NX_TUI: 'false',
    NX_SKIP_NX_CACHE: undefined,
    CI: 'true',
    FORCE_COLOR: '0',
    ...extra,
  });
  const nxBin = join(root, 'node_modules/nx/dist/bin/nx.js');
  const nxAsync = (args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [nxBin, ...args], { cwd: root, env: nxEnv(opts.env) });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, output: `${stdout}\n${stderr}` }));
    });
  const nx = (args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): RunResult => {
    const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [nxBin, ...args], {
      cwd: root,
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 120_000,
      env: nxEnv(opts.env),
    });
    const stdout = r.stdout ?? '';
    const stderr = r.stderr ?? '';
    return { code: r.status ?? -1, stdout, stderr, output: `${stdout}\n${stderr}` };
  };

  return {
    root,
    nx,
    nxAsync,
    git,
    write,
    read: (rel) => readFileSync(join(root, rel), 'utf8'),
    commitAll: (message) => {
      git(['add', '-A']);
      git(['commit', '-q', '-m', message]);
    },
    remove: () => rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }),
  };
}
