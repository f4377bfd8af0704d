#!/usr/bin/env node
/**
 * `npm run demo`: build the plugin, create (or reuse) the example repository tmp/demo, and implement its first slice
 * through the real nx CLI. Scheduling, worktrees, scope audits, verification, commits and merges are the real thing;
 * the "agent" is the replay adapter, which applies each task's recorded patch (tools/demo/recordings/, made by
 * tools/demo/record.js) after a short delay, so the demo is deterministic, offline and free.
 *
 *   npm run demo                      create tmp/demo if needed and run slice 1.1 (run it again: all from the Nx cache)
 *   npm run demo -- --fresh           start over with a new repository
 *   npm run demo -- --dir <path>      use another folder (tests use a temporary one); disposable, like tmp/demo
 *   npm run demo -- --no-build        use dist/packages/nx-vtm as it is
 *
 * The demo folder is disposable: --fresh, or a change to the demo's files, deletes and recreates it.
 * Exits with nx's exit code when the run fails.
 */
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { MANIFEST_PATH, RECORDINGS_DIR, getRepoFiles, readManifest } = require('./demo/repo-files');
const { dim, formatNextSteps, formatPlan, formatRunLegend, formatStep, formatSummary } = require('./demo/format');
const { createOutputFilter } = require('./demo/output-filter');

const ROOT = path.resolve(__dirname, '..');
const DEFAULT_DIR = path.join(ROOT, 'tmp/demo');
const RECORDINGS_SOURCE = path.join(__dirname, 'demo/recordings');
const SLICE = { name: 'Slice 1.1', project: 'slice-1.1' };
const STATE_FILE = 'docs/backlog/task-state.json';
/** Written into the demo repository's .git/: marks a folder this script may delete, and what it was made from. */
const STAMP_FILE = '.git/nx-vtm-demo.json';
const USAGE = 'usage: node tools/demo.js [--fresh] [--dir <path>] [--no-build]';

class DemoError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** A path as the user can type it from where they are. */
function show(p) {
  const rel = path.relative(process.cwd(), p);
  return rel === '' ? '.' : rel.startsWith('..') ? p : rel;
}

function parseCommandLine(argv) {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { fresh: { type: 'boolean' }, dir: { type: 'string' }, 'no-build': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
    return values;
  } catch (e) {
    throw new DemoError(`${e.message}\n${USAGE}`, 2);
  }
}

/** Build the plugin (unless told not to) and pack it as a user installs it; returns the tarball. */
function buildAndPack({ build, packDir }) {
  console.log(formatStep(build ? 'Building the plugin' : 'Using the built plugin (dist/packages/nx-vtm)'));
  const dist = path.join(ROOT, 'dist/packages/nx-vtm');
  if (build) {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'build.js')], { stdio: 'inherit' });
    if (r.status !== 0) throw new DemoError('building the plugin failed (see above)', r.status ?? 1);
  } else if (!fs.existsSync(path.join(dist, 'package.json'))) {
    throw new DemoError('dist/packages/nx-vtm is missing; run without --no-build');
  }
  fs.rmSync(packDir, { recursive: true, force: true });
  fs.mkdirSync(packDir, { recursive: true });
  const packed = JSON.parse(
    execFileSync('npm', ['pack', dist, '--pack-destination', packDir, '--json', '--ignore-scripts'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  );
  return path.join(packDir, packed[0].filename);
}

/** Everything the demo repository is made of, and a stamp of it (a changed stamp makes an existing repository stale). */
function getDemoSource() {
  const manifest = readManifest();
  const pluginOptions = { manifest: MANIFEST_PATH, wipLimit: 3, agent: { adapter: 'replay', replayDir: RECORDINGS_DIR } };
  const recordings = Object.fromEntries(
    fs
      .readdirSync(RECORDINGS_SOURCE)
      .sort()
      .map((name) => [`${RECORDINGS_DIR}/${name}`, fs.readFileSync(path.join(RECORDINGS_SOURCE, name), 'utf8')]),
  );
  const files = {
    ...getRepoFiles({ manifest }),
    ...recordings,
    // As `nx g nx-vtm:init` writes it: run-time files are invisible to Nx.
    '.nxignore': `.vtm/\n${STATE_FILE}\n`,
  };
  const stamp = createHash('sha256').update(JSON.stringify({ files, pluginOptions })).digest('hex').slice(0, 16);
  return { manifest, pluginOptions, files, stamp };
}

function readStamp(demoDir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(demoDir, STAMP_FILE), 'utf8')).stamp;
  } catch {
    return undefined;
  }
}

