import { createPrepositioner, pickDependentsToPrime, type PrimerPorts } from './prepositions';
import type { PrimedWorktree } from '../workspace/worktree';

/** Ports that record calls; `prime` and `position` settle when the test says so. */
function fakePorts() {
  const calls: string[] = [];
  const pending: Array<() => void> = [];
  const ports: PrimerPorts = {
    prime: (taskId, sha) => {
      calls.push(`prime ${taskId}@${sha}`);
      return new Promise((resolve) => pending.push(() => resolve({ ok: true, value: { taskId, path: `/spares/primed-${taskId}`, sha, onBranch: false } })));
    },
    position: async (primed, tip, opts) => {
      calls.push(`position ${primed.taskId}@${tip}${opts?.lockHeld ? ' (lock held)' : ''}`);
      return tip === 'refused' ? { ok: false, error: 'branch exists' } : { ok: true, value: { ...primed, sha: tip, onBranch: true } };
    },
    discard: async (primed) => void calls.push(`discard ${primed.taskId}@${primed.sha}`),
  };
  return { ports, calls, release: () => pending.splice(0).forEach((f) => f()) };
}

describe('createPrepositioner', () => {
  it('primes at the save, positions at the merge, and hands the result to the claim once (waiting for it)', async () => {
    const { ports, calls, release } = fakePorts();
    const lines: string[] = [];
    const p = createPrepositioner({ ports, dependentsToPrime: (id) => (id === 'A' ? ['B', 'C'] : []), log: (id, l) => lines.push(`${id}: ${l}`) });
    p.workSaved('A', 's1');
    p.workSaved('A', 's2'); // a repair turn's second save: already primed
    p.integrated('A', 't1');
    p.integrated('A', 't1'); // the merge queue's tested commit, then the same commit as the merged tip
    const taken = p.take('B');
    release();
    expect(await taken).toEqual<PrimedWorktree>({ taskId: 'B', path: '/spares/primed-B', sha: 't1', onBranch: true });
    expect(await p.take('B')).toBeUndefined();
    expect(calls).toEqual(['prime B@s1', 'prime C@s1', 'position B@t1', 'position C@t1']);
    // The one no task took is discarded at the end of the run.
    await p.settle();
    expect(calls.slice(4)).toEqual(['discard C@t1']);
    expect(lines).toEqual([]);
  });

  it('a repair turn\'s merge at another commit moves it there', async () => {
    const { ports, calls, release } = fakePorts();
    const p = createPrepositioner({ ports, dependentsToPrime: () => ['B'], log: () => undefined });
    p.workSaved('A', 's1');
    release();
    p.integrated('A', 't1');
    p.integrated('A', 't2');
    expect(await p.take('B')).toMatchObject({ sha: 't2', onBranch: true });
    expect(calls).toEqual(['prime B@s1', 'position B@t1', 'position B@t2']);
  });

  it('at the merge queue\'s merge commit it is positioned under the held lock, once; one still being prepared is left for the merge', async () => {
    const { ports, calls, release } = fakePorts();
    const p = createPrepositioner({ ports, dependentsToPrime: (id) => (id === 'A' ? ['B'] : ['C']), log: () => undefined });
    p.workSaved('A', 's1');
    // Still being primed (it may be waiting for the very lock the queue holds): not waited for, not positioned.
    await p.mergeCommitReady('A', 'm1');
    expect(calls).toEqual(['prime B@s1']);
    release();
    await new Promise((r) => setImmediate(r));
    await p.mergeCommitReady('A', 'm1');
    p.integrated('A', 'm1'); // the merged tip is that commit: nothing more to do
    expect(await p.take('B')).toMatchObject({ sha: 'm1', onBranch: true });
    expect(calls).toEqual(['prime B@s1', 'position B@m1 (lock held)']);
    // Not primed yet when its dependency merged without the queue: positioned after the merge, taking the lock.
    p.workSaved('X', 's2');
    await p.mergeCommitReady('X', 'm2');
    p.integrated('X', 'm2');
    release();
    expect(await p.take('C')).toMatchObject({ sha: 'm2', onBranch: true });
    expect(calls.slice(2)).toEqual(['prime C@s2', 'position C@m2']);
  });

  it('a worktree that could not be put on its branch is still handed over (detached: the claim uses it as a spare)', async () => {
    const { ports, release } = fakePorts();
    const p = createPrepositioner({ ports, dependentsToPrime: () => ['B'], log: () => undefined });
    p.workSaved('A', 's1');
    release();
    p.integrated('A', 'refused');
    expect(await p.take('B')).toMatchObject({ sha: 's1', onBranch: false });
  });

  it('only the saved task\'s dependents are positioned at its merge; failures and throws become "none"', async () => {
    const lines: string[] = [];
    const ports: PrimerPorts = {
      prime: async (taskId) => (taskId === 'B' ? { ok: false, error: 'no disk' } : Promise.reject(new Error('boom'))),
      position: async () => {
        throw new Error('not called');
      },
      discard: async () => undefined,
    };
    const p = createPrepositioner({ ports, dependentsToPrime: (id) => (id === 'A' ? ['B'] : ['C']), log: (id, l) => lines.push(`${id}: ${l}`) });
    p.workSaved('A', 's1');
    p.workSaved('X', 's2');
    p.integrated('A', 't1');
    expect(await p.take('B')).toBeUndefined();
    expect(await p.take('C')).toBeUndefined();
    expect(lines).toEqual(['B: no worktree pre-positioned (no disk); it is checked out at the claim']);
    await p.settle();
  });
});

describe('pickDependentsToPrime', () => {
  const deps: Record<string, string[]> = { B: ['A'], C: ['A', 'X'], D: ['A'], E: ['A'] };
  const base = {
    taskId: 'A',
    dependents: ['B', 'C', 'D', 'E'],
    dependenciesOf: (id: string) => deps[id] ?? [],
    isDone: (id: string) => id === 'Y',
    isStartable: (id: string) => id !== 'D',
    limit: 3,
  };
  it('the dependents the saved task is the last unfinished dependency of, still to start, most urgent first, at most `limit`', () => {
    expect(pickDependentsToPrime(base)).toEqual(['B', 'E']);
    expect(pickDependentsToPrime({ ...base, isDone: (id) => id === 'X' })).toEqual(['B', 'C', 'E']);
    expect(pickDependentsToPrime({ ...base, isDone: (id) => id === 'X', limit: 1 })).toEqual(['B']);
    expect(pickDependentsToPrime({ ...base, limit: 0 })).toEqual([]);
  });
});
