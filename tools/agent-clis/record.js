#!/usr/bin/env node
/**
 * Re-record what the real agent CLIs print, for the parser specs, when a CLI updates:
 *
 *   node tools/agent-clis/record.js [cli...] [--case name...] [--out DIR]
 *
 * For each CLI and case: a fresh folder (a git repo the CLI was never told to trust, like a task worktree), the
 * scripted model server playing the case, the CLI started with exactly the argv our adapter builds (and PWD set to the
 * folder, as our process runner does), and its stdout written to
 * packages/nx-vtm/src/agents/__fixtures__/recorded/<cli>/real-<case>.jsonl (stderr and exit code in
 * real-<case>.meta.json). It prints the outcome our parser gives, so a changed CLI shows up as a changed line here
 * and a failing spec next to the recording. docs/agents.md, "Re-recording when a CLI updates", lists the cases.
 */
'use strict';
require('../ts-register');
const { spawn, execFileSync } = require('node:child_process');
const { mkdirSync, mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { ensureAgentClis } = require('./install');
const { startModelServer, geminiQuotaError } = require('./model-server');
const { prepareCliHome } = require('./cli-env');
const { PROCESS_ADAPTERS } = require('../../packages/nx-vtm/src/agents/adapters');

const REPO = resolve(__dirname, '../..');
const REPORT = (taskId) =>
  '```json\n' +
  JSON.stringify({ task_id: taskId, status: 'completed', acs_completed: ['AC01'], acs_remaining: [], files_modified: ['src/out.js'], blockers: [] }) +
  '\n```';

/**
 * The cases: `scenario(cwd, cli)` is what the model server plays (see model-server.js); `only` the CLIs it applies to;
 * `auth: 'oauth'` a Claude subscriber; `settings[cli]` that CLI's own configuration on top of cli-env.js's (merged
 * into its settings file, or Codex's config.toml lines and execpolicy rules); `config[cli]` agent options for our
 * adapter's argv (args, permissionMode, maxBudgetUsd, ...).
 */
const CASES = {
  write: { scenario: (cwd) => ({ write: { path: join(cwd, 'src/out.js'), relPath: 'src/out.js', content: 'module.exports = 1;' }, finalText: REPORT('REC--T01') }) },
  'http-401': { scenario: () => ({ error: { status: 401, message: 'invalid x-api-key' } }) },
  'http-429': { scenario: () => ({ error: { status: 429, message: 'Rate limit reached. Please retry in 2.5s.', headers: { 'retry-after': '3' } } }) },
  'http-500': { scenario: () => ({ error: { status: 500, message: 'Internal server error' } }) },
  // Claude as a subscriber: the limit headers carry the reset time.
  'session-limit': {
    only: ['claude'],
    auth: 'oauth',
    scenario: () => ({
      error: {
        status: 429,
        message: 'Rate limited',
        headers: {
          'anthropic-ratelimit-unified-status': 'rejected',
          'anthropic-ratelimit-unified-reset': String(Math.floor(Date.parse('2026-12-02T10:16:00Z') / 1000)),
          'anthropic-ratelimit-unified-representative-claim': 'five_hour',
        },
      },
    }),
  },
  // A usage limit with a reset time, as each API sends it. Codex: a 429 whose body has type usage_limit_reached and
  // the reset time. Gemini: RESOURCE_EXHAUSTED with a RetryInfo delay (general.maxAttempts 1 makes it final at
  // once). opencode: the API's message, passed on after its own five quick retries (retry-after-ms 100).
  'usage-limit': {
    only: ['codex', 'gemini', 'opencode'],
    scenario: (cwd, cli) => ({
      error: {
        codex: {
          status: 429,
          type: 'usage_limit_reached',
          message: 'The usage limit has been reached',
          extra: { plan_type: 'plus', resets_at: Math.floor(Date.now() / 1000) + 3600, resets_in_seconds: 3600 },
        },
        gemini: geminiQuotaError(8),
        opencode: { status: 429, message: 'Rate limit reached for requests. Please try again in 8s.' },
      }[cli],
    }),
  },
  // A tool call the CLI's permission settings refuse: a shell command Claude's acceptEdits mode does not allow, a
  // command opencode's `bash: "ask"` auto-rejects headless, a command Codex's execpolicy forbids, a shell command
  // Gemini's auto_edit mode does not approve.
  permission: {
    scenario: () => ({ bash: 'npm test', finalText: REPORT('REC--T01') }),
    settings: {
      codex: { rules: 'prefix_rule(pattern = ["npm"], decision = "forbidden")\n' },
      gemini: { policies: '[[rule]]\ntoolName = "run_shell_command"\ncommandPrefix = "npm"\ndecision = "deny"\npriority = 500\ndenyMessage = "npm is not allowed here"\n' },
    },
    // Gemini offers no shell tool in auto_edit headless: in yolo mode its policy engine refuses the call instead.
    config: { gemini: { permissionMode: 'yolo' } },
  },
  // Limits on one run: Claude's --max-turns and --max-budget-usd, Gemini's model.maxSessionTurns (exit 53).
  'max-turns': { only: ['claude'], scenario: (cwd) => CASES.write.scenario(cwd), config: { claude: { args: ['--max-turns', '1'] } } },
  budget: { only: ['claude'], scenario: (cwd) => CASES.write.scenario(cwd), config: { claude: { maxBudgetUsd: 0.001 } } },
  'turn-limit': {
    only: ['gemini', 'opencode'],
    scenario: (cwd) => CASES.write.scenario(cwd),
    settings: { gemini: { model: { maxSessionTurns: 1 } }, opencode: { agent: { build: { steps: 1 } } } },
  },
};

async function recordOne(cli, key, { outDir, bins }) {
  const c = CASES[key];
  const name = key;
  const work = mkdtempSync(join(tmpdir(), `vtm-rec-${cli}-`));
  const cwd = join(work, 'repo');
  mkdirSync(join(cwd, 'src'), { recursive: true });
  execFileSync('git', ['init', '-q', cwd]);
  const server = await startModelServer({ maxRequests: 40, maxSeconds: 120, scenario: c.scenario(cwd, cli) });
  try {
    const { env, model } = prepareCliHome(cli, { dir: join(work, 'cli'), serverUrl: server.url, auth: c.auth, settings: c.settings?.[cli] });
    const adapter = PROCESS_ADAPTERS[cli];
    const resultDir = join(work, 'result');
    mkdirSync(resultDir);
    const ctx = { taskId: 'REC--T01', runId: 'rec', cwd, workspaceRoot: cwd, prompt: 'Create src/out.js.', promptFile: join(resultDir, 'prompt.md'), taskFile: join(resultDir, 'task.json'), resultFile: join(resultDir, 'result.json'), resultDir };
    const inv = adapter.buildInvocation({ adapter: cli, bin: bins[cli], model, promptVia: 'stdin', env, ...c.config?.[cli] }, ctx);
    const started = Date.now();
    const { stdout, stderr, code, signal } = await new Promise((done) => {
      // PWD as the plugin's runner sets it: opencode takes an inherited PWD as its project folder.
    const child = spawn(inv.argv[0], inv.argv.slice(1), { cwd, env: { ...process.env, ...inv.env, PWD: cwd }, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
      child.on('close', (code, signal) => { clearTimeout(timer); done({ stdout: out, stderr: err, code, signal }); });
      child.stdin.end(inv.stdin ?? '');
    });
    const durationMs = Date.now() - started;
    // Machine-specific paths become placeholders, so recordings are stable and the specs can map them back.
    const scrub = (s) => s.split(cwd).join('/work/ws').split(work).join('/tmp/rec').split(REPO).join('/repo');
    const dir = join(outDir, cli);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `real-${name}.jsonl`), scrub(stdout));
    writeFileSync(join(dir, `real-${name}.meta.json`), `${JSON.stringify({ cli, case: name, exitCode: code, signal, durationMs, requests: server.requests.length, stderrTail: scrub(stderr).split('\n').filter(Boolean).slice(-15) }, null, 2)}\n`);
    const parser = adapter.createParser({ now: new Date(), cwd, model });
    for (const l of stdout.split('\n')) parser.push(l, 'stdout');
    for (const l of stderr.split('\n')) parser.push(l, 'stderr');
    const o = parser.finish({ exitCode: code, signal, timedOut: false, stalled: false, durationMs });
    console.log(`${cli} ${name}: exit ${code} in ${(durationMs / 1000).toFixed(1)} s, ${server.requests.length} requests -> ${o.status}${o.transient ? ' (transient)' : ''}${o.resetAt ? ` reset ${o.resetAt}` : ''}: ${o.reason}`);
    return { o, server };
  } finally {
    await server.close();
    if (!process.env.KEEP) rmSync(work, { recursive: true, force: true });
    else console.log(`kept ${work}`);
  }
}

async function main() {
  const args = process.argv.slice(2);
  const clis = args.filter((a) => !a.startsWith('--') && PROCESS_ADAPTERS[a]);
  const cases = [];
  let outDir = join(REPO, 'packages/nx-vtm/src/agents/__fixtures__/recorded');
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--case') cases.push(args[++i]);
    if (args[i] === '--out') outDir = resolve(args[++i]);
  }
  const { bins } = ensureAgentClis();
  for (const cli of clis.length ? clis : ['claude', 'codex', 'gemini', 'opencode']) {
    for (const name of cases.length ? cases : Object.keys(CASES)) {
      if (CASES[name].only && !CASES[name].only.includes(cli)) continue;
      await recordOne(cli, name, { outDir, bins });
    }
  }
}

module.exports = { CASES, recordOne };
if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
