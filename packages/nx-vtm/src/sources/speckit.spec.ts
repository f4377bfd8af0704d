import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSpeckitTasks } from './speckit';
import { buildSourceManifest } from './build-manifest';

const text = readFileSync(join(__dirname, '__fixtures__/tasks.md'), 'utf8');

describe('parseSpeckitTasks', () => {
  const parsed = parseSpeckitTasks({ text });
  const byId = new Map(parsed.tasks.map((t) => [t.id, t]));
  const deps = (id: string) => byId.get(id)!.dependsOn.map((d) => d.id);

  it('reads Tnnn lines with [X] as done, phases, [P] and [USn] markers removed from the title', () => {
    expect(parsed.tasks.map((t) => t.id)).toEqual(['T001', 'T002', 'T003', 'T004', 'T005', 'T006', 'T007', 'T008', 'T009', 'T010']);
    expect(byId.get('T001')!.status).toBe('done');
    expect(byId.get('T006')).toMatchObject({ title: 'Create Album model in src/models/album.ts', phase: 'Phase 3', line: 34 });
  });

  it('takes paths in the line as the file scope', () => {
    expect(byId.get('T004')!.fileScope).toEqual(['src/db/schema.sql']);
    expect(byId.get('T002')!.fileScope).toBeUndefined(); // "package.json" has no folder: not recognised as a path
    expect(byId.get('T010')!.fileScope).toBeUndefined();
  });

  it('orders phases; stories wait only for the phases before them; [P] tasks do not wait for the ones above', () => {
    expect(deps('T003')).toEqual([]); // [P] in Phase 1
    expect(deps('T002')).toEqual(['T001']);
    expect(deps('T004')).toEqual(['T001', 'T002', 'T003']);
    expect(deps('T006')).toEqual(['T001', 'T002', 'T003', 'T004', 'T005']);
    expect(deps('T008')).toEqual(['T001', 'T002', 'T003', 'T004', 'T005']); // not on story 1
    expect(deps('T007')).toEqual(['T006', 'T001', 'T002', 'T003', 'T004', 'T005']); // prose "(depends on T006)"
    expect(deps('T009')).toEqual(expect.arrayContaining(['T006', 'T007', 'T008']));
    expect(deps('T010')).toContain('T009');
  });

  it("gives story tasks their phase's Independent Test as acceptance criterion", () => {
    expect(byId.get('T008')!.acceptance).toEqual(['Independent test of User Story 2 - Drag albums (Priority: P2): Drag an album onto another and see the order saved.']);
  });

  it('reports a task id used twice', () => {
    expect(parseSpeckitTasks({ text: '- [ ] T001 a\n- [ ] T001 b\n' }).problems).toEqual([{ line: 2, taskId: 'T001', message: 'T001 appears twice (also at line 1); renumber one of them' }]);
  });
});

describe('buildSourceManifest on Spec Kit', () => {
  it('builds a valid manifest with phase projects and no edges to done tasks', () => {
    const built = buildSourceManifest({ type: 'speckit', file: 'specs/001-photo-albums/tasks.md', parsed: parseSpeckitTasks({ text }), wideScope: ['src/'] });
    if (!built.ok) throw new Error(JSON.stringify(built.error, null, 1));
    const t = new Map(built.value.manifest.tasks.map((x) => [x.task_id, x]));
    expect(t.has('T001')).toBe(false);
    expect(t.get('T002')!.depends_on_tasks).toEqual([]);
    expect(t.get('T006')!.phase).toBe('Phase 3');
  });
});
