import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { taskSchema, type TaskInput } from '../manifest/schema';
import { agentConfigSchema, agentOptionsSchema, type AgentOptionsInput } from './config';
import {
  TESTED_AGENT_CLIS,
  buildAgentBlocker,
  buildAgentCheck,
  compareVersions,
  getRunFailures,
  getInvocationFlags,
  listConfiguredAgents,
  listTaskAgents,
  parseHelpFlags,
  type AgentProbe,
  type ConfiguredAgent,
} from './doctor';

const options = (o: AgentOptionsInput) => agentOptionsSchema.parse(o);
const agent = (config: Record<string, unknown>, where = 'agent', extra: Partial<ConfiguredAgent> = {}): ConfiguredAgent => ({
  where,
  config: agentConfigSchema.parse(config),
  ...extra,
});
const makeTask = (id: string, over: Partial<TaskInput> & Record<string, unknown> = {}) =>
  taskSchema.parse({ task_id: id, title: id, description: 'd', risk: 'Medium', acceptance_criteria: [], ...over });

// Excerpts of the real help texts of the tested versions (claude --help, codex exec --help, opencode run --help).
const CLAUDE_HELP = `Usage: claude [options] [command] [prompt]
Claude Code - starts an interactive session by default, use -p/--print for
  --add-dir <directories...>            Additional directories
  --allowedTools, --allowed-tools <tools...>
  --max-budget-usd <amount>             Maximum dollar amount
  --model <model>                       Model for the current session
  --output-format <format>              Output format
  --permission-mode <mode>              Permission mode
  -r, --resume [value]                  Resume a conversation
  --verbose                             Override verbose mode`;
const CODEX_HELP = `Usage: codex exec [OPTIONS] [PROMPT]
  -m, --model <MODEL>
  -s, --sandbox <SANDBOX_MODE>
  -C, --cd <DIR>
      --json
          Print events to stdout as JSONL`;
const ok = (output: string) => ({ kind: 'ok' as const, output });
const probe = (over: Partial<AgentProbe> = {}): AgentProbe => ({
  resolved: '/usr/bin/x',
  version: ok('2.1.197 (Claude Code)'),
  help: ok(CLAUDE_HELP),
  credentialFiles: [],
  configuredKeyVars: [],
  ...over,
});

describe('which agents the configuration can route to', () => {
  it('pins the versions the real-CLI suite installs (tools/agent-clis/package.json)', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../../../tools/agent-clis/package.json'), 'utf8'));
    for (const c of Object.values(TESTED_AGENT_CLIS)) {
      expect(pkg.dependencies[c.pkg]).toBe(c.version);
      expect(compareVersions(c.min, c.version)).toBeLessThanOrEqual(0);
      expect(compareVersions(c.max, c.version)).toBeGreaterThanOrEqual(0);
    }
  });

  it('lists base, byRisk, rules and fallback, merged as routing merges them; replay starts nothing and is left out', () => {
    const agents = listConfiguredAgents(
      options({
        adapter: 'claude',
        bin: '/opt/claude',
        env: { A: '1' },
        byRisk: { High: { model: 'opus' } },
        rules: [
          { match: { tags: ['ui'] }, agent: { adapter: 'codex' } },
          { match: { tags: ['x'] }, agent: { adapter: 'command', command: ['node', 'a.js'] } },
          { match: { tags: ['r'] }, agent: { adapter: 'replay', replayDir: 'rec' } },
        ],
        fallback: { adapter: 'gemini', bin: 'gem' },
      }),
    );
    expect(agents.map((a) => [a.where, a.config.adapter, a.config.bin ?? a.config.command?.[0], a.config.env])).toEqual([
      ['agent', 'claude', '/opt/claude', { A: '1' }],
      ['agent.byRisk.High', 'claude', '/opt/claude', { A: '1' }],
      ['agent.rules[0].agent', 'codex', undefined, { A: '1' }], // another adapter does not inherit claude's bin
      ['agent.rules[1].agent', 'command', 'node', { A: '1' }],
      ['agent.fallback', 'gemini', 'gem', { A: '1' }],
    ]);
  });

  it('groups the tasks of a run by the agent they route to, with its fallback', () => {
    const o = options({ adapter: 'claude', rules: [{ match: { tags: ['ui'] }, agent: { adapter: 'codex' } }], fallback: { adapter: 'opencode' } });
    const agents = listTaskAgents([makeTask('A'), makeTask('B', { tags: ['ui'] }), makeTask('C')], o);
    expect(agents.map((a) => [a.where, a.config.adapter, a.fallback?.adapter, a.taskIds])).toEqual([
      ['agent', 'claude', 'opencode', ['A', 'C']],
      ['agent.rules[0].agent', 'codex', 'opencode', ['B']],
    ]);
  });
});

