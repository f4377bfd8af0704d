/**
 * Where the source layer meets a run (I/O): before the runtime starts tasks, refuse those the source says are
 * blocked or cancelled (and their dependents), recording why in the task store; after a task's result, write its
 * status back to the source (see write-back.ts). Called by the implement executors; the runtime itself is unchanged.
 */
import type { NxJsonConfiguration } from '@nx/devkit';
import { loadTaskRunContext, type RunContext } from '../runtime/context';
import { openTaskStore } from '../state/task-store';
import { buildSourceRefusals, type SourceRefusal } from './run-gate';

export interface SourceGate {
  /** Undefined when the workspace has no source (nothing to do) or its context cannot be read (the runtime says why). */
  ctx?: RunContext;
  runnable: string[];
  refused: SourceRefusal[];
}

export async function loadSourceContext({
  workspaceRoot,
  nxJson,
  taskIds,
}: {
  workspaceRoot: string;
  nxJson: NxJsonConfiguration | undefined;
  taskIds: readonly string[];
}): Promise<RunContext | undefined> {
  const loaded = await loadTaskRunContext({ workspaceRoot, nxJson, taskIds });
  if (!loaded.ok || !loaded.value.manifests.some((m) => m.source)) return undefined;
  return loaded.value;
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
  const ctx = await loadSourceContext({ workspaceRoot, nxJson, taskIds });
  if (!ctx) return { runnable: [...taskIds], refused: [] };
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
  return { ctx, runnable, refused };
}
