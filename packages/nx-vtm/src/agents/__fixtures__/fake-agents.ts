/**
 * Helpers for tests (here and in the lead's e2e suites) that run the stand-in agents of `bin/` instead of real CLIs.
 *
 *   const config = agentConfigSchema.parse({ adapter: 'claude', env: fakeAgentEnv({ mode: 'success' }) });
 *
 * `fakeAgentEnv` puts `bin/` first on PATH, so the adapters' default binary names (`claude`, `codex`, `gemini`,
 * `opencode`) resolve to the fakes; `FAKE_AGENT_COMMAND` is the argv for the `command` adapter.
 */
import { chmodSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export const FAKE_AGENT_BIN_DIR = join(__dirname, 'bin');

/** argv of the fake agent for `adapter: "command"`. */
export const FAKE_AGENT_COMMAND = [process.execPath, join(FAKE_AGENT_BIN_DIR, 'command-agent.js')];

export const FAKE_AGENT_NAMES = ['claude', 'codex', 'gemini', 'opencode', 'command-agent.js'] as const;

export interface FakeAgentEnvOptions {
  /** success | partial | blocked | is_error | no_result | hang | chatty-hang | rate_limit | budget | permission_denied | edit-out-of-scope | crash | auth | garbage */
  mode?: string;
  /** Mode per task id (wins over `mode`). */
  modes?: Record<string, string>;
  /** Workspace-relative files to edit (default: the task's file_scope). */
  files?: string[];
  outOfScopeFile?: string;
  delayMs?: number;
  /** Folder where each fake records the stdin, argv and VTM_* environment it received. */
  recordDir?: string;
  /** File receiving one JSON line per agent start and end. */
  logFile?: string;
  /** hang modes: file receiving {"pid", "grandchild"}. */
  pidFile?: string;
  /** command agent: write the return JSON to $VTM_RESULT_FILE instead of stdout. */
  resultViaFile?: boolean;
  /** PATH to append after the fakes (default: this process's PATH, so `node` is found). */
  path?: string;
}

/** Environment for `agent.env` that selects the fakes and their behaviour. */
export function fakeAgentEnv(options: FakeAgentEnvOptions = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${FAKE_AGENT_BIN_DIR}${delimiter}${options.path ?? process.env.PATH ?? ''}`,
    // Credentials the run's agent preconditions look for (the fakes call no model).
    ANTHROPIC_API_KEY: 'fake-key',
    OPENAI_API_KEY: 'fake-key',
    GEMINI_API_KEY: 'fake-key',
  };
  if (options.mode) env.FAKE_AGENT_MODE = options.mode;
  if (options.modes) env.FAKE_AGENT_MODES = JSON.stringify(options.modes);
  if (options.files) env.FAKE_AGENT_FILES = options.files.join(',');
  if (options.outOfScopeFile) env.FAKE_AGENT_OUT_OF_SCOPE_FILE = options.outOfScopeFile;
  if (options.delayMs !== undefined) env.FAKE_AGENT_DELAY_MS = String(options.delayMs);
  if (options.recordDir) env.FAKE_AGENT_RECORD_DIR = options.recordDir;
  if (options.logFile) env.FAKE_AGENT_LOG = options.logFile;
  if (options.pidFile) env.FAKE_AGENT_PID_FILE = options.pidFile;
  if (options.resultViaFile) env.FAKE_AGENT_RESULT_VIA = 'file';
  return env;
}

/** Restore the executable bits (lost by some copies and archives); harmless when they are set. */
export function ensureFakeAgentsExecutable(): void {
  for (const name of FAKE_AGENT_NAMES) chmodSync(join(FAKE_AGENT_BIN_DIR, name), 0o755);
}
