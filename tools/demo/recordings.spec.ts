/**
 * The demo's recorded "agent" (tools/demo/recordings/) is what tools/demo/record.js makes of the task sources in
 * tools/demo/tasks/, and recording proves what the demo relies on: each task's files lie inside its file_scope, its
 * test_verification files fail without its files and pass with them, and the finished library's `node --test` passes.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface DemoTask {
  task_id: string;
  risk: string;
  slice: string;
  file_scope: string[];
  conflicts_with: string[];
  acceptance_criteria: { id: string }[];
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { recordAll, diffRecordings, RECORDINGS } = require('./record') as {
  recordAll(): Record<string, string>;
  diffRecordings(recordings: Record<string, string>): string[];
  RECORDINGS: string;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { getTaskNotes } = require('./format') as { getTaskNotes(task: DemoTask, tasks: DemoTask[]): string[] };

const manifest = JSON.parse(readFileSync(join(__dirname, 'manifest.json'), 'utf8')) as { tasks: DemoTask[] };

describe('demo recordings', () => {
  it('are up to date with tools/demo/tasks (else run `node tools/demo/record.js`)', () => {
    // recordAll throws when a task's tests pass without its files, fail with them, or its files leave file_scope.
    expect(diffRecordings(recordAll())).toEqual([]);
  }, 90_000);

  it('hold a patch and a seed-format return with a visible delay for every task, inside its file scope', () => {
    expect(readdirSync(RECORDINGS).sort()).toEqual(manifest.tasks.flatMap((t) => [`${t.task_id}.json`, `${t.task_id}.patch`]).sort());
    for (const task of manifest.tasks) {
      const { delayMs, report } = JSON.parse(readFileSync(join(RECORDINGS, `${task.task_id}.json`), 'utf8'));
      expect(delayMs).toBeGreaterThanOrEqual(1000);
      expect(delayMs).toBeLessThanOrEqual(2500);
      expect(report).toMatchObject({ task_id: task.task_id, status: 'completed', acs_remaining: [], blockers: [] });
      expect(report.acs_completed).toEqual(task.acceptance_criteria.map((a) => a.id));
      const patched = [...readFileSync(join(RECORDINGS, `${task.task_id}.patch`), 'utf8').matchAll(/^\+\+\+ b\/(.+)$/gm)].map((m) => m[1]);
      expect(patched.sort()).toEqual([...report.files_modified].sort());
      for (const file of patched) expect(task.file_scope.some((s) => (s.endsWith('/') ? file.startsWith(s) : file === s))).toBe(true);
    }
  });
});

describe('demo manifest', () => {
  it('shows every scheduling rule: dependencies, an overlapping scope, a declared conflict and a High-risk task', () => {
    const notes = manifest.tasks.flatMap((t) => getTaskNotes(t, manifest.tasks));
    expect(manifest.tasks.length).toBeGreaterThanOrEqual(8);
    expect(manifest.tasks.length).toBeLessThanOrEqual(10);
    expect(new Set(manifest.tasks.map((t) => t.slice))).toEqual(new Set(['Slice 1.1', 'Slice 1.2']));
    expect(notes).toContain('High risk: runs alone');
    expect(notes).toContain('scope src/config/defaults.js overlaps CONFIG_SCHEMA');
    expect(notes).toContain('conflicts_with DOCS_USAGE');
    expect(notes.filter((n) => n.startsWith('after ')).length).toBeGreaterThanOrEqual(3);
  });
});
