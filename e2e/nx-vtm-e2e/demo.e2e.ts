/**
 * `npm run demo` (tools/demo.js), the README's first command, as a new user meets it: the first run implements slice
 * 1.1 of the text-utils demo through the real nx CLI with the replay agent, the second comes entirely from the Nx
 * cache without calling any agent, and slice 1.2 then builds on it. The demo repository lives in a temporary folder
 * (`--dir`), so a user's own tmp/demo is never touched. `--no-build`: the suite built the plugin already (`npm test`
 * and `npm run test:e2e` build first), and building it again here would only cost time.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/workspace';

interface ManifestTask {
  task_id: string;
  title: string;
  slice: string;
}
interface Run {
  code: number | null;
  output: string;
}

const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'tools/demo/manifest.json'), 'utf8')) as { tasks: ManifestTask[] };
const slice11 = manifest.tasks.filter((t) => t.slice === 'Slice 1.1');
const slice12 = manifest.tasks.filter((t) => t.slice === 'Slice 1.2');

const base = mkdtempSync(join(tmpdir(), 'vtm-demo-e2e-'));
const dir = join(base, 'demo');
afterAll(() => rmSync(base, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }));

const env = { ...process.env, NX_DAEMON: 'false', NX_TUI: 'false', NX_NO_CLOUD: 'true', FORCE_COLOR: '0', NO_COLOR: '1' };
function run(argv: string[], cwd: string): Run {
  const r = spawnSync(argv[0], argv.slice(1), { cwd, env, encoding: 'utf8', timeout: 200_000 });
  return { code: r.status, output: `${r.stdout ?? ''}\n${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}` };
}
const demo = (args: string[]) => run([process.execPath, join(REPO_ROOT, 'tools/demo.js'), '--dir', dir, '--no-build', ...args], REPO_ROOT);
/** Exit 0, or a failure that shows the command's output. */
const expectSuccess = (r: Run) => expect({ code: r.code, output: r.code === 0 ? '' : r.output }).toEqual({ code: 0, output: '' });

const git = (args: string[]) => run(['git', ...args], dir).output.trim();
const state = () => JSON.parse(readFileSync(join(dir, 'docs/backlog/task-state.json'), 'utf8')) as { tasks: Record<string, { status: string }> };
const statusOf = (tasks: ManifestTask[]) => Object.fromEntries(tasks.map((t) => [t.task_id, state().tasks[t.task_id]?.status]));
const allCompleted = (tasks: ManifestTask[]) => Object.fromEntries(tasks.map((t) => [t.task_id, 'completed']));
const claims = () =>
  readFileSync(join(dir, '.vtm/events.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; task_id: string | null })
    .filter((e) => e.type === 'claim');
const featCommits = () => git(['log', '--format=%s', '--no-merges', 'main']).split('\n').filter((s) => s.startsWith('feat('));
const latestReport = () => {
  const runs = join(dir, '.vtm/runs');
  const last = readdirSync(runs)
    .filter((d) => existsSync(join(runs, d, 'report.json')))
    .sort()
    .pop()!;
  return JSON.parse(readFileSync(join(runs, last, 'report.json'), 'utf8')) as { tasks: { task_id: string; outcome: string }[] };
};

describe('npm run demo', () => {
  let first: Run;
  beforeAll(() => {
    first = demo(['--fresh']);
  }, 240_000);

  it('implements every slice-1.1 task, and nothing of slice 1.2, and exits 0', () => {
    expectSuccess(first);
    expect(statusOf(slice11)).toEqual(allCompleted(slice11));
    for (const t of slice12) expect(state().tasks[t.task_id]?.status).not.toBe('completed');
  });

  it('shows the scheduling, the verification, the commits and where the records are', () => {
    expect(first.output).toMatch(/\[\S+--T01\] waiting: /);
    expect(first.output).toContain('[CONFIG_SCHEMA--T01] verification passed');
    expect(first.output).toContain(`nx-vtm: SUCCESS: ${slice11.length} completed, 0 from cache`);
    expect(first.output).toContain('What just happened');
    expect(first.output).toContain(join(dir, '.vtm/events.jsonl'));
    // Each task's live output is shown once: Nx's repeat of it under "> nx run <task>:implement" is left out.
    expect(first.output.match(/CORE_SLUG--T01: integrated into main/g)).toHaveLength(1);
  });

  it('commits each task once as feat(<task_id>): <title>, merged into main, and leaves the checkout clean', () => {
    expect(featCommits().sort()).toEqual(slice11.map((t) => `feat(${t.task_id}): ${t.title}`).sort());
    expect(git(['status', '--porcelain', '--untracked-files=no'])).toBe('');
    expect(claims()).toHaveLength(slice11.length);
  });

  it("leaves a library whose own test suite (npm test: node --test) passes", () => {
    const r = run(['npm', 'test'], dir);
    expectSuccess(r);
    expect(r.output).toMatch(/^# fail 0$/m);
    expect(Number(/^# pass (\d+)$/m.exec(r.output)?.[1])).toBeGreaterThanOrEqual(slice11.length);
  });

  it('serves every task from the Nx cache when run again, without applying any recording again', () => {
    const head = git(['rev-parse', 'HEAD']);
    const before = claims().length;
    const again = demo([]);
    expectSuccess(again);
    expect(again.output).toContain('Reusing');
    expect(again.output).toContain(`0 completed, ${slice11.length} from cache`);
    expect(again.output).toContain(`All ${slice11.length} tasks came from the Nx cache`);
    expect(claims()).toHaveLength(before);
    expect(git(['rev-parse', 'HEAD'])).toBe(head);
    expect(latestReport().tasks.filter((t) => slice11.some((s) => s.task_id === t.task_id)).map((t) => t.outcome)).toEqual(
      slice11.map(() => 'completed-from-cache'),
    );
  }, 240_000);

  it('then implements slice 1.2 on top of slice 1.1', () => {
    const before = claims().length;
    const r = run([process.execPath, join(dir, 'node_modules/nx/dist/bin/nx.js'), 'run-many', '-t', 'implement', '--projects=slice-1.2', '--outputStyle=stream'], dir);
    expectSuccess(r);
    expect(statusOf(manifest.tasks)).toEqual(allCompleted(manifest.tasks));
    // Only the new tasks ran an agent; slice 1.1 came from the cache.
    expect(claims().slice(before).map((e) => e.task_id).sort()).toEqual(slice12.map((t) => t.task_id).sort());
    expect(featCommits()).toHaveLength(manifest.tasks.length);
    expectSuccess(run(['npm', 'test'], dir));
    const cli = run([process.execPath, 'src/cli.js', 'slug', 'Hello World'], dir);
    expect(cli.output.trim()).toBe('hello-world');
  }, 240_000);
});
