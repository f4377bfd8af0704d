/**
 * Stand-in coding agents for tests and demos: `claude`, `codex`, `gemini`, `opencode` (and `command-agent.js` for the
 * generic command adapter) speak each CLI's documented headless output format without any model.
 *
 * Behaviour, all through the environment:
 *   FAKE_AGENT_MODE        success (default) | partial | blocked | is_error | no_result | hang | chatty-hang |
 *                          rate_limit | budget | permission_denied | edit-out-of-scope | crash | auth | garbage
 *   FAKE_AGENT_MODES       JSON map task id -> mode (wins over FAKE_AGENT_MODE), for runs with many tasks
 *   FAKE_AGENT_FILES       comma-separated workspace-relative files to edit; default: the task's file_scope
 *                          (a directory entry "src/x/" becomes "src/x/<task_id>.txt")
 *   FAKE_AGENT_OUT_OF_SCOPE_FILE  file edited in edit-out-of-scope mode (default OUT_OF_SCOPE_<task_id>.txt)
 *   FAKE_AGENT_DELAY_MS    simulated work time before finishing
 *   FAKE_AGENT_RECORD_DIR  write <agent>-<task>.stdin.txt / .argv.json / .env.json there (what the agent received)
 *   FAKE_AGENT_LOG         append {"event":"start"|"end", agent, taskId, pid, at} lines (concurrency checks)
 *   FAKE_AGENT_PID_FILE    hang modes: write {"pid", "grandchild"} there after starting a grandchild
 *   FAKE_AGENT_VERSION     what `--version` prints (default: the tested version, as the real CLI prints it)
 * `--version` and `--help` answer like the real CLIs (the help lists the flags nx-vtm passes), so that
 * `nx-vtm doctor` and the run's agent preconditions accept the fakes.
 * The task comes from VTM_TASK_ID / VTM_TASK_FILE, as the adapters export them.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');

function readStdin() {
  try {
    return fs.readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

function loadTask() {
  const file = process.env.VTM_TASK_FILE;
  if (file && fs.existsSync(file)) {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      /* fall through */
    }
  }
  return { task_id: process.env.VTM_TASK_ID || 'UNKNOWN', acceptance_criteria: [], file_scope: [] };
}

function resolveMode(taskId) {
  if (process.env.FAKE_AGENT_MODES) {
    try {
      const modes = JSON.parse(process.env.FAKE_AGENT_MODES);
      if (modes[taskId]) return modes[taskId];
    } catch {
      /* ignore */
    }
  }
  return process.env.FAKE_AGENT_MODE || 'success';
}

function filesToEdit(task) {
  if (process.env.FAKE_AGENT_FILES) return process.env.FAKE_AGENT_FILES.split(',').map((s) => s.trim()).filter(Boolean);
  return (task.file_scope || []).map((entry) => (entry.endsWith('/') ? `${entry}${task.task_id}.txt` : entry));
}

function editFiles(root, files, agent, taskId) {
  for (const rel of files) {
    const abs = path.join(root, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.appendFileSync(abs, `// edited by fake ${agent} for ${taskId}\n`);
  }
  return files.map((rel) => path.join(root, rel));
}

function log(event, agent, taskId) {
  if (!process.env.FAKE_AGENT_LOG) return;
  fs.appendFileSync(
    process.env.FAKE_AGENT_LOG,
    `${JSON.stringify({ event, agent, taskId, pid: process.pid, at: Date.now() })}\n`,
  );
}

function record(agent, taskId, stdin) {
  const dir = process.env.FAKE_AGENT_RECORD_DIR;
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  const base = path.join(dir, `${agent}-${taskId}`);
  fs.writeFileSync(`${base}.stdin.txt`, stdin);
  fs.writeFileSync(`${base}.argv.json`, JSON.stringify(process.argv.slice(2)));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('VTM_')));
  fs.writeFileSync(`${base}.env.json`, JSON.stringify({ ...env, cwd: process.cwd() }));
}

function buildReport(task, status, files) {
  const acs = (task.acceptance_criteria || []).map((ac) => ac.id);
  const done = status === 'completed' ? acs : acs.slice(0, Math.floor(acs.length / 2));
  return {
    task_id: task.task_id,
    status,
    acs_completed: done,
    acs_remaining: acs.filter((id) => !done.includes(id)),
    files_modified: files,
    test_results: { total: acs.length, passing: done.length, failing: acs.length - done.length },
    blockers: status === 'blocked' ? ['Storage strategy not decided (ADR needed)'] : [],
    duration_minutes: 0,
  };
}

