import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { appendEventLine, buildEventLine, parseEventLog, readEventLog } from './event-log';
import { startWorker, waitForAll, warmUp } from './__fixtures__/workers';

describe('buildEventLine', () => {
  it('writes the fixed keys first, ISO time with milliseconds, null for what does not apply', () => {
    const line = buildEventLine({ type: 'claim', runId: 'run-1', taskId: 'A', status: 'in-progress', extra: { fence: 7 } }, Date.UTC(2025, 8, 28, 10, 30, 0, 5));
    expect(line.endsWith('\n')).toBe(true);
    expect(line.split('\n')).toHaveLength(2);
    expect(Object.keys(JSON.parse(line))).toEqual(['ts', 'run_id', 'type', 'task_id', 'status', 'reason', 'fence']);
    expect(JSON.parse(line)).toEqual({
      ts: '2025-09-28T10:30:00.005Z',
      run_id: 'run-1',
      type: 'claim',
      task_id: 'A',
      status: 'in-progress',
      reason: null,
      fence: 7,
    });
  });

  it('does not let extra fields override the fixed ones', () => {
    const line = JSON.parse(buildEventLine({ type: 'skip', taskId: 'A', extra: { type: 'claim', task_id: 'B' } }, 0));
    expect(line.type).toBe('skip');
    expect(line.task_id).toBe('A');
  });

  it('keeps a message with newlines on one line', () => {
    const line = buildEventLine({ type: 'finish', taskId: 'A', extra: { error: 'line 1\nline 2' } }, 0);
    expect(line.split('\n')).toHaveLength(2);
  });
});

describe('parseEventLog', () => {
  it('ignores a last line still being written and reports bad lines by number', () => {
    const text = [buildEventLine({ type: 'claim', taskId: 'A' }, 0), 'not json\n', '[1]\n', buildEventLine({ type: 'finish', taskId: 'A' }, 1), '{"ts":"x","ty'].join('');
    const { events, badLines } = parseEventLog(text);
    expect(events.map((e) => e.type)).toEqual(['claim', 'finish']);
    expect(badLines).toEqual([2, 3]);
  });
});

describe('appendEventLine', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-events-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates the directory and appends; an absent log reads as empty', () => {
    const file = path.join(dir, '.vtm', 'events.jsonl');
    expect(readEventLog(file)).toEqual({ events: [], badLines: [] });
    appendEventLine(file, buildEventLine({ type: 'start', taskId: 'A' }, 0));
    appendEventLine(file, buildEventLine({ type: 'finish', taskId: 'A' }, 1));
    expect(readEventLog(file).events.map((e) => e.type)).toEqual(['start', 'finish']);
  });

  it('never interleaves lines of concurrent processes, even lines longer than PIPE_BUF', async () => {
    await warmUp();
    const file = path.join(dir, 'events.jsonl');
    const workers = 6;
    const count = 300;
    const results = await waitForAll(
      Array.from({ length: workers }, (_, worker) => startWorker({ mode: 'append', file, worker, count, size: 6_000 })),
    );
    for (const r of results) expect(r).toMatchObject({ code: 0, stderr: '' });
    const { events, badLines } = readEventLog(file);
    expect(badLines).toEqual([]);
    expect(events).toHaveLength(workers * count);
    // Every worker's lines are all there, each once, in the order that worker wrote them.
    for (let worker = 0; worker < workers; worker++) {
      const mine = events.filter((e) => e.task_id === `W${worker}`).map((e) => e.n);
      expect(mine).toEqual(Array.from({ length: count }, (_, n) => n));
    }
  }, 30_000);
});
