import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LineSplitter,
  adoptProcess,
  agentProcessTag,
  findTaggedProcesses,
  getLiveProcessGroups,
  isGroupAlive,
  isProcessRunning,
  killTaggedProcesses,
  PROCESS_TAG_ENV,
  readForkCount,
  readKeeperRecord,
  readKeeperStart,
  runProcess,
  type RunProcessOptions,
} from './process-runner';

const node = process.execPath;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vtm-runner-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (script: string, options: Partial<RunProcessOptions> = {}) =>
  runProcess({ argv: [node, '-e', script], cwd: dir, env: process.env, killGraceMs: 300, ...options });

/** Whether a process exists and is not a zombie (a killed orphan waits for PID 1 to reap it). */
const isRunning = isProcessRunning;

/** A script that starts a grandchild (same process group), prints its pid, then does `then`. */
const withGrandchild = (then: string, grandchildOptions = "{ stdio: 'ignore' }") => `
  const g = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], ${grandchildOptions});
  console.log(String(g.pid));
  ${then}
`;

describe('LineSplitter', () => {
  it('joins partial chunks, splits several lines per chunk, handles CRLF and a last line without newline', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    s.push('ab');
    s.push('c\r\nd\n\ne');
    s.push(Buffer.from('\nf'));
    s.end();
    expect(lines).toEqual(['abc', 'd', '', 'e', 'f']);
  });

  it('decodes UTF-8 split across chunks', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    const bytes = Buffer.from('héllo ∙ wörld\n');
    for (let i = 0; i < bytes.length; i++) s.push(bytes.subarray(i, i + 1));
    s.end();
    expect(lines).toEqual(['héllo ∙ wörld']);
  });

  it('delivers an over-long line in pieces', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l), 4);
    s.push('abcdefghij\nxy');
    s.end();
    expect(lines).toEqual(['abcd', 'efgh', 'ij', 'xy']);
  });
});