/** Start a grandchild in our process group and never finish: the runner must kill both. */
function hang(chatty, emit) {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  if (process.env.FAKE_AGENT_PID_FILE) {
    fs.writeFileSync(process.env.FAKE_AGENT_PID_FILE, JSON.stringify({ pid: process.pid, grandchild: child.pid }));
  }
  setInterval(() => {
    if (chatty) emit();
  }, 200);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Run a fake agent. `speak` is the per-CLI part: it gets the scenario and prints that CLI's format.
 * @param {string} agent
 * @param {(s: object) => void | Promise<void>} speak
 * @param {{ checkArgv?: (argv: string[]) => string | undefined, root?: (argv: string[]) => string }} [options]
 */
/** `--version` and `--help` of the tested versions (abridged to the flags nx-vtm's adapters pass). */
const CLI_FACES = {
  claude: {
    version: '2.1.197 (Claude Code)',
    help: ['-p, --print', '--output-format <format>', '--verbose', '--permission-mode <mode>', '--model <model>', '-r, --resume [value]', '--max-budget-usd <amount>', '--allowedTools, --allowed-tools <tools...>', '--add-dir <directories...>', '--append-system-prompt <prompt>'],
  },
  codex: { version: 'codex-cli 0.171.0', help: ['--json', '-s, --sandbox <SANDBOX_MODE>', '-C, --cd <DIR>', '-m, --model <MODEL>', '--skip-git-repo-check', '-o, --output-last-message <FILE>'] },
  gemini: { version: '0.61.0', help: ['-p, --prompt', '-o, --output-format', '--approval-mode', '--skip-trust', '-m, --model', '-r, --resume', '--include-directories'] },
  opencode: { version: '1.18.33', help: ['--format', '-m, --model', '-s, --session', '--agent'] },
};

async function main(agent, speak, options = {}) {
  const argv = process.argv.slice(2);
  const face = CLI_FACES[agent];
  if (face && argv.includes('--version')) {
    process.stdout.write(`${process.env.FAKE_AGENT_VERSION || face.version}\n`);
    return;
  }
  if (face && argv.includes('--help')) {
    process.stdout.write(`Usage: ${agent} [options] (nx-vtm test stand-in)\n\nOptions:\n${face.help.map((f) => `  ${f}`).join('\n')}\n`);
    return;
  }
  const problem = options.checkArgv ? options.checkArgv(argv) : undefined;
  if (problem) {
    process.stderr.write(`error: ${problem}\n`);
    process.exit(2);
  }
  const stdin = readStdin();
  const task = loadTask();
  const taskId = task.task_id;
  const mode = resolveMode(taskId);
  const root = options.root ? options.root(argv) : process.cwd();
  record(agent, taskId, stdin);
  log('start', agent, taskId);
  const delay = Number(process.env.FAKE_AGENT_DELAY_MS || 0);
  if (delay > 0) await sleep(delay);

  let files = [];
  let absFiles = [];
  if (mode === 'success' || mode === 'partial' || mode === 'blocked' || mode === 'edit-out-of-scope' || mode === 'permission_denied') {
    files = filesToEdit(task);
    if (mode === 'edit-out-of-scope') files.push(process.env.FAKE_AGENT_OUT_OF_SCOPE_FILE || `OUT_OF_SCOPE_${taskId}.txt`);
    absFiles = editFiles(root, files, agent, taskId);
  }
  const status = mode === 'partial' ? 'partial' : mode === 'blocked' ? 'blocked' : 'completed';
  const scenario = {
    mode,
    task,
    taskId,
    stdin,
    argv,
    root,
    files,
    absFiles,
    report: buildReport(task, status, files),
    hang: (chatty, emit) => hang(chatty, emit),
    print: (obj) => process.stdout.write(`${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n`),
    fail: (message, code) => {
      process.stderr.write(`${message}\n`);
      log('end', agent, taskId);
      process.exit(code);
    },
  };
  if (mode === 'crash') scenario.fail('fatal: something broke', 3);
  const exitCode = await speak(scenario);
  if (mode === 'hang' || mode === 'chatty-hang') return;
  log('end', agent, taskId);
  process.exitCode = exitCode || 0;
}

module.exports = { main };
