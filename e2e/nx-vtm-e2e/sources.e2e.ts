/**
 * A TODO.md backlog (seed 002's format) as the task source, through the real nx CLI, real git and the scripted agent:
 * the projects Nx infers, a run of the ready tasks, the source's blocked task refused with its dependent, and the
 * completions written back into TODO.md (and committed, so later merges see a clean checkout).
 */
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

const projects = () =>
  JSON.parse(ws.run(['show', 'projects', '--json']).stdout)
    .filter((p: string) => p.startsWith('todo-'))
    .sort();

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

  it('afterwards infers only the tasks still open', () => {
    expect(projects()).toEqual(['todo-66', 'todo-67']);
  });
});