describe.each([
  ['directly', false],
  ['under the agent keeper (the caller sees no difference)', true],
])('runProcess %s', (_name, underKeeper) => {
  let exits = 0;
  const start = (options: RunProcessOptions) => runProcess(underKeeper ? { ...options, keeper: { exitFile: join(dir, `exit-${++exits}.json`) } } : options);
  const run = (script: string, options: Partial<RunProcessOptions> = {}) => start({ argv: [node, '-e', script], cwd: dir, env: process.env, killGraceMs: 300, ...options });

  it('passes argv verbatim without a shell, and stdin as data', async () => {
    const args = ['$(echo pwned)', '`id`', '"quoted" \'single\'', 'a; rm -rf ~', '*'];
    const lines: string[] = [];
    const stdin = 'line one $(whoami)\n`backticks` && echo "x"\n';
    const r = await start({
      argv: [node, '-e', 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{console.log(JSON.stringify({argv:process.argv.slice(1),stdin:s}))})', ...args],
      cwd: dir,
      env: process.env,
      stdin,
      onStdoutLine: (l) => lines.push(l),
    });
    expect(r).toMatchObject({ exitCode: 0, signal: null, timedOut: false, stalled: false, aborted: false });
    expect(JSON.parse(lines[0])).toEqual({ argv: args, stdin });
  });

  it('sets PWD to the working directory, whatever the parent\'s PWD says (opencode reads PWD as its project)', async () => {
    const lines: string[] = [];
    const r = await run('console.log(process.env.PWD)', { env: { ...process.env, PWD: '/somewhere/else' }, onStdoutLine: (l) => lines.push(l) });
    expect(r.exitCode).toBe(0);
    expect(lines).toEqual([dir]);
  });

  it('delivers stdout and stderr lines as they come, with bounded tails', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const transcriptFile = join(dir, `transcript-${underKeeper}.log`);
    const stderrFile = join(dir, `stderr-${underKeeper}.log`);
    const r = await run(
      `process.stdout.write('par'); setTimeout(() => { process.stdout.write('tial\\n' + 'x'.repeat(5000) + '\\nend'); console.error('warn 1'); }, 50);`,
      { onStdoutLine: (l) => out.push(l), onStderrLine: (l) => err.push(l), tailChars: 100, transcriptFile, stderrFile },
    );
    expect(out).toEqual(['partial', 'x'.repeat(5000), 'end']);
    expect(err).toEqual(['warn 1']);
    expect(r.stdoutTail).toHaveLength(100);
    expect(r.stdoutTail.endsWith('xx\nend')).toBe(true);
    expect(readFileSync(transcriptFile, 'utf8')).toBe(`partial\n${'x'.repeat(5000)}\nend`);
    expect(readFileSync(stderrFile, 'utf8')).toBe('warn 1\n');
  });

  it('reports exit codes and signals', async () => {
    expect((await run('process.exit(7)')).exitCode).toBe(7);
    const killed = await run('process.kill(process.pid, "SIGKILL")');
    expect(killed).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: false });
  });

  it('returns a missing or non-executable binary as a result', async () => {
    const missing = await start({ argv: ['vtm-no-such-agent-binary'], cwd: dir, env: process.env });
    expect(missing).toMatchObject({ exitCode: null, pid: undefined, spawnError: { code: 'ENOENT' } });
    const file = join(dir, 'not-executable');
    writeFileSync(file, '#!/bin/sh\necho hi\n');
    chmodSync(file, 0o644);
    expect((await start({ argv: [file], cwd: dir, env: process.env })).spawnError?.code).toBe('EACCES');
    expect((await start({ argv: [], cwd: dir, env: process.env })).spawnError?.code).toBe('EINVAL');
    // A missing working directory is not a missing binary (routing must not fall back for it).
    const noCwd = await start({ argv: [node, '-e', '1'], cwd: join(dir, 'no-such-dir'), env: process.env });
    expect(noCwd.spawnError).toEqual({ code: 'ENOCWD', message: `working directory ${join(dir, 'no-such-dir')} does not exist` });
  });

  it('tolerates a child that exits without reading its stdin (EPIPE)', async () => {
    const r = await run('process.exit(0)', { stdin: 'x'.repeat(4 * 1024 * 1024) });
    expect(r.exitCode).toBe(0);
  });

  it('kills the whole process group on timeout, grandchild included', async () => {
    const lines: string[] = [];
    let spawned: number | undefined;
    // Generous limits: on a loaded machine node itself may take a while to start and spawn the grandchild.
    const r = await run(withGrandchild('setInterval(() => {}, 1000);'), {
      timeoutMs: 2000,
      onStdoutLine: (l) => lines.push(l),
      onSpawn: (pid) => (spawned = pid),
    });
    const grandchild = Number(lines[0]);
    expect(r).toMatchObject({ timedOut: true, stalled: false, exitCode: null, signal: 'SIGTERM' });
    expect(spawned).toBe(r.pid);
    expect(grandchild).toBeGreaterThan(0);
    expect(isRunning(grandchild)).toBe(false);
    expect(isGroupAlive(r.pid!)).toBe(false);
    expect(getLiveProcessGroups()).not.toContain(r.pid);
  });

  it('kills a silent process as stalled, but not one that keeps talking', async () => {
    const silent = await run(withGrandchild('setInterval(() => {}, 1000);'), { idleTimeoutMs: 1500, timeoutMs: 20_000 });
    expect(silent).toMatchObject({ stalled: true, timedOut: false });
    const grandchild = Number(silent.stdoutTail.trim());
    expect(grandchild).toBeGreaterThan(0);
    expect(isRunning(grandchild)).toBe(false);

    const chatty = await run('setInterval(() => console.log("tick"), 50);', { idleTimeoutMs: 1000, timeoutMs: 2500 });
    expect(chatty).toMatchObject({ stalled: false, timedOut: true });
  });

  it('SIGKILLs a process that ignores SIGTERM after the grace period', async () => {
    // Stop it only once it says it ignores SIGTERM (a fixed timeout could fire before node has started).
    const ac = new AbortController();
    const r = await run('process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000);', {
      signal: ac.signal,
      onStdoutLine: () => ac.abort(),
      killGraceMs: 300,
    });
    expect(r).toMatchObject({ aborted: true, exitCode: null, signal: 'SIGKILL' });
  });

  it('kills leftovers of a process that exited, even when they hold stdout open', async () => {
    const r = await run(withGrandchild('process.exit(0);', "{ stdio: 'inherit' }"), { killGraceMs: 300 });
    expect(r).toMatchObject({ exitCode: 0, leftoversKilled: true });
    const grandchild = Number(r.stdoutTail.trim());
    expect(grandchild).toBeGreaterThan(0);
    expect(isRunning(grandchild)).toBe(false);
  });

  it('kills a process that left the group (setsid) once the run ends, found by the tag it inherited (Linux)', async () => {
    // The leader starts a daemon in a new session, prints its pid and exits at once: the group is empty, the daemon
    // lives on, ready to rewrite files at any time.
    const r = await run(withGrandchild('process.exit(0);', "{ stdio: 'ignore', detached: true }"), { killGraceMs: 300 });
    const escaped = Number(r.stdoutTail.trim());
    expect(escaped).toBeGreaterThan(0);
    expect(r).toMatchObject({ exitCode: 0, escapedKilled: 1 });
    expect(isRunning(escaped)).toBe(false);
    // An ordinary run kills nothing.
    expect((await run('console.log(1)')).escapedKilled).toBeUndefined();
  });

  it("finds a dead run's processes by their tag prefix (a re-run killing what a killed run's agent left)", async () => {
    const prefix = agentProcessTag('TAG--T01', 'run-x');
    const orphan = spawn(node, ['-e', 'setInterval(() => {}, 1000)'], { env: { ...process.env, [PROCESS_TAG_ENV]: `${prefix}123-1-abc` }, detached: true, stdio: 'ignore' });
    const other = spawn(node, ['-e', 'setInterval(() => {}, 1000)'], { env: { ...process.env, [PROCESS_TAG_ENV]: `${agentProcessTag('TAG--T01', 'run-y')}123-1-abc` }, detached: true, stdio: 'ignore' });
    try {
      await new Promise((res) => setTimeout(res, 200));
      expect(findTaggedProcesses(prefix, { prefix: true })).toEqual([orphan.pid]);
      expect(findTaggedProcesses(prefix)).toEqual([]); // not a whole tag
      expect(killTaggedProcesses(prefix, { prefix: true })).toEqual([orphan.pid]);
      for (let i = 0; i < 100 && isRunning(orphan.pid!); i++) await new Promise((res) => setTimeout(res, 20)); // dies a moment later
      expect(isRunning(orphan.pid!)).toBe(false);
      expect(isRunning(other.pid!)).toBe(true);
    } finally {
      for (const c of [orphan, other]) c.kill('SIGKILL');
    }
  });

  it('reads only the processes created after the leader, unless so many were created that the pids may have wrapped', async () => {
    const tag = `${agentProcessTag('WRAP--T01', 'run-z')}1-1-x`;
    const older = spawn(node, ['-e', 'setInterval(() => {}, 1000)'], { env: { ...process.env, [PROCESS_TAG_ENV]: tag }, detached: true, stdio: 'ignore' });
    const leader = spawn(node, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
    try {
      await new Promise((res) => setTimeout(res, 200));
      expect(findTaggedProcesses(tag, { startedAfter: { pid: leader.pid!, forksBefore: readForkCount() } })).toEqual([]);
      // A billion forks since: the pid range cannot be trusted, every process is read.
      expect(findTaggedProcesses(tag, { startedAfter: { pid: leader.pid!, forksBefore: (readForkCount() ?? 0) - 1e9 } })).toEqual([older.pid]);
    } finally {
      for (const c of [older, leader]) c.kill('SIGKILL');
    }
  });

  it('kills the group when the caller aborts', async () => {
    const ac = new AbortController();
    const r = await run('console.log("started"); setInterval(() => {}, 1000);', {
      signal: ac.signal,
      onStdoutLine: () => ac.abort(),
    });
    expect(r).toMatchObject({ aborted: true, timedOut: false, stalled: false, signal: 'SIGTERM' });
    const again = await run('console.log(1)', { signal: ac.signal });
    expect(again).toMatchObject({ aborted: true, spawnError: { code: 'SHUTTING_DOWN' } });
  });

  it('rejects, after the child is gone, when a line callback throws (a caller bug)', async () => {
    await expect(
      run('console.log("a"); console.log("b")', {
        onStdoutLine: () => {
          throw new Error('parser bug');
        },
      }),
    ).rejects.toThrow('parser bug');
  });

  it('keeps the transcript going when its file cannot be written', async () => {
    const r = await run('console.log("x")', { transcriptFile: join(dir, 'no', 'such', 'dir', 't.log') });
    expect(r.exitCode).toBe(0);
    expect(r.transcriptError).toMatch(/cannot write/);
  });
});

