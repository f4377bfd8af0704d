#!/usr/bin/env node
/**
 * A deterministic stand-in coding agent for e2e tests and benchmarks (the `command` adapter's contract): reads its
 * task from $VTM_TASK_FILE, writes real files into the task's scope, answers with the seed's return JSON.
 *
 * Behaviour per task from $SCRIPTED_AGENT_PLAN (JSON: { "<task_id>": { ... }, "*": { ... } }):
 *   sleepMs       simulated work time
 *   failTests     write test files whose tests fail
 *   outOfScope    also write this workspace-relative file (outside the task's scope)
 *   exitCode      exit with this code after writing nothing
 *   apiError      print an error JSON and exit 0 (agent CLIs do this)
 *   content       text written into implementation files (default: a module naming the task)
 *   writeScope    "all" (default): a file for every file_scope entry; "first": only for the first entry (benchmarks,
 *                 so that shared hot paths such as package.json are never overwritten); "none": no scope files.
 *                 Test files (test_verification) are written in every mode.
 *   Adversarial behaviours (the pipeline must not be fooled by them):
 *   testWrites    a workspace-relative path each test file writes when it runs (a test with side effects)
 *   git           git argv lists run after writing, e.g. [["checkout","-q","-b","side"],["add","-A"],["commit","-qm","x"]]
 *   lingerWrite   { "path", "afterMs" }: a detached process the agent leaves behind writes this file later
 *   rootWrites    workspace-relative paths also written under $VTM_WORKSPACE_ROOT (the main checkout, not the worktree
 *                 the agent runs in), as a command agent that takes that variable for its working place would
 *   noAcs         report no acceptance criteria at all (neither completed nor remaining)
 *   files         { "<path>": "<content>" } written verbatim after the scope and test files (realistic code and tests)
 *   removeFiles   workspace-relative paths deleted after writing (e.g. a repair that undoes an out-of-scope file)
 *   repairs       { "<round>": { ... } }: overrides for repair round <round> ($VTM_REPAIR_ROUND), e.g.
 *                 { "failTests": true, "repairs": { "1": { "failTests": false } } } fails, then is repaired
 *   summary       a "summary" for the return JSON (handed to dependent tasks)
 *   notes         "notes" for the return JSON (a string or a list; handed to dependent tasks)
 *   resultFile    also write the return JSON to $VTM_RESULT_FILE (as the command adapter's contract allows)
 * Every start and end is appended to $SCRIPTED_AGENT_LOG as {"event","taskId","pid","at","cwd"} (concurrency checks).
 */
const fs = require('node:fs');
const path = require('node:path');

const task = JSON.parse(fs.readFileSync(process.env.VTM_TASK_FILE, 'utf8'));
const plan = JSON.parse(process.env.SCRIPTED_AGENT_PLAN || '{}');
const round = process.env.VTM_REPAIR_ROUND || '';
const base = { ...(plan['*'] || {}), ...(plan[task.task_id] || {}) };
const step = { ...base, ...((round && base.repairs && base.repairs[round]) || {}) };
const log = (event, extra = {}) => {
  if (!process.env.SCRIPTED_AGENT_LOG) return;
  fs.appendFileSync(
    process.env.SCRIPTED_AGENT_LOG,
    `${JSON.stringify({ event, taskId: task.task_id, pid: process.pid, at: Date.now(), cwd: process.cwd(), ...(round ? { round: Number(round) } : {}), ...extra })}\n`,
  );
};

// The prompt arrives on stdin; keep it (tests check that task text arrives verbatim).
let stdin = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => (stdin += d));
process.stdin.on('end', async () => {
  log('start', { promptBytes: Buffer.byteLength(stdin) });
  if (process.env.SCRIPTED_AGENT_PROMPT_DIR) {
    fs.mkdirSync(process.env.SCRIPTED_AGENT_PROMPT_DIR, { recursive: true });
    fs.writeFileSync(path.join(process.env.SCRIPTED_AGENT_PROMPT_DIR, `${task.task_id}${round ? `.repair-${round}` : ''}.md`), stdin);
  }
  if (step.sleepMs) await new Promise((r) => setTimeout(r, step.sleepMs));
  if (step.exitCode) {
    log('end');
    process.stderr.write(`scripted agent: failing with exit code ${step.exitCode}\n`);
    process.exit(step.exitCode);
  }
  if (step.apiError) {
    log('end');
    console.log(JSON.stringify({ type: 'error', message: 'API Error: 500 Internal Server Error' }));
    process.exit(0);
  }
  const written = [];
  const write = (rel, text) => {
    fs.mkdirSync(path.dirname(rel), { recursive: true });
    fs.writeFileSync(rel, text);
    written.push(rel);
  };
  const tests = new Set(task.test_verification || []);
  const scope = task.file_scope || [];
  const entries = step.writeScope === 'none' ? [] : step.writeScope === 'first' ? scope.slice(0, 1) : scope;
  for (const entry of entries) {
    if (entry.endsWith('/')) {
      const file = path.posix.join(entry, `${task.task_id.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.js`);
      write(file, step.content ?? `module.exports = { task: ${JSON.stringify(task.task_id)} };\n`);
    } else if (!tests.has(entry)) {
      write(entry, step.content ?? `module.exports = { task: ${JSON.stringify(task.task_id)} };\n`);
    }
  }
  for (const t of tests) {
    const assertion = step.failTests ? 'assert.equal(1, 2)' : 'assert.equal(1, 1)';
    const sideEffect = step.testWrites ? `require('node:fs').writeFileSync(${JSON.stringify(step.testWrites)}, 'written by a test\\n');\n` : '';
    write(t, `const test = require('node:test');\nconst assert = require('node:assert');\n${sideEffect}test(${JSON.stringify(`${task.task_id} works`)}, () => { ${assertion}; });\n`);
  }
  for (const [rel, text] of Object.entries(step.files || {})) write(rel, text);
  for (const rel of step.rootWrites || []) write(path.join(process.env.VTM_WORKSPACE_ROOT, rel), `written in the main checkout by ${task.task_id}\n`);
  if (step.outOfScope) write(step.outOfScope, 'outside the scope\n');
  for (const rel of step.removeFiles || []) fs.rmSync(rel, { force: true });
  for (const argv of step.git || []) require('node:child_process').execFileSync('git', argv, { stdio: 'ignore' });
  if (step.lingerWrite) {
    const code = `setTimeout(() => require('node:fs').writeFileSync(${JSON.stringify(path.resolve(step.lingerWrite.path))}, 'written by a leftover process\\n'), ${Number(step.lingerWrite.afterMs) || 0});`;
    require('node:child_process').spawn(process.execPath, ['-e', code], { detached: true, stdio: 'ignore' }).unref();
  }
  log('end', { written });
  console.log('working...');
  const report = {
    task_id: task.task_id,
    status: 'completed',
    ...(step.noAcs ? {} : { acs_completed: task.acceptance_criteria.map((a) => a.id), acs_remaining: [] }),
    files_modified: written,
    test_results: { total: tests.size, passing: step.failTests ? 0 : tests.size, failing: step.failTests ? tests.size : 0 },
    blockers: [],
    duration_minutes: 0,
    ...(step.summary !== undefined ? { summary: step.summary } : {}),
    ...(step.notes !== undefined ? { notes: step.notes } : {}),
  };
  if (step.resultFile) fs.writeFileSync(process.env.VTM_RESULT_FILE, JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report));
});
