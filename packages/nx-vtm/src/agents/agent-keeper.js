#!/usr/bin/env node
/**
 * The agent keeper: one process per orchestrating process (`runProcess`'s `keeper` option starts it on first use),
 * which starts that process's agents and stays between them and the orchestrator for their whole runs. Why: an
 * agent's work is paid for once. When the process that started an agent dies (SIGKILL, OOM, a crash), the agent must
 * not die with it, and what it did must not be lost: its output was a pipe into the dead process, and its exit status
 * would go to init. For each agent, the keeper:
 *
 * - starts it in its own process group (the orchestrator stops an agent and all it started with one group kill, which
 *   does not reach the keeper, so the keeper outlives every stop to record the end);
 * - passes its stdout and stderr through to the orchestrator, and appends them to the transcript files itself, so
 *   the full output is on disk whoever reads it;
 * - records in `exitFile`, atomically, that it runs (its pid: written before the orchestrator hears of it, so an
 *   orchestrator killed in between still leaves a way to it), then how it ended (exit code or signal, timestamps, its
 *   process tag);
 * - once orphaned (its stdin ended, or its stdout pipe broke), keeps the agent's total time limit itself, and when
 *   the agent ends kills what is left of its process group after the record is written.
 * It ignores SIGTERM/SIGINT/SIGHUP, and exits once it is orphaned and its last agent has ended.
 *
 * One keeper serves every agent of its orchestrator, one after another and side by side: Node's start-up is ~60 ms
 * of CPU, which a keeper per agent paid on every run (it doubled the per-task cost of a 10,000-task run of trivial
 * agents). The next run adopts an orphaned agent (`adoptProcess`): it waits for `exitFile`, then reads the transcript.
 *
 * Protocol. In, on stdin: one JSON line per agent,
 *   { id, exitFile, transcriptFile?, stderrFile?, timeoutMs?, killGraceMs?, argv, cwd, env, stdin? }
 * Its end (EOF) means the orchestrator is gone. Out, on stdout: frames of a 9-byte header (kind: u8, id: u32 BE,
 * length: u32 BE) and a payload: OUT/ERR carry the agent's bytes; SPAWN {pid}, EXIT {code, signal} and END {} (the
 * record is written, its streams are closed; it carries spawn_error after a failed start, transcript_error when the
 * transcript could not be written) carry JSON.
 *
 * Plain JavaScript with no imports of the package: it is started by path, from the built package and from the
 * TypeScript sources under test alike.
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');

const KIND = { OUT: 1, ERR: 2, SPAWN: 3, EXIT: 4, END: 5 };

for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => undefined);

/** The agents not yet ended, by id. */
const runs = new Map();
let orphaned = false;
let pending = '';

process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  pending += text;
  for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (line.trim() !== '') start(JSON.parse(line));
  }
});
process.stdin.on('end', becomeOrphan);
// A broken stdin (the orchestrator died mid-write) is the same end.
process.stdin.on('error', becomeOrphan);

function writeAll(fd, chunk) {
  for (let at = 0; at < chunk.length; ) at += fs.writeSync(fd, chunk, at);
}

/** To the orchestrator; a broken pipe means it is gone. */
function send(kind, id, payload) {
  if (orphaned) return;
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload));
  const header = Buffer.allocUnsafe(9);
  header.writeUInt8(kind, 0);
  header.writeUInt32BE(id, 1);
  header.writeUInt32BE(body.length, 5);
  try {
    writeAll(1, Buffer.concat([header, body]));
  } catch {
    becomeOrphan();
  }
}

