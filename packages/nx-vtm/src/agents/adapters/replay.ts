/**
 * Replay: no agent at all. Applies a recorded patch `<replayDir>/<task_id>.patch` with `git apply` in the task's
 * working directory, so demos, benchmarks and end-to-end tests exercise scheduling, scope audits, verification and
 * commits deterministically and for free. An optional `<task_id>.json` gives the agent's return JSON (either the
 * report itself or `{ "report": {...} }`) and a `delayMs` to simulate work.
 */
import { isAbsolute, join } from 'node:path';
import type { AgentConfig } from '../config';
import { firstLine, outcomeFromReport, parseAgentReport, type AgentOutcome, type AgentReport } from '../outcome';
import { runProcess } from '../process-runner';

/** The world as the replay adapter sees it. */
export interface ReplayPorts {
  /** Called to read the recording files; resolves undefined when a file does not exist. */
  readFile(path: string): Promise<string | undefined>;
  /** Called once per run to apply the patch in `cwd`; a patch that is already applied counts as applied. */
  applyPatch(args: { cwd: string; patchFile: string }): Promise<{ ok: true } | { ok: false; message: string }>;
  /** Called to simulate the recorded duration (`delayMs`); rejects when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface RunReplayInput {
  taskId: string;
  config: AgentConfig;
  /** The task's working directory; the patch is applied here. */
  cwd: string;
  /** Resolves relative `replayDir`. */
  workspaceRoot: string;
  signal?: AbortSignal;
}

/** Apply the recorded patch of a task and return its outcome. Never throws for missing or bad recordings. */
export async function runReplay(
  { taskId, config, cwd, workspaceRoot, signal }: RunReplayInput,
  ports: ReplayPorts,
): Promise<AgentOutcome> {
  const started = Date.now();
  const dir = config.replayDir ?? '.';
  const folder = isAbsolute(dir) ? dir : join(workspaceRoot, dir);
  const patchFile = join(folder, `${taskId}.patch`);
  const jsonFile = join(folder, `${taskId}.json`);
  const done = (o: Omit<AgentOutcome, 'durationMs' | 'exitCode'>, exitCode: number | null = null): AgentOutcome => ({
    ...o,
    durationMs: Date.now() - started,
    exitCode,
  });

  const patch = await ports.readFile(patchFile);
  if (patch === undefined) {
    return done({
      status: 'failed',
      reason: `no recorded patch ${patchFile}; record one with \`git diff > ${taskId}.patch\` or use another adapter`,
      transient: false,
    });
  }

  let report: AgentReport | undefined;
  let delayMs = 0;
  const json = await ports.readFile(jsonFile);
  if (json !== undefined) {
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(json) as Record<string, unknown>;
    } catch (e) {
      return done({
        status: 'failed',
        reason: `${jsonFile} is not valid JSON (${firstLine((e as Error).message, 80)})`,
        transient: false,
      });
    }
    delayMs = typeof value.delayMs === 'number' && value.delayMs > 0 ? value.delayMs : 0;
    report = parseAgentReport(value.report ?? value);
  }

  if (delayMs > 0) {
    const wait = Math.min(delayMs, config.timeoutMs);
    try {
      await ports.sleep(wait, signal);
    } catch {
      return done({ status: 'failed', reason: 'replay was stopped by the orchestrator', transient: false });
    }
    if (delayMs > config.timeoutMs) {
      return done({
        status: 'timed_out',
        reason: `the recording's delayMs (${delayMs}) is longer than agent.timeoutMs (${config.timeoutMs})`,
        transient: false,
      });
    }
  }

  const applied = await ports.applyPatch({ cwd, patchFile });
  if (!applied.ok) {
    return done(
      {
        status: 'failed',
        reason: `git apply ${patchFile} failed: ${firstLine(applied.message, 160)}; the recording no longer fits the code`,
        transient: false,
      },
      1,
    );
  }
  const outcome = done(
    report
      ? outcomeFromReport(report, 'replay')
      : { status: 'completed', reason: `replayed ${taskId}.patch`, transient: false },
    0,
  );
  if (report) outcome.reported = report;
  const files = getPatchPaths(patch);
  if (files.length) outcome.filesTouched = files;
  return outcome;
}

/** Paths a unified diff creates, changes, deletes or renames (from `+++ b/`, `--- a/`, `rename from/to`). Pure. */
export function getPatchPaths(patch: string): string[] {
  const paths = new Set<string>();
  for (const line of patch.split('\n')) {
    const m = /^(?:\+\+\+ b\/|--- a\/|rename from |rename to )(.+?)\s*$/.exec(line);
    if (m) paths.add(m[1]);
  }
  return [...paths].sort();
}

/** The real world: files from disk, `git apply` through the process runner. */
export const defaultReplayPorts: ReplayPorts = {
  async readFile(path) {
    const { readFile } = await import('node:fs/promises');
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  },
  async applyPatch({ cwd, patchFile }) {
    const git = (args: string[]) =>
      runProcess({ argv: ['git', ...args], cwd, env: process.env, timeoutMs: 60_000 });
    const r = await git(['apply', '--whitespace=nowarn', patchFile]);
    if (r.exitCode === 0) return { ok: true };
    // A resumed run may find its patch applied already; that is success, not a conflict.
    const reverse = await git(['apply', '--reverse', '--check', patchFile]);
    if (reverse.exitCode === 0) return { ok: true };
    return { ok: false, message: r.spawnError?.message ?? (r.stderrTail.trim() || `exit ${String(r.exitCode)}`) };
  },
  sleep(ms, signal) {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
    });
  },
};
