import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeCliWorkspace, type CliWorkspaceFixture } from '../test-support/cli-workspace';
import { selectRunReport } from './report';

// Real CLI processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(60_000);

describe('selectRunReport', () => {
  const runs = [
    { runId: '20250928T103000Z-bbbbbb', mtimeMs: 3 },
    { runId: '20250928T090000Z-aaaaaa', mtimeMs: 2 },
    { runId: '20250927T090000Z-cccccc', mtimeMs: 1 },
  ];
  it.each([
    { runId: undefined, expected: { ok: true, runId: '20250928T103000Z-bbbbbb' } },
    { runId: '20250927T090000Z-cccccc', expected: { ok: true, runId: '20250927T090000Z-cccccc' } },
    { runId: '20250928T09', expected: { ok: true, runId: '20250928T090000Z-aaaaaa' } },
  ])('picks $runId', ({ runId, expected }) => {
    expect(selectRunReport({ runs, runId })).toEqual(expected);
  });
  it.each([
    { runs, runId: '20250928', message: /matches 2 runs .*; give more of it/ },
    { runs, runId: 'nope', message: /no report for run "nope" in \.vtm\/runs; latest runs: 20250928T103000Z-bbbbbb, / },
    { runs: [], runId: undefined, message: /no run reports in \.vtm\/runs yet; a report is written after every/ },
  ])('refuses $runId with what to do', ({ runs: available, runId, message }) => {
    const r = selectRunReport({ runs: available, runId });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(message);
  });
});

describe('nx-vtm report', () => {
  let ws: CliWorkspaceFixture;
  afterEach(() => ws.cleanup());

  function writeRun(runId: string, markdown: string, ageMs: number): void {
    const dir = path.join(ws.root, '.vtm', 'runs', runId);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'report.md'), markdown);
    fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify({ run_id: runId }));
    const at = new Date(Date.now() - ageMs);
    fs.utimesSync(path.join(dir, 'report.md'), at, at);
    fs.utimesSync(path.join(dir, 'report.json'), at, at);
  }

  it('prints the latest report, a given one, or its JSON; run folders without a report are skipped', async () => {
    ws = makeCliWorkspace();
    writeRun('run-old', '## nx-vtm run run-old\n', 60_000);
    writeRun('run-new', '## nx-vtm run run-new\n', 1_000);
    // A run refused by its preconditions leaves a folder without a report; so does the hooks' bookkeeping.
    fs.mkdirSync(path.join(ws.root, '.vtm', 'runs', 'run-refused'), { recursive: true });
    fs.writeFileSync(path.join(ws.root, '.vtm', 'runs', 'run-refused', 'preconditions.ok'), 'x');
    fs.mkdirSync(path.join(ws.root, '.vtm', 'runs', 'by-command'), { recursive: true });

    const latest = await ws.runCli(['report']);
    expect(latest.code).toBe(0);
    expect(latest.stdout).toBe('## nx-vtm run run-new\n');

    const given = await ws.runCli(['report', 'run-old']);
    expect(given.stdout).toBe('## nx-vtm run run-old\n');

    const json = await ws.runCli(['report', '--json', 'run-old']);
    expect(JSON.parse(json.stdout)).toEqual({ run_id: 'run-old' });

    // --open: where the run's picture is (only runs that have one).
    fs.writeFileSync(path.join(ws.root, '.vtm', 'runs', 'run-old', 'report.html'), '<!doctype html>');
    const open = await ws.runCli(['report', '--open']);
    expect(open.code).toBe(0);
    expect(open.stdout).toBe(`${fs.realpathSync(ws.root)}/.vtm/runs/run-old/report.html\n`);

    const missing = await ws.runCli(['report', 'run-refused']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no report for run "run-refused" in .vtm/runs; latest runs: run-new, run-old');
  });

  it('says how reports come about when there are none', async () => {
    ws = makeCliWorkspace();
    const r = await ws.runCli(['report']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^nx-vtm report: no run reports in \.vtm\/runs yet; a report is written after every `nx run-many -t implement`/);
  });
});
