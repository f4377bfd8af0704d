import { z } from 'zod';
import { RISK_LEVELS, taskSchema, type TaskInput } from '../manifest/schema';
import { ROUTE_RISK_LEVELS, agentConfigSchema, agentOptionsSchema, parseAgentOptions, type AgentOptionsInput } from './config';
import { matchesRoute, mergeAgentConfig, resolveAgentConfig } from './routing';

const makeTask = (overrides: Partial<TaskInput> & Record<string, unknown> = {}) =>
  taskSchema.parse({ task_id: 'API_AUTH--T01', title: 'Login endpoint', description: 'Add the backend API', risk: 'Medium', acceptance_criteria: [], ...overrides });

const resolve = (options: AgentOptionsInput, task = makeTask()) => {
  const r = resolveAgentConfig({ task, options: agentOptionsSchema.parse(options) });
  if (!r.ok) throw new Error(r.error);
  return r.value;
};

describe('agent config', () => {
  it('applies defaults to the merged config', () => {
    expect(agentConfigSchema.parse({})).toEqual({
      adapter: 'claude',
      promptVia: 'stdin',
      timeoutMs: 30 * 60_000,
      idleTimeoutMs: 5 * 60_000,
      retries: 1,
      backoffMs: 30_000,
      repairTurns: 2,
      allowNoChanges: false,
      handoffBudgetChars: 4000,
    });
  });

  it('knows the manifest risk levels and exports a JSON Schema (for executor schema.json / editors)', () => {
    expect(ROUTE_RISK_LEVELS).toEqual(RISK_LEVELS);
    const json = z.toJSONSchema(agentOptionsSchema, { io: 'input' }) as { properties: Record<string, { description?: string }> };
    expect(Object.keys(json.properties)).toEqual(expect.arrayContaining(['adapter', 'timeoutMs', 'byRisk', 'rules', 'fallback']));
    expect(json.properties.idleTimeoutMs.description).toMatch(/stalled/);
  });

  it('rejects incomplete or wrong settings with the option path', () => {
    expect(agentConfigSchema.safeParse({ adapter: 'command' }).success).toBe(false);
    expect(agentConfigSchema.safeParse({ adapter: 'replay' }).success).toBe(false);
    const r = parseAgentOptions({ command: 'node agent.js', rules: [{ match: { taskIdPattern: '(' }, agent: {} }], timeout: 5 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toContain('nx.json plugins["nx-vtm"].options.agent.command');
    expect(r.error).toContain('nx.json plugins["nx-vtm"].options.agent.rules[0].match.taskIdPattern: is not a valid regular expression');
    expect(r.error).toMatch(/timeout/);
  });
});

describe('resolveAgentConfig', () => {
  it('uses the base settings when nothing else applies', () => {
    const r = resolve({ adapter: 'codex', model: 'gpt-5', timeoutMs: 1000 });
    expect(r.config).toMatchObject({ adapter: 'codex', model: 'gpt-5', timeoutMs: 1000, retries: 1 });
    expect(r.layers).toEqual(['base']);
    expect(r.matchedRule).toBeUndefined();
    expect(r.fallback).toBeUndefined();
  });

  it('layers base < byRisk < first matching rule < the task\'s own agent field', () => {
    const options: AgentOptionsInput = {
      model: 'sonnet',
      retries: 2,
      env: { A: 'base', B: 'base' },
      byRisk: { High: { model: 'opus', timeoutMs: 60_000 } },
      rules: [
        { match: { capability: 'BILLING' }, agent: { model: 'never' } },
        { match: { descriptionPattern: 'backend|api' }, agent: { model: 'api-model', env: { B: 'rule' } } },
        { match: {}, agent: { model: 'catch-all' } },
      ],
    };
    const r = resolve(options, makeTask({ risk: 'High', agent: { retries: 0 } }));
    expect(r.config).toMatchObject({ model: 'api-model', timeoutMs: 60_000, retries: 0, env: { A: 'base', B: 'rule' } });
    expect(r.layers).toEqual(['base', 'byRisk.High', 'rules[1]', 'task.agent']);
    expect(r.matchedRule).toBe(1);
    // The task's field has the last word.
    expect(resolve(options, makeTask({ agent: { model: 'mine' } })).config.model).toBe('mine');
  });

  it('drops adapter-specific settings when a layer switches adapter', () => {
    const r = resolve({
      adapter: 'claude',
      model: 'opus',
      args: ['--max-turns', '40'],
      permissionMode: 'acceptEdits',
      timeoutMs: 1234,
      rules: [{ match: { risk: 'Medium' }, agent: { adapter: 'codex' } }],
    });
    expect(r.config.adapter).toBe('codex');
    expect(r.config.model).toBeUndefined();
    expect(r.config.args).toBeUndefined();
    expect(r.config.permissionMode).toBeUndefined();
    expect(r.config.timeoutMs).toBe(1234);
  });

  it('merges the fallback on top of the chosen settings', () => {
    const r = resolve({ adapter: 'claude', model: 'opus', idleTimeoutMs: 999, fallback: { adapter: 'gemini' } });
    expect(r.fallback).toMatchObject({ adapter: 'gemini', idleTimeoutMs: 999 });
    expect(r.fallback?.model).toBeUndefined();
  });

  it('reports an invalid task agent field with the task id', () => {
    const r = resolveAgentConfig({ task: makeTask({ agent: { adapter: 'cursor', timeoutMs: -1 } }), options: undefined });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toContain('task API_AUTH--T01: invalid manifest field "agent"');
      expect(r.error).toContain('agent.adapter');
      expect(r.error).toContain('agent.timeoutMs');
    }
  });

  it('reports merged settings that cannot run', () => {
    const r = resolveAgentConfig({
      task: makeTask(),
      options: agentOptionsSchema.parse({ rules: [{ match: { taskIdPattern: '^API_' }, agent: { adapter: 'command' } }] }),
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/task API_AUTH--T01: incomplete agent settings \(from base \+ rules\[0\]\)[\s\S]*agent.command/);
  });
});

describe('matchesRoute', () => {
  const task = makeTask({ risk: 'High', capability_id: 'AUTH', tags: ['backend', 'security'] });
  it.each([
    [{}, true],
    [{ risk: 'High' as const }, true],
    [{ risk: ['Low', 'Medium'] as ('Low' | 'Medium')[] }, false],
    [{ capability: ['AUTH', 'BILLING'] }, true],
    [{ capability: 'BILLING' }, false],
    [{ tags: ['frontend', 'security'] }, true],
    [{ tags: ['frontend'] }, false],
    [{ taskIdPattern: '^API_' }, true],
    [{ taskIdPattern: '^api_' }, false],
    [{ descriptionPattern: 'LOGIN' }, true],
    [{ descriptionPattern: 'database|sql' }, false],
    [{ risk: 'High' as const, descriptionPattern: 'database' }, false],
  ])('%j -> %s', (match, expected) => {
    expect(matchesRoute(task, match)).toBe(expected);
  });

  it('treats a task without tags as having none', () => {
    expect(matchesRoute(makeTask(), { tags: ['backend'] })).toBe(false);
  });
});

describe('mergeAgentConfig', () => {
  it('lets defined upper fields win and merges env and prices by key', () => {
    expect(
      mergeAgentConfig(
        { model: 'a', env: { X: '1' }, prices: { m1: { input: 1, output: 2 } } },
        { model: undefined, env: { Y: '2' }, prices: { m2: { input: 3, output: 4 } } },
      ),
    ).toEqual({ model: 'a', env: { X: '1', Y: '2' }, prices: { m1: { input: 1, output: 2 }, m2: { input: 3, output: 4 } } });
  });
});