function start(spec) {
  const run = { spec, id: spec.id, startedAt: Date.now(), timedOut: false, transcriptError: undefined, exit: undefined, closed: 0, ended: false, timer: undefined };
  runs.set(run.id, run);
  const openLog = (file) => {
    if (!file) return undefined;
    try {
      return fs.openSync(file, 'a');
    } catch (e) {
      run.transcriptError ??= `cannot write ${file}: ${e.message}`;
      return undefined;
    }
  };
  run.transcript = openLog(spec.transcriptFile);
  run.stderrLog = spec.stderrFile ? openLog(spec.stderrFile) : run.transcript;
  const record = (fd, chunk) => {
    if (fd === undefined) return;
    try {
      writeAll(fd, chunk);
    } catch (e) {
      run.transcriptError ??= `transcript write failed: ${e.message}`;
    }
  };
  let child;
  try {
    child = spawn(spec.argv[0], spec.argv.slice(1), {
      stdio: [spec.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: spec.env,
      cwd: spec.cwd,
      detached: true,
    });
  } catch (e) {
    return end(run, { spawn_error: { code: e.code ?? 'EINVAL', message: e.message } });
  }
  run.child = child;
  if (orphaned) armTimeout(run);
  child.on('error', (e) => {
    if (child.pid === undefined) end(run, { spawn_error: { code: e.code ?? 'UNKNOWN', message: e.message } });
  });
  if (child.pid === undefined) return;
  run.startTime = readStartTime(child.pid);
  writeRecord(spec, { running: true, pid: child.pid, start_time: run.startTime, started_at: new Date(run.startedAt).toISOString(), tag: spec.env?.NX_VTM_PROCESS_TAG ?? null });
  send(KIND.SPAWN, run.id, { pid: child.pid });
  if (child.stdin) {
    // The program may exit without reading it all: its exit status says what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(spec.stdin);
  }
  child.stdout.on('data', (chunk) => {
    record(run.transcript, chunk);
    send(KIND.OUT, run.id, chunk);
  });
  child.stderr.on('data', (chunk) => {
    record(run.stderrLog, chunk);
    send(KIND.ERR, run.id, chunk);
  });
  const onClose = () => {
    if (++run.closed === 2 && run.exit) end(run, run.exit);
  };
  child.stdout.on('close', onClose);
  child.stderr.on('close', onClose);
  child.on('exit', (code, signal) => {
    run.exit = { exit_code: code, signal };
    send(KIND.EXIT, run.id, { code, signal });
    if (run.closed === 2) return end(run, run.exit);
    // A process the agent left behind may hold its pipes open: record the end without waiting for them for long.
    setTimeout(() => end(run, run.exit), 1000).unref();
  });
}

/** The orchestrator's total limit, kept from the agent's start; its inactivity limit is not kept (an idle agent costs
 * nothing, and the total limit still ends it). */
function armTimeout(run) {
  const { timeoutMs, killGraceMs = 5000 } = run.spec;
  if (!(timeoutMs > 0) || run.timer || run.ended) return;
  run.timer = setTimeout(() => {
    if (run.ended) return;
    run.timedOut = true;
    signalGroup(run, 'SIGTERM');
    setTimeout(() => !run.ended && signalGroup(run, 'SIGKILL'), killGraceMs).unref();
  }, Math.max(0, run.startedAt + timeoutMs - Date.now()));
}

function becomeOrphan() {
  if (orphaned) return;
  orphaned = true;
  for (const run of runs.values()) armTimeout(run);
  exitIfDone();
}

function exitIfDone() {
  if (orphaned && runs.size === 0) process.exit(0);
}

/** The agent's whole group (the agent and what it started). */
function signalGroup(run, signal) {
  if (run.child?.pid === undefined) return;
  try {
    process.kill(-run.child.pid, signal);
  } catch {
    // gone
  }
}

/**
 * Linux: the process's start time (field 22 of /proc/<pid>/stat, counted after the command name's last ")"), with its
 * pid the identity a later process checks it by (state/process-identity.ts); null elsewhere.
 */
function readStartTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] || null;
  } catch {
    return null;
  }
}

/** Replaces the run's record at once (readers see the previous one or this one). */
function writeRecord(spec, entry) {
  const temp = `${spec.exitFile}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temp, `${JSON.stringify(entry)}\n`);
    fs.renameSync(temp, spec.exitFile);
  } catch {
    // Nowhere to record it: an orchestrator still alive sees the exit status; an adopter finds no end record and
    // runs the agent again.
  }
}

function end(run, how) {
  if (run.ended) return;
  run.ended = true;
  if (run.timer) clearTimeout(run.timer);
  const { spec } = run;
  writeRecord(spec, {
    ...how,
    // Its identity stays in the record: a later process must not take a process that reused the pid for it.
    ...(run.child?.pid !== undefined ? { pid: run.child.pid, start_time: run.startTime } : {}),
    timed_out: run.timedOut,
    orphaned,
    started_at: new Date(run.startedAt).toISOString(),
    ended_at: new Date().toISOString(),
    tag: spec.env?.NX_VTM_PROCESS_TAG ?? null,
    ...(run.transcriptError ? { transcript_error: run.transcriptError } : {}),
  });
  for (const fd of new Set([run.transcript, run.stderrLog])) if (fd !== undefined) fs.closeSync(fd);
  // Nobody will clean up after an orphaned agent: end what is left of its group.
  if (orphaned) signalGroup(run, 'SIGKILL');
  send(KIND.END, run.id, { ...(how.spawn_error ? { spawn_error: how.spawn_error } : {}), ...(run.transcriptError ? { transcript_error: run.transcriptError } : {}) });
  runs.delete(run.id);
  exitIfDone();
}
