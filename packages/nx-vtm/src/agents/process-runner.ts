/**
 * THE one place that starts processes: agents and verification commands alike.
 *
 * Why each choice:
 * - argv arrays with `shell: false`: task text never meets a shell, so `$(rm -rf ~)` in a description is just bytes.
 * - `detached: true`: the child leads its own process group, so a timeout can kill the agent AND everything it
 *   started (test runners, dev servers) with one `kill(-pid)`. The price: a terminal's Ctrl-C no longer reaches the
 *   agent, so `installSignalCleanup` kills the groups when this process is told to stop.
 * - When `runProcess` resolves, no process of the group is alive: leftovers of an agent that exited (a background
 *   server holding stdout open) are killed too, so a finished task never leaves work running behind it.
 * - Nor any process that left the group (`setsid`, Node's `detached: true`, a daemonising tool): every process
 *   started here carries `NX_VTM_PROCESS_TAG=<unique value>` in its environment, which its descendants inherit
 *   wherever they go, and on Linux the ones still running when the run ends are found by it in /proc/<pid>/environ
 *   and killed. Left alive, a process an agent left behind could rewrite the task's files after they were saved
 *   and while its tests ran, so the verdict would be about other content than the commit (adversarial agents do
 *   exactly this). Only a process that also drops its environment escapes this.
 * - Bounded memory: callers get lines as they arrive and the last `tailChars` of each stream; the full output goes
 *   to the transcript file only.
 * - Expected failures are results: a missing binary is `spawnError: { code: 'ENOENT' }`, not an exception.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream, existsSync, readdirSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

export interface RunProcessOptions {
  /** Program and arguments. argv[0] is looked up on `env.PATH` when it has no "/". */
  argv: readonly string[];
  cwd: string;
  /** The complete environment of the child (nothing is inherited implicitly). */
  env: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed. Without it, stdin is /dev/null. */
  stdin?: string;
  /** Kill the group after this long in total. */
  timeoutMs?: number;
  /** Kill the group when neither stdout nor stderr produced anything for this long. */
  idleTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL. Default 5 s. */
  killGraceMs?: number;
  /** Called for each complete stdout line (without the newline), in order. */
  onStdoutLine?: (line: string) => void;
  /** Called for each complete stderr line. */
  onStderrLine?: (line: string) => void;
  /** Appends the raw output here (stdout, and stderr too unless `stderrFile` is given). */
  transcriptFile?: string;
  /** Appends raw stderr here instead of the transcript (keeps a JSONL transcript parseable). */
  stderrFile?: string;
  /** How much of the end of each stream to keep in the result. Default 16 KiB. */
  tailChars?: number;
  /** Longer lines are delivered in pieces of this size, so one runaway line cannot exhaust memory. Default 8 MiB. */
  maxLineChars?: number;
  /** Aborting kills the group (the caller's way to stop a run). */
  signal?: AbortSignal;
  /**
   * Called once the child has started, with its pid (= its process group id), e.g. to record it for reclaim; under
   * the keeper, with the keeper's pid too (it records the child's end).
   */
  onSpawn?: (pid: number, keeperPid?: number) => void;
  /**
   * Under the keeper: called with its pid just before it is asked to start the program, whose pid comes later
   * (`onSpawn`). A process that dies in between leaves the program running: what this records lets a later process
   * find it (the keeper's record of the start names it).
   */
  onKeeperStart?: (keeperPid: number) => void;
  /**
   * The start of this run's process tag (see the module comment), e.g. `agentProcessTag(taskId, runId)`: a later
   * process can then find the run's processes by it (`killTaggedProcesses(prefix, { prefix: true })`) after this one
   * died. A unique suffix is added.
   */
  tagPrefix?: string;
  /**
   * Start the program under this process's agent keeper (agent-keeper.js; not on Windows): it survives this process,
   * writes the transcript files itself and records how the program ended in `exitFile`, so that a later process can
   * adopt a run whose starter died (`adoptProcess`) instead of paying for it again. Nothing else changes for the
   * caller: the program still leads its own process group, and `pid` is its pid.
   */
  keeper?: { exitFile: string };
}

/** The tag prefix of a task's agent processes in a run: how a re-run finds what a killed run's agent left running. */
export const agentProcessTag = (taskId: string, runId: string): string => `agent/${taskId}/${runId}/`;

export interface ProcessResult {
  /** Exit code, or null when the process was killed by a signal or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stalled: boolean;
  /** Killed because the caller aborted or this process is shutting down. */
  aborted: boolean;
  durationMs: number;
  stdoutTail: string;
  stderrTail: string;
  /** The child's pid (also its process group id); undefined when it never started. */
  pid: number | undefined;
  /** Why the process could not be started: `ENOENT` (not found), `EACCES` (not executable), `ENOCWD` (no such
   * working directory), `SHUTTING_DOWN`. */
  spawnError?: { code: string; message: string };
  /** Processes of the group were still alive after the leader exited, and were killed. */
  leftoversKilled?: boolean;
  /** How many processes that had left the group (found by their tag, Linux) were still running, and were killed. */
  escapedKilled?: number;
  /** Writing the transcript failed (the run itself is unaffected). */
  transcriptError?: string;
  /** Under the keeper: the keeper was lost (killed, crashed) while the program ran, so the program was stopped. */
  keeperLost?: string;
}

