/**
 * Minimal require hook so that child processes started by tests, benchmarks and the demo can run the plugin's
 * TypeScript sources directly:   node -r ./tools/ts-register.js some-child.ts
 * Transpile-only (no type check), CommonJS, ES2022, inline source maps, with the output cached on disk by file name
 * and content. Cross-process specs start 8 workers at once; with the plain hook each
 * of them loads TypeScript and transpiles the same store sources, about 1.4 s of CPU per process (measured), which
 * on a busy 2-core machine made process start-up most of a spec's time. With the cache warmed by one worker first,
 * the others load plain JavaScript. A changed source has a new key, so the cache can never serve stale code.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const CACHE_DIR = path.join(os.tmpdir(), 'nx-vtm-ts-cache');
// Reading the version is cheap; loading TypeScript itself only happens on a cache miss.
const TS_VERSION = require('typescript/package.json').version;
let ts;

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const key = crypto.createHash('sha256').update(`${TS_VERSION}\0${filename}\0${source}`).digest('hex');
  const cached = path.join(CACHE_DIR, `${key}.js`);
  let output;
  try {
    output = fs.readFileSync(cached, 'utf8');
  } catch {
    ts = ts || require('typescript');
    output = ts.transpileModule(source, {
      fileName: filename,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
        inlineSourceMap: true,
      },
    }).outputText;
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    // Write then rename: a concurrent reader sees the whole file or none.
    const temp = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(temp, output);
    fs.renameSync(temp, cached);
  }
  module._compile(output, filename);
};
