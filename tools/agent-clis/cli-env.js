/**
 * Per-CLI wiring to the scripted model server (see model-server.js): a private home/config folder for each CLI,
 * telemetry and auto-update off, the CLI's own retries turned down so error cases take seconds, and the environment
 * that points the CLI at 127.0.0.1. Used by the real-CLI e2e suite and by record.js. Facts measured on the pinned
 * versions (docs/agents.md, "Tested versions").
 */
'use strict';
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

/** The model each CLI is run with: a slug its catalog knows (Codex offers no apply_patch tool for unknown slugs). */
const MODELS = { claude: 'claude-sonnet-4-5', codex: 'gpt-5.5', gemini: 'gemini-2.5-flash', opencode: 'mock/scripted-model' };

/** `extra` merged into `base`, objects key by key (for a case's settings on top of the defaults below). */
function deepMerge(base, extra) {
  if (!extra || typeof extra !== 'object' || Array.isArray(extra)) return extra === undefined ? base : extra;
  const out = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    out[k] = base && typeof base[k] === 'object' && !Array.isArray(base[k]) ? deepMerge(base[k], v) : v;
  }
  return out;
}

/**
 * Create `dir` with the CLI's config and return { env, model } for it. `auth: 'oauth'` makes Claude behave as a
 * subscriber (usage limits with reset times) instead of an API-key user. `settings` is a case's own configuration on
 * top of the defaults: merged into Claude's settings.json, Gemini's settings.json (`policies`: a policy TOML file)
 * and opencode.json; for Codex `{ toml: [lines], rules: '<execpolicy .rules text>' }`.
 */
function prepareCliHome(cli, { dir, serverUrl, auth = 'key', settings }) {
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  const common = {
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local/share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_STATE_HOME: join(home, '.local/state'),
    NO_UPDATE_NOTIFIER: '1',
    DO_NOT_TRACK: '1',
  };
  switch (cli) {
    case 'claude': {
      const configDir = join(dir, 'claude');
      mkdirSync(configDir, { recursive: true });
      if (settings) writeFileSync(join(configDir, 'settings.json'), JSON.stringify(settings));
      const env = {
        ...common,
        ANTHROPIC_BASE_URL: serverUrl,
        CLAUDE_CONFIG_DIR: configDir,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_AUTOUPDATER: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
        // Default 10 retries with backoff ≈ 3 minutes per error case.
        CLAUDE_CODE_MAX_RETRIES: '0',
      };
      if (auth === 'oauth') Object.assign(env, { CLAUDE_CODE_OAUTH_TOKEN: 'scripted-oauth-token', ANTHROPIC_API_KEY: '' });
      else env.ANTHROPIC_API_KEY = 'sk-ant-scripted';
      return { env, model: MODELS.claude };
    }
    case 'codex': {
      const codexHome = join(dir, 'codex');
      mkdirSync(codexHome, { recursive: true });
      writeFileSync(
        join(codexHome, 'config.toml'),
        [
          `model = "${MODELS.codex}"`,
          'model_provider = "mock"',
          ...(settings?.toml ?? []),
          '[analytics]',
          'enabled = false',
          '[model_providers.mock]',
          'name = "scripted"',
          `base_url = "${serverUrl}/v1"`,
          'env_key = "SCRIPTED_OPENAI_KEY"',
          'wire_api = "responses"',
          'request_max_retries = 0',
          'stream_max_retries = 0',
          '',
        ].join('\n'),
      );
      if (settings?.rules) {
        mkdirSync(join(codexHome, 'rules'), { recursive: true });
        writeFileSync(join(codexHome, 'rules', 'default.rules'), settings.rules);
      }
      return { env: { ...common, CODEX_HOME: codexHome, SCRIPTED_OPENAI_KEY: 'sk-scripted' }, model: MODELS.codex };
    }
    case 'gemini': {
      mkdirSync(join(home, '.gemini'), { recursive: true });
      // `policies`: a policy-engine TOML file (~/.gemini/policies/), e.g. a rule denying a shell command.
      const { policies, ...geminiSettings } = settings ?? {};
      if (policies) {
        mkdirSync(join(home, '.gemini', 'policies'), { recursive: true });
        writeFileSync(join(home, '.gemini', 'policies', 'case.toml'), policies);
      }
      writeFileSync(
        join(home, '.gemini', 'settings.json'),
        JSON.stringify(
          deepMerge(
            {
              // Without it, GOOGLE_GEMINI_BASE_URL selects auth type "gateway", which 0.61 rejects (exit 41).
              security: { auth: { selectedType: 'gemini-api-key' } },
              // maxAttempts 1: Gemini's own retries of a 429 or 500 take minutes (10 attempts with backoff).
              general: { disableAutoUpdate: true, disableUpdateNag: true, maxAttempts: 1 },
              privacy: { usageStatisticsEnabled: false },
              telemetry: { enabled: false },
            },
            geminiSettings,
          ),
        ),
      );
      return {
        env: { ...common, GEMINI_API_KEY: 'scripted-key', GOOGLE_GEMINI_BASE_URL: serverUrl, GEMINI_CLI_NO_RELAUNCH: 'true' },
        model: MODELS.gemini,
      };
    }
    case 'opencode': {
      const configFile = join(dir, 'opencode.json');
      writeFileSync(
        configFile,
        JSON.stringify(deepMerge({
          $schema: 'https://opencode.ai/config.json',
          autoupdate: false,
          share: 'disabled',
          model: MODELS.opencode,
          provider: {
            mock: {
              npm: '@ai-sdk/openai-compatible',
              name: 'scripted',
              options: { baseURL: `${serverUrl}/v1`, apiKey: 'sk-scripted' },
              models: { 'scripted-model': { name: 'scripted', cost: { input: 1, output: 4, cache_read: 0.1 }, limit: { context: 200000, output: 8000 } } },
            },
          },
          permission: { edit: 'allow', bash: 'ask', webfetch: 'deny' },
        }, settings)),
      );
      return {
        env: {
          ...common,
          OPENCODE_CONFIG: configFile,
          OPENCODE_DISABLE_AUTOUPDATE: 'true',
          OPENCODE_DISABLE_MODELS_FETCH: 'true',
          OPENCODE_DISABLE_LSP_DOWNLOAD: 'true',
          // Without it, opencode npm-installs its default plugins into the fresh config folder at every start.
          OPENCODE_DISABLE_DEFAULT_PLUGINS: 'true',
          OPENCODE_DISABLE_CLAUDE_CODE: 'true',
          OPENCODE_DISABLE_EXTERNAL_SKILLS: 'true',
          OPENCODE_DISABLE_SHARE: 'true',
        },
        model: MODELS.opencode,
      };
    }
    default:
      throw new Error(`tools/agent-clis/cli-env.js: unknown CLI ${cli}`);
  }
}

module.exports = { prepareCliHome, MODELS };
