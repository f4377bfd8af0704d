/**
 * The demo repository's own files before any task ran: the package, the documents the tasks cite as required
 * reading, and the manifest. The recorder (record.js) builds the recordings on exactly these files, and demo.js
 * creates the demo repository from them, so a recorded patch always fits the repository it is replayed in.
 */
const fs = require('node:fs');
const path = require('node:path');

/** Where the manifest goes in the demo repository (the plugin's default location). */
const MANIFEST_PATH = 'docs/backlog/virtual-task-manifest.json';
/** Folder of the demo repository holding the recordings the replay agent applies (committed there). */
const RECORDINGS_DIR = 'recordings';

const SPEC = `# text-utils

A tiny text library, built task by task by coding agents (the nx-vtm demo).

- \`slugify(text)\`: URL-friendly form of a text (\`'Hello World'\` -> \`'hello-world'\`).
- \`countWords(text)\`: number of whitespace-separated words.
- A validated configuration (\`{ maxLength }\`, see ADR-0001) with defaults.
- A command line: \`node src/cli.js slug <text>\`, \`node src/cli.js words <text>\`.

Code is CommonJS without dependencies; every module has a \`node:test\` test under \`test/\`.
`;

const ADR = `# ADR-0001: Configuration is validated at load time

## Status
Accepted.

## Decision
\`loadConfig\` checks every option when the configuration is loaded and throws a \`TypeError\` naming the option.
Unknown options are errors, not ignored, so that a misspelt option is reported instead of silently having no effect.

## Consequences
Commands receive a frozen, valid configuration and never check it again.
`;

const README = `# text-utils (nx-vtm demo)

A tiny library built task by task by coding agents, planned in
[docs/backlog/virtual-task-manifest.json](${MANIFEST_PATH}).

This repository is disposable: \`npm run demo -- --fresh\` in the nx-vtm repository recreates it.

The "agent" of this demo is the \`replay\` adapter: it applies the recorded patch \`${RECORDINGS_DIR}/<task_id>.patch\`
of each task (after the delay in \`<task_id>.json\`), so the demo is deterministic, free and offline. Everything else
is the real thing: scheduling, worktrees, scope audits, verification with \`node --test\`, commits and merges.

\`\`\`bash
npx nx run-many -t implement --projects=slice-1.1   # run a slice
npx nx show project CONFIG_SCHEMA--T01              # one task's targets
npm test                                            # the library's own tests
\`\`\`
`;

/** The repository's files (path -> text or JSON value), without the recordings. */
function getRepoFiles({ manifest }) {
  return {
    'package.json': {
      name: 'text-utils',
      version: '0.0.0',
      private: true,
      description: 'A tiny text library, built by coding agents through nx-vtm (demo).',
      main: 'src/index.js',
      // Explicit folder: a bare `node --test` also runs test files inside .vtm/worktrees/ (kept worktrees of blocked tasks).
      scripts: { test: 'node --test test/' },
    },
    'README.md': README,
    'docs/specs/text-utils.md': SPEC,
    'docs/adr/0001-config-validation.md': ADR,
    [MANIFEST_PATH]: manifest,
  };
}

/** The demo's manifest, as committed in tools/demo/manifest.json. */
function readManifest() {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'manifest.json'), 'utf8'));
}

module.exports = { MANIFEST_PATH, RECORDINGS_DIR, getRepoFiles, readManifest };
