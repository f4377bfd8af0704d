/**
 * Helpers for e2e tests of runs: manifests, a workspace whose agent is the scripted stand-in, and readers for what
 * the agents did (their start/end log) and what nx-vtm recorded (task-state.json, events, reports).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createTestWorkspace, removeAfterAll, type TestWorkspace } from './workspace';

export const MANIFEST = 'docs/backlog/virtual-task-manifest.json';
export const SCRIPTED_AGENT = join(__dirname, 'agents/scripted-agent.js');

export function task(id: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  const slug = id.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return {
    task_id: id,
    capability_id: id.split('--')[0],
    phase: 'Phase 1',
    slice: 'Slice 1.1',
    title: `Implement ${id}`,
    description: `e2e task ${id}`,
    acceptance_criteria: [{ id: `${id}-AC01`, text: 'works' }],
    risk: 'Low',
    est: { size: 'S' },
    file_scope: [`src/${slug}.js`, `test/${slug}.test.js`],
    test_verification: [`test/${slug}.test.js`],
    ...over,
  };
}

export interface AgentWorkspace extends TestWorkspace {
  agentLog: string;
  /** Run nx with the scripted agent's plan (per task behaviour) in the environment. */
  run(args: string[], plan?: Record<string, unknown>, env?: NodeJS.ProcessEnv): ReturnType<TestWorkspace['nx']>;
  /** `run` without blocking this process. */
  runAsync(args: string[], plan?: Record<string, unknown>, env?: NodeJS.ProcessEnv): ReturnType<TestWorkspace['nxAsync']>;
  /** Environment for running nx by hand (spawn) with the same plan. */
  env(plan?: Record<string, unknown>): NodeJS.ProcessEnv;
  agentEvents(): AgentEvent[];
  state(): { manifest_hash: string; tasks: Record<string, Record<string, unknown>> };
  events(): Record<string, unknown>[];
  reports(): { json: Record<string, unknown>; md: string; html: string }[];
}

export interface AgentEvent {
  event: 'start' | 'end';
  taskId: string;
  pid: number;
  at: number;
  cwd: string;
  written?: string[];
}

/** `createAgentWorkspace`, with each workspace removed after the test file's tests. Call once, at the top of a file. */
export function agentWorkspaceMaker(): typeof createAgentWorkspace {
  const track = removeAfterAll<AgentWorkspace>();
  return (args) => track(createAgentWorkspace(args));
}

export function createAgentWorkspace({
  tasks,
  options = {},
  files = {},
  manifest = {},
}: {
  tasks: Record<string, unknown>[];
  options?: Record<string, unknown>;
  files?: Record<string, string | object>;
  manifest?: Record<string, unknown>;
}): AgentWorkspace {
  const ws = createTestWorkspace({
    plugins: [
      {
        plugin: 'nx-vtm',
        options: { agent: { adapter: 'command', command: [process.execPath, SCRIPTED_AGENT], timeoutMs: 60_000 }, pollMs: 100, ...options },
      },
    ],
    files: { [MANIFEST]: { status: 'OK', tasks, ...manifest }, 'docs/spec.md': '# spec\n', ...files },
  });
  const agentLog = `${ws.root}.agent.log`;
  const env = (plan: Record<string, unknown> = {}): NodeJS.ProcessEnv => ({
    SCRIPTED_AGENT_PLAN: JSON.stringify(plan),
    SCRIPTED_AGENT_LOG: agentLog,
    SCRIPTED_AGENT_PROMPT_DIR: `${ws.root}.prompts`,
  });
  const readJsonLines = (file: string) =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  return {
    ...ws,
    agentLog,
    env,
    run: (args, plan = {}, extra = {}) => ws.nx(args, { env: { ...env(plan), ...extra } }),
    runAsync: (args, plan = {}, extra = {}) => ws.nxAsync(args, { env: { ...env(plan), ...extra } }),
    agentEvents: () => readJsonLines(agentLog),
    state: () => JSON.parse(ws.read('docs/backlog/task-state.json')),
    events: () => readJsonLines(join(ws.root, '.vtm/events.jsonl')),
    reports: () => {
      const dir = join(ws.root, '.vtm/runs');
      if (!existsSync(dir)) return [];
      return readdirSync(dir)
        .filter((d) => existsSync(join(dir, d, 'report.json')))
        .sort()
        .map((d) => ({ json: JSON.parse(readFileSync(join(dir, d, 'report.json'), 'utf8')), md: readFileSync(join(dir, d, 'report.md'), 'utf8'), html: readFileSync(join(dir, d, 'report.html'), 'utf8') }));
    },
  };
}

/** Run intervals per task from the agent log (start..end of each agent process). */
export function getIntervals(events: AgentEvent[]): { taskId: string; start: number; end: number }[] {
  const open = new Map<number, AgentEvent>();
  const out: { taskId: string; start: number; end: number }[] = [];
  for (const e of events) {
    if (e.event === 'start') open.set(e.pid, e);
    else {
      const s = open.get(e.pid);
      if (s) out.push({ taskId: e.taskId, start: s.at, end: e.at });
    }
  }
  return out;
}

/** Highest number of agents running at the same moment. */
export function getMaxConcurrency(intervals: { start: number; end: number }[]): number {
  const points = intervals.flatMap((i) => [
    { t: i.start, d: 1 },
    { t: i.end, d: -1 },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let cur = 0;
  let max = 0;
  for (const p of points) {
    cur += p.d;
    max = Math.max(max, cur);
  }
  return max;
}

export const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }) => a.start < b.end && b.start < a.end;
