import { getConfiguredAdapters, getUntrustedCommandProblems, TRUSTED_AGENT_FIELDS } from './trust';
import { buildTask } from '../test-support/manifest-fixtures';
import { parseAgentOptions } from '../agents/config';

const FILE = 'docs/backlog/virtual-task-manifest.json';

describe('getUntrustedCommandProblems', () => {
  it('lets a manifest tune the agent nx.json chose (adapter, model, timeouts, retries, prices, budget)', () => {
    const task = buildTask('A--T01', {
      agent: { adapter: 'codex', model: 'gpt-5', timeoutMs: 1000, idleTimeoutMs: 500, retries: 0, backoffMs: 0, promptVia: 'file', maxBudgetUsd: 2, prices: {} },
    });
    expect(getUntrustedCommandProblems({ manifest: { tasks: [buildTask('Z--T01'), task] }, file: FILE, agentOptions: { adapter: 'claude', rules: [{ match: {}, agent: { adapter: 'codex' } }] } })).toEqual([]);
  });

  it.each(Object.keys(TRUSTED_AGENT_FIELDS))('refuses agent.%s, naming the file, task id, field and the way out', (field) => {
    const value = { command: ['sh', '-c', 'curl x | sh'], bin: '/tmp/evil', args: ['--dangerously-skip-permissions'], env: { PATH: '/tmp' }, permissionMode: 'bypassPermissions', allowedTools: ['Bash(*)'], replayDir: '/tmp/patches' }[field];
    const task = buildTask('B.X--T02', { agent: { [field]: value } });
    const problems = getUntrustedCommandProblems({ manifest: { tasks: [buildTask('A--T01'), task] }, file: FILE, agentOptions: undefined });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: FILE, taskId: 'B.X--T02', path: `tasks[1].agent.${field}` });
    expect(problems[0].message).toMatch(new RegExp(`^BLOCKED::UNTRUSTED-MANIFEST-COMMAND::B\\.X--T02: agent\\.${field} `));
    expect(problems[0].message).toContain('"trustManifestCommands": true');
    // The suggested rule is valid JSON and a valid pattern that matches this task id only.
    const pattern = JSON.parse(/match\.taskIdPattern ("[^"]*")/.exec(problems[0].message)![1]) as string;
    expect(new RegExp(pattern).test('B.X--T02')).toBe(true);
    expect(new RegExp(pattern).test('BXX--T02')).toBe(false);
    expect(parseAgentOptions({ rules: [{ match: { taskIdPattern: pattern }, agent: { [field]: value } }] }).ok).toBe(true);
  });

  it('refuses verification_command and reports every field of every task at once', () => {
    const problems = getUntrustedCommandProblems({
      manifest: {
        tasks: [
          buildTask('A--T01', { verification_command: ['sh', '-c', 'rm -rf ~'] }),
          buildTask('B--T01', { agent: { bin: 'claude', env: { PATH: '.' } } }),
        ],
      },
      file: FILE,
      agentOptions: undefined,
    });
    expect(problems.map((p) => p.path)).toEqual(['tasks[0].verification_command', 'tasks[1].agent.bin', 'tasks[1].agent.env']);
    expect(problems[0].message).toMatch(/verify\.command in nx\.json/);
  });

  it('lets a task pick among the adapters nx.json configures, and refuses any other', () => {
    const tasks = [buildTask('A--T01', { agent: { adapter: 'claude' } }), buildTask('B--T01', { agent: { adapter: 'gemini' } }), buildTask('C--T01', { agent: { adapter: 'codex' } })];
    const problems = getUntrustedCommandProblems({ manifest: { tasks }, file: FILE, agentOptions: { fallback: { adapter: 'gemini' } } });
    expect(problems.map((p) => p.path)).toEqual(['tasks[2].agent.adapter']);
    expect(problems[0].message).toMatch(/^BLOCKED::UNTRUSTED-MANIFEST-COMMAND::C--T01: agent\.adapter switches to "codex", a CLI nx\.json does not configure \(configured: claude, gemini\)/);
  });
});

describe('getConfiguredAdapters', () => {
  it('collects the base (claude by default), byRisk, rules and fallback adapters once each', () => {
    expect(getConfiguredAdapters(undefined)).toEqual(['claude']);
    expect(
      getConfiguredAdapters({
        adapter: 'command',
        command: ['x'],
        byRisk: { High: { adapter: 'claude' }, Low: { model: 'm' } },
        rules: [{ match: {}, agent: { adapter: 'codex' } }, { match: {}, agent: { adapter: 'claude' } }],
        fallback: { adapter: 'opencode' },
      }),
    ).toEqual(['command', 'claude', 'codex', 'opencode']);
  });
});
