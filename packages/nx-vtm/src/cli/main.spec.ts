import { makeCliWorkspace, type CliWorkspaceFixture } from './test-support/cli-workspace';

// Real CLI processes on a shared 2-core machine: a generous per-test deadline.
jest.setTimeout(60_000);

let ws: CliWorkspaceFixture;
beforeAll(() => {
  ws = makeCliWorkspace();
});
afterAll(() => ws.cleanup());

describe('nx-vtm help and dispatch', () => {
  it('lists every command, with exit code 0', async () => {
    const r = await ws.runCli(['help']);
    expect(r.code).toBe(0);
    for (const command of ['status', 'worktrees', 'reset', 'abandon', 'report', 'watch', 'plan', 'preview', 'help']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${command} +\\S`, 'm'));
    }
    expect(r.stdout).toContain('Exit codes: 0 ok, 1');
  });

  it('keeps the target help that `nx show project` links to', async () => {
    const r = await ws.runCli(['help', 'implement']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nx run <TASK_ID>:implement');
  });

  it('shows a command page for `<command> --help`', async () => {
    const r = await ws.runCli(['reset', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nx-vtm reset <TASK_ID...> [--yes]');
  });

  it.each([
    { args: ['frobnicate'], message: /unknown command "frobnicate"\. Run `nx-vtm help`/ },
    { args: ['help', 'frobnicate'], message: /no help for "frobnicate"/ },
    { args: ['status', '--jsno'], message: /nx-vtm status: Unknown option '--jsno'\. Run `nx-vtm help status`/ },
    { args: ['worktrees', 'prune', 'extra'], message: /unexpected argument "extra"/ },
  ])('exits 2 on a wrong command line: $args', async ({ args, message }) => {
    const r = await ws.runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });
});
