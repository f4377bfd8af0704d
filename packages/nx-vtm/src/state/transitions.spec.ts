import { TASK_STATUSES, type TaskStatus } from './task-record';
import { checkTransition, getAllowedTargets } from './transitions';

/** The whole table, spelled out: [from, to, without fromCache, with fromCache]. */
const EXPECTED: [TaskStatus, TaskStatus, boolean, boolean][] = [
  ['pending', 'pending', true, true],
  ['pending', 'in-progress', true, true],
  ['pending', 'blocked', true, true],
  ['pending', 'completed', false, true],
  ['pending', 'abandoned', true, true],
  ['in-progress', 'pending', true, true],
  ['in-progress', 'in-progress', false, false],
  ['in-progress', 'blocked', true, true],
  ['in-progress', 'completed', true, true],
  ['in-progress', 'abandoned', true, true],
  ['blocked', 'pending', true, true],
  ['blocked', 'in-progress', true, true],
  ['blocked', 'blocked', true, true],
  ['blocked', 'completed', false, true],
  ['blocked', 'abandoned', true, true],
  ['completed', 'pending', true, true],
  ['completed', 'in-progress', false, false],
  ['completed', 'blocked', false, false],
  ['completed', 'completed', false, true],
  ['completed', 'abandoned', false, false],
  ['abandoned', 'pending', true, true],
  ['abandoned', 'in-progress', false, false],
  ['abandoned', 'blocked', false, false],
  ['abandoned', 'completed', false, false],
  ['abandoned', 'abandoned', true, true],
];

describe('checkTransition', () => {
  it('covers every pair of statuses', () => {
    expect(EXPECTED).toHaveLength(TASK_STATUSES.length ** 2);
  });

  it.each(EXPECTED)('%s -> %s: legal=%s, legal from cache=%s', (from, to, plain, cached) => {
    expect(checkTransition({ taskId: 'T1', from, to }).ok).toBe(plain);
    expect(checkTransition({ taskId: 'T1', from, to, fromCache: true }).ok).toBe(cached);
  });

  it('names the task and both statuses, and says what to do', () => {
    const result = checkTransition({ taskId: 'CONTENT_HASH--T01', from: 'completed', to: 'in-progress' });
    expect(result).toEqual({
      ok: false,
      error: {
        taskId: 'CONTENT_HASH--T01',
        from: 'completed',
        to: 'in-progress',
        message: 'task CONTENT_HASH--T01: cannot change status from "completed" to "in-progress"; reset it to pending (invalidate) to run it again',
      },
    });
  });

  it('explains that pending -> completed needs a run or the Nx cache', () => {
    const result = checkTransition({ taskId: 'A', from: 'pending', to: 'completed' });
    expect(!result.ok && result.error.message).toMatch(/from the Nx cache \(fromCache\)/);
  });
});

describe('getAllowedTargets', () => {
  it('lists cache-only targets only with fromCache', () => {
    expect(getAllowedTargets('pending').sort()).toEqual(['abandoned', 'blocked', 'in-progress', 'pending']);
    expect(getAllowedTargets('pending', { fromCache: true })).toContain('completed');
    expect(getAllowedTargets('completed')).toEqual(['pending']);
  });
});
