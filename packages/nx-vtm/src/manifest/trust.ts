/**
 * What a manifest may not decide: which programs run and with what powers.
 *
 * The manifest is data about work to do, and it is often written by a planning model; `nx.json` is configuration a
 * person reviewed. So the settings that choose a program, its environment or its permissions come from `nx.json`'s
 * plugin options only: a manifest entry setting one of them is refused, naming the file, task and field, unless that
 * manifest's plugin registration opts in with `"trustManifestCommands": true` (the workspace says its manifests are
 * as trusted as `nx.json`). Settings that only tune an agent chosen by `nx.json` (model, timeouts, retries, prices,
 * budget) stay open to the manifest, and so does `adapter` as long as it names a CLI `nx.json` already configures
 * (its base adapter, default claude, or one named in `byRisk`, `rules` or `fallback`): switching to another CLI runs
 * a different program with that CLI's default permissions, and drops restrictions `nx.json` gave the first one
 * (`allowedTools` of claude does not carry over to codex).
 *
 * Pure; the plugin (createNodes, so `nx show projects` shows the refusal) and every run (`loadRunContext`) call it.
 */
import type { Manifest } from './schema';
import type { ManifestProblem } from './problems';
import type { AgentOptions } from '../agents/config';

/** Manifest fields of a task's `agent` that only nx.json may set, with what each decides (for the message). */
export const TRUSTED_AGENT_FIELDS = {
  command: 'chooses the program that runs as the agent',
  bin: 'chooses the agent binary that runs',
  args: "adds command-line flags to the agent (flags can widen what it may do, e.g. skip its permission checks)",
  env: "sets the agent's environment (PATH, NODE_OPTIONS and the like choose what actually runs)",
  permissionMode: 'sets what the agent may do without asking',
  allowedTools: 'grants the agent tools (e.g. shell commands) without asking',
  replayDir: 'chooses the folder whose recorded patches are applied as the work',
} as const;

export const UNTRUSTED_CODE = 'BLOCKED::UNTRUSTED-MANIFEST-COMMAND';

/**
 * The problems of a manifest whose registration does not trust it with commands: one per trusted-only field a task
 * sets (`tasks[i].agent.<field>`, `tasks[i].verification_command`). Pure.
 */
export function getUntrustedCommandProblems({
  manifest,
  file,
  agentOptions,
}: {
  manifest: Pick<Manifest, 'tasks'>;
  file: string;
  /** The registration's `agent` option: the adapters it configures are the ones a manifest may pick. */
  agentOptions: AgentOptions | undefined;
}): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const configured = getConfiguredAdapters(agentOptions);
  manifest.tasks.forEach((task, i) => {
    const refuse = (field: string, what: string, remedy: string) =>
      problems.push({
        file,
        taskId: task.task_id,
        path: `tasks[${i}].${field}`,
        message:
          `${UNTRUSTED_CODE}::${task.task_id}: ${field} ${what}; a manifest may not set it unless nx.json opts in. ` +
          `${remedy}, or set "trustManifestCommands": true in the plugin options in nx.json if this manifest is as trusted as nx.json`,
      });
    const agent = (task as Record<string, unknown>).agent;
    if (agent !== null && typeof agent === 'object') {
      const adapter = (agent as Record<string, unknown>).adapter;
      if (typeof adapter === 'string' && !configured.includes(adapter)) {
        refuse(
          'agent.adapter',
          `switches to ${JSON.stringify(adapter)}, a CLI nx.json does not configure (configured: ${configured.join(', ')})`,
          `Configure it in the plugin options in nx.json (e.g. a rules[] entry with match.taskIdPattern ${JSON.stringify(`^${escapeRegex(task.task_id)}$`)} and "agent": { "adapter": ${JSON.stringify(adapter)} })`,
        );
      }
      for (const [key, what] of Object.entries(TRUSTED_AGENT_FIELDS)) {
        if ((agent as Record<string, unknown>)[key] !== undefined) {
          refuse(
            `agent.${key}`,
            what,
            `Move it to the plugin options in nx.json (plugins["nx-vtm"].options.agent; a rules[] entry with match.taskIdPattern ${JSON.stringify(`^${escapeRegex(task.task_id)}$`)} applies it to this task only)`,
          );
        }
      }
    }
    if ((task as Record<string, unknown>).verification_command !== undefined) {
      refuse('verification_command', 'chooses the test program that runs', 'Use the plugin option verify.command in nx.json');
    }
  });
  return problems;
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The adapters a registration's `agent` option names: its base (claude when unset), byRisk, rules and fallback. */
export function getConfiguredAdapters(options: AgentOptions | undefined): string[] {
  const named = [
    options?.adapter ?? 'claude',
    ...Object.values(options?.byRisk ?? {}).map((l) => l?.adapter),
    ...(options?.rules ?? []).map((r) => r.agent.adapter),
    options?.fallback?.adapter,
  ];
  return [...new Set(named.filter((a): a is NonNullable<typeof a> => a !== undefined))];
}
