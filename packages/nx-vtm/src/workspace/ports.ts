/**
 * Ports the workspace layer reaches the world through, other than git (which has its own single wrapper, `git.ts`).
 * The real process runner lives in `../agents/process-runner.ts`; its function has the `RunProcess` shape, so it can
 * be passed wherever a `RunProcess` is asked for.
 */

export interface RunProcessOptions {
  /** Program and arguments, one element each; never joined into a shell string. */
  argv: readonly string[];
  cwd: string;
  /** Full environment for the child (callers start from `process.env` when they want it inherited). */
  env: NodeJS.ProcessEnv;
  /** The whole process tree is killed when this many ms pass. */
  timeoutMs: number;
  /** Everything the process writes (stdout and stderr) is appended here. */
  transcriptFile: string;
}

export interface RunProcessResult {
  /** Exit code, or null when the process was killed by a signal (including our own timeout kill). */
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** The last part of stdout (enough for test summaries); the full output is in the transcript file. */
  stdoutTail: string;
  stderrTail: string;
}

/** Runs one external process to completion. Called for a worktree's setup command and for verification runs. */
export type RunProcess = (options: RunProcessOptions) => Promise<RunProcessResult>;

/**
 * A named lock shared by every process of the workspace (Nx runs each task's executor in its own process).
 */
export interface LockPort {
  /**
   * Called around a critical section that must not run in two processes at once (merging into the integration
   * branch). Resolves with `fn`'s result once `fn` has finished and the lock is released.
   */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T>;
}
