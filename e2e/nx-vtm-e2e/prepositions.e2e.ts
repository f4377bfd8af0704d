/**
 * Pre-positioned worktrees (runtime/prepositions.ts) through the real nx CLI, real git worktrees and real agent
 * processes: on a chain each dependent starts in the worktree prepared while its dependency was verified, and a
 * prepared worktree whose base went stale (the integration branch moved after the dependency's merge) is never
 * started on.
 */
import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentWorkspaceMaker, task, type AgentWorkspace } from '../support/vtm';

const make = agentWorkspaceMaker();

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream'];
const chain = (ids: string[]) => ids.map((id, i) => task(id, i > 0 ? { depends_on_tasks: [ids[i - 1]] } : {}));
/** The "worktree ... on vtm/<id> from main (<sha8>)..." line of a task. */
const worktreeLine = (output: string, id: string) => output.split('\n').find((l) => l.includes(`[${id}] worktree .vtm/worktrees/${id} on vtm/${id} from main (`)) ?? '';
/** The parent of a task's own commit (the base its agent started from). */
const taskCommitParent = (ws: AgentWorkspace, id: string) => ws.git(['log', '--format=%P', '--fixed-strings', '--grep', `feat(${id})`, 'main']).trim();
const leftoverSpares = (ws: AgentWorkspace) => {
  const dir = join(ws.root, '.vtm/worktrees/.spares');
  return existsSync(dir) ? readdirSync(dir).filter((d) => d.startsWith('primed-')) : [];
};

describe('pre-positioned worktrees (real nx, real git worktrees, real agents)', () => {
  it('on a chain, each dependent starts in the worktree prepared for it, on its branch at its dependency\'s merge', () => {
    const ids = ['PA--T01', 'PB--T01', 'PC--T01'];
    const ws = make({ tasks: chain(ids) });
    const r = ws.run(SLICE, { '*': { sleepMs: 300 } });
    if (r.code !== 0) throw new Error(r.output.slice(-5000));
    expect(Object.values(ws.state().tasks).map((t) => t.status)).toEqual(['completed', 'completed', 'completed']);
    // The first task had nothing to wait for; each dependent took its prepared worktree as it was.
    expect(worktreeLine(r.output, 'PA--T01')).not.toMatch(/pre-positioned/);
    for (const id of ids.slice(1)) expect(worktreeLine(r.output, id)).toMatch(/, pre-positioned$/);
    expect(r.output).not.toMatch(/pre-positioned worktree not taken/);
    // Started from the dependency's merge commit: each task's merge has the previous merge as its first parent.
    const merges = ws.git(['log', '--first-parent', '--format=%H %s', 'main']).split('\n').filter((l) => l.includes('Merge')).reverse();
    expect(merges).toHaveLength(3);
    for (const [k, id] of ids.entries()) {
      if (k === 0) continue;
      const base = merges[k - 1].split(' ')[0];
      expect(worktreeLine(r.output, id)).toContain(`from main (${base.slice(0, 8)})`);
      expect(taskCommitParent(ws, id)).toBe(base);
    }
    // Nothing pre-positioned is left behind, and every agent ran in its own task worktree.
    expect(leftoverSpares(ws)).toEqual([]);
    for (const e of ws.agentEvents().filter((x) => x.event === 'start')) expect(e.cwd).toBe(join(ws.root, '.vtm/worktrees', e.taskId));
  });

  it('a prepared worktree is not started on once the integration branch moved after the dependency\'s merge', () => {
    const ids = ['SA--T01', 'SB--T01'];
    const ws = make({ tasks: chain(ids) });
    // Something else lands on main right after the first merge into it (a hook standing in for another process's
    // merge): the worktree prepared for SB--T01 at SA--T01's merge is stale by the time SB--T01 is claimed.
    const hook = join(ws.root, '.git/hooks/post-merge');
    writeFileSync(
      hook,
      [
        '#!/bin/sh',
        'marker="$(git rev-parse --git-common-dir)/moved-once"',
        '[ -e "$marker" ] && exit 0',
        '[ "$(git symbolic-ref --short -q HEAD)" = main ] || exit 0',
        'touch "$marker"',
        'git commit -q --allow-empty -m "moved by another merge"',
        '',
      ].join('\n'),
    );
    chmodSync(hook, 0o755);
    const r = ws.run(SLICE, { '*': { sleepMs: 300 } });
    if (r.code !== 0) throw new Error(r.output.slice(-5000));
    expect(Object.values(ws.state().tasks).map((t) => t.status)).toEqual(['completed', 'completed']);
    const moved = ws.git(['log', '--format=%H', '--grep', 'moved by another merge', 'main']).trim();
    expect(moved).toMatch(/^[0-9a-f]{40}$/);
    expect(r.output).toMatch(/\[SB--T01\] pre-positioned worktree not taken as it is: the integration branch moved since/);
    // It started from main as it was at its claim (the moved tip), not from the prepared base.
    expect(worktreeLine(r.output, 'SB--T01')).toContain(`from main (${moved.slice(0, 8)})`);
    expect(worktreeLine(r.output, 'SB--T01')).not.toMatch(/pre-positioned/);
    expect(taskCommitParent(ws, 'SB--T01')).toBe(moved);
    expect(leftoverSpares(ws)).toEqual([]);
  });
});
