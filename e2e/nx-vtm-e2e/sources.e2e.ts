/**
 * A TODO.md backlog (seed 002's format) as the task source, through the real nx CLI, real git and the scripted agent:
 * the projects Nx infers, a run of the ready tasks, the source's blocked task refused with its dependent, and the
 * completions written back into TODO.md (and committed, so later merges see a clean checkout).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createAgentWorkspace, type AgentWorkspace } from '../support/vtm';

const TODO = `# TODO

## High Priority

### 63. Add content hashing
- **Status**: [NOT STARTED]
- **Priority**: High
- **Dependencies**: None

**Acceptance Criteria**:
- [ ] Artifacts are addressed by content

**Files Affected**:
- src/hash.js

---

### 64. Migrate artifacts
*Status**: [NOT STARTED]
*Dependencies**: 63, 65

**Files Affected**:
- src/migrate.js

---

### 65. Document the layout \u2705
- **Status**: [COMPLETED]
- **Completed**: 2025-12-11

---

### 66. Garbage-collect artifacts
- **Status**: [BLOCKED]

**Files Affected**:
- src/gc.js

---

### 67. Store statistics
- **Status**: [NOT STARTED]
- **Dependencies**: 66

**Files Affected**:
- src/stats.js
`;

let ws: AgentWorkspace;
beforeAll(() => {
  ws = createAgentWorkspace({ tasks: [], options: { sources: [{ type: 'todo-md', path: 'TODO.md' }] }, files: { 'TODO.md': TODO, 'src/.keep': '' } });
});
afterAll(() => ws.remove());

/** The installed nx-vtm command line, with the scripted agent's environment (for `run`). */
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [join(ws.root, 'node_modules/nx-vtm/src/cli/main.js'), ...args], {
    cwd: ws.root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ...ws.env(), NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', CI: 'true', FORCE_COLOR: '0' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const projects = () =>
  JSON.parse(ws.run(['show', 'projects', '--json']).stdout)
    .filter((p: string) => p.startsWith('todo-'))
    .sort();

describe('nx-vtm next before any run', () => {
  it('lists the one task that can start (63: 64 waits for it, 66 is blocked, 67 waits for 66)', () => {
    const r = cli(['next', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).map((t: { id: string }) => t.id)).toEqual(['todo-63']);
  });

  it('run --dry-run resolves the selection, skips the complete task and names unknown ones', () => {
    const r = cli(['run', '64, 65, 90-91', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('nx-vtm run: todo-65: already complete in its source (skipped)');
    expect(r.err).toContain('nx-vtm run: 90: no such task (skipped)');
    expect(r.out).toContain('  todo-63 (dependency)  Add content hashing\n  todo-64  Migrate artifacts');
    expect(r.out).toContain('nx-vtm run: nx run-many -t implement --projects=todo-64');
  });
});

describe('a TODO.md source through real nx', () => {
  let run: ReturnType<AgentWorkspace['run']>;
  beforeAll(() => {
    run = ws.run(['run-many', '-t', 'implement', '--outputStyle=stream']);
  });

  it('infers one project per open task; the ✅ task is not a project', () => {
    // After the run 63 and 64 are done too; what was inferred before is in the run's own output.
    expect(run.output).toContain('todo-63:implement');
    expect(run.output).not.toContain('todo-65:implement');
  });

  it('runs the ready tasks in dependency order and exits non-zero because a task is blocked in the source', () => {
    expect(run.code).not.toBe(0);
    const starts = ws.agentEvents().filter((e) => e.event === 'start').map((e) => e.taskId);
    expect(starts).toEqual(['todo-63', 'todo-64']);
    const state = ws.state().tasks;
    expect(state['todo-63'].status).toBe('completed');
    expect(state['todo-64'].status).toBe('completed');
    expect(state['todo-66']).toMatchObject({ status: 'blocked', reason: 'source_blocked' });
    expect(run.output).toContain('BLOCKED::SOURCE-STATUS::todo-66: TODO.md:33 says [BLOCKED] (task 66); not started');
    expect(state['todo-67']).toMatchObject({ status: 'blocked', reason: 'dependency_failed:todo-66' });
  });

  it('writes the completions back into TODO.md, every other byte unchanged, and commits them', () => {
    const today = new Date().toISOString().slice(0, 10);
    const expected = TODO.replace('### 63. Add content hashing', '### 63. Add content hashing \u2705')
      .replace('- **Status**: [NOT STARTED]\n- **Priority**: High', `- **Status**: [COMPLETED]\n- **Completed**: ${today}\n- **Priority**: High`)
      .replace('### 64. Migrate artifacts', '### 64. Migrate artifacts \u2705')
      .replace('*Status**: [NOT STARTED]\n*Dependencies**: 63, 65', `*Status**: [COMPLETED]\n*Completed**: ${today}\n*Dependencies**: 63, 65`);
    expect(ws.read('TODO.md')).toBe(expected);
    expect(ws.git(['status', '--porcelain', '--', 'TODO.md'])).toBe('');
    expect(ws.git(['log', '--format=%s', '-n', '20'])).toContain('nx-vtm: TODO.md: task 64 completed');
    expect(ws.read('src/migrate.js')).toContain('todo-64');
  });

  it('afterwards infers only the tasks still open; next has none (exit 1); run of done tasks runs nothing', () => {
    expect(projects()).toEqual(['todo-66', 'todo-67']);
    expect(cli(['next']).code).toBe(1);
    const r = cli(['run', '63-64']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('todo-63: already complete in its source (skipped)');
  });

  it('nx-vtm run "66" runs the real nx and returns its exit code once the source unblocks it', () => {
    ws.write('TODO.md', ws.read('TODO.md').replace('- **Status**: [BLOCKED]', '- **Status**: [NOT STARTED]'));
    ws.commitAll('unblock 66');
    const r = cli(['run', '66']);
    expect(r.code).toBe(0);
    expect(ws.state().tasks['todo-66'].status).toBe('completed');
    expect(ws.read('TODO.md')).toContain('### 66. Garbage-collect artifacts \u2705');
  });
});
