/**
 * The real agent CLIs' test tooling for the e2e suites: tools/agent-clis is plain CommonJS (shared with record.js),
 * required and typed here once instead of in every suite.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const install = require('../../tools/agent-clis/install.js');
const server = require('../../tools/agent-clis/model-server.js');
const cliEnv = require('../../tools/agent-clis/cli-env.js');

export type Cli = 'claude' | 'codex' | 'gemini' | 'opencode';

/** The scripted model server (tools/agent-clis/model-server.js) as the suites use it. */
export interface ModelServer {
  url: string;
  scenario: Record<string, unknown>;
  requests: { at: number; raw: string; path: string }[];
  overLimit: boolean;
  close(): Promise<void>;
}

export const ensureAgentClis: (options?: { log?: (line: string) => void }) => { dir: string; binDir: string; bins: Record<Cli, string> } = install.ensureAgentClis;
export const startModelServer: (options?: { maxRequests?: number; maxSeconds?: number; scenario?: Record<string, unknown> }) => Promise<ModelServer> = server.startModelServer;
export const geminiQuotaError: (...args: unknown[]) => Record<string, unknown> = server.geminiQuotaError;
export const prepareCliHome: (cli: Cli, options: Record<string, unknown>) => { env: Record<string, string>; model: string } = cliEnv.prepareCliHome;
export const MODELS: Record<Cli, string> = cliEnv.MODELS;
