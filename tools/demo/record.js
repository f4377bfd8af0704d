#!/usr/bin/env node
/**
 * Record the demo's "agent": for every task of tools/demo/manifest.json, turn its implementation and test
 * (tools/demo/tasks/<task_id>/, laid out as in the repository) into the patch the replay adapter applies
 * (tools/demo/recordings/<task_id>.patch, made by git) and the agent's simulated return (<task_id>.json).
 *
 *   node tools/demo/record.js           write tools/demo/recordings/
 *   node tools/demo/record.js --check   exit 1 when the committed recordings differ from a fresh recording
 *
 * It builds the patches in a temporary git repository holding the demo repository's own files (repo-files.js),
 * task by task in dependency order, and on the way proves what the demo relies on: every file lies inside the task's
 * file_scope, every test_verification file fails before the task's files exist and passes after, and at the end the
 * library's whole test suite (`node --test`, the demo repository's `npm test`) passes.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { getRepoFiles, readManifest } = require('./repo-files');

const TASKS_DIR = path.join(__dirname, 'tasks');
const RECORDINGS = path.join(__dirname, 'recordings');

/** Simulated agent time per size: long enough to watch tasks wait and run side by side, short enough to sit through. */
const DELAY_MS = { XS: 1000, S: 1500, M: 2500, L: 2500, XL: 2500 };
/** What a real agent might report as its duration, per size (the report is a claim; nx-vtm measures its own). */
const REPORTED_MINUTES = { XS: 3, S: 6, M: 14, L: 25, XL: 40 };

class RecordError extends Error {}

/** Tasks in dependency order (manifest order among the ready ones). Pure. */
function orderTasks(tasks) {
  const done = new Set();
  const ordered = [];
  while (ordered.length < tasks.length) {
    const next = tasks.find((t) => !done.has(t.task_id) && t.depends_on_tasks.every((d) => done.has(d)));
    if (!next) throw new RecordError('manifest: dependency cycle or unknown dependency');
    done.add(next.task_id);
    ordered.push(next);
  }
  return ordered;
}

/** Whether `file` is inside a file_scope entry (a file, or a directory written with a trailing "/"). Pure. */
const inScope = (file, scope) => scope.some((s) => (s.endsWith('/') ? file.startsWith(s) : file === s));

function listFiles(dir, base = dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name)).split(path.sep).join('/')]))
    .sort();
}