const DEFAULT_KILL_GRACE_MS = 5000;
/** Plain JavaScript beside this module, in the sources as in the built package. */
const KEEPER_SCRIPT = join(__dirname, 'agent-keeper.js');
const DEFAULT_TAIL_CHARS = 16 * 1024;
const DEFAULT_MAX_LINE_CHARS = 8 * 1024 * 1024;
// After the leader exits, how long to wait beyond the kill grace for pipes held by escaped processes before giving up.
const CLOSE_FALLBACK_MS = 2000;

/** Process groups started here and not yet confirmed dead; killed by `installSignalCleanup` and on exit. */
const liveGroups = new Set<number>();
/** The tags of the runs not yet finished: their escaped processes are killed on exit too. */
const liveTags = new Set<string>();

/** The environment variable that marks every process started here and all its descendants (see the module comment). */
export const PROCESS_TAG_ENV = 'NX_VTM_PROCESS_TAG';
let tagCounter = 0;
let shuttingDown = false;

/** Start a process and wait until it and its whole process group are gone. Never throws for expected failures. */
export function runProcess(options: RunProcessOptions): Promise<ProcessResult> {
  const {
    argv,
    cwd,
    env,
    stdin,
    timeoutMs,
    idleTimeoutMs,
    killGraceMs = DEFAULT_KILL_GRACE_MS,
    onStdoutLine,
    onStderrLine,
    transcriptFile,
    stderrFile,
    tailChars = DEFAULT_TAIL_CHARS,
    maxLineChars = DEFAULT_MAX_LINE_CHARS,
    signal,
    onSpawn,
    tagPrefix = '',
  } = options;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const base = { exitCode: null, signal: null, timedOut: false, stalled: false, stdoutTail: '', stderrTail: '' };

  if (argv.length === 0 || !argv[0]) {
    return Promise.resolve({
      ...base,
      aborted: false,
      durationMs: 0,
      pid: undefined,
      spawnError: { code: 'EINVAL', message: 'empty argv: nothing to run' },
    });
  }
  if (shuttingDown || signal?.aborted) {
    return Promise.resolve({
      ...base,
      aborted: true,
      durationMs: 0,
      pid: undefined,
      spawnError: { code: 'SHUTTING_DOWN', message: `not starting '${argv[0]}': the run is stopping` },
    });
  }

  const tag = `${tagPrefix}${process.pid}-${++tagCounter}-${Math.random().toString(36).slice(2, 10)}`;
  const forksBefore = readForkCount();
  const keeper = options.keeper && process.platform !== 'win32' ? options.keeper : undefined;
  // PWD as a shell would set it: inherited, it names the parent's directory (the workspace root, not the task's
  // worktree), and opencode 1.18 takes PWD as its project folder, working on (and rejecting writes outside) the
  // wrong checkout.
  const childEnv = { ...env, PWD: cwd, [PROCESS_TAG_ENV]: tag };
  if (keeper) rmSync(keeper.exitFile, { force: true });
  return new Promise<ProcessResult>((resolve, reject) => {
    let child: ChildProcess | KeeperRunHandle;
    let keeperPid: number | undefined;
    try {
      if (keeper) {
        // Under the keeper, which starts the program and writes the transcript files (they must outlive this process
        // too); the program's pid comes with the handle's 'spawn' event.
        const channel = takeKeeper();
        keeperPid = channel.pid;
        options.onKeeperStart?.(keeperPid);
        child = channel.start({ exitFile: keeper.exitFile, transcriptFile, stderrFile, timeoutMs, killGraceMs, argv, cwd, env: childEnv, stdin });
      } else {
        child = spawn(argv[0], argv.slice(1), {
          cwd,
          env: childEnv,
          shell: false,
          detached: true,
          windowsHide: true,
          stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        });
      }
    } catch (e) {
      // Synchronous spawn errors are argument bugs (e.g. a NUL byte in argv), reported as results all the same.
      const error = e as NodeJS.ErrnoException;
      resolve({
        ...base,
        aborted: false,
        durationMs: elapsed(),
        pid: undefined,
        spawnError: { code: error.code ?? 'EINVAL', message: error.message },
      });
      return;
    }
    // Under the keeper, known once it started the program.
    let pid = child.pid;
    if (pid !== undefined) liveGroups.add(pid);
    liveTags.add(tag);

    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let timedOut = false;
    let stalled = false;
    let aborted = false;
    let leftoversKilled = false;
    let spawnError: ProcessResult['spawnError'];
    let transcriptError: string | undefined;
    let callbackError: unknown;
    let lastActivity = performance.now();
    let terminating = false;
    let exited = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const later = (ms: number, fn: () => void) => timers.push(setTimeout(fn, ms));

    const stdoutTail = new Tail(tailChars);
    const stderrTail = new Tail(tailChars);
    const transcript = keeper ? undefined : openLog(transcriptFile, (m) => (transcriptError ??= m));
    const stderrLog = stderrFile && !keeper ? openLog(stderrFile, (m) => (transcriptError ??= m)) : transcript;

    const guard = (fn?: (line: string) => void) => (line: string) => {
      if (!fn || callbackError !== undefined) return;
      try {
        fn(line);
      } catch (e) {
        // A throwing callback is a bug in the caller: remember it, let the child finish, then reject.
        callbackError = e;
      }
    };
    const stdoutLines = new LineSplitter(guard(onStdoutLine), maxLineChars);
    const stderrLines = new LineSplitter(guard(onStderrLine), maxLineChars);

    /** SIGTERM the group now (or once it started), SIGKILL it after the grace period. Idempotent. */
    const terminate = () => {
      if (terminating) return;
      terminating = true;
      if (pid !== undefined) signalGroup(pid);
    };
    const signalGroup = (group: number) => {
      killGroup(group, 'SIGTERM');
      later(killGraceMs, () => killGroup(group, 'SIGKILL'));
    };

    if (timeoutMs !== undefined && timeoutMs > 0) {
      later(timeoutMs, () => {
        if (exited) return; // finished in time; only its pipes are still closing
        if (!stalled && !aborted) timedOut = true;
        terminate();
      });
    }
    if (idleTimeoutMs !== undefined && idleTimeoutMs > 0) {
      const checkIdle = () => {
        if (terminating || exited) return;
        const idle = performance.now() - lastActivity;
        if (idle >= idleTimeoutMs) {
          if (!timedOut && !aborted) stalled = true;
          terminate();
        } else {
          later(idleTimeoutMs - idle + 1, checkIdle);
        }
      };
      later(idleTimeoutMs, checkIdle);
    }
    const onAbort = () => {
      if (!timedOut && !stalled) aborted = true;
      terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const shutdownListener = () => onAbort();
    shutdownListeners.add(shutdownListener);

    child.stdout?.on('data', (chunk: Buffer) => {
      lastActivity = performance.now();
      transcript?.write(chunk);
      stdoutTail.push(chunk.toString('utf8'));
      stdoutLines.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      lastActivity = performance.now();
      stderrLog?.write(chunk);
      stderrTail.push(chunk.toString('utf8'));
      stderrLines.push(chunk);
    });

    if (!(child instanceof KeeperRunHandle) && stdin !== undefined && child.stdin) {
      // EPIPE / ERR_STREAM_DESTROYED: the child exited or closed stdin without reading it all. Its exit status says
      // what happened; the write error adds nothing.
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin);
    }

    child.on('spawn', (started?: number) => {
      if (keeper && started !== undefined) {
        pid = started;
        liveGroups.add(pid);
        // Stopped before it started.
        if (terminating) signalGroup(pid);
      }
      if (pid !== undefined) onSpawn?.(pid, keeperPid);
    });

    child.on('error', (e: NodeJS.ErrnoException) => {
      // Only spawn failures reach here: we never use child.kill (groups are killed with process.kill).
      if (pid === undefined || e.code === 'ENOENT' || e.code === 'EACCES') {
        // spawn says ENOENT for a missing working directory too; telling the two apart matters, because a missing
        // binary lets routing fall back to another agent while a missing directory is the orchestrator's problem.
        spawnError = describeSpawnError({ code: e.code ?? 'UNKNOWN', message: e.message }, cwd);
        void finish();
      }
    });

    child.on('exit', (code, sig) => {
      exited = true;
      exitCode = code;
      exitSignal = sig;
      // Members still alive after a natural exit are leftovers (a background server, a stray test runner). After our
      // own SIGTERM they are just slower to die, which the wait in finish() covers.
      if (!terminating && pid !== undefined && isGroupAlive(pid)) {
        leftoversKilled = true;
        terminate();
      }
      // A process that escaped the group (setsid) may hold our pipes open forever; stop waiting for it eventually.
      later(killGraceMs + CLOSE_FALLBACK_MS, () => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        void finish();
      });
    });

    child.on('close', () => void finish());

    async function finish(): Promise<void> {
      if (settled) return;
      settled = true;
      if (pid !== undefined) {
        await waitForGroupDeath(pid, killGraceMs + CLOSE_FALLBACK_MS);
        liveGroups.delete(pid);
      }
      // Every descendant was created after the leader.
      const escaped = pid === undefined ? [] : killTaggedProcesses(tag, { startedAfter: { pid, forksBefore } });
      if (escaped.length > 0) await waitForDeath(escaped, killGraceMs);
      liveTags.delete(tag);
      for (const t of timers) clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
      shutdownListeners.delete(shutdownListener);
      stdoutLines.end();
      stderrLines.end();
      await Promise.all([closeLog(transcript), stderrLog !== transcript ? closeLog(stderrLog) : undefined]);
      // What only the keeper knows: the transcript could not be written, or the keeper was lost.
      if (child instanceof KeeperRunHandle && child.transcriptError) transcriptError ??= child.transcriptError;
      const keeperLost = child instanceof KeeperRunHandle ? child.keeperLost : undefined;
      if (callbackError !== undefined) {
        reject(callbackError);
        return;
      }
      const result: ProcessResult = {
        exitCode,
        signal: exitSignal,
        timedOut,
        stalled,
        aborted,
        durationMs: elapsed(),
        stdoutTail: stdoutTail.value(),
        stderrTail: stderrTail.value(),
        pid,
      };
      if (spawnError) result.spawnError = spawnError;
      if (leftoversKilled) result.leftoversKilled = true;
      if (escaped.length > 0) result.escapedKilled = escaped.length;
      if (transcriptError) result.transcriptError = transcriptError;
      if (keeperLost) result.keeperLost = keeperLost;
      resolve(result);
    }
  });
}

