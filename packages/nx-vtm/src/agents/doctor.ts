/**
 * The agent checks shared by `nx-vtm doctor` and the run's preconditions: for every agent the configuration can route
 * to, whether its binary is found and starts, whether its version is inside the tested range, whether this version
 * accepts every flag our argv passes (parsed from its `--help`), and whether credentials are present (environment,
 * agent.env, or the CLI's own login/config files) — without calling a model.
 *
 * Everything here is pure: what the probes found (`AgentProbe`) comes from `runtime/environment-checks.ts`.
 */
import type { Task } from '../manifest/schema';
import { PROCESS_ADAPTERS } from './adapters';
import type { InvocationContext } from './adapters/types';
import { agentConfigSchema, type AgentConfig, type AgentOptions, type PartialAgentConfig } from './config';
import { mergeAgentConfig, resolveAgentConfig } from './routing';

/**
 * The CLI versions the real-CLI e2e suite runs (tools/agent-clis/package.json; a spec keeps them equal), the tested
 * range (inclusive; widened when the real-CLI suite passes on another version) and the npm package that ships each.
 */
export const TESTED_AGENT_CLIS = {
  claude: { version: '2.1.197', min: '2.1.197', max: '2.1.197', pkg: '@anthropic-ai/claude-code' },
  codex: { version: '0.171.0', min: '0.171.0', max: '0.171.0', pkg: '@openai/codex' },
  gemini: { version: '0.61.0', min: '0.61.0', max: '0.61.0', pkg: '@google/gemini-cli' },
  opencode: { version: '1.18.33', min: '1.18.33', max: '1.18.33', pkg: 'opencode-ai' },
} as const;

export type CliName = keyof typeof TESTED_AGENT_CLIS;
export const isCliAdapter = (a: string | undefined): a is CliName => a !== undefined && a in TESTED_AGENT_CLIS;

/**
 * Flags a tested version accepts although its `--help` does not list them (measured on the pinned versions:
 * claude 2.1 hides `--max-turns`, see docs/agents.md "Tested versions").
 */
const HIDDEN_FLAGS: Record<CliName, readonly string[]> = {
  claude: ['--max-turns'],
  codex: [],
  gemini: [],
  opencode: [],
};

/** Environment variables that authenticate each CLI (any one is enough). */
export const AUTH_ENV: Record<CliName, readonly string[]> = {
  claude: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_USE_VERTEX'],
  codex: ['OPENAI_API_KEY', 'CODEX_API_KEY'],
  gemini: ['GEMINI_API_KEY', 'GOOGLE_API_KEY', 'GOOGLE_APPLICATION_CREDENTIALS', 'GOOGLE_GENAI_USE_VERTEXAI'],
  // opencode keeps provider keys in its own config and auth file; variables depend on the provider chosen there.
  opencode: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'GEMINI_API_KEY', 'OPENROUTER_API_KEY'],
};

/** One agent the configuration can run, where it is configured, and its merged settings (defaults applied). */
export interface ConfiguredAgent {
  /** e.g. `agent`, `agent.byRisk.High`, `agent.rules[0].agent`, `agent.fallback`, `task T1.agent`. */
  where: string;
  config: AgentConfig;
  /** Settings run instead when this agent's binary is missing (routing's `fallback`), if any. */
  fallback?: AgentConfig;
  /** Manifest tasks routed to it (run preconditions only). */
  taskIds?: string[];
}

/** The program an agent config starts: `command[0]` for adapter command, else `bin` or the adapter's name. Pure. */
export const getAgentBin = (config: AgentConfig): string => (config.adapter === 'command' ? config.command![0] : (config.bin ?? config.adapter));

/**
 * Every process agent the plugin options can route to, each layer merged over the base exactly as routing merges it
 * (an adapter switch drops the base's bin, model, args...). Replay agents start no process and are left out. Pure.
 */
export function listConfiguredAgents(options: AgentOptions | undefined): ConfiguredAgent[] {
  const { byRisk, rules, fallback, ...base } = options ?? {};
  const layers: [string, PartialAgentConfig][] = [['agent', base]];
  for (const [risk, layer] of Object.entries(byRisk ?? {})) if (layer) layers.push([`agent.byRisk.${risk}`, mergeAgentConfig(base, layer)]);
  (rules ?? []).forEach((r, i) => layers.push([`agent.rules[${i}].agent`, mergeAgentConfig(base, r.agent)]));
  if (fallback) layers.push(['agent.fallback', mergeAgentConfig(base, fallback)]);
  const out: ConfiguredAgent[] = [];
  for (const [where, layer] of layers) {
    const parsed = agentConfigSchema.safeParse(layer);
    // An incomplete layer (command without "command") is reported by routing for the tasks it reaches.
    if (!parsed.success || parsed.data.adapter === 'replay') continue;
    out.push({ where, config: parsed.data });
  }
  return out;
}

