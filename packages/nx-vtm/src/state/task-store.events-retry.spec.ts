import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readEventLog } from './event-log';
import { openSqliteDb } from './db/sqlite';
import { openTaskStore, type AdmitFn } from './task-store';

// A transaction rolled back by a lost connection is run again (PostgreSQL restarted mid-run). Its events.jsonl lines
// must come from the run that committed only: the log is what `nx-vtm report` and users read.
describe('events.jsonl and a transaction retried after a lost connection', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-events-retry-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('has each event of the committed run once, none of the rolled-back run', () => {
    const sqlite = openSqliteDb({ file: path.join(root, '.vtm', 'state.db'), busyTimeoutMs: 5_000 });
    const lost = Object.assign(new Error('connection lost'), { vtmRolledBack: true });
    let failNextClaimEvent = true;
    // The database copy of the claim event is the statement that "loses the connection", once: SQLite rolls the
    // transaction back, as the server would, and the store runs it again.
    const db = {
      ...sqlite,
      isRetryable: (e: unknown) => e === lost,
      recordEvent: (line: string) => {
        if (failNextClaimEvent && line.includes('"type":"claim"')) {
          failNextClaimEvent = false;
          throw lost;
        }
      },
    };
    const store = openTaskStore({ workspaceRoot: root, db });
    try {
      const admit: AdmitFn = () => ({ admit: true });
      const claimed = store.tryClaim({
        taskId: 'A',
        footprint: { taskId: 'A', fileScope: ['src/a/'], conflictsWith: [], exclusive: false },
        taskHash: 'h1',
        runId: 'run-1',
        leaseMs: 60_000,
        wipLimit: 3,
        admit,
        waitingSinceMs: Date.now(),
        reserveAfterMs: 60_000,
      });
      expect(claimed.kind).toBe('claimed');
      expect(failNextClaimEvent).toBe(false);
      const claims = readEventLog(path.join(root, '.vtm', 'events.jsonl')).events.filter((e) => e.type === 'claim');
      expect(claims.map((e) => [e.task_id, e.fence])).toEqual([['A', 1]]);
    } finally {
      store.close();
    }
  });
});
