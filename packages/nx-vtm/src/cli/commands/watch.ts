/**
 * `nx-vtm watch`: a live terminal view of the workspace's runs, from the task store and the event log, usable from a
 * second terminal while `nx run-many -t implement` runs (in any process of the workspace). Reads only.
 *
 * In a terminal it redraws the frame in place every interval; when stdout is not a terminal (a log file, CI) it
 * prints a frame only when the state changed, so the output is a readable history rather than a screen dump.
 */
import * as path from 'node:path';
import { readEventLog } from '../../state/event-log';
import { parseCommandArgs } from '../args';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type ExitCode } from '../cli-io';
import { getCommandHelp } from '../help';
import { buildWatchView, formatWatchView, getWatchViewKey, type WatchView } from '../watch-view';
import { readCliWorkspace, readManifestContext, readTaskStateView } from '../workspace';

const EVENTS_FILE = path.join('.vtm', 'events.jsonl');
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

export async function runWatchCommand({ args, cwd, io }: { args: readonly string[]; cwd: string; io: CliIo }): Promise<ExitCode> {
  const parsed = parseCommandArgs({
    command: 'watch',
    args,
    options: { once: { type: 'boolean' }, json: { type: 'boolean' }, interval: { type: 'string' }, 'exit-when-idle': { type: 'boolean' } },
  });
  if (!parsed.ok) {
    io.err(parsed.error);
    return EXIT_USAGE;
  }
  const { values } = parsed.value;
  if (values.help) {
    io.out(getCommandHelp('watch'));
    return EXIT_OK;
  }
  const intervalSeconds = values.interval === undefined ? 1 : Number(values.interval);
  if (!(intervalSeconds >= 0.1 && intervalSeconds <= 3600)) {
    io.err(`nx-vtm watch: --interval must be a number of seconds from 0.1 to 3600, got "${String(values.interval)}". Run \`nx-vtm help watch\``);
    return EXIT_USAGE;
  }
  const ws = readCliWorkspace({ cwd });
  if (!ws.ok) {
    io.err(`nx-vtm watch: ${ws.error}`);
    return EXIT_FAILURE;
  }
  const ctx = await readManifestContext(ws.value);
  if (!ctx.ok) {
    io.err(`nx-vtm watch: ${ctx.error}`);
    return EXIT_FAILURE;
  }
  const titles = new Map([...ctx.value.tasks].map(([id, e]) => [id, e.task.title]));
  const eventsFile = path.join(ws.value.root, EVENTS_FILE);

  const readView = (): { ok: true; view: WatchView } | { ok: false; message: string } => {
    const now = io.now();
    const state = readTaskStateView(ws.value, { now });
    if (!state.ok) return { ok: false, message: state.error };
    const { events } = readEventLog(eventsFile);
    return {
      ok: true,
      view: buildWatchView({ titles, records: state.value.records, claims: state.value.claims, orphans: state.value.orphans, waiting: state.value.waiting, events, wipLimit: ws.value.options.wipLimit, now }),
    };
  };
  const render = (v: WatchView) => (values.json ? JSON.stringify(v) : formatWatchView(v));
  const tty = process.stdout.isTTY === true && !values.json;

  let lastKey: string | undefined;
  let sawActivity = false;
  for (;;) {
    const r = readView();
    if (!r.ok) {
      io.err(`nx-vtm watch: ${r.message}`);
      return EXIT_FAILURE;
    }
    const key = getWatchViewKey(r.view);
    if (tty) io.out(CLEAR_SCREEN + render(r.view));
    else if (key !== lastKey) io.out(`${lastKey === undefined || values.json ? '' : '\n'}${render(r.view)}`);
    lastKey = key;
    if (values.once) return EXIT_OK;
    const active = r.view.running.some((t) => !t.stale) || r.view.waiting.length > 0 || (r.view.run !== null && !r.view.run.ended);
    sawActivity ||= active;
    // Idle after activity: the run this watch saw has ended and nothing of it is left running or waiting.
    if (values['exit-when-idle'] && sawActivity && !active) return EXIT_OK;
    await new Promise((resolve) => setTimeout(resolve, intervalSeconds * 1000));
  }
}
