#!/usr/bin/env node
/**
 * The agent keeper: the process `runProcess` starts in an agent's place (`keeper` option), which starts the agent and
 * stays between it and the orchestrator for its whole run. Why: an agent's work is paid for once. When the process
 * that started the agent dies (SIGKILL, OOM, a crash), the agent must not die with it, and what it did must not be
 * lost: its output was a pipe into the dead process, and its exit status would go to init. The keeper:
 *
 * - passes the agent's stdout and stderr through to its own (the orchestrator reads them exactly as before), and
 *   appends them to the transcript files itself, so the full output is on disk whoever reads it;
 * - records how the agent ended in `exitFile` (exit code or signal, timestamps, its process tag), atomically;
 * - exits the way the agent did (same code, same signal), so the orchestrator sees no difference;
 * - ignores SIGTERM/SIGINT/SIGHUP: the orchestrator's stops reach the agent through the group kill, and the keeper
 *   outlives them to record the end;
 * - once orphaned (its stdin ended, or its stdout pipe broke), keeps the agent's total time limit itself, and when
 *   the agent ends kills what is left of its process group (itself included) after the record is written.
 *
 * The next run adopts the agent (`adoptProcess`): it waits for `exitFile`, then reads the transcript.
 *
 * It is started ahead of need (a spare per orchestrator process: Node's start-up, ~50-70 ms, is then off the path from
 * a free slot to a working agent) and waits for its program: one JSON line on stdin,
 *   { exitFile, transcriptFile?, stderrFile?, timeoutMs?, killGraceMs?, argv, cwd, env, stdin? }
 * After that line its stdin stays open; its end (EOF) means the orchestrator is gone. Without a line it just exits.
 *
 * Plain JavaScript with no imports of the package: it is started by path, from the built package and from the
 * TypeScript sources under test alike.
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');

for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => undefined);

let spec;
let startedAt;
let killGraceMs = 5000;
let orphaned = false;
let timedOut = false;
let transcriptError;
let transcript;
let stderrLog;
let child;
let exit;
let closed = 0;

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  if (spec) return;
  pending += text;
  const nl = pending.indexOf('\n');
  if (nl < 0) return;
  spec = JSON.parse(pending.slice(0, nl));
  pending = '';
  start();
});
process.stdin.on('end', () => (spec ? becomeOrphan() : process.exit(0)));
// A broken stdin (the orchestrator died mid-write) is the same end.
process.stdin.on('error', () => (spec ? becomeOrphan() : process.exit(0)));

const openLog = (file) => {
  if (!file) return undefined;
  try {
    return fs.openSync(file, 'a');
  } catch (e) {
    transcriptError ??= `cannot write ${file}: ${e.message}`;
    return undefined;
  }
};

function writeAll(fd, chunk) {
  for (let at = 0; at < chunk.length; ) at += fs.writeSync(fd, chunk, at);
}
function record(fd, chunk) {
  if (fd === undefined) return;
  try {
    writeAll(fd, chunk);
  } catch (e) {
    transcriptError ??= `transcript write failed: ${e.message}`;
  }
}
/** To the orchestrator; a broken pipe means it is gone. */
function pass(fd, chunk) {
  if (orphaned) return;
  try {
    writeAll(fd, chunk);
  } catch {
    becomeOrphan();
  }
}

function start() {
  startedAt = Date.now();
  killGraceMs = spec.killGraceMs ?? 5000;
  transcript = openLog(spec.transcriptFile);
  stderrLog = spec.stderrFile ? openLog(spec.stderrFile) : transcript;
  try {
    child = spawn(spec.argv[0], spec.argv.slice(1), { stdio: [spec.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: spec.env, cwd: spec.cwd });
  } catch (e) {
    return end({ spawn_error: { code: e.code ?? 'EINVAL', message: e.message } });
  }
  if (child.stdin) {
    // The program may exit without reading it all: its exit status says what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(spec.stdin);
  }
  child.stdout.on('data', (chunk) => {
    record(transcript, chunk);
    pass(1, chunk);
  });
  child.stderr.on('data', (chunk) => {
    record(stderrLog, chunk);
    pass(2, chunk);
  });
  const onClose = () => {
    if (++closed === 2 && exit) end(exit);
  };
  child.stdout.on('close', onClose);
  child.stderr.on('close', onClose);
  child.on('error', (e) => {
    if (child.pid === undefined) end({ spawn_error: { code: e.code ?? 'UNKNOWN', message: e.message } });
  });
  child.on('exit', (code, signal) => {
    exit = { exit_code: code, signal };
    if (closed === 2) return end(exit);
    // A process the agent left behind may hold its pipes open: record the end without waiting for them for long.
    setTimeout(() => end(exit), 1000).unref();
  });
}

function becomeOrphan() {
  if (orphaned) return;
  orphaned = true;
  // The orchestrator's total limit, kept from the agent's start; its inactivity limit is not kept (an idle agent
  // costs nothing, and the total limit still ends it).
  if (spec.timeoutMs > 0) {
    setTimeout(() => {
      timedOut = true;
      signalGroup('SIGTERM');
      setTimeout(() => child?.pid && tryKill(child.pid, 'SIGKILL'), killGraceMs).unref();
    }, Math.max(0, startedAt + spec.timeoutMs - Date.now())).unref();
  }
}

function tryKill(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}
/** The keeper's whole group (the agent and what it started); the keeper ignores SIGTERM itself. */
function signalGroup(signal) {
  tryKill(-process.pid, signal);
}

let ended = false;
function end(how) {
  if (ended) return;
  ended = true;
  const entry = {
    ...how,
    timed_out: timedOut,
    orphaned,
    started_at: new Date(startedAt).toISOString(),
    ended_at: new Date().toISOString(),
    tag: spec.env?.NX_VTM_PROCESS_TAG ?? null,
    ...(transcriptError ? { transcript_error: transcriptError } : {}),
  };
  const temp = `${spec.exitFile}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temp, `${JSON.stringify(entry)}\n`);
    fs.renameSync(temp, spec.exitFile);
  } catch {
    // Nowhere to record it: an orchestrator still alive sees the exit status below; an adopter finds no record and
    // runs the agent again.
  }
  for (const fd of new Set([transcript, stderrLog])) if (fd !== undefined) fs.closeSync(fd);
  if (orphaned) {
    // Nobody will clean up after the agent: end its group (this process with it).
    signalGroup('SIGKILL');
  }
  if (how.spawn_error) process.exit(127);
  if (how.signal) {
    process.removeAllListeners(how.signal);
    tryKill(process.pid, how.signal);
    setTimeout(() => process.exit(128), 1000).unref();
    return;
  }
  process.exit(how.exit_code ?? 1);
}