/** A failed start, with a missing working directory told apart from a missing binary (both are ENOENT). */
function describeSpawnError(error: { code: string; message: string }, cwd: string): { code: string; message: string } {
  return error.code === 'ENOENT' && !existsSync(cwd) ? { code: 'ENOCWD', message: `working directory ${cwd} does not exist` } : error;
}

/**
 * The agent keeper of this process (agent-keeper.js): started on first use and shared by every agent this process
 * runs, so Node's start-up (~60 ms of CPU) is paid once per process, not per agent. It keeps this process alive only
 * while one of its agents runs. Gone (it crashed, or was killed), the next agent starts a new one.
 */
let keeperChannel: KeeperChannel | undefined;

/** Frame kinds of the keeper's output (see agent-keeper.js). */
const FRAME = { OUT: 1, ERR: 2, SPAWN: 3, EXIT: 4, END: 5 } as const;

/** What runProcess sees of one agent under the keeper: a child process whose pid comes with its 'spawn' event. */
class KeeperRunHandle extends EventEmitter {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  pid: number | undefined;
  exited = false;
  /** What the keeper reported at the end: its transcript could not be written. */
  transcriptError: string | undefined;
  /** Why the run ended without the keeper's word: the keeper was lost. */
  keeperLost: string | undefined;
}

