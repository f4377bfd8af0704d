#!/usr/bin/env node
// A scripted planner for the plan specs (the command adapter contract): reads the prompt on stdin, keeps it in
// $VTM_WORKSPACE_ROOT/.planner/prompt-<round>.txt, and answers by mode (argv[2]):
//   repair  round 1: an answer with errors (an id of the existing manifest, a task without acceptance criteria, an
//           unknown dependency) in the result file; round 2: the fixed plan as the last JSON line of stdout
//   never   always an invalid answer
//   flaky   the first call exits 75 (EX_TEMPFAIL: try again) after a line on stderr; then as `repair`
const fs = require('node:fs');
const path = require('node:path');
const mode = process.argv[2];
const round = Number(process.env.VTM_PLAN_ROUND);
let prompt = '';
process.stdin.on('data', (d) => (prompt += d));
process.stdin.on('end', () => {
  const dir = path.join(process.env.VTM_WORKSPACE_ROOT, '.planner');
  fs.mkdirSync(dir, { recursive: true });
  const calls = path.join(dir, 'calls');
  fs.appendFileSync(calls, `${round}\n`);
  if (mode === 'flaky' && fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean).length === 1) {
    console.error('model overloaded, try again');
    process.exit(75);
  }
  fs.writeFileSync(path.join(dir, `prompt-${round}.txt`), `VTM_PLAN=${process.env.VTM_PLAN}\n${prompt}`);
  const task = (id, over = {}) => ({ task_id: id, title: `Do ${id}`, risk: 'Low', acceptance_criteria: [{ id: `${id}-AC01`, text: 'works' }], file_scope: [`src/${id.toLowerCase()}/`], ...over });
  const bad = { tasks: [task('A'), task('OAUTH--T02', { acceptance_criteria: 'none' }), task('OAUTH--T03', { depends_on_tasks: ['NOPE'] })] };
  const good = { tasks: [task('OAUTH--T01', { depends_on_tasks: ['A'] }), task('OAUTH--T02', { depends_on_tasks: ['OAUTH--T01'], risk: 'High', test_verification: ['tests/oauth.spec.ts'] })] };
  if ((mode === 'repair' || mode === 'flaky') && round >= 2) {
    console.log('thinking...');
    console.log(JSON.stringify(good));
  } else {
    fs.writeFileSync(process.env.VTM_RESULT_FILE, JSON.stringify(bad));
    console.log('wrote my answer');
  }
});
