import { parseManifestText, parseManifestValue } from './parse';
import { formatProblem, formatProblems, ManifestError, type ManifestProblem } from './problems';
import { getCrossManifestProblems } from './rules';

const FILE = 'docs/backlog/virtual-task-manifest.json';

/** A valid task; tests override fields to break one thing at a time. */
function task(id: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    task_id: id,
    capability_id: id.split('--')[0],
    phase: 'Phase 1',
    slice: 'Slice 1.1',
    title: `Do ${id}`,
    description: 'something',
    acceptance_criteria: [{ id: `${id}-AC01`, text: 'works' }],
    risk: 'Low',
    est: { size: 'M' },
    depends_on_tasks: [],
    related_specs: [],
    related_adrs: [],
    related_guides: [],
    test_verification: [],
    file_scope: [`src/${id.toLowerCase()}/`],
    conflicts_with: [],
    parallel: true,
    provisional: false,
    gap_codes: [],
    ...over,
  };
}

const manifest = (...tasks: Record<string, unknown>[]) => ({ status: 'OK', tasks });

function problemsOf(raw: unknown): ManifestProblem[] {
  const r = parseManifestValue({ raw, file: FILE });
  if (r.ok) throw new Error('expected the manifest to be rejected');
  return r.error;
}

describe('valid manifests', () => {
  it('parses the seed example and applies defaults', () => {
    const r = parseManifestValue({
      raw: {
        manifest_hash: 'abc',
        tasks: [
          {
            task_id: 'CONTENT_HASH_IMPLEMENTATION--T01',
            title: 'Implement SHA-256 content hash computation',
            acceptance_criteria: [{ id: 'CONTENT_HASH_IMPLEMENTATION-AC01', text: 'x' }],
            risk: 'High',
            related_adrs: ['ADR-0002: Dual Hash Migration'],
            something_new: { kept: true },
          },
        ],
      },
      file: FILE,
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const t = r.value.tasks[0];
    expect(r.value.status).toBe('OK');
    expect(t.depends_on_tasks).toEqual([]);
    expect(t.parallel).toBe(true);
    expect(t.provisional).toBe(false);
    expect((t as Record<string, unknown>).something_new).toEqual({ kept: true });
  });

  it('normalises ./, // and /./ in every path field, keeping a directory\'s trailing slash and named references', () => {
    const r = parseManifestValue({
      raw: manifest(
        task('A--T01', {
          file_scope: ['./src/a.ts', 'src//b/', 'src/./c.ts', 'lib/.'],
          test_verification: ['./tests/x.spec.ts'],
          related_specs: ['docs//spec.md'],
          related_adrs: ['./docs/adr/0001.md', 'ADR-0002: Dual Hash Migration'],
          related_guides: ['docs/./guide.md'],
        }),
      ),
      file: FILE,
    });
    if (!r.ok) throw new Error(formatProblems(r.error));
    const t = r.value.tasks[0];
    expect(t.file_scope).toEqual(['src/a.ts', 'src/b/', 'src/c.ts', 'lib/']);
    expect(t.test_verification).toEqual(['tests/x.spec.ts']);
    expect(t.related_specs).toEqual(['docs/spec.md']);
    expect(t.related_adrs).toEqual(['docs/adr/0001.md', 'ADR-0002: Dual Hash Migration']);
    expect(t.related_guides).toEqual(['docs/guide.md']);
  });

  it('gives two spellings of one task the same parsed task (so the same task hash and footprint)', () => {
    const parse = (over: Record<string, unknown>) => {
      const r = parseManifestValue({ raw: manifest(task('A--T01', over)), file: FILE });
      if (!r.ok) throw new Error(formatProblems(r.error));
      return r.value.tasks[0];
    };
    expect(parse({ file_scope: ['./src/a/'], test_verification: ['tests//a.spec.ts'] })).toEqual(
      parse({ file_scope: ['src/a/'], test_verification: ['tests/a.spec.ts'] }),
    );
  });

  it('accepts dependencies in any order and a diamond', () => {
    const r = parseManifestValue({
      raw: manifest(
        task('D--T01', { depends_on_tasks: ['B--T01', 'C--T01'] }),
        task('B--T01', { depends_on_tasks: ['A--T01'] }),
        task('C--T01', { depends_on_tasks: ['A--T01'] }),
        task('A--T01'),
      ),
      file: FILE,
    });
    expect(r.ok).toBe(true);
  });
});

type Case = [name: string, raw: unknown, taskId: string | undefined, path: string, message: RegExp];

const cases: Case[] = [
  ['tasks missing', { status: 'OK' }, undefined, 'tasks', /is required/],
  ['tasks not an array', { tasks: {} }, undefined, 'tasks', /must be an array/],
  ['status invalid', { status: 'DONE', tasks: [] }, undefined, 'status', /"OK", "BLOCKED"/],
  ['task_id missing', manifest(task('A--T01'), { ...task('X'), task_id: undefined }), undefined, 'tasks[1].task_id', /is required/],
  ['task_id with space', manifest(task('A--T01', { task_id: 'A T01' })), 'A T01', 'tasks[0].task_id', /only letters, digits/],
  ['task_id with slash', manifest(task('A--T01', { task_id: 'a/b' })), 'a/b', 'tasks[0].task_id', /only letters/],
  ['task_id with ..', manifest(task('A--T01', { task_id: 'a..b' })), 'a..b', 'tasks[0].task_id', /single "\."/],
  ['title missing', manifest(task('A--T01', { title: undefined })), 'A--T01', 'tasks[0].title', /is required/],
  ['title empty', manifest(task('A--T01', { title: '' })), 'A--T01', 'tasks[0].title', /must not be empty/],
  ['risk invalid', manifest(task('A--T01', { risk: 'Critical' })), 'A--T01', 'tasks[0].risk', /"High", "Medium", "Low".*"Critical"/],
  ['risk lowercase', manifest(task('B--T01', { risk: 'high' })), 'B--T01', 'tasks[0].risk', /one of "High"/],
  ['acceptance_criteria missing', manifest(task('A--T01', { acceptance_criteria: undefined })), 'A--T01', 'tasks[0].acceptance_criteria', /is required/],
  ['AC text missing', manifest(task('A--T01', { acceptance_criteria: [{ id: 'AC1' }] })), 'A--T01', 'tasks[0].acceptance_criteria[0].text', /is required/],
  ['AC not an object', manifest(task('A--T01', { acceptance_criteria: ['AC1'] })), 'A--T01', 'tasks[0].acceptance_criteria[0]', /must be a object|must be an object|object/],
  [
    'duplicate AC id',
    manifest(task('A--T01', { acceptance_criteria: [{ id: 'AC1', text: 'a' }, { id: 'AC1', text: 'b' }] })),
    'A--T01',
    'tasks[0].acceptance_criteria[1].id',
    /duplicate acceptance criterion id "AC1"/,
  ],
  ['est.size invalid', manifest(task('A--T01', { est: { size: 'Huge' } })), 'A--T01', 'tasks[0].est.size', /"XS", "S", "M", "L", "XL"/],
  ['est.minutes negative', manifest(task('A--T01', { est: { minutes: -5 } })), 'A--T01', 'tasks[0].est.minutes', /.+/],
  ['parallel not boolean', manifest(task('A--T01', { parallel: 'yes' })), 'A--T01', 'tasks[0].parallel', /must be a boolean, got "yes"/],
  ['depends_on_tasks not array', manifest(task('A--T01', { depends_on_tasks: 'B--T01' })), 'A--T01', 'tasks[0].depends_on_tasks', /must be an array/],
  ['unknown dependency', manifest(task('A--T01'), task('B--T01', { depends_on_tasks: ['A--T01', 'Z--T09'] })), 'B--T01', 'tasks[1].depends_on_tasks[1]', /unknown task "Z--T09"/],
  ['self dependency', manifest(task('A--T01', { depends_on_tasks: ['A--T01'] })), 'A--T01', 'tasks[0].depends_on_tasks[0]', /cannot depend on itself/],
  ['unknown conflicts_with', manifest(task('A--T01', { conflicts_with: ['NOPE'] })), 'A--T01', 'tasks[0].conflicts_with[0]', /unknown task "NOPE"/],
  ['self conflict', manifest(task('A--T01', { conflicts_with: ['A--T01'] })), 'A--T01', 'tasks[0].conflicts_with[0]', /itself/],
  ['duplicate task id', manifest(task('A--T01'), task('B--T01'), task('A--T01')), 'A--T01', 'tasks[2].task_id', /duplicate task id "A--T01" \(first defined at tasks\[0\]\)/],
  [
    'two-task cycle',
    manifest(task('A--T01', { depends_on_tasks: ['B--T01'] }), task('B--T01', { depends_on_tasks: ['A--T01'] })),
    'B--T01',
    'tasks[1].depends_on_tasks[0]',
    /dependency cycle: A--T01 -> B--T01 -> A--T01/,
  ],
  [
    'three-task cycle with whole path',
    manifest(
      task('A--T01', { depends_on_tasks: ['B--T01'] }),
      task('B--T01', { depends_on_tasks: ['C--T01'] }),
      task('C--T01', { depends_on_tasks: ['A--T01'] }),
    ),
    'C--T01',
    'tasks[2].depends_on_tasks[0]',
    /dependency cycle: A--T01 -> B--T01 -> C--T01 -> A--T01/,
  ],
  ['absolute file_scope', manifest(task('A--T01', { file_scope: ['/etc/passwd'] })), 'A--T01', 'tasks[0].file_scope[0]', /absolute/],
  ['.. escape in file_scope', manifest(task('A--T01', { file_scope: ['src/../../etc/'] })), 'A--T01', 'tasks[0].file_scope[0]', /escapes the workspace/],
  ['NUL in test_verification', manifest(task('A--T01', { test_verification: ['a\0.spec.ts'] })), 'A--T01', 'tasks[0].test_verification[0]', /NUL/],
  ['.. after ./ in test_verification', manifest(task('A--T01', { test_verification: ['./tests/../../x.spec.ts'] })), 'A--T01', 'tasks[0].test_verification[0]', /escapes the workspace/],
  ['absolute path written with //', manifest(task('A--T01', { file_scope: ['//etc/passwd'] })), 'A--T01', 'tasks[0].file_scope[0]', /absolute \("\/\/etc\/passwd"\)/],
  ['the workspace root as scope', manifest(task('A--T01', { file_scope: ['./'] })), 'A--T01', 'tasks[0].file_scope[0]', /names the workspace root/],
  ['.git behind ./', manifest(task('A--T01', { file_scope: ['./.git/hooks/'] })), 'A--T01', 'tasks[0].file_scope[0]', /\.git/],
  ['glob behind //', manifest(task('A--T01', { file_scope: ['src//*.ts'] })), 'A--T01', 'tasks[0].file_scope[0]', /glob/],
  ['backslash guide path', manifest(task('A--T01', { related_guides: ['docs\\guide.md'] })), 'A--T01', 'tasks[0].related_guides[0]', /"\/"/],
  ['absolute ADR path', manifest(task('A--T01', { related_adrs: ['/adr/0001.md'] })), 'A--T01', 'tasks[0].related_adrs[0]', /absolute/],
  ['glob in file_scope', manifest(task('A--T01', { file_scope: ['src/**/*.ts'] })), 'A--T01', 'tasks[0].file_scope[0]', /glob/],
  ['file_scope in .git', manifest(task('A--T01', { file_scope: ['.git/hooks/'] })), 'A--T01', 'tasks[0].file_scope[0]', /\.git/],
  ['empty file_scope entry', manifest(task('A--T01', { file_scope: [''] })), 'A--T01', 'tasks[0].file_scope[0]', /.+/],
];

describe('malformed manifests', () => {
  it('has a table of at least 25 cases', () => expect(cases.length).toBeGreaterThanOrEqual(25));

  it.each(cases)('%s', (_name, raw, taskId, path, message) => {
    const problems = problemsOf(raw);
    const match = problems.find((p) => p.path === path);
    if (!match) throw new Error(`no problem at ${path}; got:\n${problems.map(formatProblem).join('\n')}`);
    expect(match.file).toBe(FILE);
    expect(match.taskId).toBe(taskId);
    expect(match.message).toMatch(message);
    // The formatted line names file, task and field, so a user can find it.
    const line = formatProblem(match);
    expect(line).toContain(FILE);
    expect(line).toContain(path);
    if (taskId) expect(line).toContain(`task ${taskId}`);
  });

  it('reports several problems together', () => {
    const problems = problemsOf(
      manifest(task('A--T01', { risk: 'x', title: '' }), task('B--T01', { depends_on_tasks: ['nope'] })),
    );
    // A shape error in one task does not hide the rule problems of another.
    expect(problems.map((p) => p.path).sort()).toEqual(['tasks[0].risk', 'tasks[0].title', 'tasks[1].depends_on_tasks[0]']);
    const rules = problemsOf(
      manifest(task('A--T01', { depends_on_tasks: ['x'] }), task('B--T01', { conflicts_with: ['y'], file_scope: ['/abs'] })),
    );
    expect(rules.map((p) => p.path)).toEqual([
      'tasks[0].depends_on_tasks[0]',
      'tasks[1].conflicts_with[0]',
      'tasks[1].file_scope[0]',
    ]);
  });

  it('does not report a reference to a task whose own shape is invalid as unknown', () => {
    const problems = problemsOf(manifest(task('A--T01', { risk: 'x' }), task('B--T01', { depends_on_tasks: ['A--T01'] })));
    expect(problems.map((p) => p.path)).toEqual(['tasks[0].risk']);
  });

  it('reports invalid JSON with line and column', () => {
    const r = parseManifestText({ text: '{\n  "tasks": [\n    }\n', file: FILE });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error[0].message).toMatch(/invalid JSON at line 3, column 5/);
    expect(r.error[0].file).toBe(FILE);
  });

  it('rejects a top-level array', () => {
    expect(problemsOf([task('A--T01')])[0].message).toMatch(/JSON object with a "tasks" array/);
  });

  it('names a directory written without a trailing slash when a probe knows it', () => {
    const r = parseManifestValue({
      raw: manifest(task('A--T01', { file_scope: ['packages/storage'] })),
      file: FILE,
      probe: { isDirectory: (p) => p === 'packages/storage' },
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error[0]).toMatchObject({ taskId: 'A--T01', path: 'tasks[0].file_scope[0]' });
    expect(r.error[0].message).toMatch(/write it as "packages\/storage\/"/);
  });

  it('finds the cycle in a long chain without overflowing the stack', () => {
    const n = 20000;
    const tasks = Array.from({ length: n }, (_, i) => task(`T${i}`, { depends_on_tasks: i === 0 ? [`T${n - 1}`] : [`T${i - 1}`] }));
    const problems = problemsOf(manifest(...tasks));
    expect(problems).toHaveLength(1);
    expect(problems[0].message).toMatch(/^dependency cycle: T0 -> T19999 -> T19998/);
  });
});

describe('cross-manifest rules', () => {
  it('names both files when a task id is defined twice', () => {
    const a = parseManifestValue({ raw: manifest(task('A--T01')), file: 'a/vtm.json' });
    const b = parseManifestValue({ raw: manifest(task('B--T01'), task('A--T01')), file: 'b/vtm.json' });
    if (!a.ok || !b.ok) throw new Error('fixtures must be valid');
    const problems = getCrossManifestProblems([
      { file: 'a/vtm.json', manifest: a.value },
      { file: 'b/vtm.json', manifest: b.value },
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'b/vtm.json', taskId: 'A--T01', path: 'tasks[1].task_id' });
    expect(problems[0].message).toContain('a/vtm.json');
  });
});

describe('ManifestError', () => {
  it('carries a readable message without a JavaScript stack', () => {
    const e = new ManifestError(problemsOf(manifest(task('A--T01', { risk: 'x' }))));
    expect(e.message).toMatch(/^Invalid Virtual Task Manifest docs\/backlog\/virtual-task-manifest.json \(1 problem\):/);
    expect(e.stack).toBe(e.message);
    expect(e.stack).not.toMatch(/\n\s+at /);
  });

  it('caps very long lists', () => {
    const problems = Array.from({ length: 120 }, (_, i) => ({ file: FILE, path: `tasks[${i}].risk`, message: 'bad' }));
    const text = formatProblems(problems);
    expect(text).toMatch(/\.\.\. and 70 more$/);
  });
});

describe('dependencies across manifests', () => {
  it('accepts a dependency on a task of another manifest and reports cross-manifest cycles', () => {
    const a = parseManifestValue({ raw: manifest(task('A--T01', { depends_on_tasks: ['B--T01'] })), file: 'a.json', externalIds: ['B--T01'] });
    const b = parseManifestValue({ raw: manifest(task('B--T01', { depends_on_tasks: ['A--T01'] })), file: 'b.json', externalIds: ['A--T01'] });
    if (!a.ok || !b.ok) throw new Error('each manifest is valid on its own');
    const problems = getCrossManifestProblems([
      { file: 'a.json', manifest: a.value },
      { file: 'b.json', manifest: b.value },
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0].message).toMatch(/dependency cycle: A--T01 -> B--T01 -> A--T01 \(across a\.json, b\.json\)/);
  });
});
