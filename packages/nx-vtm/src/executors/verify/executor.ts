/**
 * `verify`: run one task's test_verification files on the current checkout, as CI does after changes. Cached by Nx
 * with the task's scope, tests and related documents as inputs, so `nx affected -t verify` re-runs only what changed.
 */
import type { ExecutorContext } from '@nx/devkit';
import { join } from 'node:path';
import { runProcess } from '../../agents/process-runner';
import { runVerification, type VerificationDeps } from '../../workspace/verify';
import { loadTaskRunContext } from '../../runtime/context';
import { getVerificationCommand } from '../../runtime/verification';
import type { VerifyExecutorOptions } from './schema';

export interface VerifyExecutorDeps {
  /** Runs the test process (a fake in tests). */
  verification: VerificationDeps;
  log: (line: string) => void;
}

const defaultDeps: VerifyExecutorDeps = { verification: { runProcess }, log: (l) => console.log(l) };

export default async function verifyExecutor(
  _options: VerifyExecutorOptions,
  context: ExecutorContext,
  deps: VerifyExecutorDeps = defaultDeps,
): Promise<{ success: boolean }> {
  const { log } = deps;
  // The project is the task: its name is the manifest task_id (graph/build-graph.ts).
  const taskId = context.projectName;
  if (!taskId) {
    log('nx-vtm verify: Nx gave no project name; run it as `nx run <task_id>:verify`');
    return { success: false };
  }
  const loaded = await loadTaskRunContext({ workspaceRoot: context.root, nxJson: context.nxJsonConfiguration, taskIds: [taskId] });
  if (!loaded.ok) {
    log(`nx-vtm verify ${taskId}: ${loaded.error}`);
    return { success: false };
  }
  const entry = loaded.value.tasks.get(taskId);
  if (!entry) {
    log(`nx-vtm verify: task ${taskId} is in no manifest of nx.json's nx-vtm registrations; the project graph is stale (run nx reset)`);
    return { success: false };
  }
  const { task } = entry;
  const settings = loaded.value.options.verify;
  if (settings === false) {
    log(`nx-vtm verify ${task.task_id}: verification is disabled ("verify": false in the plugin options); nothing ran`);
    return { success: true };
  }
  if (task.test_verification.length === 0) {
    if (task.risk === 'High') {
      log(`BLOCKED::SPEC-REF-GAP::${task.task_id}: High-risk task without test_verification files; add the tests that verify it to the manifest`);
      return { success: false };
    }
    log(`nx-vtm verify ${task.task_id}: no test_verification files declared; nothing to verify`);
    return { success: true };
  }
  const result = await runVerification(
    {
      cwd: context.root,
      command: getVerificationCommand(task, settings.command),
      files: task.test_verification,
      timeoutMs: settings.timeoutMs,
      logFile: join(context.root, '.vtm/verify', `${task.task_id}.log`),
      taskId: task.task_id,
    },
    deps.verification,
  );
  log(`nx-vtm verify ${task.task_id}: ${result.status}: ${result.message}`);
  if (result.counts) log(`  tests: ${result.counts.passed} passed, ${result.counts.failed} failed, ${result.counts.total} total`);
  log(`  command: ${result.argv.join(' ')}`);
  log(`  log: ${result.logFile}`);
  return { success: result.status === 'passed' };
}
