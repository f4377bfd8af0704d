/**
 * The checks of `nx-vtm doctor`, also run as the run's preconditions (so that a missing CLI blocks before any task is
 * claimed): the agents (see agents/doctor.ts for the verdicts), git, Node, nx and the state store.
 *
 * The verdicts are pure functions of what the probes found; the probes reach the world through `EnvironmentPort`.
 * Version and help probes run in parallel, each once per binary (memoized per process, and per run in the run's
 * folder), with a timeout that is reported as a warning: gemini's and opencode's `--version` take 12-17 s on a loaded
 * machine, which says nothing about whether they can run.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import writeFileAtomic from 'write-file-atomic';
import Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import {
  buildAgentCheck,
  compareVersions,
  getAgentBin,
  getInvocationFlags,
  isCliAdapter,
  parseVersion,
  type AgentCheck,
  type AgentProbe,
  type CheckLevel,
  type CliName,
  type ConfiguredAgent,
  type ProbeOutput,
} from '../agents/doctor';
import type { AgentConfig } from '../agents/config';
import { runProcess } from '../agents/process-runner';
import { TASK_STORE_DB } from '../state/task-store';
import { openCoordinatorDb, type CoordinatorConfig } from '../state/db/coordinator';

/** A probe gives up after this long (a warning, not a failure). */
export const DEFAULT_PROBE_TIMEOUT_MS = 30_000;

/** The world as the checks see it. */
export interface EnvironmentPort {
  /** Called once per agent: the absolute path of an executable `bin` (looked up on `env.PATH` when it has no "/", else resolved against `cwd`), or null. */
  findExecutable(bin: string, env: NodeJS.ProcessEnv, cwd: string): string | null;
  /** Called for each `--version` / `--help` probe (in parallel); never rejects. */
  runProbe(argv: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ProbeOutput>;
  /** Called to look for login and config files. */
  readText(path: string): string | undefined;
}

export const defaultEnvironmentPort: EnvironmentPort = {
  findExecutable(bin, env, cwd) {
    const candidates = bin.includes('/') ? [resolve(cwd, bin)] : (env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, bin));
    for (const c of candidates) {
      try {
        if (!statSync(c).isFile()) continue;
        accessSync(c, constants.X_OK);
        return c;
      } catch {
        // not here: the next PATH entry
      }
    }
    return null;
  },
  async runProbe(argv, env, timeoutMs) {
    const r = await runProcess({ argv, cwd: homedirOf(env), env, timeoutMs, killGraceMs: 1000, tailChars: 256 * 1024 });
    if (r.spawnError) return { kind: 'error', message: r.spawnError.code === 'EACCES' ? 'not executable' : r.spawnError.message };
    if (r.timedOut) return { kind: 'timeout', afterMs: timeoutMs };
    const output = `${r.stdoutTail}${r.stderrTail ? `\n${r.stderrTail}` : ''}`;
    if (r.exitCode !== 0 && !r.stdoutTail.trim()) {
      return { kind: 'error', message: `exit ${r.exitCode ?? r.signal}: ${r.stderrTail.trim().split('\n')[0]?.slice(0, 160) ?? ''}` };
    }
    return { kind: 'ok', output };
  },
  readText(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
};

// Probes run from the home folder: never inside the workspace, where a CLI could pick up project settings.
const homedirOf = (env: NodeJS.ProcessEnv) => (env.HOME && existsSync(env.HOME) ? env.HOME : homedir());

/**
 * Memoizes a port's probes: one `--version` and one `--help` per binary and arguments, shared by every agent using
 * it. With `cacheFile` (or `runDir`: `<runDir>/agent-probes.json`), successful answers are kept on disk keyed by the
 * binary's identity (its resolved path, size and modification time), so later executors and later runs do not start
 * the CLIs again (gemini takes 8-17 s to answer `--help`); an updated CLI is a new file and is probed afresh.
 */
export function createCachedPort(port: EnvironmentPort, { runDir, cacheFile }: { runDir?: string; cacheFile?: string } = {}): EnvironmentPort {
  const memo = new Map<string, Promise<ProbeOutput>>();
  const file = cacheFile ?? (runDir ? join(runDir, 'agent-probes.json') : undefined);
  const stored = (): Record<string, ProbeOutput> => {
    if (!file) return {};
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as Record<string, ProbeOutput>;
    } catch {
      return {};
    }
  };
  /** The binary as a file: a key that changes when the CLI is updated or replaced. Null: not found (never stored). */
  const identify = (bin: string, env: NodeJS.ProcessEnv): string | null => {
    try {
      const found = port.findExecutable(bin, env, homedirOf(env));
      if (!found) return null;
      const real = realpathSync(found);
      const st = statSync(real);
      return `${real}\u0000${st.size}\u0000${st.mtimeMs}`;
    } catch {
      return null;
    }
  };
  return {
    findExecutable: (bin, env, cwd) => port.findExecutable(bin, env, cwd),
    readText: (path) => port.readText(path),
    runProbe(argv, env, timeoutMs) {
      const key = argv.join('\u0000');
      const memoized = memo.get(key);
      if (memoized) return memoized;
      const identity = file ? identify(argv[0], env) : null;
      const diskKey = identity ? [identity, ...argv.slice(1)].join('\u0000') : undefined;
      const fromDisk = diskKey ? stored()[diskKey] : undefined;
      const p = fromDisk
        ? Promise.resolve(fromDisk)
        : port.runProbe(argv, env, timeoutMs).then((out) => {
            if (file && diskKey && out.kind === 'ok') {
              try {
                mkdirSync(dirname(file), { recursive: true });
                // Temp file + rename: a reader in another executor never sees half a file. A cache: no fsync.
                writeFileAtomic.sync(file, JSON.stringify({ ...stored(), [diskKey]: out }), { fsync: false });
              } catch {
                // a cache only: the next process probes again
              }
            }
            return out;
          });
      memo.set(key, p);
      return p;
    },
  };
}

