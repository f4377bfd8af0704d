/**
 * `nx-vtm doctor [--json] [--timeout <seconds>]`: can the configured agents run here? For every agent the nx-vtm
 * options and the manifests can route to (base, byRisk, rules, fallback, a task's own `agent`): binary found and
 * starting, version inside the tested range (a warning outside), the flags our argv passes listed by that version's
 * `--help`, credentials present (environment, agent.env, or the CLI's login/config files). Then git (version,
 * worktrees), Node, nx and the state store. No model is called. Exit 1 when a check fails; the run's preconditions
 * use the same agent checks (`BLOCKED::AGENT-UNAVAILABLE`).
 */
import { getAgentKey, listConfiguredAgents, listTaskAgents, type AgentCheck, type ConfiguredAgent } from '../../agents/doctor';
import {
  checkAgents,
  checkGit,
  checkNode,
  checkNx,
  checkStateStore,
  createCachedPort,
  defaultEnvironmentPort,
  DEFAULT_PROBE_TIMEOUT_MS,
  type ToolCheck,
} from '../../runtime/environment-checks';
import { parseCommandArgs } from '../args';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type ExitCode } from '../cli-io';
import { getCommandHelp } from '../help';
import { readCliWorkspace, readManifestContext } from '../workspace';

/** What `--json` prints. */
export interface DoctorReport {
  ok: boolean;
  agents: AgentCheck[];
  tools: ToolCheck[];
  /** What could not be checked, e.g. the manifests' own agent fields when a manifest does not load. */
  notes: string[];
}

export async function runDoctorCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const parsed = parseCommandArgs({ command: 'doctor', args, options: { json: { type: 'boolean' }, timeout: { type: 'string' } } });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  if (parsed.value.values.help) {
    io.out(getCommandHelp('doctor'));
    return EXIT_OK;
  }
  const rawTimeout = parsed.value.values.timeout as string | undefined;
  const timeoutMs = rawTimeout === undefined ? DEFAULT_PROBE_TIMEOUT_MS : Number(rawTimeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    io.err(`nx-vtm doctor: --timeout ${rawTimeout} is not a number of seconds > 0`);
    return EXIT_USAGE;
  }
  const ws = readCliWorkspace({ cwd });
  if (!ws.ok) {
    io.err(`nx-vtm doctor: ${ws.error}`);
    return EXIT_FAILURE;
  }

  // The options' layers, then what the manifests' own `agent` fields add (tasks routed elsewhere than any layer).
  const agents: ConfiguredAgent[] = [];
  const seen = new Set<string>();
  const add = (a: ConfiguredAgent) => {
    const key = `${a.where}|${getAgentKey(a.config)}`;
    if (seen.has(key)) return;
    seen.add(key);
    agents.push(a);
  };
  for (const registration of ws.value.registrations) listConfiguredAgents(registration.agent).forEach(add);
  const known = new Set(agents.map((a) => getAgentKey(a.config)));
  const notes: string[] = [];
  const manifests = await readManifestContext(ws.value);
  if (!manifests.ok) notes.push(`the manifests' own "agent" fields were not checked: ${manifests.error.split('\n')[0]}`);
  if (manifests.ok) {
    const tasks = [...manifests.value.tasks.values()].map((e) => e.task).filter((t) => (t as Record<string, unknown>).agent !== undefined);
    for (const a of listTaskAgents(tasks, ws.value.options.agent)) {
      if (known.has(getAgentKey(a.config))) continue;
      add({ where: `task ${a.taskIds![0]}${a.taskIds!.length > 1 ? ` (and ${a.taskIds!.length - 1} more)` : ''}.agent`, config: a.config, taskIds: a.taskIds });
    }
  }

  const port = createCachedPort(defaultEnvironmentPort);
  const env = process.env;
  const [agentChecks, git] = await Promise.all([
    checkAgents({ agents, env, cwd: ws.value.root, port, timeoutMs }),
    checkGit({ workspaceRoot: ws.value.root, env, port }),
  ]);
  const report: DoctorReport = {
    ok: false,
    agents: agentChecks.map((c) => c.agent),
    tools: [git, checkNode(), checkNx({ workspaceRoot: ws.value.root, port }), checkStateStore({ workspaceRoot: ws.value.root })],
    notes,
  };
  report.ok = ![...report.agents, ...report.tools].some((c) => c.level === 'fail');

  if (parsed.value.values.json) io.out(JSON.stringify(report, null, 2));
  else for (const line of formatDoctorReport(report)) io.out(line);
  return report.ok ? EXIT_OK : EXIT_FAILURE;
}

const LEVEL = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

/** The human report: one line per agent and tool, then its problems indented, then the verdict. Pure. */
export function formatDoctorReport(report: DoctorReport): string[] {
  const out: string[] = [];
  if (report.agents.length === 0) out.push('agents: none that start a CLI (adapter replay only): nothing to check');
  else out.push('agents:');
  for (const c of report.agents) {
    const version = c.tested === null ? '' : ` ${c.version ?? '-'} (tested ${c.tested})`;
    const flags = c.tested === null ? '' : c.flags.unknown.length ? `, flags: ${c.flags.unknown.length} unknown` : c.version ? `, flags: ${c.flags.checked.length} ok` : '';
    const credentials = c.tested === null ? '' : `, credentials: ${c.credentials ?? 'none found'}`;
    out.push(`  ${LEVEL[c.level]} ${c.where}: ${c.adapter} (${c.path ?? c.bin})${version}${flags}${credentials}`);
    for (const p of [...c.failures, ...c.warnings]) out.push(`       ${p}`);
  }
  out.push('tools:');
  for (const t of report.tools) {
    out.push(`  ${LEVEL[t.level]} ${t.name}: ${t.detail}`);
    for (const p of t.problems) out.push(`       ${p}`);
  }
  for (const n of report.notes) out.push(`note: ${n}`);
  out.push(report.ok ? 'nx-vtm doctor: every configured agent can run' : 'nx-vtm doctor: something cannot run here; fix the FAIL lines above');
  return out;
}
