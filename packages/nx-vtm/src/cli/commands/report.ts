/** `nx-vtm report [run_id] [--json]`: print a run report (`.vtm/runs/<run_id>/report.md`), the latest by default. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RUNS_DIR } from '../../runtime/preconditions';
import { parseCommandArgs } from '../args';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type ExitCode } from '../cli-io';
import { getCommandHelp } from '../help';
import { findWorkspaceRoot } from '../workspace';

/** A run that wrote a report, with the time it was written. */
export interface RunReportFile {
  runId: string;
  mtimeMs: number;
}

/** Runs that have a report, latest first (by the report's write time; run ids of other tools need not sort). */
export function listRunReports(workspaceRoot: string, file: 'report.md' | 'report.json' | 'report.html' = 'report.md'): RunReportFile[] {
  const dir = path.join(workspaceRoot, RUNS_DIR);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const runs: RunReportFile[] = [];
  for (const runId of names) {
    const stat = fs.statSync(path.join(dir, runId, file), { throwIfNoEntry: false });
    if (stat?.isFile()) runs.push({ runId, mtimeMs: stat.mtimeMs });
  }
  return runs.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0));
}

/** Picks a run: the latest, the exact id, or the only one starting with the given prefix. Pure. */
export function selectRunReport({ runs, runId }: { runs: readonly RunReportFile[]; runId?: string }): { ok: true; runId: string } | { ok: false; message: string } {
  const available = runs.slice(0, 5).map((r) => r.runId).join(', ') + (runs.length > 5 ? `, ... (${runs.length} in all)` : '');
  if (runs.length === 0) {
    return { ok: false, message: `no run reports in ${RUNS_DIR} yet; a report is written after every \`nx run-many -t implement\` (or \`nx run <TASK_ID>:implement\`)` };
  }
  if (runId === undefined) return { ok: true, runId: runs[0].runId };
  if (runs.some((r) => r.runId === runId)) return { ok: true, runId };
  const matches = runs.filter((r) => r.runId.startsWith(runId));
  if (matches.length === 1) return { ok: true, runId: matches[0].runId };
  if (matches.length > 1) {
    return { ok: false, message: `run id "${runId}" matches ${matches.length} runs (${matches.slice(0, 5).map((r) => r.runId).join(', ')}); give more of it` };
  }
  return { ok: false, message: `no report for run "${runId}" in ${RUNS_DIR}; latest runs: ${available}` };
}

export async function runReportCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const parsed = parseCommandArgs({ command: 'report', args, options: { json: { type: 'boolean' }, open: { type: 'boolean' } }, positionals: { min: 0, max: 1, name: 'run id' } });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  if (parsed.value.values.help) {
    io.out(getCommandHelp('report'));
    return EXIT_OK;
  }
  // Reports need no plugin options: only the workspace root.
  const root = findWorkspaceRoot(cwd);
  if (!root) {
    io.err(`nx-vtm report: no nx.json in ${path.resolve(cwd)} or any folder above it; run nx-vtm inside an Nx workspace`);
    return EXIT_FAILURE;
  }
  const file = parsed.value.values.open ? 'report.html' : parsed.value.values.json ? 'report.json' : 'report.md';
  const selected = selectRunReport({ runs: listRunReports(root, file), runId: parsed.value.positionals[0] });
  if (!selected.ok) {
    io.err(`nx-vtm report: ${selected.message}`);
    return EXIT_FAILURE;
  }
  const reportPath = path.join(root, RUNS_DIR, selected.runId, file);
  // The page is for a browser: print where it is (no browser is started, so this works over ssh and in CI too).
  if (parsed.value.values.open) {
    io.out(reportPath);
    return EXIT_OK;
  }
  io.out(fs.readFileSync(reportPath, 'utf8'));
  return EXIT_OK;
}