describe('the flags our argv passes', () => {
  it('come from the adapter (first turn and resumed turn) and agent.args, with the subcommand whose help lists them', () => {
    expect(getInvocationFlags(agentConfigSchema.parse({ adapter: 'claude', model: 'opus', args: ['--max-turns', '40'] }))).toEqual({
      helpArgs: ['--help'],
      flags: ['-p', '--output-format', '--verbose', '--permission-mode', '--model', '--max-turns', '--resume'],
    });
    expect(getInvocationFlags(agentConfigSchema.parse({ adapter: 'codex' }))).toEqual({ helpArgs: ['exec', '--help'], flags: ['--json', '--sandbox', '-C'] });
    expect(getInvocationFlags(agentConfigSchema.parse({ adapter: 'opencode' })).helpArgs).toEqual(['run', '--help']);
    expect(getInvocationFlags(agentConfigSchema.parse({ adapter: 'gemini' })).flags).toContain('--skip-trust');
  });

  it('are read from help texts in the styles of commander, clap and yargs', () => {
    const claude = parseHelpFlags(CLAUDE_HELP);
    for (const f of ['-p', '--print', '--allowedTools', '--allowed-tools', '--resume', '-r', '--verbose']) expect(claude.has(f)).toBe(true);
    expect(claude.has('--max-turns')).toBe(false);
    const codex = parseHelpFlags(CODEX_HELP);
    for (const f of ['-C', '--json', '--sandbox', '-m']) expect(codex.has(f)).toBe(true);
    expect(parseHelpFlags('  -m, --model        model to use   [string]').has('-m')).toBe(true);
  });
});

describe('the verdict for one agent', () => {
  const claude = agent({ adapter: 'claude', model: 'opus' });
  const env = { ANTHROPIC_API_KEY: 'k' };

  it('ok: found, tested version, every flag listed (claude hides --max-turns: known, accepted), a key in the environment', () => {
    const c = buildAgentCheck(agent({ adapter: 'claude', args: ['--max-turns', '40'] }), probe(), env);
    expect(c).toMatchObject({ level: 'ok', version: '2.1.197', tested: '2.1.197', credentials: 'ANTHROPIC_API_KEY', failures: [], warnings: [] });
    expect(c.flags.unknown).toEqual([]);
  });

  it('fails a binary that is not found, naming the field and the install command', () => {
    const c = buildAgentCheck(agent({ adapter: 'codex', bin: 'codex-nope' }, 'agent.fallback'), probe({ resolved: null, version: undefined, help: undefined }), { OPENAI_API_KEY: 'k' });
    expect(c).toMatchObject({ level: 'fail', unavailable: true, version: null });
    expect(c.failures).toEqual([
      "agent.fallback: codex binary 'codex-nope' is not found (not on PATH); install it with `npm install -g @openai/codex@0.171.0`, set agent.fallback.bin",
    ]);
  });

  it('fails a binary that does not start, and a flag its help does not list', () => {
    expect(buildAgentCheck(claude, probe({ version: { kind: 'error', message: 'exit 1: boom' } }), env).failures[0]).toContain("binary '/usr/bin/x' does not start (exit 1: boom)");
    const c = buildAgentCheck(agent({ adapter: 'claude', args: ['--no-such-flag=1'] }), probe(), env);
    expect(c.level).toBe('fail');
    expect(c.flags.unknown).toEqual(['--no-such-flag']);
    expect(c.failures[0]).toContain("claude 2.1.197 does not list '--no-such-flag' in `claude --help`, and our argv passes it");
  });

  it('warns (never fails) on a version outside the tested range and on probes that timed out', () => {
    const old = buildAgentCheck(claude, probe({ version: ok('2.0.1 (Claude Code)') }), env);
    expect(old).toMatchObject({ level: 'warn', version: '2.0.1' });
    expect(old.warnings[0]).toContain('claude 2.0.1 is outside the tested range 2.1.197');
    const slow = buildAgentCheck(claude, probe({ version: { kind: 'timeout', afterMs: 30_000 }, help: { kind: 'timeout', afterMs: 30_000 } }), env);
    expect(slow).toMatchObject({ level: 'warn', version: null });
    expect(slow.warnings).toEqual(['agent: `claude --version` gave no answer within 30 s (a loaded machine?); version and flags not checked']);
    expect(buildAgentCheck(claude, probe({ help: { kind: 'timeout', afterMs: 5000 } }), env).warnings[0]).toContain('`claude --help` gave no answer within 5 s; flags not checked');
  });

  it('finds credentials in the environment, agent.env, a key variable the CLI config names, or a login file; else fails', () => {
    const codex = agent({ adapter: 'codex' });
    const codexProbe = probe({ version: ok('codex-cli 0.171.0'), help: ok(CODEX_HELP) });
    expect(buildAgentCheck(codex, codexProbe, {}).failures).toEqual([
      'agent: no codex credentials found: set OPENAI_API_KEY or CODEX_API_KEY (in the environment or agent.env), or log in with `codex` once',
    ]);
    expect(buildAgentCheck(agent({ adapter: 'codex', env: { CODEX_API_KEY: 'k' } }), codexProbe, {}).credentials).toBe('CODEX_API_KEY');
    expect(buildAgentCheck(codex, { ...codexProbe, configuredKeyVars: ['MY_KEY'] }, { MY_KEY: 'k' }).credentials).toBe('MY_KEY');
    expect(buildAgentCheck(codex, { ...codexProbe, configuredKeyVars: ['MY_KEY'] }, {}).failures[0]).toContain('set MY_KEY or OPENAI_API_KEY or CODEX_API_KEY');
    expect(buildAgentCheck(codex, { ...codexProbe, credentialFiles: ['/h/.codex/auth.json'] }, {})).toMatchObject({ level: 'ok', credentials: '/h/.codex/auth.json' });
    // An empty variable is no key (a subscriber setup blanks ANTHROPIC_API_KEY on purpose).
    expect(buildAgentCheck(claude, probe(), { ANTHROPIC_API_KEY: '' }).level).toBe('fail');
    // opencode may hold its key in its own config: a warning only.
    const oc = buildAgentCheck(agent({ adapter: 'opencode' }), probe({ version: ok('1.18.33'), help: ok('  -m, --model\n      --format\n  -s, --session') }), {});
    expect(oc).toMatchObject({ level: 'warn', credentials: null });
  });

  it('checks only that a command agent is found: a user program is never started by a check', () => {
    const cmd = agent({ adapter: 'command', command: ['tools/missing-agent.sh', '--x'] }, 'agent.rules[1].agent');
    const c = buildAgentCheck(cmd, { resolved: null, credentialFiles: [], configuredKeyVars: [] }, {});
    expect(c).toMatchObject({ level: 'fail', adapter: 'command', bin: 'tools/missing-agent.sh', tested: null });
    expect(c.failures).toEqual([
      "agent.rules[1].agent: command 'tools/missing-agent.sh' is not found (no such executable file); install it or fix agent.rules[1].agent.command[0], or configure agent.fallback",
    ]);
    expect(buildAgentCheck(cmd, { resolved: '/w/tools/missing-agent.sh', credentialFiles: [], configuredKeyVars: [] }, {}).level).toBe('ok');
  });
});

