/**
 * Minimal require hook so that child processes started by tests can run the plugin's TypeScript sources directly:
 *   node -r ./tools/ts-register.js some-child.ts
 * Transpile-only (no type check), CommonJS, inline source maps. Used by tests that need real separate processes
 * (cross-process state races, crash/kill tests) without depending on a prior build.
 */
const fs = require('node:fs');
const ts = require('typescript');

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { outputText } = ts.transpileModule(source, {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      inlineSourceMap: true,
    },
  });
  module._compile(outputText, filename);
};
