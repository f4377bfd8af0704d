/**
 * `nx-vtm doctor` against the four real CLIs (Claude Code 2.1.197, Codex 0.171.0, Gemini CLI 0.61.0, opencode
 * 1.18.33, installed by tools/agent-clis/install.js), each with its own home and config (tools/agent-clis/cli-env.js):
 * their versions are read from `--version`, every flag our adapters pass is found in their real `--help`, and
 * credentials are found or missed through the environment and the CLIs' own config. No model is called: no server
 * runs here, the CLIs are pointed at a closed port.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestWorkspace, type TestWorkspace } from '../support/workspace';

import { ensureAgentClis, MODELS, prepareCliHome, type Cli } from '../support/agent-clis';

const CLIS: Cli[] = ['claude', 'codex', 'gemini', 'opencode'];
// Key variables of the machine running the suite must not make "missing" pass.
const KEY_VARS = ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_AUTH_TOKEN', 'OPENAI_API_KEY', 'CODEX_API_KEY', 'GEMINI_API_KEY', 'GOOGLE_API_KEY', 'GOOGLE_APPLICATION_CREDENTIALS'];

// gemini and opencode take 8-17 s for --version on a loaded 2-core machine; the probes run in parallel.
jest.setTimeout(300_000);

let bins: Record<Cli, string>;
const dirs: string[] = [];
const workspaces: TestWorkspace[] = [];
beforeAll(() => {
  bins = ensureAgentClis({ log: () => undefined }).bins;
}, 900_000);
afterAll(() => {
  workspaces.forEach((w) => w.remove());
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** Each CLI's agent settings: its binary, model and private home; `withKey: false` takes its key away. */
function agentFor(cli: Cli, { withKey }: { withKey: boolean }) {
  const dir = join(tmpdir(), `vtm-doctor-real-${cli}-${process.pid}-${dirs.length}`);
  dirs.push(dir);
  const { env } = prepareCliHome(cli, { dir, serverUrl: 'http://127.0.0.1:9' });
  if (!withKey) for (const k of ['ANTHROPIC_API_KEY', 'SCRIPTED_OPENAI_KEY', 'GEMINI_API_KEY']) delete env[k];
  return { adapter: cli, bin: bins[cli], model: MODELS[cli], env };
}

function doctor(agent: Record<string, unknown>) {
  const ws = createTestWorkspace({ plugins: [{ plugin: 'nx-vtm', options: { agent } }], files: { 'docs/backlog/virtual-task-manifest.json': { status: 'OK', tasks: [] } } });
  workspaces.push(ws);
  const env: NodeJS.ProcessEnv = { ...process.env, NX_DAEMON: 'false', NO_COLOR: '1' };
  for (const k of KEY_VARS) delete env[k];
  const r = spawnSync(process.execPath, [join(ws.root, 'node_modules/nx-vtm/src/cli/main.js'), 'doctor', '--json', '--timeout', '120'], { cwd: ws.root, encoding: 'utf8', env, timeout: 280_000 });
  return { code: r.status, report: JSON.parse(r.stdout || '{}'), stderr: r.stderr };
}

describe('nx-vtm doctor against the real CLIs', () => {
  it('reads each version, finds every flag our argv passes in its --help, and finds the credentials its home provides', () => {
    const [claude, codex, gemini, opencode] = CLIS.map((cli) => agentFor(cli, { withKey: true }));
    const r = doctor({ ...claude, rules: [codex, gemini, opencode].map((agent, i) => ({ match: { tags: [`t${i}`] }, agent })) });
    const byAdapter = Object.fromEntries((r.report.agents as { adapter: string; flags: { checked: string[] } }[]).map((a) => [a.adapter, a]));
    expect(byAdapter).toMatchObject({
      claude: { level: 'ok', version: '2.1.197', flags: { unknown: [] }, credentials: 'ANTHROPIC_API_KEY' },
      // codex's key variable is the one its config.toml names for the custom provider.
      codex: { level: 'ok', version: '0.171.0', flags: { unknown: [] }, credentials: 'SCRIPTED_OPENAI_KEY' },
      gemini: { level: 'ok', version: '0.61.0', flags: { unknown: [] }, credentials: 'GEMINI_API_KEY' },
      opencode: { level: 'ok', version: '1.18.33', flags: { unknown: [] } },
    });
    // The flags really were checked against the help texts, resume flags of repair turns included.
    expect(byAdapter.claude.flags.checked).toEqual(expect.arrayContaining(['-p', '--output-format', '--verbose', '--permission-mode', '--model', '--resume']));
    expect(byAdapter.codex.flags.checked).toEqual(expect.arrayContaining(['--json', '--sandbox', '-C', '-m']));
    expect(byAdapter.gemini.flags.checked).toEqual(expect.arrayContaining(['-o', '--approval-mode', '--skip-trust', '-m', '--resume']));
    expect(byAdapter.opencode.flags.checked).toEqual(expect.arrayContaining(['--format', '-m', '--session']));
    expect(r.code).toBe(0);
  });

  it('fails a CLI without credentials and a flag the installed version does not know', () => {
    const claude = agentFor('claude', { withKey: false });
    const codex = { ...agentFor('codex', { withKey: false }), args: ['--no-such-flag'] };
    const r = doctor({ ...claude, rules: [{ match: { tags: ['x'] }, agent: codex }] });
    expect(r.code).toBe(1);
    const [c, x] = r.report.agents;
    expect(c).toMatchObject({ adapter: 'claude', level: 'fail', version: '2.1.197', credentials: null });
    expect(c.failures[0]).toContain('agent: no claude credentials found: set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN');
    expect(x).toMatchObject({ adapter: 'codex', level: 'fail', version: '0.171.0', flags: { unknown: ['--no-such-flag'] }, credentials: null });
    expect(x.failures.join('\n')).toContain("codex 0.171.0 does not list '--no-such-flag' in `");
    // The config still names its key variable: the remedy says which one to set.
    expect(x.failures.join('\n')).toContain('no codex credentials found: set SCRIPTED_OPENAI_KEY or OPENAI_API_KEY or CODEX_API_KEY');
  });
});