/** The keeper's spec of one agent (agent-keeper.js), without the id the channel adds. */
interface KeeperSpec {
  exitFile: string;
  transcriptFile?: string;
  stderrFile?: string;
  timeoutMs?: number;
  killGraceMs: number;
  argv: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdin?: string;
}

class KeeperChannel {
  readonly child: ChildProcess;
  private readonly runs = new Map<number, KeeperRunHandle>();
  private nextId = 0;
  private buffered: Buffer = Buffer.alloc(0);
  private stderrTail = '';
  private lost = false;

  constructor() {
    this.child = spawn(process.execPath, [KEEPER_SCRIPT], { cwd: tmpdir(), env: process.env, detached: true, windowsHide: true, stdio: ['pipe', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw Object.assign(new Error(`could not start the agent keeper (${process.execPath} ${KEEPER_SCRIPT})`), { code: 'EKEEPER' });
    this.child.on('error', () => this.onLost('could not be started'));
    this.child.stdin!.on('error', () => undefined); // it died: its 'exit' says so
    this.child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-2000)));
    this.child.on('exit', (code, signal) => this.onLost(signal ? `was killed (${signal})` : `exited (${code})`));
    this.setIdle(true);
  }

  get pid(): number {
    return this.child.pid!;
  }

  start(spec: KeeperSpec): KeeperRunHandle {
    const id = ++this.nextId;
    const handle = new KeeperRunHandle();
    this.runs.set(id, handle);
    if (this.runs.size === 1) this.setIdle(false);
    this.child.stdin!.write(`${JSON.stringify({ id, ...spec })}\n`);
    return handle;
  }

  private onData(chunk: Buffer): void {
    let data = this.buffered.length > 0 ? Buffer.concat([this.buffered, chunk]) : chunk;
    while (data.length >= 9) {
      const length = data.readUInt32BE(5);
      if (data.length < 9 + length) break;
      this.onFrame(data.readUInt8(0), data.readUInt32BE(1), data.subarray(9, 9 + length));
      data = data.subarray(9 + length);
    }
    // A copy: the rest must not pin the (possibly large) chunk it is a view of.
    this.buffered = Buffer.from(data);
  }

