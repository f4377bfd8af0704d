import { agentConfigSchema, type AgentConfig } from '../config';
import {
  GEMINI_STDIN_INSTRUCTION,
  OPENCODE_STDIN_INSTRUCTION,
  buildClaudeInvocation,
  buildCodexInvocation,
  buildCommandInvocation,
  buildGeminiInvocation,
  buildOpencodeInvocation,
} from './index';
import type { InvocationContext } from './types';

const ctx: InvocationContext = {
  taskId: 'T1',
  runId: 'run-1',
  cwd: '/ws/.vtm/worktrees/T1',
  workspaceRoot: '/ws',
  prompt: 'PROMPT $(rm -rf ~) `x`',
  promptFile: '/ws/.vtm/runs/run-1/T1/prompt.md',
  taskFile: '/ws/.vtm/runs/run-1/T1/task.json',
  resultFile: '/ws/.vtm/runs/run-1/T1/result.json',
  resultDir: '/ws/.vtm/runs/run-1/T1',
};
const cfg = (c: Record<string, unknown>): AgentConfig => agentConfigSchema.parse(c);
const vtmEnv = {
  VTM_TASK_ID: 'T1',
  VTM_TASK_FILE: ctx.taskFile,
  VTM_RESULT_FILE: ctx.resultFile,
  VTM_PROMPT_FILE: ctx.promptFile,
  VTM_WORKSPACE_ROOT: '/ws',
  VTM_RUN_ID: 'run-1',
};
const readFile = `Read the file ${ctx.promptFile} and follow the instructions in it exactly.`;

describe('claude argv', () => {
  it('minimal: headless stream-json with acceptEdits, prompt on stdin', () => {
    expect(buildClaudeInvocation(cfg({ adapter: 'claude' }), ctx)).toEqual({
      argv: ['claude', '-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits'],
      stdin: ctx.prompt,
      env: vtmEnv,
    });
  });

  it('all options, extra flags last', () => {
    const inv = buildClaudeInvocation(
      cfg({
        adapter: 'claude',
        bin: '/opt/claude/bin/claude',
        model: 'opus',
        permissionMode: 'bypassPermissions',
        maxBudgetUsd: 2.5,
        allowedTools: ['Read', 'Edit(src/**)', 'Bash(npm test:*)'],
        args: ['--max-turns', '40'],
        env: { ANTHROPIC_LOG: 'debug', VTM_TASK_ID: 'spoofed' },
      }),
      ctx,
    );
    expect(inv.argv).toEqual([
      '/opt/claude/bin/claude',
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'bypassPermissions',
      '--model',
      'opus',
      '--max-budget-usd',
      '2.5',
      '--allowedTools',
      'Read,Edit(src/**),Bash(npm test:*)',
      '--max-turns',
      '40',
    ]);
    expect(inv.env).toEqual({ ANTHROPIC_LOG: 'debug', ...vtmEnv });
  });

  it('promptVia file: no stdin, the instruction names the file, its folder is added', () => {
    const inv = buildClaudeInvocation(cfg({ adapter: 'claude', promptVia: 'file' }), ctx);
    expect(inv.argv).toEqual([
      'claude', '-p', readFile, '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits', '--add-dir', ctx.resultDir,
    ]);
    expect(inv.stdin).toBeUndefined();
    expect(inv.promptFile).toBe(ctx.promptFile);
  });
});

describe('codex argv', () => {
  it('exec --json in workspace-write sandbox, -C the worktree, prompt from stdin ("-")', () => {
    expect(buildCodexInvocation(cfg({ adapter: 'codex' }), ctx)).toEqual({
      argv: ['codex', 'exec', '--json', '--sandbox', 'workspace-write', '-C', ctx.cwd, '-'],
      stdin: ctx.prompt,
      env: vtmEnv,
    });
    expect(buildCodexInvocation(cfg({ adapter: 'codex', model: 'gpt-5-codex', args: ['--skip-git-repo-check'] }), ctx).argv).toEqual([
      'codex', 'exec', '--json', '--sandbox', 'workspace-write', '-C', ctx.cwd, '-m', 'gpt-5-codex', '--skip-git-repo-check', '-',
    ]);
    const viaFile = buildCodexInvocation(cfg({ adapter: 'codex', promptVia: 'file', permissionMode: 'danger-full-access' }), ctx);
    expect(viaFile.argv).toEqual(['codex', 'exec', '--json', '--sandbox', 'danger-full-access', '-C', ctx.cwd, readFile]);
    expect(viaFile.stdin).toBeUndefined();
  });
});

