/** `nx-vtm status [--json]`: the Progress Pulse of the workspace's manifests and task state. */
import { listContextFiles, pathExistsIn } from '../../runtime/preconditions';
import { parseCommandArgs } from '../args';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type ExitCode } from '../cli-io';
import { getCommandHelp } from '../help';
import { buildProgressPulse, formatProgressPulse } from '../pulse';
import { readCliWorkspace, readManifestContext, readTaskStateView } from '../workspace';

export async function runStatusCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const parsed = parseCommandArgs({ command: 'status', args, options: { json: { type: 'boolean' } } });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  if (parsed.value.values.help) {
    io.out(getCommandHelp('status'));
    return EXIT_OK;
  }
  const ws = readCliWorkspace({ cwd });
  if (!ws.ok) {
    io.err(`nx-vtm status: ${ws.error}`);
    return EXIT_FAILURE;
  }
  const ctx = await readManifestContext(ws.value);
  if (!ctx.ok) {
    io.err(`nx-vtm status: ${ctx.error}`);
    return EXIT_FAILURE;
  }
  const now = io.now();
  const state = readTaskStateView(ws.value, { now });
  if (!state.ok) {
    io.err(`nx-vtm status: ${state.error}`);
    return EXIT_FAILURE;
  }
  const { root, options } = ws.value;
  const pulse = buildProgressPulse({
    tasks: [...ctx.value.tasks.values()],
    records: state.value.records,
    claims: state.value.claims,
    orphans: state.value.orphans,
    waiting: state.value.waiting,
    manifestHash: ctx.value.manifestHash,
    storedManifestHash: state.value.manifestHash,
    wipLimit: options.wipLimit,
    now,
    pathExists: pathExistsIn(root),
    contextFiles: listContextFiles(root, options.contextDirs),
  });
  io.out(parsed.value.values.json ? JSON.stringify(pulse, null, 2) : formatProgressPulse(pulse));
  return EXIT_OK;
}