/** Create the demo repository, or reuse it when it was made from the same source; installs the plugin either way. */
function prepareRepository({ demoDir, fresh, tarball, source }) {
  const existingStamp = readStamp(demoDir);
  const isEmpty = !fs.existsSync(demoDir) || fs.readdirSync(demoDir).length === 0;
  // Delete only folders this script made (or the default tmp/demo, which older versions made without a stamp).
  if (!isEmpty && existingStamp === undefined && demoDir !== DEFAULT_DIR) {
    throw new DemoError(`${show(demoDir)} exists and is not a demo repository made by tools/demo.js; choose another --dir`);
  }
  const reuse = !isEmpty && !fresh && existingStamp === source.stamp;
  if (!isEmpty && !reuse) {
    console.log(formatStep(`Removing ${show(demoDir)} (${fresh ? '--fresh' : 'it was made from an older version of the demo'})`));
    fs.rmSync(demoDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }

  if (reuse) {
    console.log(formatStep(`Reusing ${show(demoDir)} (--fresh starts over)`));
    // The freshly built plugin replaces the installed one.
    const target = path.join(demoDir, 'node_modules/nx-vtm');
    fs.rmSync(target, { recursive: true, force: true });
    fs.mkdirSync(target, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
    return;
  }
  console.log(formatStep(`Creating ${show(demoDir)}: a git repository with nx, nx-vtm, a manifest and the recordings`));
  process.env.NX_VTM_E2E_TARBALL = tarball; // where createTestWorkspace installs the plugin from
  require('./ts-register');
  const { createTestWorkspace } = require('../e2e/support/workspace.ts');
  const ws = createTestWorkspace({ root: demoDir, plugins: [{ plugin: 'nx-vtm', options: source.pluginOptions }], files: source.files });
  // What a user does after editing a manifest: `nx sync` writes the files the verify targets hash; commit them.
  const sync = ws.nx(['sync']);
  if (sync.code !== 0) throw new DemoError(`nx sync failed in ${show(demoDir)}:\n${sync.output.trim()}`);
  if (ws.git(['status', '--porcelain']).trim() !== '') ws.commitAll('chore: nx sync (task snapshots for verify)');
  fs.writeFileSync(path.join(demoDir, STAMP_FILE), `${JSON.stringify({ stamp: source.stamp, createdAt: new Date().toISOString() }, null, 2)}\n`);
  console.log(`nx.json registers nx-vtm with the replay agent: "agent": ${JSON.stringify(source.pluginOptions.agent)}`);
}

/** Run nx in the demo repository, its output streamed through the demo's filter; resolves with its exit code. */
function runNx({ demoDir, args, taskIds }) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(demoDir, 'node_modules/nx/dist/bin/nx.js'), ...args], {
      cwd: demoDir,
      stdio: ['inherit', 'pipe', 'inherit'],
      env: {
        ...process.env,
        NX_DAEMON: 'false',
        NX_TUI: 'false',
        NX_NO_CLOUD: 'true',
        ...(process.stdout.isTTY && !process.env.NO_COLOR ? { FORCE_COLOR: '1' } : {}),
      },
    });
    const filter = createOutputFilter({ taskIds, write: (text) => process.stdout.write(text), dim });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => filter.push(chunk));
    // Ctrl-C reaches nx too (same process group); wait for it to stop its agents and say what it recorded.
    const ignore = () => {};
    process.on('SIGINT', ignore);
    child.on('close', (code, signal) => {
      process.off('SIGINT', ignore);
      filter.end();
      resolve({ code, signal });
    });
  });
}

