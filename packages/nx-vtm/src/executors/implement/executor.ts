/**
 * `implement` for one task (`nx run X:implement`, or every task with `--batch=false`). Nx forks one process per task
 * here, so all coordination (WIP limit, conflicts, exactly-once) happens in the shared task store; this process just
 * waits its turn, runs the task, and reports.
 */
import type { ExecutorContext } from '@nx/devkit';
import { runImplementTasks } from '../../runtime/run-tasks';
import { gateSourceTasks } from '../../sources/run-hooks';
import { defaultWriteBackPorts, writeBackResult, writeBackStart } from '../../sources/write-back-run';
import type { ImplementExecutorOptions } from './schema';

export default async function implementExecutor(
  _options: ImplementExecutorOptions,
  context: ExecutorContext,
): Promise<{ success: boolean }> {
  let success = false;
  const projects = context.projectsConfigurations?.projects ?? {};
  // The project is the task: its name is the manifest task_id (graph/build-graph.ts).
  const taskId = context.projectName;
  if (!taskId) {
    console.log('nx-vtm implement: Nx gave no project name; run it as `nx run <task_id>:implement`');
    return { success: false };
  }
  const gate = await gateSourceTasks({ workspaceRoot: context.root, nxJson: context.nxJsonConfiguration, taskIds: [taskId] });
  if (gate.refused.length > 0) {
    console.log(gate.refused[0].message);
    return { success: false };
  }
  for await (const r of runImplementTasks({
    workspaceRoot: context.root,
    nxJson: context.nxJsonConfiguration,
    projects,
    fullTaskGraph: context.taskGraph,
    taskIds: [taskId],
    targetName: context.targetName ?? 'implement',
    loaded: gate.loaded,
    onTaskStart: gate.ctx ? (taskId, log) => writeBackStart({ ctx: gate.ctx!, taskId, ports: { ...defaultWriteBackPorts, print: log } }) : undefined,
  })) {
    if (gate.ctx) await writeBackResult({ ctx: gate.ctx, taskId: r.taskId, status: r.status, reason: r.reason });
    if (r.taskId === taskId) success = r.status === 'success';
  }
  return { success };
}
