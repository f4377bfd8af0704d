import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAKE_AGENT_BIN_DIR, ensureFakeAgentsExecutable } from '../../agents/__fixtures__/fake-agents';
import { agentConfigSchema } from '../../agents/config';
import {
  checkAgents,
  checkGit,
  checkNode,
  checkStateStore,
  createCachedPort,
  defaultEnvironmentPort,
  findCredentialFiles,
  type EnvironmentPort,
} from '../../runtime/environment-checks';
import { openTaskStore } from '../../state/task-store';
import { makeCliWorkspace, type CliWorkspaceFixture } from '../test-support/cli-workspace';

// Real CLI processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(60_000);

let bins: string;
beforeAll(() => {
  ensureFakeAgentsExecutable();
  bins = mkdtempSync(join(tmpdir(), 'vtm-doctor-'));
  // A CLI that never answers: the probe's timeout must be a warning, not a failure (gemini takes 12-17 s under load).
  writeFileSync(join(bins, 'slow-claude'), '#!/bin/sh\nsleep 30\n');
  chmodSync(join(bins, 'slow-claude'), 0o755);
});
afterAll(() => rmSync(bins, { recursive: true, force: true }));

const claude = join(FAKE_AGENT_BIN_DIR, 'claude');
/** The workspace's nx: checkNx reads its package.json (a real install is not needed to read a version). */
const withNx = (ws: CliWorkspaceFixture) => {
  mkdirSync(join(ws.root, 'node_modules/nx'), { recursive: true });
  writeFileSync(join(ws.root, 'node_modules/nx/package.json'), JSON.stringify({ name: 'nx', version: '24.0.0' }));
  return ws;
};

