/**
 * Where the source layer meets a run (I/O): before the runtime starts tasks, refuse those the source says are
 * blocked or cancelled (and their dependents), recording why in the task store; after a task's result, write its
 * status back to the source (see write-back.ts). Called by the implement executors; the runtime itself is unchanged.
 */
import type { NxJsonConfiguration, ProjectConfiguration } from '@nx/devkit';
import { getManifestFiles, loadRunContext, type RunContext } from '../runtime/context';
import { openTaskStore } from '../state/task-store';
import { buildSourceRefusals, type SourceRefusal } from './run-gate';

export interface SourceGate {
  /** Undefined when the workspace has no source (nothing to do) or its context cannot be read (the runtime says why). */
  ctx?: RunContext;
  runnable: string[];
  refused: SourceRefusal[];
}

export function loadSourceContext({
  workspaceRoot,
  nxJson,
  projects,
}: {
  workspaceRoot: string;
  nxJson: NxJsonConfiguration | undefined;
  projects: Record<string, ProjectConfiguration>;
}): RunContext | undefined {
  const manifestFiles = getManifestFiles(projects);
  const loaded = loadRunContext({ workspaceRoot, nxJson, manifestFiles, manifestFile: manifestFiles[0] });
  if (!loaded.ok || !loaded.value.manifests.some((m) => m.source)) return undefined;
  return loaded.value;
}

export function gateSourceTasks({
  workspaceRoot,
  nxJson,
  projects,
  taskIds,
}: {
  workspaceRoot: string;
  nxJson: NxJsonConfiguration | undefined;
  projects: Record<string, ProjectConfiguration>;
  taskIds: readonly string[];
}): SourceGate {
  const ctx = loadSourceContext({ workspaceRoot, nxJson, projects });
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
