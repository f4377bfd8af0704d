/**
 * Printing from a plugin hook. The hooks run in Nx's isolated plugin worker, whose stdout is a pipe the nx process
 * reads with an unref'd stream: nx may exit as soon as the hook's reply arrives on the worker socket, before it read
 * what the hook wrote to stdout. The run summary then vanished (seen in CI: "0 completed, 11 from cache" missing from
 * a run served from cache). Nx's own channel for this sends each line over the same socket as the reply, so a line is
 * always printed before the hook counts as done; outside a worker (isolation off, unit tests) it writes to stdout.
 */
type Emit = (level: 'log' | 'warn' | 'error', message: string) => void;

let emit: Emit | undefined;

function loadEmit(): Emit {
  if (emit) return emit;
  try {
    // Exported by @nx/devkit/internal (nx/src/devkit-internals) in the pinned Nx; a missing export falls back to stdout.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const internal = require('@nx/devkit/internal') as { emitPluginWorkerLog?: Emit };
    emit = typeof internal.emitPluginWorkerLog === 'function' ? internal.emitPluginWorkerLog : undefined;
  } catch {
    emit = undefined;
  }
  emit ??= (level, message) => console[level](message);
  return emit;
}

/** One line to the user's terminal from a plugin hook. */
export function printFromHook(line: string, level: 'log' | 'error' = 'log'): void {
  loadEmit()(level, line);
}