function run(argv, cwd) {
  const r = spawnSync(argv[0], argv.slice(1), { cwd, encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0', NODE_OPTIONS: '' } });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

// Pinned so that a developer's git config (noprefix, mnemonic prefixes, colour, abbreviation) cannot change a patch.
const GIT = ['git', '-c', 'diff.noprefix=false', '-c', 'diff.mnemonicPrefix=false', '-c', 'diff.relative=false', '-c', 'core.autocrlf=false', '-c', 'color.ui=false'];
function git(args, cwd) {
  const r = run([...GIT, ...args], cwd);
  if (r.code !== 0) throw new RecordError(`git ${args.join(' ')} failed: ${r.out.trim()}`);
  return r.out;
}

/** Test counts from node's TAP summary. Pure. */
function parseTapCounts(out) {
  const count = (name) => Number((new RegExp(`^# ${name} (\\d+)$`, 'm').exec(out) ?? [])[1] ?? 0);
  return { total: count('tests'), passing: count('pass'), failing: count('fail') };
}

function runTests(files, cwd) {
  return run([process.execPath, '--test', '--test-reporter=tap', ...files], cwd);
}

function writeRepoFile(root, rel, content) {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
}

/**
 * Record every task. Returns the recordings (file name -> content) and one line per task saying what was proven.
 * Throws RecordError when a task's files or tests do not do what the demo needs.
 */
function recordAll({ log = () => {} } = {}) {
  const manifest = readManifest();
  const tasks = orderTasks(manifest.tasks);
  const known = new Set(tasks.map((t) => t.task_id));
  const strays = fs.existsSync(TASKS_DIR) ? fs.readdirSync(TASKS_DIR).filter((d) => !known.has(d)) : [];
  if (strays.length > 0) throw new RecordError(`tools/demo/tasks/ has folders of tasks not in the manifest: ${strays.join(', ')}`);

  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-demo-record-'));
  const recordings = {};
  try {
    for (const [rel, content] of Object.entries(getRepoFiles({ manifest }))) writeRepoFile(repo, rel, content);
    git(['init', '-q', '-b', 'main'], repo);
    git(['config', 'user.email', 'demo@nx-vtm.test'], repo);
    git(['config', 'user.name', 'nx-vtm demo'], repo);
    git(['config', 'commit.gpgsign', 'false'], repo);
    git(['add', '-A'], repo);
    git(['commit', '-q', '-m', 'initial'], repo);

    for (const task of tasks) {
      const id = task.task_id;
      const sourceDir = path.join(TASKS_DIR, id);
      const files = listFiles(sourceDir);
      if (files.length === 0) throw new RecordError(`${id}: no files in tools/demo/tasks/${id}/; write the task's implementation and test there`);
      const outside = files.filter((f) => !inScope(f, task.file_scope));
      if (outside.length > 0) throw new RecordError(`${id}: ${outside.join(', ')} outside file_scope ${JSON.stringify(task.file_scope)}`);
      const tests = task.test_verification;
      const missing = tests.filter((t) => !files.includes(t));
      if (tests.length === 0 || missing.length > 0) throw new RecordError(`${id}: test_verification ${JSON.stringify(tests)} must be among the task's files`);

      // A test that passes without the implementation proves nothing; the demo's verification step must be able to fail.
      const before = runTests(tests, repo);
      if (before.code === 0) throw new RecordError(`${id}: ${tests.join(' ')} passes before the task's files exist; it must fail without them`);
      for (const f of files) writeRepoFile(repo, f, fs.readFileSync(path.join(sourceDir, f), 'utf8'));
      const after = runTests(tests, repo);
      const counts = parseTapCounts(after.out);
      if (after.code !== 0) throw new RecordError(`${id}: ${tests.join(' ')} fails with the task's files:\n${after.out}`);

      git(['add', '-A'], repo);
      const changed = git(['diff', '--cached', '--name-only'], repo).split('\n').filter(Boolean).sort();
      if (changed.join('\n') !== files.join('\n')) throw new RecordError(`${id}: the patch would change ${changed.join(', ')}, not exactly ${files.join(', ')}`);
      const patch = git(['diff', '--cached', '--binary', '--full-index', '--no-ext-diff', '--no-renames', '--src-prefix=a/', '--dst-prefix=b/'], repo);
      git(['commit', '-q', '-m', `feat(${id}): ${task.title}`], repo);

      const size = task.est?.size ?? 'S';
      recordings[`${id}.patch`] = patch;
      recordings[`${id}.json`] = `${JSON.stringify(
        {
          delayMs: DELAY_MS[size] ?? DELAY_MS.S,
          report: {
            task_id: id,
            status: 'completed',
            acs_completed: task.acceptance_criteria.map((ac) => ac.id),
            acs_remaining: [],
            files_modified: files,
            test_results: counts,
            blockers: [],
            duration_minutes: REPORTED_MINUTES[size] ?? REPORTED_MINUTES.S,
          },
        },
        null,
        2,
      )}\n`;
      log(`${id.padEnd(22)} ${files.length} files, ${tests.join(' ')}: fails without, ${counts.passing}/${counts.total} pass with`);
    }

    const all = runTests([], repo);
    if (all.code !== 0) throw new RecordError(`the library's own test suite (node --test) fails after every task:\n${all.out}`);
    log(`all tasks applied: node --test passes (${parseTapCounts(all.out).passing} tests)`);
  } finally {
    fs.rmSync(repo, { recursive: true, force: true });
  }
  return recordings;
}

/** Names of recordings that differ from (or are missing in, or extra in) the committed folder. */
function diffRecordings(recordings, dir = RECORDINGS) {
  const existing = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  const names = new Set([...existing, ...Object.keys(recordings)]);
  return [...names].filter((n) => !fs.existsSync(path.join(dir, n)) || recordings[n] !== fs.readFileSync(path.join(dir, n), 'utf8')).sort();
}

function main() {
  const check = process.argv.includes('--check');
  let recordings;
  try {
    recordings = recordAll({ log: (line) => console.log(line) });
  } catch (e) {
    if (!(e instanceof RecordError)) throw e;
    console.error(`record: ${e.message}`);
    process.exit(1);
  }
  const changed = diffRecordings(recordings);
  if (check) {
    if (changed.length > 0) {
      console.error(`record: tools/demo/recordings/ is out of date (${changed.join(', ')}); run \`node tools/demo/record.js\``);
      process.exit(1);
    }
    console.log('tools/demo/recordings/ is up to date');
    return;
  }
  fs.rmSync(RECORDINGS, { recursive: true, force: true });
  fs.mkdirSync(RECORDINGS, { recursive: true });
  for (const [name, content] of Object.entries(recordings)) fs.writeFileSync(path.join(RECORDINGS, name), content);
  console.log(`wrote ${Object.keys(recordings).length} files to ${path.relative(process.cwd(), RECORDINGS) || '.'} (${changed.length} changed)`);
}

if (require.main === module) main();

module.exports = { recordAll, diffRecordings, orderTasks, parseTapCounts, RECORDINGS, RecordError };