describe('gemini argv', () => {
  it('-p carries only a short instruction; the prompt goes on stdin', () => {
    expect(buildGeminiInvocation(cfg({ adapter: 'gemini' }), ctx)).toEqual({
      argv: ['gemini', '-p', GEMINI_STDIN_INSTRUCTION, '-o', 'stream-json', '--approval-mode', 'auto_edit', '--skip-trust'],
      stdin: ctx.prompt,
      env: vtmEnv,
    });
    expect(buildGeminiInvocation(cfg({ adapter: 'gemini', model: 'gemini-2.5-pro', permissionMode: 'yolo', promptVia: 'file' }), ctx)).toEqual({
      argv: ['gemini', '-p', readFile, '-o', 'stream-json', '--approval-mode', 'yolo', '--skip-trust', '-m', 'gemini-2.5-pro', '--include-directories', ctx.resultDir],
      env: vtmEnv,
      promptFile: ctx.promptFile,
    });
  });
});

describe('opencode argv', () => {
  it('run --format json with an introducing message; the prompt goes on stdin', () => {
    expect(buildOpencodeInvocation(cfg({ adapter: 'opencode', model: 'anthropic/claude-sonnet-4-5' }), ctx)).toEqual({
      argv: ['opencode', 'run', '--format', 'json', '-m', 'anthropic/claude-sonnet-4-5', OPENCODE_STDIN_INSTRUCTION],
      stdin: ctx.prompt,
      env: vtmEnv,
    });
  });
});

describe('command argv', () => {
  it('runs the configured argv exactly, extra args appended', () => {
    expect(buildCommandInvocation(cfg({ adapter: 'command', command: ['node', 'my agent.js', '--flag=$(x)'], args: ['--verbose'] }), ctx)).toEqual({
      argv: ['node', 'my agent.js', '--flag=$(x)', '--verbose'],
      stdin: ctx.prompt,
      env: vtmEnv,
    });
    const viaFile = buildCommandInvocation(cfg({ adapter: 'command', command: ['./agent'], promptVia: 'file' }), ctx);
    expect(viaFile).toEqual({ argv: ['./agent'], env: vtmEnv, promptFile: ctx.promptFile });
  });
});

describe('repair turns resume the previous session with each CLI\'s own flag', () => {
  const resume = { ...ctx, resumeSessionId: 'sess-42', repairRound: 1 };
  const withRound = { ...vtmEnv, VTM_REPAIR_ROUND: '1' };
  it('claude --resume <id>', () => {
    const inv = buildClaudeInvocation(cfg({ adapter: 'claude' }), resume);
    expect(inv.argv.slice(inv.argv.indexOf('--resume'), inv.argv.indexOf('--resume') + 2)).toEqual(['--resume', 'sess-42']);
    expect(inv.env).toEqual(withRound);
  });
  it('codex exec <options> resume <id> -', () => {
    const inv = buildCodexInvocation(cfg({ adapter: 'codex', model: 'gpt-5' }), resume);
    expect(inv.argv).toEqual(['codex', 'exec', '--json', '--sandbox', 'workspace-write', '-C', ctx.cwd, '-m', 'gpt-5', 'resume', 'sess-42', '-']);
  });
  it('gemini --resume latest (0.61 resumes by index or "latest"; the worktree is the task\'s own project)', () => {
    const inv = buildGeminiInvocation(cfg({ adapter: 'gemini' }), resume);
    expect(inv.argv.slice(inv.argv.indexOf('--resume'), inv.argv.indexOf('--resume') + 2)).toEqual(['--resume', 'latest']);
  });
  it('opencode run --session <id>', () => {
    const inv = buildOpencodeInvocation(cfg({ adapter: 'opencode' }), resume);
    expect(inv.argv).toEqual(['opencode', 'run', '--format', 'json', '--session', 'sess-42', OPENCODE_STDIN_INSTRUCTION]);
  });
  it('command: a new invocation with VTM_REPAIR_ROUND', () => {
    const inv = buildCommandInvocation(cfg({ adapter: 'command', command: ['./agent'] }), { ...ctx, repairRound: 2 });
    expect(inv.argv).toEqual(['./agent']);
    expect(inv.env.VTM_REPAIR_ROUND).toBe('2');
  });
  it('no resume flag without a session', () => {
    for (const inv of [buildClaudeInvocation(cfg({ adapter: 'claude' }), ctx), buildGeminiInvocation(cfg({ adapter: 'gemini' }), ctx)]) {
      expect(inv.argv).not.toContain('--resume');
    }
    expect(buildCodexInvocation(cfg({ adapter: 'codex' }), ctx).argv).not.toContain('resume');
  });
});
