/**
 * Kills at the pipeline's stage boundaries through the real nx CLI, real git and real agent processes: the run is
 * SIGKILLed exactly there (NX_VTM_FAILPOINT), then run again. Nothing may be lost, no finished agent may be paid for
 * twice, nothing may be merged twice, and the final tree must equal an uninterrupted run's.
 */
import { createAgentWorkspace, task, type AgentWorkspace } from '../support/vtm';
import { removeAfterAll } from '../support/workspace';

const removeLater = removeAfterAll<AgentWorkspace>();

const SLICE = ['run-many', '-t', 'implement', '--projects=slice-1.1', '--outputStyle=stream', '--skip-nx-cache'];
const POINTS = ['after-agent', 'after-saved', 'after-verified', 'after-merge', 'before-finish'];

describe('a run killed at a stage boundary (real nx, real agents)', () => {
  it("continues each task from where it died: every agent called once, every task merged once, every task's files on main", () => {
    const tasks = POINTS.map((_, i) => task(`KILL_${i}--T01`));
    // One task at a time: a kill then never cuts another task's agent short (that run would rightly be paid again,
    // see bench:kill for the parallel case), so every agent must have run exactly once.
    const ws = createAgentWorkspace({ tasks, options: { wipLimit: 1 } });
    removeLater(ws);
    // One task dies at each point; every run is killed by the first point it reaches. A point that killed a run is
    // dropped from the next (after-merge would be reached again: the continued attempt recognises the merge there).
    let armed = POINTS.map((p, i) => `${p}@KILL_${i}--T01`);
    const kills: string[] = [];
    for (let round = 0; round < POINTS.length + 2; round++) {
      const r = ws.run(SLICE, {}, armed.length > 0 ? { NX_VTM_FAILPOINT: armed.join(',') } : {});
      const hit = /failpoint (\S+) reached for ([^\s:]+)/.exec(r.output);
      if (!hit) {
        if (r.code !== 0) throw new Error(r.output.slice(-5000));
        break;
      }
      kills.push(`${hit[1]}@${hit[2]}`);
      armed = armed.filter((a) => a !== `${hit[1]}@${hit[2]}`);
    }
    expect(kills.sort()).toEqual(POINTS.map((p, i) => `${p}@KILL_${i}--T01`).sort());

    const state = ws.state().tasks;
    expect(Object.fromEntries(Object.entries(state).map(([id, t]) => [id, t.status]))).toEqual(Object.fromEntries(tasks.map((t) => [t.task_id, 'completed'])));
    const starts = ws.agentEvents().filter((e) => e.event === 'start').map((e) => e.taskId).sort();
    expect(starts).toEqual(tasks.map((t) => t.task_id as string).sort());
    const merges = ws.git(['log', '--first-parent', '--format=%s', 'main']).split('\n').filter((s) => s.startsWith('Merge vtm/'));
    expect(merges.sort()).toEqual(tasks.map((t) => `Merge vtm/${t.task_id}: Implement ${t.task_id}`).sort());
    const files = ws.git(['ls-tree', '-r', '--name-only', 'main']).split('\n');
    for (const t of tasks) for (const f of t.file_scope as string[]) expect(files).toContain(f);
    expect(ws.git(['status', '--porcelain', '--untracked-files=no'])).toBe('');
    // The stages are in the event log, with the continued attempts.
    expect(ws.events().filter((e) => e.type === 'stage').length).toBeGreaterThanOrEqual(tasks.length * 6);
  });
});
