/**
 * Any program as an agent: `agent.command` is run exactly as configured (e.g. `["node", "my-agent.js"]`, plus
 * `agent.args`), with the prompt on stdin and the task in the environment:
 *   VTM_TASK_ID, VTM_TASK_FILE (the task's manifest entry as JSON), VTM_RESULT_FILE, VTM_PROMPT_FILE,
 *   VTM_WORKSPACE_ROOT, VTM_RUN_ID.
 * The program returns the seed-000 JSON in VTM_RESULT_FILE, or as the last stdout line that is a JSON object.
 * Exit code 75 (EX_TEMPFAIL) marks a failure worth retrying.
 */
import type { AgentConfig } from '../config';
import { firstLine, outcomeFromReport, parseAgentReport } from '../outcome';
import { RunEvidence, buildVtmEnv, parseJsonLine } from './common';
import type { AgentStreamParser, Invocation, InvocationContext, ParserContext, ProcessAdapter } from './types';

const EX_TEMPFAIL = 75;

/** argv and stdin of a configured command. Pure. */
export function buildCommandInvocation(config: AgentConfig, ctx: InvocationContext): Invocation {
  if (!config.command?.length) {
    // The config schema requires `command` for this adapter; reaching here is a caller bug.
    throw new Error('adapter "command" needs agent.command');
  }
  const argv = [...config.command, ...(config.args ?? [])];
  const invocation: Invocation = { argv, env: buildVtmEnv(config, ctx) };
  if (config.promptVia === 'file') invocation.promptFile = ctx.promptFile;
  else invocation.stdin = ctx.prompt;
  return invocation;
}

/** Parser for a command's output: the result file, else the last JSON-object line of stdout. */
export function createCommandParser(ctx: ParserContext): AgentStreamParser {
  const ev = new RunEvidence(ctx, 'agent command');
  let lastJson: Record<string, unknown> | undefined;
  let lastLine: string | undefined;

  return {
    push(line, stream = 'stdout') {
      if (stream === 'stderr') return ev.noteStderr(line);
      if (line.trim() === '') return;
      lastLine = line;
      lastJson = parseJsonLine(line) ?? lastJson;
    },

    finish(end) {
      const killed = ev.killedVerdict(end);
      if (killed) return ev.build(killed, end);
      if (end.exitCode !== 0) {
        return ev.build(ev.failed(ev.describeExit(end), end.exitCode === EX_TEMPFAIL), end);
      }

      let value: unknown = lastJson;
      let source = 'its last JSON stdout line';
      if (end.resultFileContent !== undefined && end.resultFileContent.trim() !== '') {
        source = 'VTM_RESULT_FILE';
        try {
          value = JSON.parse(end.resultFileContent);
        } catch (e) {
          return ev.build(
            ev.failed(
              `the agent command wrote VTM_RESULT_FILE, but it is not valid JSON (${firstLine((e as Error).message, 80)}); write the return JSON object there`,
              false,
            ),
            end,
          );
        }
      } else if (lastJson === undefined) {
        const seen = lastLine ? `last stdout line: ${JSON.stringify(firstLine(lastLine, 80))}` : 'no stdout at all';
        return ev.build(
          ev.failed(
            `the agent command exited 0 without a return JSON (${seen}); print the JSON object as the last stdout line or write it to $VTM_RESULT_FILE`,
            false,
          ),
          end,
        );
      }
      const report = parseAgentReport(value);
      if (!report) {
        return ev.build(
          ev.failed(
            `${source} is not a return JSON: it needs at least "status" (completed|blocked|partial); got ${firstLine(JSON.stringify(value), 80)}`,
            false,
          ),
          end,
        );
      }
      const outcome = ev.build(outcomeFromReport(report, 'agent command'), end);
      outcome.reported = report;
      return outcome;
    },
  };
}

export const commandAdapter: ProcessAdapter = {
  name: 'command',
  defaultBin: '',
  writtenFor: 'the nx-vtm command-agent contract (VTM_* environment, seed-000 return JSON)',
  transcriptFormat: 'log',
  buildInvocation: buildCommandInvocation,
  createParser: createCommandParser,
};