describe('the run precondition', () => {
  const missing = buildAgentCheck(agent({ adapter: 'command', command: ['nope'] }, 'agent', { taskIds: ['A', 'B'] }), { resolved: null, credentialFiles: [], configuredKeyVars: [] }, {});
  const fine = buildAgentCheck(agent({ adapter: 'command', command: ['node'] }, 'agent.fallback'), { resolved: '/usr/bin/node', credentialFiles: [], configuredKeyVars: [] }, {});

  it('blocks with BLOCKED::AGENT-UNAVAILABLE naming the agent, its tasks and the remedy', () => {
    expect(buildAgentBlocker([{ agent: missing }])).toBe(
      'BLOCKED::AGENT-UNAVAILABLE: an agent the tasks route to cannot run here; no task was started (check with `npx nx-vtm doctor`):\n' +
        "  - agent: command 'nope' is not found (not on PATH); install it or fix agent.command[0], or configure agent.fallback (tasks A, B)",
    );
  });

  it('lets a working fallback stand in for a missing binary, but not for a rejected flag (routing falls back only when the binary is missing)', () => {
    expect(buildAgentBlocker([{ agent: missing, fallback: fine }])).toBeNull();
    const badFlag = buildAgentCheck(agent({ adapter: 'claude', args: ['--nope'] }), probe(), { ANTHROPIC_API_KEY: 'k' });
    expect(buildAgentBlocker([{ agent: badFlag, fallback: fine }])).toContain("does not list '--nope'");
    expect(buildAgentBlocker([{ agent: fine }])).toBeNull();
  });

  it('does not block on missing credentials (a keychain or key helper can hold them where no check looks); doctor fails them', () => {
    const noKey = buildAgentCheck(agent({ adapter: 'claude' }), probe(), {});
    expect(noKey.level).toBe('fail');
    expect(noKey.credentialProblem).toContain('no claude credentials found');
    expect(getRunFailures(noKey)).toEqual([]);
    expect(buildAgentBlocker([{ agent: noKey }])).toBeNull();
  });
});
