import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildManifestJsonSchema } from './schema';

describe('shipped manifest JSON Schema', () => {
  it('matches the zod schema (run `npm run schema` after changing schema.ts)', () => {
    const shipped = JSON.parse(readFileSync(join(__dirname, '../../manifest.schema.json'), 'utf8'));
    expect(shipped).toEqual(buildManifestJsonSchema());
  });

  it('describes every task field for editors', () => {
    const schema = buildManifestJsonSchema() as any;
    const taskProps = schema.properties.tasks.items.properties;
    for (const field of [
      'task_id', 'capability_id', 'phase', 'slice', 'title', 'description', 'acceptance_criteria', 'risk', 'est',
      'depends_on_tasks', 'related_specs', 'related_adrs', 'related_guides', 'test_verification', 'file_scope',
      'conflicts_with', 'parallel', 'provisional', 'gap_codes',
    ]) {
      expect(taskProps[field]).toBeDefined();
      expect(typeof taskProps[field].description).toBe('string');
    }
    expect(schema.properties.tasks.items.required).toEqual(['task_id', 'title', 'acceptance_criteria', 'risk']);
    expect(schema.properties.tasks.items.additionalProperties).toEqual({});
  });
});