/**
 * The agents the given tasks route to (each with its fallback), one entry per distinct agent, listing its tasks.
 * Tasks whose agent settings are invalid are left out: the pipeline reports them with the manifest field. Pure.
 */
export function listTaskAgents(tasks: readonly Task[], options: AgentOptions | undefined): ConfiguredAgent[] {
  const byKey = new Map<string, ConfiguredAgent>();
  for (const task of tasks) {
    const r = resolveAgentConfig({ task, options });
    if (!r.ok || r.value.config.adapter === 'replay') continue;
    const key = `${getAgentKey(r.value.config)}\u0000${r.value.fallback ? getAgentKey(r.value.fallback) : ''}`;
    const entry = byKey.get(key);
    if (entry) entry.taskIds!.push(task.task_id);
    else {
      const where = getLayerPath(r.value.layers.at(-1)!, task.task_id);
      byKey.set(key, { where, config: r.value.config, ...(r.value.fallback ? { fallback: r.value.fallback } : {}), taskIds: [task.task_id] });
    }
  }
  return [...byKey.values()];
}

/** The option path of routing's most specific layer (`rules[2]` -> `agent.rules[2].agent`). Pure. */
function getLayerPath(layer: string, taskId: string): string {
  if (layer === 'base') return 'agent';
  if (layer === 'task.agent') return `task ${taskId} (manifest field "agent")`;
  if (layer.startsWith('rules[')) return `agent.${layer}.agent`;
  return `agent.${layer}`;
}

/** What makes two agent configs the same for the checks: program, flags and environment. Pure. */
export function getAgentKey(config: AgentConfig): string {
  const flags = isCliAdapter(config.adapter) ? getInvocationFlags(config) : { helpArgs: [], flags: [] };
  return JSON.stringify([config.adapter, getAgentBin(config), flags.flags, Object.entries(config.env ?? {}).sort()]);
}

const SAMPLE_CONTEXT: InvocationContext = {
  taskId: 'DOCTOR--T01',
  runId: 'doctor',
  cwd: '/tmp/vtm-doctor',
  workspaceRoot: '/tmp/vtm-doctor',
  prompt: 'doctor',
  promptFile: '/tmp/vtm-doctor/prompt.md',
  taskFile: '/tmp/vtm-doctor/task.json',
  resultFile: '/tmp/vtm-doctor/result.json',
  resultDir: '/tmp/vtm-doctor',
};

/**
 * The flags our argv passes to a CLI (first turn and repair turn, which adds the resume flags, configured `args`
 * included) and the arguments that print the help listing them: the subcommand our argv starts with (`codex exec`,
 * `opencode run`) followed by `--help`. Pure.
 */
export function getInvocationFlags(config: AgentConfig): { helpArgs: string[]; flags: string[] } {
  const adapter = PROCESS_ADAPTERS[config.adapter as CliName];
  const argvs = [adapter.buildInvocation(config, SAMPLE_CONTEXT).argv, adapter.buildInvocation(config, { ...SAMPLE_CONTEXT, resumeSessionId: 'session' }).argv];
  const first = argvs[0].slice(1);
  const sub: string[] = [];
  for (const a of first) {
    if (a.startsWith('-')) break;
    sub.push(a);
  }
  const flags = new Set<string>();
  for (const argv of argvs) {
    for (const a of argv.slice(1)) if (/^--?[A-Za-z]/.test(a)) flags.add(a.split('=')[0]);
  }
  return { helpArgs: [...sub, '--help'], flags: [...flags] };
}

