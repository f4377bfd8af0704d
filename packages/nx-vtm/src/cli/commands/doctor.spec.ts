import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentOptionsSchema } from '../../agents/config';
import { TESTED_AGENT_CLIS, buildAgentCheck, listConfiguredAgents, probeAgentBinary } from '../../agents/doctor';
import { makeCliWorkspace, type CliWorkspaceFixture } from '../test-support/cli-workspace';

// Real CLI processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(60_000);

let bins: string;
beforeAll(() => {
  bins = mkdtempSync(join(tmpdir(), 'vtm-doctor-'));
  // Stand-ins that answer --version like the real CLIs do (real processes, no shell string from config).
  const fake = (name: string, out: string) => {
    writeFileSync(join(bins, name), `#!/bin/sh\necho "${out}"\n`);
    chmodSync(join(bins, name), 0o755);
  };
  fake('claude', '2.1.197 (Claude Code)');
  fake('codex-old', 'codex-cli 0.160.0');
});
afterAll(() => rmSync(bins, { recursive: true, force: true }));

describe('agent checks', () => {
  it('pins the versions the real-CLI suite installs (tools/agent-clis/package.json)', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../../../../tools/agent-clis/package.json'), 'utf8'));
    for (const c of Object.values(TESTED_AGENT_CLIS)) expect(pkg.dependencies[c.pkg]).toBe(c.version);
  });

  it('lists every agent the options can route to: base, byRisk, rules and fallback', () => {
    const options = agentOptionsSchema.parse({
      adapter: 'claude',
      bin: '/opt/claude',
      byRisk: { High: { model: 'opus' } },
      rules: [{ match: { tags: ['ui'] }, agent: { adapter: 'codex' } }, { match: { tags: ['x'] }, agent: { adapter: 'command', command: ['node', 'a.js'] } }],
      fallback: { adapter: 'gemini', bin: 'gem' },
    });
    expect(listConfiguredAgents(options).map((a) => [a.where, a.adapter, a.bin])).toEqual([
      ['agent', 'claude', '/opt/claude'],
      ['agent.byRisk.High', 'claude', '/opt/claude'],
      ['agent.rules[0].agent', 'codex', 'codex'], // another adapter does not inherit claude's bin
      ['agent.fallback', 'gemini', 'gem'],
    ]);
  });

  it('fails a missing binary or missing credentials, warns on an untested version, with what to do', async () => {
    const agent = { where: 'agent', adapter: 'codex' as const, bin: 'codex-not-installed-here', env: {} };
    const missing = buildAgentCheck(agent, { ...(await probeAgentBinary(agent.bin, process.env)), loggedIn: false }, { OPENAI_API_KEY: 'k' });
    expect(missing).toMatchObject({ level: 'fail', version: null });
    expect(missing.problems[0]).toContain("binary 'codex-not-installed-here' does not start (not found on PATH); install it with `npm install -g @openai/codex@0.171.0`");

    const old = { ...agent, bin: join(bins, 'codex-old') };
    const warn = buildAgentCheck(old, { ...(await probeAgentBinary(old.bin, process.env)), loggedIn: false }, { OPENAI_API_KEY: 'k' });
    expect(warn).toMatchObject({ level: 'warn', version: '0.160.0', credentials: 'OPENAI_API_KEY' });

    const noKey = buildAgentCheck({ ...old, env: { CODEX_API_KEY: '' } }, { versionOutput: 'codex-cli 0.171.0', loggedIn: false }, {});
    expect(noKey).toMatchObject({ level: 'fail', credentials: null });
    expect(noKey.problems[0]).toContain('set OPENAI_API_KEY or CODEX_API_KEY');
    // agent.env or a login file is enough.
    expect(buildAgentCheck({ ...old, env: { CODEX_API_KEY: 'k' } }, { versionOutput: 'codex-cli 0.171.0', loggedIn: false }, {}).level).toBe('ok');
    expect(buildAgentCheck(old, { versionOutput: 'codex-cli 0.171.0', loggedIn: true }, {}).credentials).toBe('login file');
  });
});

describe('nx-vtm doctor', () => {
  let ws: CliWorkspaceFixture;
  afterEach(() => ws.cleanup());

  it('prints one line per agent and exits 0 when all can run', async () => {
    ws = makeCliWorkspace({ pluginOptions: { agent: { adapter: 'claude', bin: join(bins, 'claude'), env: { ANTHROPIC_API_KEY: 'k' } } } });
    const r = await ws.runCli(['doctor']);
    expect(r.stdout).toContain('ok   agent: claude');
    expect(r.stdout).toContain('2.1.197 (tested 2.1.197), credentials: ANTHROPIC_API_KEY');
    expect(r.code).toBe(0);
  });

  it('exits 1 and says what to do when the fallback cannot run; --json has the same checks', async () => {
    ws = makeCliWorkspace({
      pluginOptions: { agent: { adapter: 'claude', bin: join(bins, 'claude'), env: { ANTHROPIC_API_KEY: 'k' }, fallback: { adapter: 'opencode', bin: join(bins, 'nope') } } },
    });
    const r = await ws.runCli(['doctor']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL agent\.fallback: opencode .* does not start \(not found\); install it with `npm install -g opencode-ai@1\.18\.33`/s);
    const j = await ws.runCli(['doctor', '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, agents: [{ where: 'agent', level: 'ok' }, { where: 'agent.fallback', level: 'fail' }] });
  });
});
