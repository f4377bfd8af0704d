/**
 * A real temporary workspace for the command line specs: a git repository with nx.json registering nx-vtm, a
 * manifest, and task state written through the real store; and `runCli`, which runs the real `main.ts` in a separate
 * Node process (as a user's shell would) and collects its exit code and output.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hashManifest, hashTask } from '../../manifest/hash';
import { manifestSchema, type ManifestInput, type TaskInput } from '../../manifest/schema';
import { readProcessIdentity } from '../../state/process-identity';
import type { TaskOutcome } from '../../state/task-record';
import { openTaskStore, type IdentityPort, type TaskStore } from '../../state/task-store';
import { buildTaskInput } from '../../test-support/manifest-fixtures';
import { isolatedGitEnv, makeTempRepo, type TempRepo } from '../../workspace/test-support/git-fixture';

const MAIN = path.resolve(__dirname, '../main.ts');
/**
 * The transform of tools/ts-register.js with its output cached on disk (see that file). Measured here: a CLI run that
 * loads the store, the manifest code and git took 3.9 s of wall time with the plain hook on the shared 2-core machine
 * and 0.6 s with the cache warm; these specs start about 25 CLI processes.
 */
const TS_REGISTER = path.resolve(__dirname, '../../state/__fixtures__/ts-register-cached.js');

export const MANIFEST_FILE = 'docs/backlog/virtual-task-manifest.json';
export const STATE_FILE = 'docs/backlog/task-state.json';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliWorkspaceFixture {
  repo: TempRepo;
  root: string;
  /** The manifest's hash as a run records it (one manifest: its content hash). */
  manifestHash: string;
  /** Opens the real store of the workspace as this process (claims it makes are live while the spec runs). */
  openStore(): TaskStore;
  /** Opens the store as a process that is gone (its claims are stale to every other process). */
  openStoreAsDeadOwner(): TaskStore;
  /** Claims a task and ends the run with `outcome` through the real store. */
  finishTask(store: TaskStore, taskId: string, outcome: TaskOutcome): void;
  /** Claims a task and leaves it in progress. */
  claimTask(store: TaskStore, taskId: string): void;
  /** Runs `nx-vtm <args>` in `cwd` (default the workspace root); stdin is not a terminal. */
  runCli(args: readonly string[], cwd?: string): Promise<CliRun>;
  cleanup(): void;
}

/** The default manifest: A <- B (B depends on A), High-risk H with its test file, C with no dependencies. */
export const DEFAULT_TASKS: TaskInput[] = [
  buildTaskInput('A'),
  buildTaskInput('B', { depends_on_tasks: ['A'] }),
  buildTaskInput('H', { risk: 'High', test_verification: ['tests/h.spec.ts'] }),
  buildTaskInput('C', { slice: 'Slice 1.2' }),
];

export function makeCliWorkspace({ tasks = DEFAULT_TASKS, pluginOptions = {} }: { tasks?: TaskInput[]; pluginOptions?: Record<string, unknown> } = {}): CliWorkspaceFixture {
  const repo = makeTempRepo();
  const manifest: ManifestInput = { status: 'OK', tasks };
  const parsed = manifestSchema.parse(manifest);
  repo.commit(
    {
      'nx.json': JSON.stringify({ plugins: [{ plugin: 'nx-vtm', options: { manifest: MANIFEST_FILE, stateFile: STATE_FILE, ...pluginOptions } }] }, null, 2),
      [MANIFEST_FILE]: JSON.stringify(manifest, null, 2),
      'tests/h.spec.ts': 'test("h", () => {});\n',
    },
    'workspace',
  );
  const root = repo.root;
  const taskHashes = new Map(parsed.tasks.map((t) => [t.task_id, hashTask(t)]));
  const footprint = (taskId: string) => ({ taskId, fileScope: [], conflictsWith: [], exclusive: false });
  const claim = (store: TaskStore, taskId: string) => {
    const r = store.tryClaim({
      taskId,
      footprint: footprint(taskId),
      taskHash: taskHashes.get(taskId) ?? null,
      runId: 'RUN-SPEC',
      leaseMs: 10 * 60_000,
      wipLimit: 10,
      admit: () => ({ admit: true }),
      waitingSinceMs: Date.now(),
      reserveAfterMs: 60_000,
    });
    if (r.kind !== 'claimed') throw new Error(`fixture: cannot claim ${taskId}: ${r.kind}`);
    return r.token;
  };
  const home = fs.mkdtempSync(path.join(repo.root, '..', 'nx-vtm-home-'));
  const env = { ...isolatedGitEnv(home), NO_COLOR: '1' };

  return {
    repo,
    root,
    manifestHash: hashManifest(parsed),
    openStore: () => openTaskStore({ workspaceRoot: root, stateFile: STATE_FILE }),
    openStoreAsDeadOwner: () => {
      // This very process, with another start time: to anyone checking /proc, that process no longer exists.
      const ghost = { ...readProcessIdentity(), startTime: '0' };
      const identity: IdentityPort = { self: () => ghost, isAlive: () => true, identify: (pid) => readProcessIdentity(pid) };
      return openTaskStore({ workspaceRoot: root, stateFile: STATE_FILE, identity });
    },
    finishTask: (store, taskId, outcome) => {
      const token = claim(store, taskId);
      const r = store.finish({ taskId, token, outcome });
      if (!r.ok) throw new Error(`fixture: cannot finish ${taskId}: ${r.error.message}`);
    },
    claimTask: (store, taskId) => void claim(store, taskId),
    runCli: (args, cwd = root) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['-r', TS_REGISTER, MAIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      }),
    cleanup: () => {
      repo.cleanup();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
