/**
 * Where the source layer meets a run (I/O): before the runtime starts tasks, refuse those the source says are
 * blocked or cancelled (and their dependents), recording why in the task store; after a task's result, write its
 * status back to the source (see write-back.ts). Called by the implement executors; the runtime itself is unchanged.
 */
import type { NxJsonConfiguration } from '@nx/devkit';
import type { Result } from '../manifest/problems';
import { loadTaskRunContext, type RunContext } from '../runtime/context';
import { openTaskStore } from '../state/task-store';
import { buildSourceRefusals, type SourceRefusal } from './run-gate';

export interface SourceGate {
  /**
   * The run context as loaded (or why it could not be): handed on to runImplementTasks so that a run lists and parses
   * the manifests once, not once here and again in the runtime (per task in per-task mode).
   */
  loaded: Result<RunContext, string>;
  /** Set only when the workspace has a task source (TODO.md, Beads, ...): what the write-back hooks need. */
  ctx?: RunContext;
  runnable: string[];
  refused: SourceRefusal[];
}

export async function gateSourceTasks({
  workspaceRoot,
  nxJson,
  taskIds,
}: {
  workspaceRoot: string;
  nxJson: NxJsonConfiguration | undefined;
  taskIds: readonly string[];
}): Promise<SourceGate> {
  const loaded = await loadTaskRunContext({ workspaceRoot, nxJson, taskIds });
  // No source, or a context that cannot be read (the runtime reports why, from `loaded`): nothing to refuse here.
  if (!loaded.ok || !loaded.value.manifests.some((m) => m.source)) return { loaded, runnable: [...taskIds], refused: [] };
  const ctx = loaded.value;
  const { runnable, refused } = buildSourceRefusals({ manifests: ctx.manifests, taskIds });
  if (refused.length > 0) {
    const store = openTaskStore({ workspaceRoot, stateFile: ctx.options.stateFile, coordinator: ctx.options.coordinator });
    try {
      for (const r of refused) {
        const code = r.message.startsWith('BLOCKED::') ? [r.message.split(':').slice(0, 6).join(':').replace(/:$/, '')] : [];
        // A refusal the store cannot take (e.g. a task completed earlier) changes nothing: the message is still shown.
        store.recordOutcome({ taskId: r.taskId, runId: process.env.VTM_RUN_ID || null, outcome: { status: 'blocked', reason: r.reason, error: r.message, blockers: code } });
      }
    } finally {
      store.close();
    }
  }
  return { loaded, ctx, runnable, refused };
}