  private onFrame(kind: number, id: number, payload: Buffer): void {
    const handle = this.runs.get(id);
    if (!handle) return;
    if (kind === FRAME.OUT) handle.stdout.write(payload);
    else if (kind === FRAME.ERR) handle.stderr.write(payload);
    else if (kind === FRAME.SPAWN) {
      handle.pid = (JSON.parse(payload.toString('utf8')) as { pid: number }).pid;
      handle.emit('spawn', handle.pid);
    } else if (kind === FRAME.EXIT) {
      const { code, signal } = JSON.parse(payload.toString('utf8')) as { code: number | null; signal: NodeJS.Signals | null };
      handle.exited = true;
      handle.emit('exit', code, signal);
    } else if (kind === FRAME.END) {
      const end = JSON.parse(payload.toString('utf8')) as { spawn_error?: { code: string; message: string }; transcript_error?: string };
      handle.transcriptError = end.transcript_error;
      if (end.spawn_error) handle.emit('error', Object.assign(new Error(end.spawn_error.message), { code: end.spawn_error.code }));
      this.finish(id, handle);
    }
  }

  private finish(id: number, handle: KeeperRunHandle): void {
    this.runs.delete(id);
    if (this.runs.size === 0 && !this.lost) this.setIdle(true);
    handle.stdout.end();
    handle.stderr.end();
    // After the streams' last 'data' events.
    setImmediate(() => handle.emit('close'));
  }

  /**
   * The keeper is gone: nothing records its agents' ends any more, so they are stopped (as an orchestrator that
   * exits stops its agents), and their runs end with the reason.
   */
  private onLost(how: string): void {
    if (this.lost) return;
    this.lost = true;
    if (keeperChannel === this) keeperChannel = undefined;
    const why = `the agent keeper (pid ${this.child.pid}) ${how}${this.stderrTail.trim() ? `: ${this.stderrTail.trim().split('\n').pop()}` : ''}`;
    for (const [id, handle] of [...this.runs]) {
      handle.keeperLost = why;
      if (handle.pid !== undefined) killGroup(handle.pid, 'SIGKILL');
      if (handle.pid === undefined) handle.emit('error', Object.assign(new Error(why), { code: 'EKEEPER' }));
      else if (!handle.exited) handle.emit('exit', null, 'SIGKILL');
      this.finish(id, handle);
    }
  }

  /** Idle, it keeps nothing alive; its stdin ends when this process exits, and it exits then. */
  private setIdle(idle: boolean): void {
    for (const h of [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as Array<{ ref?: () => void; unref?: () => void } | null>) {
      if (idle) h?.unref?.();
      else h?.ref?.();
    }
  }
}

/**
 * Starts this process's keeper ahead of its first agent (not on Windows, where agents run without one). Idle, it keeps
 * nothing alive. Never throws: a keeper that cannot start is reported by the first agent's run.
 */
export function startAgentKeeper(): void {
  if (process.platform === 'win32' || shuttingDown) return;
  try {
    takeKeeper();
  } catch {
    // reported when an agent needs it
  }
}

/** This process's keeper (started now when there is none, or it is gone). */
function takeKeeper(): KeeperChannel {
  keeperChannel ??= new KeeperChannel();
  return keeperChannel;
}

/** How the keeper recorded the end of its program (agent-keeper.js). */
export interface KeeperRecord {
  /** The program's pid. */
  pid?: number;
  exit_code?: number | null;
  signal?: NodeJS.Signals | null;
  spawn_error?: { code: string; message: string };
  timed_out?: boolean;
  orphaned?: boolean;
  started_at?: string;
  ended_at?: string;
  /** The keeper's process tag: its program's escaped processes carry it. */
  tag?: string | null;
  transcript_error?: string;
}

/**
 * What the keeper wrote in `file`: `running` with the program's pid from its start (before the orchestrator heard of
 * it), then the end. Undefined when there is nothing (yet) or it cannot be read.
 */
function readKeeperFile(file: string): (KeeperRecord & { running?: boolean }) | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as KeeperRecord & { running?: boolean };
  } catch {
    return undefined;
  }
}

/** The keeper's record of how its program ended, or undefined when there is none (yet) or it cannot be read. */
export function readKeeperRecord(file: string): KeeperRecord | undefined {
  const record = readKeeperFile(file);
  return record?.running ? undefined : record;
}

/**
 * The program the keeper started with this `exitFile`, once it started (running or ended): its pid, and on Linux its
 * start time (with the pid, the identity a reused pid does not have).
 */
export function readKeeperStart(file: string): { pid: number; startTime: string | null } | undefined {
  return startOf(readKeeperFile(file));
}

function startOf(record: (KeeperRecord & { start_time?: string | null }) | undefined): { pid: number; startTime: string | null } | undefined {
  const pid = record?.pid;
  return typeof pid === 'number' && pid > 0 ? { pid, startTime: typeof record!.start_time === 'string' ? record!.start_time : null } : undefined;
}