/** Probe one agent: find it, then `--version` and `--help` in parallel (CLI adapters only), and its credential files. */
export async function probeAgent({
  config,
  env,
  cwd,
  port,
  timeoutMs = DEFAULT_PROBE_TIMEOUT_MS,
}: {
  config: AgentConfig;
  env: NodeJS.ProcessEnv;
  cwd: string;
  port: EnvironmentPort;
  timeoutMs?: number;
}): Promise<AgentProbe> {
  const agentEnv = { ...env, ...config.env };
  const resolved = port.findExecutable(getAgentBin(config), agentEnv, cwd);
  const probe: AgentProbe = { resolved, credentialFiles: [], configuredKeyVars: [] };
  if (!isCliAdapter(config.adapter)) return probe;
  Object.assign(probe, findCredentialFiles(config.adapter, agentEnv, port));
  if (!resolved) return probe;
  const { helpArgs } = getInvocationFlags(config);
  const [version, help] = await Promise.all([
    port.runProbe([resolved, '--version'], agentEnv, timeoutMs),
    port.runProbe([resolved, ...helpArgs], agentEnv, timeoutMs),
  ]);
  return { ...probe, version, help };
}

/**
 * The CLI's own credential sources: login files, and key variables its config names (codex's `env_key` of a
 * provider in config.toml, as a custom provider uses). Never reads the secrets themselves beyond the key's name.
 */
