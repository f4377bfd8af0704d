import { canonicalJson, hashManifest, hashTask } from './hash';
import { taskSchema } from './schema';

describe('hashes', () => {
  const base = { task_id: 'A', title: 't', acceptance_criteria: [{ id: '1', text: 'x' }], risk: 'Low' };

  it('ignores the order of known fields in the file', () => {
    const a = taskSchema.parse(base);
    const b = taskSchema.parse({ risk: 'Low', acceptance_criteria: [{ text: 'x', id: '1' }], title: 't', task_id: 'A' });
    expect(hashTask(a)).toBe(hashTask(b));
  });

  it('changes with any content change, including an explicit default becoming non-default', () => {
    const a = taskSchema.parse(base);
    expect(hashTask(taskSchema.parse({ ...base, description: 'x' }))).not.toBe(hashTask(a));
    expect(hashTask(taskSchema.parse({ ...base, parallel: false }))).not.toBe(hashTask(a));
    expect(hashTask(taskSchema.parse({ ...base, parallel: true }))).toBe(hashTask(a));
  });

  it('hashes the manifest over status and tasks', () => {
    const tasks = [taskSchema.parse(base)];
    expect(hashManifest({ status: 'OK', tasks })).not.toBe(hashManifest({ status: 'BLOCKED', tasks }));
    expect(hashManifest({ status: 'OK', tasks, manifest_hash: 'x' })).toBe(hashManifest({ status: 'OK', tasks }));
  });

  it('canonicalJson sorts keys at every level and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
  });
});