/** The flags a `--help` text lists (`-p, --print`, `--model <model>`, `[--json]`...). Pure. */
export function parseHelpFlags(help: string): Set<string> {
  const out = new Set<string>();
  for (const m of help.matchAll(/(?:^|[\s,/[(|])(--?[A-Za-z0-9][\w-]*)/g)) out.add(m[1]);
  return out;
}

/** The first `x.y.z` in a `--version` output, or null. Pure. */
export const parseVersion = (output: string): string | null => /\d+\.\d+\.\d+/.exec(output)?.[0] ?? null;

/** Numeric comparison of `x.y.z` versions: negative when a < b. Pure. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** The answer of one probe process (`--version`, `--help`). */
export type ProbeOutput = { kind: 'ok'; output: string } | { kind: 'timeout'; afterMs: number } | { kind: 'error'; message: string };

/** What the I/O found for one agent. */
export interface AgentProbe {
  /** Absolute path of the program, or null when it is not found (on the agent's PATH, or as a path). */
  resolved: string | null;
  /** `<bin> --version`; absent for adapter command (a user's program is never started by a check). */
  version?: ProbeOutput;
  /** `<bin> [subcommand] --help`; absent for adapter command. */
  help?: ProbeOutput;
  /** Credential sources found outside the environment: login files, a config naming its key variable. */
  credentialFiles: string[];
  /** Key variables a CLI's own config names (codex `env_key`), checked in the agent's environment. */
  configuredKeyVars: string[];
}

export type CheckLevel = 'ok' | 'warn' | 'fail';

/** The verdict for one agent. */
export interface AgentCheck {
  where: string;
  adapter: string;
  bin: string;
  /** Where the binary was found, or null. */
  path: string | null;
  /** The binary is not found or not executable: the case in which routing's `fallback` runs instead. */
  unavailable: boolean;
  level: CheckLevel;
  version: string | null;
  /** The tested range as text (`2.1.197`, or `1.2.0 - 1.3.9`); null for adapter command. */
  tested: string | null;
  /** Flags of our argv checked against `--help`, and those the help does not list. */
  flags: { checked: string[]; unknown: string[] };
  /** Where credentials were found (a variable name or a file), or null. */
  credentials: string | null;
  /**
   * The line saying no credentials were found (also in `failures`, or in `warnings` for opencode), or null. A run
   * treats it as a warning: keys can live where no check sees them (macOS keychain, a helper script), and a CLI
   * without credentials fails fast and is not retried.
   */
  credentialProblem: string | null;
  /** Manifest tasks routed to this agent (run preconditions only). */
  taskIds?: string[];
  /** Why the agent cannot run and what to do, one line each (level `fail` when any). */
  failures: string[];
  /** What may go wrong (untested version, a probe that timed out), one line each. */
  warnings: string[];
}

const rangeText = (t: { min: string; max: string }) => (t.min === t.max ? t.min : `${t.min} - ${t.max}`);

/** The verdict for one agent from what was probed. `env` is the environment the run inherits. Pure. */
export function buildAgentCheck(agent: ConfiguredAgent, probe: AgentProbe, env: Record<string, string | undefined>): AgentCheck {
  const { config, where } = agent;
  const bin = getAgentBin(config);
  const fails: string[] = [];
  const warns: string[] = [];
  const base = { where, adapter: config.adapter, bin, path: probe.resolved, unavailable: !probe.resolved, ...(agent.taskIds ? { taskIds: agent.taskIds } : {}) };
  const field = config.adapter === 'command' ? `${where}.command[0]` : `${where}.bin`;
  // A fallback is worth suggesting unless there is one already, or this is it.
  const suggestFallback = !agent.fallback && where !== 'agent.fallback';

  if (!isCliAdapter(config.adapter)) {
    if (!probe.resolved) {
      fails.push(
        `${where}: command '${bin}' is not found (${bin.includes('/') ? 'no such executable file' : 'not on PATH'}); install it or fix ${field}${suggestFallback ? ', or configure agent.fallback' : ''}`,
      );
    }
    return { ...base, level: fails.length ? 'fail' : 'ok', version: null, tested: null, flags: { checked: [], unknown: [] }, credentials: null, credentialProblem: null, failures: fails, warnings: warns };
  }

  const cli = config.adapter;
  const tested = TESTED_AGENT_CLIS[cli];
  const install = `install it with \`npm install -g ${tested.pkg}@${tested.version}\`, set ${field}${suggestFallback ? ', or configure agent.fallback' : ''}`;
  let version: string | null = null;
  if (!probe.resolved) {
    fails.push(`${where}: ${cli} binary '${bin}' is not found (${bin.includes('/') ? 'no such executable file' : 'not on PATH'}); ${install}`);
  } else if (probe.version?.kind === 'error') {
    fails.push(`${where}: ${cli} binary '${probe.resolved}' does not start (${probe.version.message}); ${install}`);
  } else if (probe.version?.kind === 'timeout') {
    warns.push(`${where}: \`${bin} --version\` gave no answer within ${Math.round(probe.version.afterMs / 1000)} s (a loaded machine?); version and flags not checked`);
  } else if (probe.version?.kind === 'ok') {
    version = parseVersion(probe.version.output);
    if (!version) {
      warns.push(`${where}: ${cli} printed no version ("${probe.version.output.trim().slice(0, 60)}"); tested ${rangeText(tested)}`);
    } else if (compareVersions(version, tested.min) < 0 || compareVersions(version, tested.max) > 0) {
      warns.push(`${where}: ${cli} ${version} is outside the tested range ${rangeText(tested)}; flags and output may differ (docs/agents.md, "Tested versions")`);
    }
  }

  const { flags, helpArgs } = getInvocationFlags(config);
  const unknown: string[] = [];
  if (probe.resolved && probe.version?.kind === 'ok') {
    if (probe.help?.kind === 'ok') {
      const listed = parseHelpFlags(probe.help.output);
      for (const f of flags) if (!listed.has(f) && !HIDDEN_FLAGS[cli].includes(f)) unknown.push(f);
      if (unknown.length > 0) {
        fails.push(
          `${where}: ${cli}${version ? ` ${version}` : ''} does not list ${unknown.map((f) => `'${f}'`).join(', ')} in \`${bin} ${helpArgs.join(' ')}\`, and our argv passes ${unknown.length > 1 ? 'them' : 'it'} (from ${where}.args or the adapter): install the tested ${tested.version}, or remove the flag from ${where}.args`,
        );
      }
    } else if (probe.help?.kind === 'timeout') {
      warns.push(`${where}: \`${bin} --help\` gave no answer within ${Math.round(probe.help.afterMs / 1000)} s; flags not checked`);
    } else if (probe.help?.kind === 'error') {
      warns.push(`${where}: \`${bin} --help\` failed (${probe.help.message}); flags not checked`);
    }
  }

  const merged = { ...env, ...config.env };
  const set = (v: string) => (merged[v] ?? '') !== '';
  const credentials =
    AUTH_ENV[cli].find(set) ?? probe.configuredKeyVars.find(set) ?? probe.credentialFiles[0] ?? null;
  let credentialProblem: string | null = null;
  if (!credentials) {
    const vars = [...probe.configuredKeyVars, ...AUTH_ENV[cli].slice(0, 2)];
    credentialProblem = `${where}: no ${cli} credentials found: set ${vars.join(' or ')} (in the environment or ${where}.env), or log in with \`${cli === 'opencode' ? `${bin} auth login` : bin}\` once`;
    // opencode's providers and their keys live in its own config, which can hold a key itself: not provable absent.
    (cli === 'opencode' ? warns : fails).push(credentialProblem);
  }
  const level: CheckLevel = fails.length ? 'fail' : warns.length ? 'warn' : 'ok';
  return { ...base, level, version, tested: rangeText(tested), flags: { checked: flags, unknown }, credentials, credentialProblem, failures: fails, warnings: warns };
}

/** What stops a run: the failures except missing credentials (a warning for runs, see `credentialProblem`). Pure. */
export const getRunFailures = (c: AgentCheck): string[] => c.failures.filter((f) => f !== c.credentialProblem);

/**
 * Whether the tasks' agents can run: an agent with run failures blocks its tasks unless it is missing and its fallback
 * can run. Returns the message of a `BLOCKED::AGENT-UNAVAILABLE` refusal, or null when every task has an agent that
 * can run. Pure.
 */
export function buildAgentBlocker(entries: readonly { agent: AgentCheck; fallback?: AgentCheck }[]): string | null {
  const lines: string[] = [];
  for (const { agent, fallback } of entries) {
    const failures = getRunFailures(agent);
    if (failures.length === 0) continue;
    // The fallback runs only when the binary is missing (run-agent.ts); a flag the CLI rejects is not fixed by it.
    if (fallback && agent.unavailable && getRunFailures(fallback).length === 0) continue;
    const tasks = agent.taskIds ? ` (tasks ${agent.taskIds.slice(0, 5).join(', ')}${agent.taskIds.length > 5 ? ', ...' : ''})` : '';
    lines.push(...failures.map((p) => `  - ${p}${tasks}`));
    if (fallback && agent.unavailable) lines.push(...getRunFailures(fallback).map((p) => `  - ${p}`));
  }
  if (lines.length === 0) return null;
  return `BLOCKED::AGENT-UNAVAILABLE: an agent the tasks route to cannot run here; no task was started (check with \`npx nx-vtm doctor\`):\n${lines.join('\n')}`;
}