describe('installSignalCleanup', () => {
  it('kills the agent process groups when this process gets SIGTERM, then dies of it', async () => {
    const child = spawn(node, ['-r', join(__dirname, '..', '..', '..', '..', 'tools', 'ts-register.js'), join(__dirname, '__fixtures__', 'signal-child.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const ready = await new Promise<{ agentPid: number; grandchild: number }>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
      });
      child.on('exit', (code) => reject(new Error(`signal-child exited early (${code})`)));
    });
    expect(isRunning(ready.agentPid)).toBe(true);
    expect(isRunning(ready.grandchild)).toBe(true);
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    child.kill('SIGTERM');
    expect(await exited).toBe('SIGTERM');
    expect(isRunning(ready.agentPid)).toBe(false);
    expect(isRunning(ready.grandchild)).toBe(false);
  }, 20_000);
});

describe('one agent keeper per process', () => {
  const underKeeper = (script: string, name: string, options: Partial<RunProcessOptions> = {}) => {
    const spawned: Array<{ pid: number; keeperPid?: number }> = [];
    const result = runProcess({
      argv: [node, '-e', script],
      cwd: dir,
      env: process.env,
      killGraceMs: 300,
      keeper: { exitFile: join(dir, `${name}-exit.json`) },
      transcriptFile: join(dir, `${name}.log`),
      onSpawn: (pid, keeperPid) => spawned.push({ pid, keeperPid }),
      ...options,
    });
    return { result, spawned };
  };

  it('runs agents side by side and one after another, each in its own process group, and stops one alone', async () => {
    const abort = new AbortController();
    const a = underKeeper(`console.log('a'); setTimeout(() => {}, 1500)`, 'side-a');
    const b = underKeeper(`console.log('b'); setInterval(() => {}, 1000)`, 'side-b', { signal: abort.signal });
    for (let i = 0; i < 200 && (a.spawned.length === 0 || b.spawned.length === 0); i++) await new Promise((r) => setTimeout(r, 10));
    const [sa, sb] = [a.spawned[0], b.spawned[0]];
    expect(sa.keeperPid).toBeGreaterThan(0);
    expect(sb.keeperPid).toBe(sa.keeperPid);
    expect(sa.pid).not.toBe(sb.pid);
    expect(sa.pid).not.toBe(sa.keeperPid);
    abort.abort();
    expect(await b.result).toMatchObject({ aborted: true, signal: 'SIGTERM', pid: sb.pid });
    expect(isRunning(sa.pid)).toBe(true);
    expect(await a.result).toMatchObject({ exitCode: 0, aborted: false, pid: sa.pid });
    expect(readKeeperRecord(join(dir, 'side-a-exit.json'))).toMatchObject({ exit_code: 0, orphaned: false });
    expect(readKeeperRecord(join(dir, 'side-b-exit.json'))).toMatchObject({ signal: 'SIGTERM' });
    expect(readFileSync(join(dir, 'side-a.log'), 'utf8')).toBe('a\n');
    // The next agent is the same keeper's.
    const c = underKeeper(`console.log('c')`, 'after');
    expect(await c.result).toMatchObject({ exitCode: 0 });
    expect(c.spawned[0].keeperPid).toBe(sa.keeperPid);
    expect(isRunning(sa.keeperPid!)).toBe(true);
  }, 20_000);

  it("records the program's start (pid and start time) before this process hears of it, and its end after", async () => {
    const seen: Array<ReturnType<typeof readKeeperStart>> = [];
    const exitFile = join(dir, 'start-exit.json');
    const abort = new AbortController();
    const a = underKeeper(`console.log('a'); setInterval(() => {}, 1000)`, 'start', {
      signal: abort.signal,
      onKeeperStart: () => seen.push(readKeeperStart(exitFile)),
      onSpawn: (pid) => {
        seen.push(readKeeperStart(exitFile));
        expect(readKeeperRecord(exitFile)).toBeUndefined(); // running: no end yet
        setTimeout(() => abort.abort(), 50);
        void pid;
      },
    });
    const r = await a.result;
    expect(seen[0]).toBeUndefined();
    expect(seen[1]).toEqual({ pid: r.pid, startTime: expect.stringMatching(/^\d+$/) });
    expect(readKeeperRecord(exitFile)).toMatchObject({ pid: r.pid, signal: 'SIGTERM' });
    expect(readKeeperStart(exitFile)).toEqual(seen[1]); // the identity stays with the end
  }, 20_000);

  it('ends the runs of a keeper that is lost, naming it, and stops their agents (nothing would record their ends)', async () => {
    const a = underKeeper(`console.log('a'); setInterval(() => {}, 1000)`, 'lost');
    for (let i = 0; i < 200 && a.spawned.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const { pid, keeperPid } = a.spawned[0];
    process.kill(keeperPid!, 'SIGKILL');
    const r = await a.result;
    expect(r).toMatchObject({ exitCode: null, signal: 'SIGKILL', pid });
    expect(r.keeperLost).toMatch(new RegExp(`^the agent keeper \\(pid ${keeperPid}\\) was killed \\(SIGKILL\\)$`));
    expect(isGroupAlive(pid)).toBe(false);
    // The next agent gets a new keeper.
    const next = underKeeper(`console.log('next')`, 'lost-next');
    expect(await next.result).toMatchObject({ exitCode: 0 });
    expect(next.spawned[0].keeperPid).not.toBe(keeperPid);
  }, 20_000);
});

describe('the agent keeper: an agent outlives the process that started it, and is adopted', () => {
  const TS_REGISTER = join(__dirname, '..', '..', '..', '..', 'tools', 'ts-register.js');
  let n = 0;
  /** Starts `agent` under the keeper from a separate owner process, and SIGKILLs that owner once the agent talked. */
  async function orphan(agent: string, timeoutMs?: number): Promise<{ agent: number; keeper: number; runDir: string }> {
    const runDir = join(dir, `orphan-${++n}`);
    mkdirSync(runDir);
    const owner = spawn(node, ['-r', TS_REGISTER, join(__dirname, '__fixtures__', 'keeper-owner.ts'), runDir, agent, ...(timeoutMs ? [String(timeoutMs)] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pids = await new Promise<{ agent: number; keeper: number }>((resolve, reject) => {
      let buf = '';
      owner.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as { agent: number; keeper: number });
      });
      owner.on('exit', (code) => reject(new Error(`keeper-owner exited early (${code})`)));
    });
    const dead = new Promise((resolve) => owner.on('exit', resolve));
    owner.kill('SIGKILL'); // no handler runs: the agent is orphaned, as by an OOM kill or a SIGKILLed executor
    await dead;
    return { ...pids, runDir };
  }
  const files = (runDir: string) => ({
    exitFile: join(runDir, 'agent-exit.json'),
    transcriptFile: join(runDir, 'transcript.jsonl'),
    stderrFile: join(runDir, 'stderr.log'),
  });

  it('keeps running after its owner is SIGKILLed; the adopter gets every line, the exit code and its leftovers killed', async () => {
    // Talks, keeps working past the owner's death (writing to the dead pipe), leaves a setsid process, exits 3.
    const agent = `
      console.log(JSON.stringify({ type: 'start' }));
      setTimeout(() => {
        const d = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
        d.unref();
        for (let i = 0; i < 3; i++) console.log(JSON.stringify({ type: 'work', i, daemon: d.pid }));
        console.error('a warning');
        process.exitCode = 3;
      }, 800);
    `;
    const { agent: pid, keeper, runDir } = await orphan(agent);
    expect(isRunning(pid)).toBe(true);
    const out: string[] = [];
    const err: string[] = [];
    const r = await adoptProcess({ pid, isAlive: () => isRunning(pid) || isRunning(keeper), ...files(runDir), onStdoutLine: (l) => out.push(l), onStderrLine: (l) => err.push(l), killGraceMs: 300 });
    expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false, aborted: false, pid, escapedKilled: 1 });
    expect(out.map((l) => JSON.parse(l).type)).toEqual(['start', 'work', 'work', 'work']);
    expect(err).toEqual(['a warning']);
    expect(readKeeperRecord(files(runDir).exitFile)).toMatchObject({ exit_code: 3, orphaned: true });
    const daemon = (JSON.parse(out[1]) as { daemon: number }).daemon;
    expect(isRunning(daemon)).toBe(false);
    expect(isGroupAlive(pid)).toBe(false);
    // Orphaned, with its last agent ended: the keeper is gone too.
    for (let i = 0; i < 100 && isRunning(keeper); i++) await new Promise((r) => setTimeout(r, 20));
    expect(isRunning(keeper)).toBe(false);
  }, 20_000);

  it("adopts an agent whose starter died before it heard the agent's pid: the keeper's record of the start names it", async () => {
    const { agent: pid, keeper, runDir } = await orphan(`console.log('{}'); setTimeout(() => process.exit(4), 600);`);
    const r = await adoptProcess({ pid: undefined, isAlive: () => isRunning(keeper), ...files(runDir), pollMs: 20, killGraceMs: 300 });
    expect(r).toMatchObject({ exitCode: 4, pid });
  }, 20_000);

  it('keeps the total time limit itself once orphaned, and records the end as timed out', async () => {
    const { agent: pid, keeper, runDir } = await orphan(`console.log('{}'); setInterval(() => {}, 1000);`, 1500);
    const r = await adoptProcess({ pid, isAlive: () => isRunning(pid) || isRunning(keeper), ...files(runDir), killGraceMs: 300 });
    expect(r).toMatchObject({ exitCode: null, signal: 'SIGTERM', timedOut: true });
  }, 20_000);

  it('has nothing to adopt when the keeper died without recording the end (it was killed itself)', async () => {
    const { agent: pid, keeper, runDir } = await orphan(`console.log('{}'); setInterval(() => {}, 1000);`);
    process.kill(keeper, 'SIGKILL');
    process.kill(-pid, 'SIGKILL');
    const r = await adoptProcess({ pid, isAlive: () => isRunning(pid) || isRunning(keeper), ...files(runDir), pollMs: 20 });
    expect(r).toBeUndefined();
    // Only the record of its start.
    expect(readKeeperRecord(files(runDir).exitFile)).toBeUndefined();
    expect(readKeeperStart(files(runDir).exitFile)).toMatchObject({ pid });
  }, 20_000);

  it('stops the adopted agent when the adopter aborts', async () => {
    const { agent: pid, keeper, runDir } = await orphan(`console.log('{}'); setInterval(() => {}, 1000);`);
    const abort = new AbortController();
    const adopted = adoptProcess({ pid, isAlive: () => isRunning(pid) || isRunning(keeper), ...files(runDir), signal: abort.signal, killGraceMs: 300 });
    setTimeout(() => abort.abort(), 200);
    expect(await adopted).toMatchObject({ aborted: true, signal: 'SIGTERM' });
    expect(isGroupAlive(pid)).toBe(false);
  }, 20_000);
});
