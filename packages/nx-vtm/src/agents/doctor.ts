/**
 * `nx-vtm doctor`'s agent checks: for every agent the configuration can route to (base, byRisk, rules, fallback),
 * whether its binary starts, whether its version is the one the adapter was tested against, and whether credentials
 * are present (environment, or the CLI's own login file) — without calling a model.
 *
 * `listConfiguredAgents` and `buildAgentChecks` are pure; `probeAgentBinary` and `hasLoginFile` are the I/O.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AgentOptions, PartialAgentConfig } from './config';

/**
 * The CLI versions the real-CLI e2e suite runs (tools/agent-clis/package.json; a spec keeps them equal) and the npm
 * package that ships each.
 */
export const TESTED_AGENT_CLIS = {
  claude: { version: '2.1.197', pkg: '@anthropic-ai/claude-code' },
  codex: { version: '0.171.0', pkg: '@openai/codex' },
  gemini: { version: '0.61.0', pkg: '@google/gemini-cli' },
  opencode: { version: '1.18.33', pkg: 'opencode-ai' },
} as const;

type CliName = keyof typeof TESTED_AGENT_CLIS;
const isCli = (a: string | undefined): a is CliName => a !== undefined && a in TESTED_AGENT_CLIS;

/** One agent the configuration can run, and where it is configured. */
export interface ConfiguredAgent {
  /** e.g. `agent`, `agent.byRisk.High`, `agent.rules[0].agent`, `agent.fallback`. */
  where: string;
  adapter: CliName;
  bin: string;
  env: Record<string, string>;
}

/** Every CLI agent the options can route to, each layer merged over the base (as routing does). Pure. */
export function listConfiguredAgents(options: AgentOptions | undefined): ConfiguredAgent[] {
  const base: PartialAgentConfig = options ?? {};
  const layers: [string, PartialAgentConfig][] = [['agent', {}]];
  for (const [risk, layer] of Object.entries(options?.byRisk ?? {})) if (layer) layers.push([`agent.byRisk.${risk}`, layer]);
  (options?.rules ?? []).forEach((r, i) => layers.push([`agent.rules[${i}].agent`, r.agent]));
  if (options?.fallback) layers.push(['agent.fallback', options.fallback]);
  const out: ConfiguredAgent[] = [];
  for (const [where, layer] of layers) {
    const adapter = layer.adapter ?? base.adapter ?? 'claude';
    if (!isCli(adapter)) continue;
    const bin = layer.bin ?? (layer.adapter && layer.adapter !== base.adapter ? undefined : base.bin) ?? adapter;
    out.push({ where, adapter, bin, env: { ...base.env, ...layer.env } });
  }
  return out;
}

/** Environment variables that authenticate each CLI (any one is enough). opencode's keys live in its config. */
const AUTH_ENV: Record<CliName, string[]> = {
  claude: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_AUTH_TOKEN'],
  codex: ['OPENAI_API_KEY', 'CODEX_API_KEY'],
  gemini: ['GEMINI_API_KEY', 'GOOGLE_API_KEY', 'GOOGLE_APPLICATION_CREDENTIALS'],
  opencode: [],
};

/** What the I/O found for one agent. */
export interface AgentProbe {
  /** `--version` output, or undefined when the binary did not start. */
  versionOutput?: string;
  startError?: string;
  /** The CLI's own login file exists. */
  loggedIn: boolean;
}

export type CheckLevel = 'ok' | 'warn' | 'fail';
export interface AgentCheck {
  where: string;
  adapter: CliName;
  bin: string;
  level: CheckLevel;
  version: string | null;
  tested: string;
  credentials: string | null;
  /** Actionable lines; empty when all is well. */
  problems: string[];
}

/** The verdict for one agent from what was probed. `env` is the environment the agent would get. Pure. */
export function buildAgentCheck(agent: ConfiguredAgent, probe: AgentProbe, env: Record<string, string | undefined>): AgentCheck {
  const tested = TESTED_AGENT_CLIS[agent.adapter];
  const problems: string[] = [];
  let level: CheckLevel = 'ok';
  const version = probe.versionOutput ? (/\d+\.\d+\.\d+/.exec(probe.versionOutput)?.[0] ?? null) : null;
  if (probe.versionOutput === undefined) {
    level = 'fail';
    problems.push(
      `${agent.where}: ${agent.adapter} binary '${agent.bin}' does not start (${probe.startError ?? 'unknown error'}); install it with \`npm install -g ${tested.pkg}@${tested.version}\`, set ${agent.where}.bin, or configure agent.fallback`,
    );
  } else if (version !== tested.version) {
    level = 'warn';
    problems.push(
      `${agent.where}: ${agent.adapter} ${version ?? `of unknown version ("${probe.versionOutput.trim().slice(0, 60)}")`} is not the tested ${tested.version}; flags and output may differ (see docs/agents.md, "Tested versions")`,
    );
  }
  const merged = { ...env, ...agent.env };
  const credentialVar = AUTH_ENV[agent.adapter].find((v) => (merged[v] ?? '') !== '');
  const credentials = credentialVar ?? (probe.loggedIn ? 'login file' : null);
  if (!credentials && agent.adapter !== 'opencode') {
    level = 'fail';
    problems.push(
      `${agent.where}: no ${agent.adapter} credentials: set ${AUTH_ENV[agent.adapter].join(' or ')} (in the environment or ${agent.where}.env), or log in by running \`${agent.adapter}\` once`,
    );
  }
  return { where: agent.where, adapter: agent.adapter, bin: agent.bin, level, version, tested: tested.version, credentials, problems };
}

/** Called once per configured agent: runs `<bin> --version` (10 s at most). */
export function probeAgentBinary(bin: string, env: NodeJS.ProcessEnv): Promise<Pick<AgentProbe, 'versionOutput' | 'startError'>> {
  return new Promise((resolve) => {
    execFile(bin, ['--version'], { env, timeout: 10_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') resolve({ startError: bin.includes('/') ? 'not found' : 'not found on PATH' });
      else if (error && !stdout) resolve({ startError: (stderr || error.message).split('\n')[0] });
      else resolve({ versionOutput: stdout || stderr });
    });
  });
}

/** Called once per configured agent: whether the CLI's own login (subscription or OAuth) file exists. */
export function hasLoginFile(adapter: CliName, env: Record<string, string | undefined>): boolean {
  const home = env.HOME ?? homedir();
  const files: Record<CliName, string[]> = {
    claude: [join(env.CLAUDE_CONFIG_DIR ?? join(home, '.claude'), '.credentials.json')],
    codex: [join(env.CODEX_HOME ?? join(home, '.codex'), 'auth.json')],
    gemini: [join(home, '.gemini', 'oauth_creds.json')],
    opencode: [join(env.XDG_DATA_HOME ?? join(home, '.local', 'share'), 'opencode', 'auth.json')],
  };
  return files[adapter].some((f) => existsSync(f));
}
