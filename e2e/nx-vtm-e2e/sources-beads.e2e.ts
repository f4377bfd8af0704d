/**
 * A Beads backlog (bd's JSONL export) through the real nx CLI, real git and the scripted agent, with a stand-in `bd`
 * on PATH that records every call (the real bd downloads its binary at install and cannot be installed here):
 * each task's issue is claimed (`bd update --claim`) before its agent starts and closed (`bd close --reason`) after
 * it succeeds, argv only; `[P:Group-X]` groups are hints (tasks of two groups run together); the export is never
 * edited; without `bd` on PATH the run still works and says the source is read-only.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAgentWorkspace, getIntervals, getMaxConcurrency, type AgentWorkspace } from '../support/vtm';

const issue = (o: Record<string, unknown>) =>
  JSON.stringify({ _type: 'issue', status: 'open', priority: 2, issue_type: 'task', created_at: '2026-01-05T10:00:00Z', updated_at: '2026-01-05T10:00:00Z', ...o });
const JSONL =
  [
    issue({ id: 'bd-a1', title: '[P:Group-db-migrations] Users table', labels: ['scope:src/users.js'] }),
    issue({ id: 'bd-a2', title: '[P:Group-api-v2] Routes', labels: ['scope:src/routes.js'] }),
    issue({ id: 'bd-b3', title: 'Sessions; echo pwned > pwned.txt', labels: ['scope:src/sessions.js'], dependencies: [{ issue_id: 'bd-b3', depends_on_id: 'bd-a1', type: 'blocks', created_at: '2026-01-05T10:00:00Z' }] }),
    issue({ id: 'bd-c4', title: 'Audit log', status: 'blocked', labels: ['scope:src/audit.js'] }),
  ].join('\n') + '\n';

let ws: AgentWorkspace;
let bin: string;
let callsFile: string;
beforeAll(() => {
  ws = createAgentWorkspace({ tasks: [], options: { sources: [{ type: 'beads', path: '.beads/issues.jsonl' }] }, files: { '.beads/issues.jsonl': JSONL, 'src/.keep': '' } });
  bin = `${ws.root}.bin`;
  callsFile = `${ws.root}.bd-calls.jsonl`;
  mkdirSync(bin, { recursive: true });
  // The stand-in bd: one JSON line per call (argv, cwd, time), exit 0 with a JSON answer as bd --json does.
  writeFileSync(
    join(bin, 'bd'),
    `#!${process.execPath}\nrequire('fs').appendFileSync(${JSON.stringify(callsFile)}, JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), at: Date.now() }) + '\\n');\nprocess.stdout.write('{}\\n');\n`,
  );
  chmodSync(join(bin, 'bd'), 0o755);
});
afterAll(() => ws.remove());

const bdCalls = (): { argv: string[]; cwd: string; at: number }[] =>
  existsSync(callsFile)
    ? readFileSync(callsFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
    : [];

describe('a Beads source with bd on PATH, through real nx', () => {
  let run: ReturnType<AgentWorkspace['run']>;
  beforeAll(() => {
    run = ws.run(['run-many', '-t', 'implement', '--outputStyle=stream'], { 'bd-a1': { sleepMs: 3000 }, 'bd-a2': { sleepMs: 3000 } }, { PATH: `${bin}:${process.env.PATH}` });
  });

  it('claims each issue before its agent starts and closes it after it succeeded, with argv, in the workspace', () => {
    const calls = bdCalls();
    const agents = getIntervals(ws.agentEvents());
    for (const id of ['bd-a1', 'bd-a2', 'bd-b3']) {
      const mine = calls.filter((c) => c.argv[1] === id);
      expect(mine.map((c) => c.argv)).toEqual([
        ['update', id, '--claim', '--json'],
        ['close', id, '--reason', 'completed by nx-vtm', '--json'],
      ]);
      expect(mine.every((c) => c.cwd === ws.root)).toBe(true);
      const agent = agents.find((a) => a.taskId === id)!;
      expect(mine[0].at).toBeLessThanOrEqual(agent.start);
      expect(mine[1].at).toBeGreaterThanOrEqual(agent.end);
    }
    expect(calls.some((c) => c.argv.includes('bd-c4'))).toBe(false); // blocked in the source: never started
    expect(run.output).toContain('[bd-a1] nx-vtm: .beads/issues.jsonl: claimed bd-a1 with bd');
    expect(existsSync(join(ws.root, 'pwned.txt'))).toBe(false);
  });

  it('runs tasks of two [P:Group-X] groups at the same time: the groups are hints, not barriers', () => {
    const agents = getIntervals(ws.agentEvents()).filter((a) => a.taskId === 'bd-a1' || a.taskId === 'bd-a2');
    expect(getMaxConcurrency(agents)).toBe(2);
  });

  it('never edits the export; the blocked issue is refused with its reason', () => {
    expect(ws.read('.beads/issues.jsonl')).toBe(JSONL);
    expect(ws.state().tasks['bd-c4']).toMatchObject({ status: 'blocked', reason: 'source_blocked' });
    expect(run.code).not.toBe(0);
  });
});

describe('a Beads source without bd on PATH', () => {
  it('still runs the task, and says the source is read-only and what to run', () => {
    ws.write('.beads/issues.jsonl', JSONL.replace('"status":"blocked"', '"status":"open"'));
    ws.commitAll('bd export after unblocking bd-c4');
    const before = bdCalls().length;
    // A PATH without any bd (a developer may have the real one installed).
    const PATH = (process.env.PATH ?? '').split(':').filter((d) => d && !existsSync(join(d, 'bd'))).join(':');
    const r = ws.run(['run', 'bd-c4:implement', '--outputStyle=stream'], {}, { PATH });
    expect(r.code).toBe(0);
    expect(ws.state().tasks['bd-c4'].status).toBe('completed');
    expect(r.output).toContain('nx-vtm: .beads/issues.jsonl: read-only (no `bd` on PATH); bd does not know bd-c4 is being worked on: bd update bd-c4 --claim');
    expect(r.output).toContain('read-only (no `bd` on PATH); record it with: bd close bd-c4 --reason "completed by nx-vtm"');
    expect(bdCalls()).toHaveLength(before);
  });
});
