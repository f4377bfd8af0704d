/**
 * `nx-vtm doctor [--json]`: can the configured agents run here? For every agent the nx-vtm options can route to
 * (base, byRisk, rules, fallback): binary found and starting, version vs the tested one (a warning), credentials
 * present (environment, agent.env, or the CLI's login file). No model is called. Exit 1 when an agent cannot run.
 */
import { buildAgentCheck, hasLoginFile, listConfiguredAgents, probeAgentBinary, type AgentCheck } from '../../agents/doctor';
import { parseCommandArgs } from '../args';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type ExitCode } from '../cli-io';
import { getCommandHelp } from '../help';
import { readCliWorkspace } from '../workspace';

export async function runDoctorCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const parsed = parseCommandArgs({ command: 'doctor', args, options: { json: { type: 'boolean' } } });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  if (parsed.value.values.help) {
    io.out(getCommandHelp('doctor'));
    return EXIT_OK;
  }
  const ws = readCliWorkspace({ cwd });
  if (!ws.ok) {
    io.err(`nx-vtm doctor: ${ws.error}`);
    return EXIT_FAILURE;
  }
  const seen = new Set<string>();
  const checks: AgentCheck[] = [];
  for (const registration of ws.value.registrations) {
    for (const agent of listConfiguredAgents(registration.agent)) {
      const key = `${agent.where}|${agent.adapter}|${agent.bin}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const env = { ...process.env, ...agent.env };
      const probe = await probeAgentBinary(agent.bin, env);
      checks.push(buildAgentCheck(agent, { ...probe, loggedIn: hasLoginFile(agent.adapter, env) }, process.env));
    }
  }
  const failed = checks.some((c) => c.level === 'fail');
  if (parsed.value.values.json) {
    io.out(JSON.stringify({ ok: !failed, agents: checks }, null, 2));
  } else {
    if (checks.length === 0) io.out('nx-vtm doctor: no CLI agent configured (adapter command or replay): nothing to check');
    for (const c of checks) {
      const head = `${c.level === 'ok' ? 'ok  ' : c.level === 'warn' ? 'WARN' : 'FAIL'} ${c.where}: ${c.adapter} (${c.bin}) ${c.version ?? '-'} (tested ${c.tested}), credentials: ${c.credentials ?? 'none found'}`;
      io.out(head);
      for (const p of c.problems) io.out(`     ${p}`);
    }
    io.out(failed ? 'nx-vtm doctor: an agent cannot run; fix the FAIL lines above' : 'nx-vtm doctor: every configured agent can run');
  }
  return failed ? EXIT_FAILURE : EXIT_OK;
}
