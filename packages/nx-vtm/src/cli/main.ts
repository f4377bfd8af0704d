#!/usr/bin/env node
/**
 * `nx-vtm` command line: help for the inferred targets (used by `nx show project` target help) and workspace
 * maintenance commands.
 */
const HELP: Record<string, string> = {
  implement: `nx-vtm implement target

Runs a coding agent on one task of the Virtual Task Manifest. The target is inferred by the nx-vtm plugin for every
task; its options (taskId, manifest, taskHash) come from the manifest and are not written by hand.

  nx run <TASK_ID>:implement                      one task (and, first, the tasks it depends on)
  nx run-many -t implement --projects=slice-1.1    every task of a slice, in dependency order
  nx run-many -t implement --projects=tag:vtm:risk:low

Scheduling: at most wipLimit (default 3) tasks in progress across every nx process of the workspace; tasks whose
file_scope overlaps never run at once; High-risk and parallel:false tasks run alone.
Configuration: nx.json plugins[].options of "nx-vtm" (see docs/configuration.md).`,
  verify: `nx-vtm verify target

Runs the task's test_verification files on the current checkout. Cached by Nx with the task's related documents,
file scope and test files as inputs, so \`nx affected -t verify\` re-verifies only tasks whose files changed.

  nx run <TASK_ID>:verify
  nx affected -t verify`,
};

function main(argv: string[]): number {
  const [command, topic] = argv;
  if (command === 'help' || command === undefined || command === '--help') {
    if (topic && HELP[topic]) {
      console.log(HELP[topic]);
      return 0;
    }
    console.log(`Usage: nx-vtm help <${Object.keys(HELP).join('|')}>`);
    return topic ? 1 : 0;
  }
  console.error(`nx-vtm: unknown command "${command}". Run "nx-vtm help".`);
  return 1;
}

process.exitCode = main(process.argv.slice(2));
