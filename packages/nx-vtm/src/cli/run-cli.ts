/**
 * The command dispatcher: `nx-vtm <command> [args]` to the command's module. Command modules are loaded only when
 * their command runs, so `nx-vtm help implement` (which `nx show project` shows for every task) stays fast.
 */
import { EXIT_OK, EXIT_USAGE, type CliIo, type ExitCode } from './cli-io';
import { findHelpPage, getOverviewHelp } from './help';

type Command = (input: { args: readonly string[]; cwd: string; io: CliIo }) => Promise<ExitCode>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  status: async () => (await import('./commands/status')).runStatusCommand,
  worktrees: async () => (await import('./commands/worktrees')).runWorktreesCommand,
  // worktree.ts tells users to run `nx-vtm prune --force`; keep that working.
  prune: async () => {
    const { runWorktreesCommand } = await import('./commands/worktrees');
    return ({ args, ...rest }) => runWorktreesCommand({ args: ['prune', ...args], ...rest });
  },
  reset: async () => (await import('./commands/reset')).runResetCommand,
  abandon: async () => (await import('./commands/reset')).runAbandonCommand,
  report: async () => (await import('./commands/report')).runReportCommand,
  next: async () => (await import('./commands/sources')).runNextCommand,
  run: async () => (await import('./commands/sources')).runRunCommand,
  watch: async () => (await import('./commands/watch')).runWatchCommand,
  plan: async () => (await import('./commands/plan')).runPlanCommand,
  preview: async () => (await import('./commands/preview')).runPreviewCommand,
  doctor: async () => (await import('./commands/doctor')).runDoctorCommand,
};

/** Runs one command line; never throws for expected failures (those print a message and return 1 or 2). */
export async function runCli({ argv, cwd, io }: { argv: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    const topic = command === 'help' ? args[0] : undefined;
    if (topic === undefined) {
      io.out(getOverviewHelp());
      return EXIT_OK;
    }
    const page = findHelpPage(topic);
    if (!page) {
      io.err(`nx-vtm help: no help for "${topic}". Run \`nx-vtm help\` for the list of commands`);
      return EXIT_USAGE;
    }
    io.out(page);
    return EXIT_OK;
  }
  const load = COMMANDS[command];
  if (!load) {
    io.err(`nx-vtm: unknown command "${command}". Run \`nx-vtm help\` for the list of commands`);
    return EXIT_USAGE;
  }
  return (await load())({ args, cwd, io });
}


