/**
 * Argument parsing for the subcommands (`node:util` parseArgs, strict), with usage errors as values whose message
 * names the command's help.
 */
import { parseArgs } from 'node:util';
import { err, ok, type Result } from '../manifest/problems';

export interface OptionSpec {
  type: 'boolean' | 'string';
  short?: string;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses `args` for `command` (e.g. "worktrees prune"). Unknown options, missing option values and a positional count
 * outside `[min, max]` are usage errors.
 */
export function parseCommandArgs({
  command,
  args,
  options,
  positionals = { min: 0, max: 0 },
}: {
  command: string;
  args: readonly string[];
  options: Record<string, OptionSpec>;
  positionals?: { min: number; max: number; name?: string };
}): Result<ParsedArgs, string> {
  const helpTopic = command.split(' ')[0];
  const usage = (what: string) => `nx-vtm ${command}: ${what}. Run \`nx-vtm help ${helpTopic}\``;
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...args], options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    // parseArgs' messages already name the option ("Unknown option '--frce'"); drop its hint about "--" arguments.
    return err(usage((e as Error).message.split('. ')[0].replace(/\.$/, '')));
  }
  const count = parsed.positionals.length;
  const name = positionals.name ?? 'argument';
  if (parsed.values.help !== true) {
    if (count < positionals.min) return err(usage(`missing ${name}`));
    if (count > positionals.max) {
      return err(usage(positionals.max === 0 ? `unexpected argument "${parsed.positionals[0]}"` : `unexpected argument "${parsed.positionals[positionals.max]}"`));
    }
  }
  return ok({ values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals });
}
