/**
 * Status write-back, the I/O half: apply write-back.ts's edit to the source file safely, or call `bd` for Beads.
 *
 * Safety (docs/sources.md):
 * - The edit is computed from the file as read, written to a temp file beside it, and renamed over it only if the
 *   file still has the hash it had when read; otherwise (the user saved meanwhile) it is recomputed on the new text,
 *   so neither the user's edit nor ours is lost.
 * - Task Master's own lock protocol (`tasks.json.lock` directory, stale after 10 s) is held around the rewrite.
 * - In `integration: "merge"` mode the edit is committed (that file only) under the same lock as merges, so the
 *   next task's merge does not find the checkout dirty; a file the user had already changed is left uncommitted.
 * - Beads: only through a `bd` on PATH (bd's Dolt database is the truth; its JSONL export is never edited). Without
 *   one the source is read-only and the line printed says what to run.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { RunContext } from '../runtime/context';
import { gitOk } from '../workspace/git';
import { INTEGRATION_LOCK } from '../workspace/integrate';
import { createSqliteLock } from '../workspace/sqlite-lock';
import { runProcess } from '../agents/process-runner';
import { err, ok, type Result } from '../manifest/problems';
import { readTaskmasterTag } from './read';
import type { SourceInfo, SourceTaskInfo } from './types';
import { buildBdClaimArgs, buildBdCloseArgs, editSpeckit, editTaskmaster, editTodoMd, type WriteBackStatus } from './write-back';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Replace `abs` with `edit(text)`, re-reading and recomputing when the file changed between read and rename.
 * Returns whether the file changed.
 */
export async function rewriteFile({ abs, edit, attempts = 5 }: { abs: string; edit: (text: string) => Result<string, string>; attempts?: number }): Promise<Result<boolean, string>> {
  for (let i = 0; i < attempts; i++) {
    const text = readFileSync(abs, 'utf8');
    const next = edit(text);
    if (!next.ok) return next;
    if (next.value === text) return ok(false);
    const tmp = `${abs}.vtm-${process.pid}.tmp`;
    writeFileSync(tmp, next.value);
    if (sha(readFileSync(abs, 'utf8')) !== sha(text)) {
      rmSync(tmp, { force: true });
      await sleep(50 * 2 ** i);
      continue;
    }
    renameSync(tmp, abs);
    return ok(true);
  }
  return err(`${abs} kept changing while nx-vtm tried to record a status; record it by hand`);
}

/** Task Master's lock: `mkdir tasks.json.lock`, stale after 10 s (its own rule), released by rmdir. */
export async function withTaskmasterLock<T>(abs: string, fn: () => Promise<T>, { staleMs = 10_000, waitMs = 15_000 } = {}): Promise<T> {
  const lock = `${abs}.lock`;
  const start = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > staleMs) rmSync(lock, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
      if (Date.now() - start > waitMs) throw new Error(`${lock} is held by another process; try again when Task Master is done`);
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      rmdirSync(lock);
    } catch {
      // removed as stale by another writer: nothing to release
    }
  }
}

