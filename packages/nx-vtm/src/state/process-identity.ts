/**
 * Who a process is, precisely enough to tell a crashed claim owner from a live one on the same host.
 *
 * A pid alone is not enough: pids are reused. On Linux a process is identified by (boot id, pid, start time), where
 * the start time is field 22 of /proc/<pid>/stat. Without /proc (macOS, some sandboxes) we fall back to
 * `process.kill(pid, 0)`, which can be fooled by pid reuse; the claim lease still bounds how long that lasts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { ProcessIdentity } from './task-record';

/** Access to the operating system's process table (a port, so tests can fake /proc being absent or a pid reused). */
export interface ProcSource {
  /** Called to read /proc/<pid>/stat and /proc/sys/kernel/random/boot_id; undefined when the file does not exist. */
  readFile(path: string): string | undefined;
  /** Called once per check to decide between /proc and the signal-0 fallback. */
  hasProc(): boolean;
  /** Called only without /proc: does a process with this pid exist (signal 0)? */
  signalZero(pid: number): boolean;
  /** Called when building this process's own identity. */
  hostname(): string;
}

export const realProcSource: ProcSource = {
  readFile(path) {
    try {
      return fs.readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  hasProc() {
    return fs.existsSync('/proc/self/stat');
  },
  signalZero(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      // EPERM: the process exists but belongs to someone else.
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  hostname: () => readHostId(),
};

/** The environment variable that overrides the host identity recorded with claims (see `readHostId`). */
export const HOST_ID_ENV = 'VTM_HOST_ID';

/**
 * The host identity written into claims, reservations and merge journals: `$VTM_HOST_ID` when set, else the host
 * name. Claims of the same host are judged through its process table (a dead pid is taken over at once), claims of
 * another host by their lease only, so the identity must name one process table. Setting it serves two cases: machines
 * (containers, CI runners) that share a host name (give each its own id), and tests that simulate several machines
 * on one host (each "machine" its own id, so a killed one is judged by its lease, as a real lost machine would be).
 * Every process of one checkout must see the same value (it is inherited from the `nx` command's environment).
 */
export function readHostId(env: NodeJS.ProcessEnv = process.env): string {
  const id = env[HOST_ID_ENV]?.trim();
  return id ? id : os.hostname();
}

interface StatFields {
  state: string;
  startTime: string;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself contain spaces and ")", so
 * the fields are counted from the LAST ")".
 */
export function parseProcStat(stat: string): StatFields | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ") " come field 3 (state), field 4, ...: field n is at index n - 3.
  const rest = stat.slice(close + 2).trim().split(/\s+/);
  const state = rest[0];
  const startTime = rest[22 - 3];
  if (!state || !startTime) return undefined;
  return { state, startTime };
}

/** Reads the boot id, or null when /proc does not provide one. */
export function readBootId(proc: ProcSource = realProcSource): string | null {
  return proc.readFile('/proc/sys/kernel/random/boot_id')?.trim() || null;
}

/** Reads a process's start time (field 22 of /proc/<pid>/stat), or null when unavailable. */
export function readProcessStartTime(pid: number, proc: ProcSource = realProcSource): string | null {
  const stat = proc.readFile(`/proc/${pid}/stat`);
  return (stat && parseProcStat(stat)?.startTime) || null;
}

/** The identity of a process on this host (default: the current process). */
export function readProcessIdentity(pid: number = process.pid, proc: ProcSource = realProcSource): ProcessIdentity {
  return {
    host: proc.hostname(),
    pid,
    startTime: proc.hasProc() ? readProcessStartTime(pid, proc) : null,
    bootId: proc.hasProc() ? readBootId(proc) : null,
  };
}

/**
 * Whether a process with this pid is running. A zombie (killed, not yet reaped by its parent) counts as gone: it
 * runs no code any more.
 */
export function isProcessAlive(pid: number, proc: ProcSource = realProcSource): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (!proc.hasProc()) return proc.signalZero(pid);
  const stat = proc.readFile(`/proc/${pid}/stat`);
  if (stat === undefined) return false;
  const fields = parseProcStat(stat);
  return fields !== undefined && fields.state !== 'Z' && fields.state !== 'X';
}

/**
 * Whether `owner` (an identity recorded earlier, on this host) is still the same running process: the pid exists and,
 * when both are known, its start time and the boot id are unchanged (otherwise the pid was reused or the host
 * rebooted).
 */
export function isSameProcess(owner: ProcessIdentity, proc: ProcSource = realProcSource): boolean {
  if (!isProcessAlive(owner.pid, proc)) return false;
  if (!proc.hasProc()) return true;
  const bootId = readBootId(proc);
  if (owner.bootId && bootId && owner.bootId !== bootId) return false;
  const startTime = readProcessStartTime(owner.pid, proc);
  if (owner.startTime && startTime && owner.startTime !== startTime) return false;
  return true;
}
