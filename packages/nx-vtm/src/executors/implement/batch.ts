/**
 * `implement` as an Nx batch executor (`batchImplementation` + `preferBatch`): `nx run-many -t implement` hands every
 * not-yet-cached implement task of the run to this one process, which schedules them itself (critical path first,
 * WIP limit, file-scope conflicts, High-risk isolation) and yields each result as soon as it is known, so Nx shows and
 * caches tasks one by one. Nx's own ordering has no critical path and no notion of file scopes (shared notes).
 */
import type { ExecutorContext, TaskGraph } from '@nx/devkit';
import { runImplementTasks } from '../../runtime/run-tasks';
import { gateSourceTasks } from '../../sources/run-hooks';
import { defaultWriteBackPorts, writeBackResult, writeBackStart } from '../../sources/write-back-run';
import type { ImplementExecutorOptions } from './schema';

export default async function* implementBatch(
  taskGraph: TaskGraph,
  inputs: Record<string, ImplementExecutorOptions>,
  _overrides: unknown,
  context: ExecutorContext,
): AsyncGenerator<{ task: string; result: { success: boolean; terminalOutput: string; startTime?: number; endTime?: number; status?: 'success' | 'failure' | 'skipped' } }> {
  // Nx task ids ("<project>:implement") by manifest task id (the project name, graph/build-graph.ts).
  const nxIdByTask = new Map<string, string>();
  for (const nxId of Object.keys(inputs)) nxIdByTask.set(taskGraph.tasks[nxId]?.target.project ?? nxId.slice(0, nxId.lastIndexOf(':')), nxId);
  const targetName = Object.values(taskGraph.tasks)[0]?.target.target ?? 'implement';
  const projects = context.projectsConfigurations?.projects ?? {};
  // Tasks from a source (TODO.md, Beads, ...) that it marks blocked or cancelled, and their dependents: not started.
  const gate = await gateSourceTasks({ workspaceRoot: context.root, nxJson: context.nxJsonConfiguration, taskIds: [...nxIdByTask.keys()] });
  for (const r of gate.refused) {
    const now = Date.now();
    yield { task: nxIdByTask.get(r.taskId)!, result: { success: false, status: r.reason.startsWith('dependency_failed:') ? 'skipped' : 'failure', terminalOutput: `${r.message}\n`, startTime: now, endTime: now } };
  }
  if (gate.runnable.length === 0) return;
  for await (const r of runImplementTasks({
    workspaceRoot: context.root,
    nxJson: context.nxJsonConfiguration,
    projects,
    fullTaskGraph: context.taskGraph,
    taskIds: gate.runnable,
    targetName,
    loaded: gate.loaded,
    onTaskStart: gate.ctx ? (taskId, log) => writeBackStart({ ctx: gate.ctx!, taskId, ports: { ...defaultWriteBackPorts, print: log } }) : undefined,
  })) {
    if (gate.ctx) await writeBackResult({ ctx: gate.ctx, taskId: r.taskId, status: r.status, reason: r.reason });
    yield {
      task: nxIdByTask.get(r.taskId)!,
      result: {
        success: r.status === 'success',
        status: r.status,
        terminalOutput: r.terminalOutput,
        startTime: r.startTime,
        endTime: r.endTime,
      },
    };
  }
}
