#!/usr/bin/env node
/**
 * The trivial agent of the end-to-end benchmark (tools/bench/e2e10k.js), following the `command` adapter's contract:
 * reads its task from $VTM_TASK_FILE and the prompt from stdin, answers with the completed-task JSON at once. Appends
 * {"taskId","start","end"} to $TRIVIAL_AGENT_LOG (one short line: the benchmark counts tasks done by it). Changes no
 * file unless $TRIVIAL_AGENT_WRITE is set; then it writes one file of its scope (the first entry, or a file in it
 * when the entry is a directory).
 */
const fs = require('node:fs');
const path = require('node:path');

const start = Date.now();
const task = JSON.parse(fs.readFileSync(process.env.VTM_TASK_FILE, 'utf8'));
process.stdin.resume();
process.stdin.on('data', () => {});
process.stdin.on('end', () => {
  const written = [];
  if (process.env.TRIVIAL_AGENT_WRITE && task.file_scope.length > 0) {
    const entry = task.file_scope[0];
    const file = entry.endsWith('/') ? `${entry}${task.task_id}.ts` : entry;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `export const task = ${JSON.stringify(task.task_id)};\n`);
    written.push(file);
  }
  if (process.env.TRIVIAL_AGENT_LOG) fs.appendFileSync(process.env.TRIVIAL_AGENT_LOG, `${JSON.stringify({ taskId: task.task_id, start, end: Date.now() })}\n`);
  console.log(
    JSON.stringify({
      task_id: task.task_id,
      status: 'completed',
      acs_completed: task.acceptance_criteria.map((a) => a.id),
      acs_remaining: [],
      files_modified: written,
      test_results: { total: 0, passing: 0, failing: 0 },
      blockers: [],
      duration_minutes: 0,
    }),
  );
});
