import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import {
  isProcessAlive,
  isSameProcess,
  parseProcStat,
  readBootId,
  readHostId,
  readProcessIdentity,
  readProcessStartTime,
  realProcSource,
  type ProcSource,
} from './process-identity';

describe('parseProcStat', () => {
  it('reads the state and field 22 even when the command name has spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 1));
    fields[2] = 'S';
    fields[21] = '987654';
    const stat = `1234 (my (weird) cmd) ${fields.slice(2).join(' ')}\n`;
    expect(parseProcStat(stat)).toEqual({ state: 'S', startTime: '987654' });
  });

  it('rejects text that is not a stat line', () => {
    expect(parseProcStat('garbage')).toBeUndefined();
    expect(parseProcStat('1 (x) S 2')).toBeUndefined();
  });
});

describe('on this Linux host', () => {
  it('reads its own identity: host, pid, start time from /proc/self/stat, boot id', () => {
    const me = readProcessIdentity();
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const field22 = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    expect(me).toEqual({
      host: os.hostname(),
      pid: process.pid,
      startTime: field22,
      bootId: fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
    });
    expect(readBootId()).toMatch(/^[0-9a-f-]{36}$/);
    expect(isProcessAlive(process.pid)).toBe(true);
    expect(isSameProcess(me)).toBe(true);
  });

  it('sees a killed child as gone, and a reused pid (other start time) or another boot as another process', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const pid = child.pid as number;
    const identity = readProcessIdentity(pid);
    expect(identity.startTime).toBe(readProcessStartTime(pid));
    expect(isSameProcess(identity)).toBe(true);
    expect(isSameProcess({ ...identity, startTime: '1' })).toBe(false);
    expect(isSameProcess({ ...identity, bootId: 'another-boot' })).toBe(false);

    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(isProcessAlive(pid)).toBe(false);
    expect(isSameProcess(identity)).toBe(false);
  });

  it('counts a zombie (killed, not yet reaped) as gone', () => {
    const proc: ProcSource = { ...realProcSource, readFile: (p) => (p === '/proc/77/stat' ? `77 (node) Z ${'0 '.repeat(30)}` : undefined) };
    expect(isProcessAlive(77, proc)).toBe(false);
  });
});

describe('without /proc', () => {
  const noProc = (alive: Set<number>): ProcSource => ({
    readFile: () => undefined,
    hasProc: () => false,
    signalZero: (pid) => alive.has(pid),
    hostname: () => 'mac',
  });

  it('falls back to signal 0 and records no start time or boot id', () => {
    const proc = noProc(new Set([10]));
    expect(readProcessIdentity(10, proc)).toEqual({ host: 'mac', pid: 10, startTime: null, bootId: null });
    expect(isProcessAlive(10, proc)).toBe(true);
    expect(isProcessAlive(11, proc)).toBe(false);
    expect(isSameProcess({ host: 'mac', pid: 10, startTime: null, bootId: null }, proc)).toBe(true);
    expect(isSameProcess({ host: 'mac', pid: 11, startTime: null, bootId: null }, proc)).toBe(false);
  });

  it('the real signal-0 probe sees this process alive and a non-existent pid gone', () => {
    expect(realProcSource.signalZero(process.pid)).toBe(true);
    // Above the kernel's pid_max, so it cannot exist.
    expect(realProcSource.signalZero(2 ** 22 + 1)).toBe(false);
  });

  it('never treats pid 0 or a negative pid as a process (signal 0 to them targets process groups)', () => {
    const proc = noProc(new Set([0, -1]));
    expect(isProcessAlive(0, proc)).toBe(false);
    expect(isProcessAlive(-1, proc)).toBe(false);
  });
});

describe('the host identity (VTM_HOST_ID)', () => {
  it('is the host name unless VTM_HOST_ID names another; blank counts as unset', () => {
    expect(readHostId({})).toBe(os.hostname());
    expect(readHostId({ VTM_HOST_ID: '  ' })).toBe(os.hostname());
    expect(readHostId({ VTM_HOST_ID: ' runner-7 ' })).toBe('runner-7');
  });

  it('is what claims record: a process started with VTM_HOST_ID writes that host into its identity', () => {
    const saved = process.env.VTM_HOST_ID;
    process.env.VTM_HOST_ID = 'simulated-machine-a';
    try {
      expect(readProcessIdentity()).toMatchObject({ host: 'simulated-machine-a', pid: process.pid });
    } finally {
      if (saved === undefined) delete process.env.VTM_HOST_ID;
      else process.env.VTM_HOST_ID = saved;
    }
  });
});
