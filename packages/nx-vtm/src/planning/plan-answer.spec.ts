import { createClaudeParser, createCodexParser } from '../agents/adapters';
import { readPlanAnswerText } from './plan';
import { resolvePlannerConfig } from './run-plan';

describe('readPlanAnswerText (a CLI planner\'s final message)', () => {
  const plan = { tasks: [{ task_id: 'A--T01' }] };
  it.each([
    ['the whole text', JSON.stringify(plan)],
    ['a fenced block after prose', `Here is the plan.\n\n\`\`\`json\n${JSON.stringify(plan, null, 2)}\n\`\`\`\nDone.`],
    ['a bare object inside prose', `Plan: ${JSON.stringify(plan)} (3 tasks)`],
  ])('reads %s', (_, text) => {
    const a = readPlanAnswerText(text);
    expect(a).toEqual({ ok: true, raw: plan, text: JSON.stringify(plan) });
  });
  it('says what is missing when there is no JSON object', () => {
    expect(readPlanAnswerText('I could not plan this.')).toEqual({ ok: false, message: expect.stringContaining('no JSON object in the final message') });
  });
});

describe('parser.finalText (where a planner\'s answer is read from)', () => {
  const end = { exitCode: 0, signal: null, timedOut: false, stalled: false, durationMs: 10 };
  it('claude: the result line\'s text, not the last stdout line (which is the result event itself)', () => {
    const p = createClaudeParser({ now: new Date(), cwd: '/w' });
    p.push(JSON.stringify({ type: 'system', subtype: 'init', session_id: 's1' }));
    p.push(JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'Here is the plan. {"tasks": []}' }] } }));
    p.push(JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: 'Here is the plan. {"tasks": []}', total_cost_usd: 0.01 }));
    p.finish(end);
    expect(p.finalText?.()).toBe('Here is the plan. {"tasks": []}');
  });
  it('claude: nothing on an API error (the error text is no answer)', () => {
    const p = createClaudeParser({ now: new Date(), cwd: '/w' });
    p.push(JSON.stringify({ type: 'result', subtype: 'success', is_error: true, api_error_status: 401, result: 'Invalid API key' }));
    p.finish({ ...end, exitCode: 1 });
    expect(p.finalText?.()).toBeUndefined();
  });
  it('codex: the last agent message', () => {
    const p = createCodexParser({ now: new Date(), cwd: '/w' });
    p.push(JSON.stringify({ type: 'item.completed', item: { type: 'agent_message', text: '{"tasks": []}' } }));
    p.push(JSON.stringify({ type: 'turn.completed', usage: { input_tokens: 1, output_tokens: 1 } }));
    p.finish(end);
    expect(p.finalText?.()).toBe('{"tasks": []}');
  });
});

describe('resolvePlannerConfig', () => {
  it('plans read-only where the CLI has a switch, whatever permissionMode the task runs use', () => {
    const claude = resolvePlannerConfig({ adapter: 'claude', permissionMode: 'bypassPermissions' } as never);
    expect(claude.ok && claude.value.permissionMode).toBe('default');
    const codex = resolvePlannerConfig({ adapter: 'codex' } as never);
    expect(codex.ok && codex.value.permissionMode).toBe('read-only');
    const command = resolvePlannerConfig({ adapter: 'command', command: ['node', 'p.js'] } as never);
    expect(command.ok && command.value.permissionMode).toBeUndefined();
  });
  it('uses the base settings, not routes (a plan has no task to route yet)', () => {
    const r = resolvePlannerConfig({ adapter: 'claude', model: 'm1', byRisk: { High: { model: 'm2' } } } as never);
    expect(r.ok && r.value.model).toBe('m1');
  });
  it('refuses replay and a missing agent with what to set', () => {
    expect(resolvePlannerConfig({ adapter: 'replay', replayDir: 'r' } as never)).toEqual({ ok: false, error: expect.stringContaining('cannot plan') });
    expect(resolvePlannerConfig(undefined)).toEqual({ ok: false, error: expect.stringContaining('"agent": { "adapter": "claude" }') });
  });
});