export interface AdoptProcessOptions {
  /**
   * The program's pid (= its process group id); undefined when its starter died before it heard of it: it is then
   * read from the keeper's record of the start.
   */
  pid: number | undefined;
  /**
   * Whether the program, or the keeper that records its end, still runs (the very processes, not reused pids): while
   * either does, its record may still come.
   */
  isAlive: () => boolean;
  /** The files the keeper was started with (see `RunProcessOptions.keeper`, `transcriptFile`, `stderrFile`). */
  exitFile: string;
  transcriptFile?: string;
  stderrFile?: string;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** Aborting stops the adopted program (its group: SIGTERM, then SIGKILL after `killGraceMs`). */
  signal?: AbortSignal;
  killGraceMs?: number;
  tailChars?: number;
  maxLineChars?: number;
  /** How often to look for the record. Default 200 ms. */
  pollMs?: number;
}

/**
 * Takes over a program a dead process started under the keeper: waits until the keeper records its end, then hands
 * its transcript to the callbacks line by line, as `runProcess` would have while it ran, and returns the same result.
 * Undefined when there is nothing to adopt: the keeper died without a record (it was killed itself), so the
 * program's end is unknown. Processes its program left outside its group are killed, as `runProcess` does.
 */
export async function adoptProcess(options: AdoptProcessOptions): Promise<ProcessResult | undefined> {
  const { isAlive, exitFile, signal, killGraceMs = DEFAULT_KILL_GRACE_MS, pollMs = 200 } = options;
  let pid = options.pid;
  const started = performance.now();
  let aborted = false;
  const stop = (group: number) => {
    killGroup(group, 'SIGTERM');
    setTimeout(() => killGroup(group, 'SIGKILL'), killGraceMs).unref();
  };
  const learn = (found: number | undefined) => {
    if (pid !== undefined || found === undefined) return;
    pid = found;
    liveGroups.add(pid);
    if (aborted) stop(pid);
  };
  if (pid !== undefined) liveGroups.add(pid);
  const onAbort = () => {
    aborted = true;
    if (pid !== undefined) stop(pid);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const shutdownListener = () => onAbort();
  shutdownListeners.add(shutdownListener);
  let end: KeeperRecord | undefined;
  try {
    if (signal?.aborted) onAbort();
    for (;;) {
      const seen = readKeeperFile(exitFile);
      learn(startOf(seen)?.pid);
      end = seen?.running ? undefined : seen;
      if (end !== undefined) break;
      // Read once more after seeing it dead: it may have written the record just before exiting.
      if (!isAlive()) {
        end = readKeeperRecord(exitFile);
        break;
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    shutdownListeners.delete(shutdownListener);
  }
  if (end === undefined || pid === undefined) {
    if (pid !== undefined) liveGroups.delete(pid);
    return undefined;
  }
  await waitForGroupDeath(pid, killGraceMs + CLOSE_FALLBACK_MS);
  liveGroups.delete(pid);
  const escaped = end.tag ? killTaggedProcesses(end.tag) : [];
  if (escaped.length > 0) await waitForDeath(escaped, killGraceMs);

  const tailChars = options.tailChars ?? DEFAULT_TAIL_CHARS;
  const replay = (file: string | undefined, onLine: ((line: string) => void) | undefined): string => {
    if (!file) return '';
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return '';
    }
    if (onLine) {
      const lines = new LineSplitter(onLine, options.maxLineChars);
      lines.push(text);
      lines.end();
    }
    return text.slice(-tailChars);
  };
  // A transcript holding both streams (no separate stderr file) is handed over as stdout: the order of the lines is
  // all that is left of which stream each came from.
  const stdoutTail = replay(options.transcriptFile, options.onStdoutLine);
  const stderrTail = options.stderrFile ? replay(options.stderrFile, options.onStderrLine) : '';
  const ran = end.started_at && end.ended_at ? Date.parse(end.ended_at) - Date.parse(end.started_at) : NaN;
  const result: ProcessResult = {
    exitCode: end.exit_code ?? null,
    signal: end.signal ?? null,
    timedOut: end.timed_out === true,
    stalled: false,
    aborted,
    durationMs: Number.isFinite(ran) ? ran : Math.round(performance.now() - started),
    stdoutTail,
    stderrTail,
    pid,
  };
  if (end.spawn_error) result.spawnError = end.spawn_error;
  if (escaped.length > 0) result.escapedKilled = escaped.length;
  if (end.transcript_error) result.transcriptError = end.transcript_error;
  return result;
}

/**
 * Linux: the running processes (zombies aside) whose environment holds `NX_VTM_PROCESS_TAG=<tag>`; [] elsewhere or
 * when /proc cannot be read. Processes of other users cannot be read, and are not ours.
 */
export function findTaggedProcesses(
  tag: string,
  { prefix = false, startedAfter }: { prefix?: boolean; startedAfter?: { pid: number; forksBefore: number | undefined } } = {},
): number[] {
  if (process.platform !== 'linux') return [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const isCandidate = startedAfter === undefined ? () => true : createdSince(startedAfter);
  const needle = Buffer.from(`${PROCESS_TAG_ENV}=${tag}${prefix ? '' : '\0'}`);
  const found: number[] = [];
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    const pid = Number(entry);
    if (pid === process.pid || !isCandidate(pid)) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${entry}/environ`);
    } catch {
      continue; // exited while we looked, or another user's
    }
    // A whole entry (at the start or after a NUL), not the tail of another variable's value. A zombie's reads empty.
    for (let at = environ.indexOf(needle); at !== -1; at = environ.indexOf(needle, at + 1)) {
      if (at === 0 || environ[at - 1] === 0) {
        found.push(pid);
        break;
      }
    }
  }
  return found;
}

/**
 * Linux hands out pids in increasing order, wrapping at pid_max: the processes created after `pid` have pids in the
 * circular range (pid, last], `last` being the newest pid (/proc/loadavg's last field). Reading the environment of
 * only those keeps the search at tens of processes instead of every process of the machine (2.4 ms per search with
 * 75 processes when reading all, 0.13 ms this way). That holds while fewer processes than pid_max were created since
 * (the kernel's fork counter, against `forksBefore` read when the leader started): an agent that forks that many times to wrap the pids around gets the
 * full search. Unreadable: every pid is a candidate.
 */
function createdSince({ pid, forksBefore }: { pid: number; forksBefore: number | undefined }): (candidate: number) => boolean {
  const forksNow = readForkCount();
  if (forksBefore === undefined || forksNow === undefined || forksNow - forksBefore >= readPidMax() / 2) return () => true;
  let last: number;
  try {
    last = Number(readFileSync('/proc/loadavg', 'utf8').trim().split(' ').pop());
  } catch {
    return () => true;
  }
  if (!Number.isInteger(last) || last <= 0) return () => true;
  return last >= pid ? (c) => c > pid && c <= last : (c) => c > pid || c <= last;
}

/** /proc/sys/kernel/pid_max, read once (0 when unreadable: every search is then a full one). */
let pidMax: number | undefined;
function readPidMax(): number {
  if (pidMax === undefined) {
    try {
      pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) || 0;
    } catch {
      pidMax = 0;
    }
  }
  return pidMax;
}

/** Linux: how many processes were created since boot (`processes` in /proc/stat); undefined when unreadable. */
export function readForkCount(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const m = /^processes (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * SIGKILLs every process still carrying `tag` (or, with `prefix`, a tag starting with it); they may have started
 * others meanwhile, hence a few passes. Returns the pids killed (each once: a killed process can still be listed until
 * it is gone).
 */
export function killTaggedProcesses(tag: string, options: Parameters<typeof findTaggedProcesses>[1] = {}): number[] {
  const killed = new Set<number>();
  for (let pass = 0; pass < 3; pass++) {
    const pids = findTaggedProcesses(tag, options).filter((pid) => !killed.has(pid));
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        // gone already
      }
    }
  }
  return [...killed];
}

/**
 * Linux: a process's state and process group from /proc/<pid>/stat; undefined when it is gone (or unreadable).
 * "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses, so the fields are split after the last ")".
 */
function readProcStat(pid: number | string): { running: boolean; pgrp: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // A zombie (Z) or dead (X) process can do nothing more.
  return { running: fields[0] !== 'Z' && fields[0] !== 'X', pgrp: Number(fields[2]) };
}

/** Whether `pid` is a process that still runs (a zombie does not: it can do nothing more). Linux; elsewhere false. */
export function isProcessRunning(pid: number): boolean {
  return readProcStat(pid)?.running === true;
}

/** Waits (at most `maxMs`) until none of `pids` runs: a SIGKILLed process dies a moment after the signal is sent. */
async function waitForDeath(pids: readonly number[], maxMs: number): Promise<void> {
  const deadline = performance.now() + maxMs;
  while (pids.some(isProcessRunning) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** Send a signal to a whole process group; a group that is already gone is not an error. */
export function killProcessGroup(pgid: number, signal: NodeJS.Signals = 'SIGTERM'): boolean {
  return killGroup(pgid, signal);
}

function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    // ESRCH: nothing left in the group. EPERM: not ours (pid reuse); leave it alone.
    return false;
  }
}

/**
 * Whether any process of the group is still running. Zombies do not count: a killed grandchild is reparented to
 * PID 1, which may reap it late (about 1 s on this project's machines) or never (a container whose PID 1 is not an
 * init), and waiting for that would only add delay.
 */
export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  return process.platform === 'linux' ? hasRunningMember(pgid) : true;
}

/** Linux: scan /proc for a non-zombie process whose process group is `pgid`. Errs on the side of "alive". */
function hasRunningMember(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    const stat = readProcStat(entry); // undefined: exited while we looked
    if (stat?.running && stat.pgrp === pgid) return true;
  }
  return false;
}

async function waitForGroupDeath(pgid: number, maxMs: number): Promise<void> {
  const deadline = performance.now() + maxMs;
  while (isGroupAlive(pgid) && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- shutdown: do not orphan agents when this process is told to stop ----

const shutdownListeners = new Set<() => void>();
let installed: { count: number; uninstall: () => void } | undefined;

export interface SignalCleanupOptions {
  /** Signals that mean "stop". Default SIGTERM, SIGINT, SIGHUP. */
  signals?: NodeJS.Signals[];
  /** Time the groups get between SIGTERM and SIGKILL. Default 3 s. */
  graceMs?: number;
}

/**
 * Kill every process group started by `runProcess` when this process gets SIGTERM/SIGINT/SIGHUP (Nx stopping an
 * executor, Ctrl-C) and, synchronously with SIGKILL, when it exits. Needed because agents run in their own process
 * groups, which signals to ours do not reach. After cleanup, if no other listener handles the signal, the signal
 * is re-raised so this process ends the way it would have without us. Idempotent; returns an uninstall function.
 */
export function installSignalCleanup({
  signals = ['SIGTERM', 'SIGINT', 'SIGHUP'],
  graceMs = 3000,
}: SignalCleanupOptions = {}): () => void {
  if (installed) {
    installed.count++;
    return makeRelease();
  }
  const onExit = () => {
    for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
    for (const tag of liveTags) killTaggedProcesses(tag);
  };
  const handlers = signals.map((sig) => {
    const handler = () => void onSignal(sig);
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  process.on('exit', onExit);
  const uninstall = () => {
    for (const [sig, handler] of handlers) process.removeListener(sig, handler);
    process.removeListener('exit', onExit);
    installed = undefined;
  };
  installed = { count: 1, uninstall };

  async function onSignal(sig: NodeJS.Signals): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    for (const listener of [...shutdownListeners]) listener();
    for (const pgid of liveGroups) killGroup(pgid, 'SIGTERM');
    const deadline = performance.now() + graceMs;
    while ([...liveGroups].some(isGroupAlive) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
    installed?.uninstall();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  }
  return makeRelease();
}

function makeRelease(): () => void {
  let released = false;
  return () => {
    if (released || !installed) return;
    released = true;
    if (--installed.count === 0) installed.uninstall();
  };
}

/** Pids of the process groups currently running (for diagnostics and tests). */
export function getLiveProcessGroups(): number[] {
  return [...liveGroups];
}

// ---- helpers ----

/** Splits a byte stream into lines: UTF-8 safe across chunk boundaries, "\r\n" tolerant, bounded line length. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial: string[] = [];
  private partialLength = 0;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineChars = DEFAULT_MAX_LINE_CHARS,
  ) {}

  push(chunk: Buffer | string): void {
    this.accept(typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
  }

  /** Deliver what is left (a last line without a newline). */
  end(): void {
    this.accept(this.decoder.end());
    if (this.partialLength > 0) this.emit();
  }

  private accept(text: string): void {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.append(text.slice(start, nl));
      this.emit();
      start = nl + 1;
    }
    if (start < text.length) this.append(text.slice(start));
  }

  private append(piece: string): void {
    let rest = piece;
    while (this.partialLength + rest.length > this.maxLineChars) {
      const room = this.maxLineChars - this.partialLength;
      this.partial.push(rest.slice(0, room));
      this.partialLength += room;
      rest = rest.slice(room);
      this.emit();
    }
    if (rest) {
      this.partial.push(rest);
      this.partialLength += rest.length;
    }
  }

  private emit(): void {
    let line = this.partial.join('');
    this.partial = [];
    this.partialLength = 0;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    this.onLine(line);
  }
}

/** The last `max` characters of a stream, kept without holding the whole stream. */
class Tail {
  private text = '';
  constructor(private readonly max: number) {}
  push(s: string): void {
    this.text += s;
    // Trim only when well over the limit, so long streams cost amortised O(1) per character.
    if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max);
  }
  value(): string {
    return this.text.length > this.max ? this.text.slice(-this.max) : this.text;
  }
}

function openLog(file: string | undefined, onError: (message: string) => void): WriteStream | undefined {
  if (!file) return undefined;
  const stream = createWriteStream(file, { flags: 'a' });
  stream.on('error', (e) => onError(`cannot write ${file}: ${e.message}`));
  return stream;
}

function closeLog(stream: WriteStream | undefined): Promise<void> {
  if (!stream || stream.closed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('close', () => resolve());
    stream.end();
  });
}
