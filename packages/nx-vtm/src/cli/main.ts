#!/usr/bin/env node
/**
 * `nx-vtm` command line: day-to-day operation beside `nx` (status, worktrees, reset, abandon, report) and the help
 * pages of the inferred targets (used by `nx show project` target help). `nx-vtm help` lists the commands.
 */
import { EXIT_FAILURE, systemCliIo } from './cli-io';
import { runCli } from './run-cli';

runCli({ argv: process.argv.slice(2), cwd: process.cwd(), io: systemCliIo }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // Only bugs get here (expected failures are results): show the stack, it is what a bug report needs.
    process.stderr.write(`nx-vtm: internal error: ${(e as Error)?.stack ?? String(e)}\nPlease report it with the command line you ran.\n`);
    process.exitCode = EXIT_FAILURE;
  },
);