describe('environment checks (real processes, real files)', () => {
  it('probes each binary once per run: agents sharing a CLI share its --version and --help', async () => {
    const calls: string[] = [];
    const counting: EnvironmentPort = { ...defaultEnvironmentPort, runProbe: (argv, env, t) => (calls.push(argv.join(' ')), defaultEnvironmentPort.runProbe(argv, env, t)) };
    const port = createCachedPort(counting);
    const config = agentConfigSchema.parse({ adapter: 'claude', bin: claude, env: { ANTHROPIC_API_KEY: 'k' } });
    const checks = await checkAgents({
      agents: [
        { where: 'agent', config },
        { where: 'agent.byRisk.High', config: { ...config, model: 'opus' } },
      ],
      env: process.env,
      cwd: bins,
      port,
    });
    expect(checks.map((c) => c.agent.level)).toEqual(['ok', 'ok']);
    expect(checks[0].agent.flags.checked).toEqual(expect.arrayContaining(['-p', '--output-format', '--permission-mode', '--resume']));
    expect(calls.sort()).toEqual([`${claude} --help`, `${claude} --version`]);
  });

  it('keeps answers in the run folder, so the next executor of the run does not probe again', async () => {
    const runDir = join(bins, 'run-1');
    const config = agentConfigSchema.parse({ adapter: 'claude', bin: claude, env: { ANTHROPIC_API_KEY: 'k' } });
    await checkAgents({ agents: [{ where: 'agent', config }], env: process.env, cwd: bins, port: createCachedPort(defaultEnvironmentPort, { runDir }) });
    const never: EnvironmentPort = { ...defaultEnvironmentPort, runProbe: () => Promise.reject(new Error('probed again')) };
    const [again] = await checkAgents({ agents: [{ where: 'agent', config }], env: process.env, cwd: bins, port: createCachedPort(never, { runDir }) });
    expect(again.agent).toMatchObject({ level: 'ok', version: '2.1.197' });
  });

  it('reports a CLI that does not answer in time as a warning, with the time waited', async () => {
    const config = agentConfigSchema.parse({ adapter: 'claude', bin: join(bins, 'slow-claude'), env: { ANTHROPIC_API_KEY: 'k' } });
    const started = Date.now();
    const [c] = await checkAgents({ agents: [{ where: 'agent', config }], env: process.env, cwd: bins, port: defaultEnvironmentPort, timeoutMs: 1000 });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(c.agent).toMatchObject({ level: 'warn', version: null });
    expect(c.agent.warnings[0]).toContain('--version` gave no answer within 1 s');
  });

  it("reads the key variable a codex config names (a custom provider's env_key), login files and login records", () => {
    const home = join(bins, 'codex-home');
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, 'config.toml'), 'model_provider = "mock"\n[model_providers.mock]\nenv_key = "SCRIPTED_OPENAI_KEY"\n');
    expect(findCredentialFiles('codex', { CODEX_HOME: home }, defaultEnvironmentPort)).toEqual({ credentialFiles: [], configuredKeyVars: ['SCRIPTED_OPENAI_KEY'] });
    writeFileSync(join(home, 'auth.json'), '{}');
    expect(findCredentialFiles('codex', { CODEX_HOME: home }, defaultEnvironmentPort).credentialFiles).toEqual([join(home, 'auth.json')]);
    // Claude's subscriber login (the keychain on macOS) is recorded as oauthAccount; a key helper in its settings.
    const claudeDir = join(bins, 'claude-config');
    mkdirSync(claudeDir, { recursive: true });
    expect(findCredentialFiles('claude', { CLAUDE_CONFIG_DIR: claudeDir }, defaultEnvironmentPort).credentialFiles).toEqual([]);
    writeFileSync(join(claudeDir, '.claude.json'), JSON.stringify({ oauthAccount: { emailAddress: 'a@b.c' } }));
    writeFileSync(join(claudeDir, 'settings.json'), JSON.stringify({ apiKeyHelper: '~/bin/get-key.sh' }));
    expect(findCredentialFiles('claude', { CLAUDE_CONFIG_DIR: claudeDir }, defaultEnvironmentPort).credentialFiles).toEqual([
      `${join(claudeDir, '.claude.json')} (oauthAccount)`,
      `${join(claudeDir, 'settings.json')} (apiKeyHelper)`,
    ]);
    // Gemini logged in with Google (not an API key): its settings name the auth type.
    const gemHome = join(bins, 'gem-home');
    mkdirSync(join(gemHome, '.gemini'), { recursive: true });
    writeFileSync(join(gemHome, '.gemini/settings.json'), JSON.stringify({ security: { auth: { selectedType: 'gemini-api-key' } } }));
    expect(findCredentialFiles('gemini', { HOME: gemHome }, defaultEnvironmentPort).credentialFiles).toEqual([]);
    writeFileSync(join(gemHome, '.gemini/settings.json'), JSON.stringify({ security: { auth: { selectedType: 'oauth-personal' } } }));
    expect(findCredentialFiles('gemini', { HOME: gemHome }, defaultEnvironmentPort).credentialFiles).toEqual([`${join(gemHome, '.gemini/settings.json')} (auth type)`]);
  });

  it('checks git (version, worktrees), Node, and the state store (opens, quick check, writable)', async () => {
    const ws = makeCliWorkspace();
    try {
      const git = await checkGit({ workspaceRoot: ws.root, env: process.env, port: defaultEnvironmentPort });
      expect(git).toMatchObject({ name: 'git', level: 'ok', problems: [] });
      expect(git.detail).toMatch(/^\d+\.\d+\.\d+ at \//);
      const notRepo = await checkGit({ workspaceRoot: bins, env: process.env, port: defaultEnvironmentPort });
      expect(notRepo.level).toBe('fail');
      expect(notRepo.problems[0]).toContain('`git worktree list` fails in');
      expect(checkNode('20.20.2').level).toBe('ok');
      expect(checkNode('18.19.0')).toMatchObject({ level: 'fail', problems: ['Node 18.19.0 is older than 20.19.0; upgrade Node'] });
      openTaskStore({ workspaceRoot: ws.root, stateFile: 'docs/backlog/task-state.json' }).close();
      expect(checkStateStore({ workspaceRoot: ws.root })).toMatchObject({ level: 'ok', detail: expect.stringContaining('quick check ok') });
      writeFileSync(join(ws.root, '.vtm/state.db'), 'not a database, definitely not sqlite');
      const broken = checkStateStore({ workspaceRoot: ws.root });
      expect(broken.level).toBe('fail');
      expect(broken.problems[0]).toMatch(/^\.vtm\/state\.db (cannot be opened|fails SQLite's quick check)/);
    } finally {
      ws.cleanup();
    }
  });
});

describe('nx-vtm doctor', () => {
  let ws: CliWorkspaceFixture;
  afterEach(() => ws.cleanup());

  it('prints one line per agent and per tool, and exits 0 when all can run', async () => {
    ws = withNx(makeCliWorkspace({ pluginOptions: { agent: { adapter: 'claude', bin: claude, env: { ANTHROPIC_API_KEY: 'k' } } } }));
    const r = await ws.runCli(['doctor']);
    expect(r.stdout).toContain(`  ok   agent: claude (${claude}) 2.1.197 (tested 2.1.197), flags: 5 ok, credentials: ANTHROPIC_API_KEY`);
    expect(r.stdout).toMatch(/ {2}ok {3}git: \d+\.\d+\.\d+ at /);
    expect(r.stdout).toContain(`  ok   node: ${process.versions.node}`);
    expect(r.stdout).toContain('  ok   nx: 24.0.0 at ');
    expect(r.stdout).toContain('  ok   state-store: .vtm/state.db');
    expect(r.stdout).toContain('nx-vtm doctor: every configured agent can run');
    expect(r.code).toBe(0);
  });

  it('exits 1 and says what to do when the fallback cannot run; --json has the same checks', async () => {
    ws = withNx(
      makeCliWorkspace({
        pluginOptions: { agent: { adapter: 'claude', bin: claude, env: { ANTHROPIC_API_KEY: 'k' }, fallback: { adapter: 'opencode', bin: join(bins, 'nope') } } },
      }),
    );
    const r = await ws.runCli(['doctor']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `  FAIL agent.fallback: opencode (${join(bins, 'nope')}) - (tested 1.18.33), credentials: ANTHROPIC_API_KEY\n       agent.fallback: opencode binary '${join(bins, 'nope')}' is not found (no such executable file); install it with \`npm install -g opencode-ai@1.18.33\`, set agent.fallback.bin`,
    );
    const j = await ws.runCli(['doctor', '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({
      ok: false,
      agents: [
        { where: 'agent', level: 'ok' },
        { where: 'agent.fallback', level: 'fail', unavailable: true },
      ],
      tools: [{ name: 'git' }, { name: 'node' }, { name: 'nx', level: 'ok' }, { name: 'state-store' }],
    });
  });

  it('names a flag the installed version does not list, an untested version and missing credentials', async () => {
    ws = withNx(
      makeCliWorkspace({
        pluginOptions: {
          agent: {
            adapter: 'claude',
            bin: claude,
            env: { ANTHROPIC_API_KEY: 'k', FAKE_AGENT_VERSION: '2.0.9 (Claude Code)' },
            rules: [{ match: { tags: ['x'] }, agent: { adapter: 'codex', bin: join(FAKE_AGENT_BIN_DIR, 'codex'), args: ['--fast-mode'] } }],
          },
        },
      }),
    );
    const r = await ws.runCli(['doctor', '--timeout', '20']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('  WARN agent: claude');
    expect(r.stdout).toContain('agent: claude 2.0.9 is outside the tested range 2.1.197');
    expect(r.stdout).toContain("agent.rules[0].agent: codex 2.0.9 does not list '--fast-mode' in `");
    expect(r.stdout).toContain('agent.rules[0].agent: no codex credentials found: set OPENAI_API_KEY or CODEX_API_KEY');
  });

  it('checks a command agent by finding its program, without starting it', async () => {
    ws = withNx(makeCliWorkspace({ pluginOptions: { agent: { adapter: 'command', command: ['tools/my-agent.sh'] } } }));
    const r = await ws.runCli(['doctor', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).agents).toEqual([
      expect.objectContaining({ where: 'agent', adapter: 'command', level: 'fail', failures: [expect.stringContaining("command 'tools/my-agent.sh' is not found (no such executable file)")] }),
    ]);
    expect((await ws.runCli(['doctor', '--timeout', 'soon'])).code).toBe(2);
  });
});