export function findCredentialFiles(cli: CliName, env: NodeJS.ProcessEnv, port: EnvironmentPort): Pick<AgentProbe, 'credentialFiles' | 'configuredKeyVars'> {
  const home = env.HOME || homedir();
  const files: Record<CliName, string[]> = {
    claude: [join(env.CLAUDE_CONFIG_DIR || join(home, '.claude'), '.credentials.json')],
    codex: [join(env.CODEX_HOME || join(home, '.codex'), 'auth.json')],
    gemini: [join(home, '.gemini', 'oauth_creds.json')],
    opencode: [join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'opencode', 'auth.json')],
  };
  const credentialFiles = files[cli].filter((f) => port.readText(f) !== undefined);
  /** A config file whose text matches `pattern` (a login record or a key helper, never a secret itself). */
  const noteIf = (file: string, pattern: RegExp, what: string) => {
    if (pattern.test(port.readText(file) ?? '')) credentialFiles.push(`${file} (${what})`);
  };
  if (cli === 'claude') {
    // A subscriber login on macOS lives in the keychain; Claude Code records the account in .claude.json.
    noteIf(env.CLAUDE_CONFIG_DIR ? join(env.CLAUDE_CONFIG_DIR, '.claude.json') : join(home, '.claude.json'), /"oauthAccount"\s*:\s*\{/, 'oauthAccount');
    noteIf(join(env.CLAUDE_CONFIG_DIR || join(home, '.claude'), 'settings.json'), /"apiKeyHelper"\s*:\s*"[^"]+"/, 'apiKeyHelper');
  }
  if (cli === 'gemini') {
    noteIf(join(home, '.gemini', 'settings.json'), /"selectedType"\s*:\s*"(oauth-personal|vertex-ai|compute-default-credentials|cloud-shell)"/, 'auth type');
  }
  const configuredKeyVars: string[] = [];
  if (cli === 'codex') {
    const toml = port.readText(join(env.CODEX_HOME || join(home, '.codex'), 'config.toml')) ?? '';
    for (const m of toml.matchAll(/^\s*env_key\s*=\s*"([^"]+)"/gm)) configuredKeyVars.push(m[1]);
  }
  if (cli === 'opencode' && env.OPENCODE_CONFIG) {
    // A provider whose options carry an apiKey authenticates itself.
    const text = port.readText(env.OPENCODE_CONFIG) ?? '';
    if (/"apiKey"\s*:\s*"[^"]+"/.test(text)) credentialFiles.push(env.OPENCODE_CONFIG);
  }
  return { credentialFiles, configuredKeyVars };
}