function readJsonLines(file) {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** Ids of the tasks task-state.json records as completed (none when there is no state yet). */
function readCompleted(stateFile) {
  try {
    const { tasks } = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    return new Set(Object.entries(tasks).filter(([, t]) => t.status === 'completed').map(([id]) => id));
  } catch {
    return new Set();
  }
}

async function main() {
  const args = parseCommandLine(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const demoDir = args.dir ? path.resolve(args.dir) : DEFAULT_DIR;
  const tarball = buildAndPack({ build: !args['no-build'], packDir: `${demoDir}-pack` });
  const source = getDemoSource();
  prepareRepository({ demoDir, fresh: Boolean(args.fresh), tarball, source });
  const { manifest } = source;

  console.log(formatStep('The plan'));
  console.log(formatPlan({ manifest, manifestPath: MANIFEST_PATH, runSlice: SLICE.name, wipLimit: source.pluginOptions.wipLimit }));

  const git = (gitArgs) => execFileSync('git', gitArgs, { cwd: demoDir, encoding: 'utf8' }).trim();
  const runsDir = path.join(demoDir, '.vtm/runs');
  const listRuns = () => (fs.existsSync(runsDir) ? fs.readdirSync(runsDir) : []);
  const runsBefore = new Set(listRuns());
  const headBefore = git(['rev-parse', 'HEAD']);
  const nxArgs = ['run-many', '-t', 'implement', `--projects=${SLICE.project}`, '--outputStyle=stream'];
  console.log(formatStep(`Implementing ${SLICE.name}: nx ${nxArgs.join(' ')}`));
  const sliceIds = manifest.tasks.filter((t) => t.slice === SLICE.name).map((t) => t.task_id);
  const done = readCompleted(path.join(demoDir, STATE_FILE));
  console.log(
    sliceIds.every((id) => done.has(id))
      ? dim(`All ${sliceIds.length} tasks are recorded as completed: unless their manifest entries changed, Nx restores them from its cache.`)
      : formatRunLegend(),
  );
  const started = Date.now();
  const nx = await runNx({ demoDir, args: nxArgs, taskIds: manifest.tasks.map((t) => t.task_id) });
  const seconds = Math.round((Date.now() - started) / 1000);

  console.log(formatStep('What just happened'));
  const runId = listRuns()
    .filter((d) => !runsBefore.has(d) && fs.existsSync(path.join(runsDir, d, 'report.json')))
    .sort()
    .pop();
  const report = runId ? JSON.parse(fs.readFileSync(path.join(runsDir, runId, 'report.json'), 'utf8')) : undefined;
  const eventsFile = path.join(demoDir, '.vtm/events.jsonl');
  const newCommits = git(['log', '--oneline', '--no-merges', `${headBefore}..HEAD`]);
  console.log(
    formatSummary({
      report,
      claims: runId ? readJsonLines(eventsFile).filter((e) => e.type === 'claim' && e.run_id === runId).length : 0,
      commits: newCommits ? newCommits.split('\n') : [],
      allCommits: git(['log', '--oneline', '--no-merges']).split('\n'),
      paths: {
        state: show(path.join(demoDir, STATE_FILE)),
        events: show(eventsFile),
        report: runId ? show(path.join(runsDir, runId, 'report.md')) : undefined,
      },
      seconds,
      taskIds: sliceIds,
    }),
  );
  if (nx.code !== 0) throw new DemoError(
      `nx exited with ${nx.code ?? nx.signal}: the run failed (see the blockers above); --fresh starts over with a new demo repository`,
      nx.code || 1,
    );

  console.log(formatStep('Try next'));
  console.log(
    formatNextSteps({
      cdPath: show(demoDir),
      demoCommand: demoDir === DEFAULT_DIR ? 'npm run demo' : `node ${show(__filename)} --dir ${show(demoDir)}`,
    }),
  );
  return 0;
}

// exitCode, not exit(): let everything written to stdout reach the reader first.
main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    if (!(e instanceof DemoError)) throw e;
    console.error(`\ndemo: ${e.message}`);
    process.exitCode = e.exitCode;
  },
);