const findOnPath = (bin: string, env: NodeJS.ProcessEnv): string | undefined =>
  (env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((d) => join(d, bin))
    .find((p) => existsSync(p));

export interface WriteBackPorts {
  /** One line for the task's output. */
  print(line: string): void;
  /** Today as YYYY-MM-DD (TODO.md's date format). */
  today(): string;
  env: NodeJS.ProcessEnv;
}

export const defaultWriteBackPorts: WriteBackPorts = {
  print: (line) => console.log(line),
  today: () => new Date().toISOString().slice(0, 10),
  env: process.env,
};

/** Find the source of a task, when it has one. */
function findSource(ctx: RunContext, taskId: string): { source: SourceInfo; info: SourceTaskInfo } | undefined {
  for (const m of ctx.manifests) {
    const info = m.source?.tasks.get(taskId);
    if (m.source && info) return { source: m.source, info };
  }
  return undefined;
}

/** The last line bd wrote to stderr (its error), for a one-line message. */
const lastLine = (text: string) => text.trim().split('\n').pop() ?? '';

/**
 * Record in the source that a task has started (its agent is about to run). Beads only: `bd update <id> --claim`, so
 * bd's other users (and `bd ready`) see the issue taken. The other formats have no "started" state nx-vtm writes
 * (TODO.md keeps its own `**Started**` lines by hand; Task Master derives a parent's in-progress on completion).
 * Never throws and never stops the task: nx-vtm's task store claim is what schedules it, and a failed bd claim (an
 * issue claimed earlier, by this same run's previous attempt or someone else) is printed for the user to judge.
 */
export async function writeBackStart({ ctx, taskId, ports = defaultWriteBackPorts }: { ctx: RunContext; taskId: string; ports?: WriteBackPorts }): Promise<void> {
  const found = findSource(ctx, taskId);
  if (!found || found.source.type !== 'beads') return;
  const { source, info } = found;
  // `ports.print` is the task's own log here (the runtime prefixes the task id).
  const say = (line: string) => ports.print(`nx-vtm: ${source.file}: ${line}`);
  try {
    const bd = findOnPath('bd', ports.env);
    if (!bd) {
      say(`read-only (no \`bd\` on PATH); bd does not know ${info.sourceId} is being worked on: bd update ${info.sourceId} --claim`);
      return;
    }
    const r = await runProcess({ argv: [bd, ...buildBdClaimArgs({ id: info.sourceId })], cwd: ctx.workspaceRoot, env: ports.env, timeoutMs: 60_000 });
    say(
      r.exitCode === 0
        ? `claimed ${info.sourceId} with bd`
        : `bd update ${info.sourceId} --claim failed (exit ${r.exitCode}): ${lastLine(r.stderrTail)}; the task runs anyway (check bd show ${info.sourceId} for who has it)`,
    );
  } catch (e) {
    say(`bd claim not recorded: ${(e as Error).message}`);
  }
}

/** Commit the source file alone, under the merge lock, when it had no other uncommitted change. */
async function commitSource({ ctx, file, message, wasClean }: { ctx: RunContext; file: string; message: string; wasClean: boolean }): Promise<string | undefined> {
  if (ctx.options.integration !== 'merge') return `${file} changed; commit it when convenient`;
  if (!wasClean) return `${file} had uncommitted changes of yours, so the status edit is left uncommitted with them; commit ${file} before the next merge`;
  const r = await gitOk({ cwd: ctx.workspaceRoot, args: ['commit', '-q', '--no-verify', '-m', message, '--only', '--', file] });
  return r.ok ? undefined : `committing ${file} failed (${r.error.message}); commit it by hand`;
}

/**
 * Record a finished task's status in its source. `status` is the task's result in this run. Never throws: a
 * failed write-back is printed (the task's result and the task store are what count).
 */
export async function writeBackResult({
  ctx,
  taskId,
  status,
  reason,
  ports = defaultWriteBackPorts,
}: {
  ctx: RunContext;
  taskId: string;
  status: 'success' | 'failure' | 'skipped';
  reason?: string;
  ports?: WriteBackPorts;
}): Promise<void> {
  const found = findSource(ctx, taskId);
  if (!found || status === 'skipped') return;
  const { source, info } = found;
  const target: WriteBackStatus = status === 'success' ? 'completed' : 'failed';
  const say = (line: string) => ports.print(`nx-vtm: [${taskId}] ${source.file}: ${line}`);
  try {
    if (source.type === 'beads') {
      if (target !== 'completed') return;
      const bd = findOnPath('bd', ports.env);
      if (!bd) {
        say(`read-only (no \`bd\` on PATH); record it with: bd close ${info.sourceId} --reason "completed by nx-vtm"`);
        return;
      }
      const r = await runProcess({ argv: [bd, ...buildBdCloseArgs({ id: info.sourceId, reason: 'completed by nx-vtm' })], cwd: ctx.workspaceRoot, env: ports.env, timeoutMs: 60_000 });
      say(r.exitCode === 0 ? `closed ${info.sourceId} with bd` : `bd close ${info.sourceId} failed (exit ${r.exitCode}): ${lastLine(r.stderrTail)}`);
      return;
    }
    if (target === 'failed' && source.type !== 'todo-md') return; // no failed state that would still allow a retry
    const abs = join(ctx.workspaceRoot, source.file);
    const date = ports.today();
    const edit = (text: string): Result<string, string> => {
      switch (source.type) {
        case 'todo-md':
          return editTodoMd({ text, sourceId: info.sourceId, status: target, date });
        case 'speckit':
          return editSpeckit({ text, sourceId: info.sourceId });
        case 'taskmaster':
          return editTaskmaster({ text, sourceId: info.sourceId, tag: readTaskmasterTag(ctx.workspaceRoot, { type: 'taskmaster', path: source.file }), status: 'done' });
        default:
          return err(`no file write-back for ${source.type}`);
      }
    };
    const lock = createSqliteLock({ file: join(ctx.workspaceRoot, '.vtm', 'locks.db') });
    mkdirSync(join(ctx.workspaceRoot, '.vtm'), { recursive: true });
    await lock.withLock(INTEGRATION_LOCK, async () => {
      const before = await gitOk({ cwd: ctx.workspaceRoot, args: ['status', '--porcelain', '--', source.file] });
      const wasClean = before.ok && before.value.trim() === '';
      const written = source.type === 'taskmaster' ? await withTaskmasterLock(abs, () => rewriteFile({ abs, edit })) : await rewriteFile({ abs, edit });
      if (!written.ok) {
        say(`status not recorded: ${written.error}`);
        return;
      }
      const word = target === 'completed' ? 'completed' : `failed${reason ? ` (${reason})` : ''}`;
      if (!written.value) return;
      const note = await commitSource({ ctx, file: source.file, message: `nx-vtm: ${source.file}: task ${info.sourceId} ${word}`, wasClean });
      say(`task ${info.sourceId} recorded as ${word}${note ? `; ${note}` : ''}`);
    });
  } catch (e) {
    say(`status not recorded: ${(e as Error).message}`);
  }
}