/** Check agents in parallel (each distinct agent once); the fallback of each is checked too. */
export async function checkAgents({
  agents,
  env,
  cwd,
  port,
  timeoutMs,
}: {
  agents: readonly ConfiguredAgent[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  port: EnvironmentPort;
  timeoutMs?: number;
}): Promise<{ agent: AgentCheck; fallback?: AgentCheck }[]> {
  const check = async (a: ConfiguredAgent) => buildAgentCheck(a, await probeAgent({ config: a.config, env, cwd, port, timeoutMs }), env);
  return Promise.all(
    agents.map(async (a) => {
      const [agent, fallback] = await Promise.all([
        check(a),
        a.fallback ? check({ where: 'agent.fallback', config: a.fallback }) : Promise.resolve(undefined),
      ]);
      return fallback ? { agent, fallback } : { agent };
    }),
  );
}

/** One of the tools around the agents (git, Node, nx, the state store). */
export interface ToolCheck {
  name: 'git' | 'node' | 'nx' | 'state-store';
  level: CheckLevel;
  /** What was found, e.g. `2.39.5 at /usr/bin/git`. */
  detail: string;
  /** What is wrong and what to do; empty when ok. */
  problems: string[];
}

/** git worktree remove/prune and `worktree list --porcelain` (used by cleanup and reclaim) need git 2.17. */
export const MIN_GIT_VERSION = '2.17.0';

/** git: found, version, the workspace is a repository, and worktrees work there (`git worktree list`). */
export async function checkGit({ workspaceRoot, env, port }: { workspaceRoot: string; env: NodeJS.ProcessEnv; port: EnvironmentPort }): Promise<ToolCheck> {
  const path = port.findExecutable('git', env, workspaceRoot);
  if (!path) return { name: 'git', level: 'fail', detail: 'not found', problems: ['git is not on PATH; install git 2.17 or later'] };
  const v = await port.runProbe([path, '--version'], env, DEFAULT_PROBE_TIMEOUT_MS);
  const version = v.kind === 'ok' ? parseVersion(v.output) : null;
  const problems: string[] = [];
  if (version && compareVersions(version, MIN_GIT_VERSION) < 0) problems.push(`git ${version} is older than ${MIN_GIT_VERSION} (worktree remove/prune); upgrade git`);
  const wt = await port.runProbe([path, '-C', workspaceRoot, 'worktree', 'list', '--porcelain'], env, DEFAULT_PROBE_TIMEOUT_MS);
  if (wt.kind === 'error') problems.push(`\`git worktree list\` fails in ${workspaceRoot} (${wt.message}); run nx-vtm in a git repository (git init, one commit)`);
  return { name: 'git', level: problems.length ? 'fail' : 'ok', detail: `${version ?? 'unknown version'} at ${path}`, problems };
}

/** The Node version against the package's engines (`>=20.19`). */
export function checkNode(nodeVersion = process.versions.node): ToolCheck {
  const min = '20.19.0';
  const ok = compareVersions(nodeVersion, min) >= 0;
  return { name: 'node', level: ok ? 'ok' : 'fail', detail: nodeVersion, problems: ok ? [] : [`Node ${nodeVersion} is older than ${min}; upgrade Node`] };
}

/** The workspace's nx package: installed, and the major version the plugin is built for (peerDependencies). */
export function checkNx({ workspaceRoot, port }: { workspaceRoot: string; port: EnvironmentPort }): ToolCheck {
  let file: string;
  try {
    file = createRequire(join(workspaceRoot, 'package.json')).resolve('nx/package.json');
  } catch {
    return { name: 'nx', level: 'fail', detail: 'not installed', problems: [`nx is not installed in ${workspaceRoot}; run \`npm install -D nx@24\``] };
  }
  const version = (JSON.parse(port.readText(file) ?? '{}') as { version?: string }).version ?? 'unknown';
  const major = Number(version.split('.')[0]);
  const problems = major === 24 ? [] : [`nx ${version} is not the supported 24.x (peerDependencies of nx-vtm); the plugin may not load`];
  return { name: 'nx', level: problems.length ? 'warn' : 'ok', detail: `${version} at ${dirname(file)}`, problems };
}

/**
 * The state store: `.vtm/state.db` opens read-only and passes SQLite's quick check, and `.vtm/` (or the workspace
 * root, before the first run) is writable. A store that does not exist yet is fine.
 */
export function checkStateStore({ workspaceRoot, coordinator }: { workspaceRoot: string; coordinator?: CoordinatorConfig }): ToolCheck {
  if (coordinator?.type === 'postgres') return checkSharedCoordinator(coordinator);
  const db = isAbsolute(TASK_STORE_DB) ? TASK_STORE_DB : join(workspaceRoot, TASK_STORE_DB);
  const dir = existsSync(dirname(db)) ? dirname(db) : workspaceRoot;
  const problems: string[] = [];
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    problems.push(`${dir} is not writable; the task store cannot record claims (fix its permissions)`);
  }
  let detail = `${TASK_STORE_DB} (not created yet)`;
  if (existsSync(db)) {
    try {
      const conn = new Database(db, { readonly: true, fileMustExist: true });
      try {
        const rows = conn.pragma('quick_check') as { quick_check: string }[];
        const tables = (conn.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
        if (rows[0]?.quick_check !== 'ok') problems.push(`${TASK_STORE_DB} fails SQLite's quick check (${rows[0]?.quick_check}); see docs/troubleshooting.md, "state store"`);
        detail = `${TASK_STORE_DB} (${tables} tables, ${problems.length ? 'damaged' : 'quick check ok'})`;
      } finally {
        conn.close();
      }
    } catch (e) {
      problems.push(`${TASK_STORE_DB} cannot be opened: ${(e as Error).message}`);
    }
  }
  return { name: 'state-store', level: problems.length ? 'fail' : 'ok', detail, problems };
}

/**
 * A shared PostgreSQL coordinator (docs/teams.md): it can be reached with this machine's `url` (or its environment
 * variable), and its clock, which judges every machine's leases, is close to this machine's (rate-limit pauses end at
 * times the agents report, read by each machine's clock).
 */
function checkSharedCoordinator(coordinator: Extract<CoordinatorConfig, { type: 'postgres' }>): ToolCheck {
  try {
    const db = openCoordinatorDb({ coordinator, sqliteFile: '', busyTimeoutMs: 5_000 });
    try {
      const before = Date.now();
      const server = db.now?.() ?? before;
      const offset = server - Math.round((before + Date.now()) / 2);
      const problems =
        Math.abs(offset) > 5_000
          ? [`this machine's clock is ${Math.round(offset / 1000)} s away from the coordinator database's; keep clocks in sync (NTP): rate-limit pauses end by each machine's clock`]
          : [];
      return { name: 'state-store', level: problems.length ? 'warn' : 'ok', detail: `${db.location}, server clock ${offset >= 0 ? '+' : ''}${offset} ms`, problems };
    } finally {
      db.close();
    }
  } catch (e) {
    return { name: 'state-store', level: 'fail', detail: `postgres (namespace ${coordinator.namespace})`, problems: [(e as Error).message] };
  }
}
