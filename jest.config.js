/**
 * Two jest projects: `unit` (pure specs and plugin/generator specs on temp dirs, next to the code) and `e2e` (real
 * temporary Nx workspaces driven through the nx CLI with the built plugin, under e2e/).
 */
const tsJest = ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json' }];

/** @type {import('jest').Config} */
module.exports = {
  // Many unit specs start real processes (node, git, agents): jest's 5 s default made them timed tests that failed
  // under load (a clean-clone CI run at load 20: a 4 s stall/timeout spec ran out). A hang still fails, at 30 s.
  // (A global option: jest ignores it inside `projects`. e2e/support/setup.js sets the e2e suites' own.)
  testTimeout: 30_000,
  projects: [
    {
      displayName: 'unit',
      rootDir: __dirname,
      testEnvironment: 'node',
      // dist/ holds a second package.json named nx-vtm (haste collision); tmp/ holds demo and bench workspaces.
      modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/tmp/'],
      testMatch: ['<rootDir>/packages/**/*.spec.ts', '<rootDir>/tools/**/*.spec.ts'],
      transform: { '^.+\\.ts$': tsJest },
      moduleFileExtensions: ['ts', 'js', 'json'],
    },
    {
      displayName: 'e2e',
      rootDir: __dirname,
      testEnvironment: 'node',
      // dist/ holds a second package.json named nx-vtm (haste collision); tmp/ holds demo and bench workspaces.
      modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/tmp/'],
      testMatch: ['<rootDir>/e2e/**/*.e2e.ts'],
      globalSetup: '<rootDir>/e2e/support/global-setup.js',
      transform: { '^.+\\.ts$': tsJest },
      moduleFileExtensions: ['ts', 'js', 'json'],
      setupFilesAfterEnv: ['<rootDir>/e2e/support/setup.js'],
    },
  ],
};
