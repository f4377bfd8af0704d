/**
 * report.html in a real headless browser (Debian's `chromium`, installed by .ci/run): the page renders, its DOM has
 * one lane per task, and a screenshot is produced. Fails (does not skip) when chromium is missing, so CI cannot pass
 * without having looked at the page.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildTask } from '../test-support/manifest-fixtures';
import type { VtmEvent } from '../state/event-log';
import type { RunReport, RunReportTask } from './report';
import { buildLanes, formatRunReportHtml } from './report-html';

jest.setTimeout(120_000);

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function chromium(args: string[], cwd: string) {
  return spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--enable-logging=stderr', '--v=0', ...args], { cwd, encoding: 'utf8', timeout: 90_000 });
}

it('renders in headless chromium with one lane per task and no console errors; screenshot taken', () => {
  const ids = ['A', 'B', 'C', 'D'];
  const tasks = new Map(ids.map((id, i) => [id, buildTask(id, { depends_on_tasks: i > 0 ? [ids[i - 1]] : [] })]));
  const events: VtmEvent[] = [];
  const reportTasks: RunReportTask[] = ids.map((id, i) => {
    const base = { run_id: 'RUN1', task_id: id, status: null, reason: null };
    events.push({ ...base, ts: at(i * 60), type: 'claim' });
    events.push({ ...base, ts: at(i * 60 + 5), type: 'stage', stage: 'worktree' });
    events.push({ ...base, ts: at(i * 60 + 40), type: 'stage', stage: 'agent' });
    events.push({ ...base, ts: at(i * 60 + 50), type: 'stage', stage: 'audited' });
    events.push({ ...base, ts: at(i * 60 + 58), type: 'finish' });
    return { task_id: id, title: id, slice: 'Slice 1.1', risk: 'Low', outcome: 'completed', reason: null, error: null, acs_completed: 1, acs_total: 1, tests: null, files_modified: 1, duration_minutes: 1, cost_usd: 0.05, attempts: 1, result_dir: null, remediation: null, turns: 1, repairs: [] };
  });
  const report: RunReport = {
    run_id: 'RUN1', manifest_hash: 'h', started_at: at(0), ended_at: at(240), status: 'SUCCESS',
    totals: { tasks: 4, completed: 4, from_cache: 0, blocked: 0, skipped: 0, unfinished: 0 }, tasks: reportTasks, blockers: [], next_eligible: [],
    slices: [{ slice: 'Slice 1.1', completed: 4, total: 4, percent: 100 }], time: { wall_minutes: 4, serial_minutes: 4, saved_minutes: 0, saved_percent: 0 }, cost: { usd: 0.2 },
  };
  const html = formatRunReportHtml({ report, lanes: buildLanes({ report, events, tasks }), tasks, wipLimit: 3 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-html-'));
  try {
    fs.writeFileSync(path.join(dir, 'report.html'), html);
    const url = `file://${path.join(dir, 'report.html')}`;
    const dom = chromium(['--dump-dom', url], dir);
    expect(dom.error).toBeUndefined();
    expect(dom.status).toBe(0);
    expect(dom.stdout.match(/<g class="lane"/g)).toHaveLength(4);
    expect(dom.stderr).not.toMatch(/CONSOLE|Uncaught|ERR_FILE_NOT_FOUND|net::ERR/);
    const shot = chromium(['--window-size=1280,600', `--screenshot=${path.join(dir, 'shot.png')}`, url], dir);
    expect(shot.status).toBe(0);
    const png = fs.readFileSync(path.join(dir, 'shot.png'));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.length).toBeGreaterThan(5_000);
    if (process.env.VTM_KEEP_SCREENSHOT) fs.copyFileSync(path.join(dir, 'shot.png'), process.env.VTM_KEEP_SCREENSHOT);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
