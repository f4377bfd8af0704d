/**
 * The command line's one port to the terminal and the clock, so commands run the same under a test's fake as in a
 * real terminal. `systemCliIo` is the production implementation.
 */
import { createInterface } from 'node:readline';

/** Exit codes: 0 ok, 1 the command failed (the message says what to do), 2 the command line was wrong. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export type ExitCode = typeof EXIT_OK | typeof EXIT_FAILURE | typeof EXIT_USAGE;

export interface CliIo {
  /** Called for a command's normal output (stdout); `text` may hold several lines. */
  out(text: string): void;
  /** Called for errors, refusals and warnings (stderr). */
  err(text: string): void;
  /**
   * Called before a command discards recorded work without `--yes`: the user's answer, or undefined when nobody can
   * answer (stdin is not a terminal), in which case the command refuses and names `--yes`.
   */
  confirm(question: string): Promise<boolean | undefined>;
  /** Called whenever a command stamps or ages something: epoch milliseconds. */
  now(): number;
}

export const systemCliIo: CliIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  confirm: async (question) => {
    if (!process.stdin.isTTY) return undefined;
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
    }
  },
  now: () => Date.now(),
};
