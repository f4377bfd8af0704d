/**
 * docs/manifest.md is generated from packages/nx-vtm/manifest.schema.json by tools/generate-manifest-docs.js; these
 * tests fail when the committed page has drifted from the schema (or from the script's hand-written text), and check
 * that the generator documents every field the schema has.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface JsonSchemaNode {
  type?: string;
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  required?: string[];
  description?: string;
  default?: unknown;
  [key: string]: unknown;
}

interface Generator {
  buildManifestDocs(schema: JsonSchemaNode): string;
  readSchema(file?: string): JsonSchemaNode;
  isUpToDate(files?: { schemaFile?: string; docFile?: string }): boolean;
  SCHEMA_FILE: string;
  DOC_FILE: string;
}

// A CommonJS script (run with plain `node`), so it is required rather than imported.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const generator: Generator = require('./generate-manifest-docs.js');

/** Every (path, field) pair of the schema, e.g. ["tasks[].est", "minutes"]. */
function listFields(node: JsonSchemaNode, where = ''): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, prop] of Object.entries(node.properties ?? {})) {
    out.push([where, name]);
    const child = prop.type === 'array' ? prop.items : prop;
    if (child?.properties) out.push(...listFields(child, `${where}${where ? '.' : ''}${name}${prop.type === 'array' ? '[]' : ''}`));
  }
  return out;
}

/** The rows of the field table under the heading for `where` ("" is the top level). */
function tableRows(doc: string, where: string): string[] {
  const heading = where === '' ? '### Manifest (top level)' : `### \`${where}\``;
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) return [];
  const rest = doc.slice(start + heading.length + 2);
  const end = rest.search(/\n#{2,3} /);
  return (end < 0 ? rest : rest.slice(0, end)).split('\n').filter((l) => l.startsWith('| `'));
}

describe('docs/manifest.md', () => {
  const schema = generator.readSchema();

  it('is exactly what tools/generate-manifest-docs.js generates from manifest.schema.json', () => {
    const committed = readFileSync(generator.DOC_FILE, 'utf8');
    const generated = generator.buildManifestDocs(schema);
    if (committed !== generated) {
      throw new Error('docs/manifest.md is out of date with packages/nx-vtm/manifest.schema.json: run `node tools/generate-manifest-docs.js` and commit it');
    }
  });

  it('documents every field of the schema in the table of its object, with required and default', () => {
    const doc = generator.buildManifestDocs(schema);
    const fields = listFields(schema);
    expect(fields.length).toBeGreaterThan(20);
    for (const [where, name] of fields) {
      const row = tableRows(doc, where).find((r) => r.startsWith(`| \`${name}\` |`));
      if (!row) throw new Error(`field ${where ? `${where}.` : ''}${name} is missing from the generated page`);
      const parent = where === '' ? schema : findNode(schema, where);
      const required = (parent.required ?? []).includes(name);
      expect(row.split(' | ')[2]).toBe(required ? 'yes' : 'no');
      const prop = parent.properties![name];
      if ('default' in prop) expect(row).toContain(`\`${JSON.stringify(prop.default)}\``);
    }
  });

  it('picks up a field added to the schema, with its description and constraints', () => {
    const changed: JsonSchemaNode = JSON.parse(JSON.stringify(schema));
    const task = changed.properties!.tasks.items!;
    task.properties!.owner_team = { type: 'string', minLength: 1, description: 'Team that owns the task.' };
    task.required = [...(task.required ?? []), 'owner_team'];
    const row = tableRows(generator.buildManifestDocs(changed), 'tasks[]').find((r) => r.startsWith('| `owner_team` |'));
    expect(row).toBe('| `owner_team` | string | yes | – | Team that owns the task. Must not be empty. |');
  });

  it('escapes table pipes in patterns', () => {
    const row = tableRows(generator.buildManifestDocs(schema), 'tasks[]').find((r) => r.startsWith('| `task_id` |'))!;
    expect(row).toContain('[A-Za-z0-9_-]\\|\\.(?!\\.)');
    expect(row.split(/(?<!\\)\|/).length).toBe(7); // 5 cells between the outer pipes
  });

  it('--check mode reports drift and accepts an up-to-date file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtm-manifest-docs-'));
    try {
      const docFile = join(dir, 'manifest.md');
      writeFileSync(docFile, generator.buildManifestDocs(schema));
      expect(generator.isUpToDate({ docFile })).toBe(true);
      writeFileSync(docFile, `${readFileSync(docFile, 'utf8')}\nhand edit\n`);
      expect(generator.isUpToDate({ docFile })).toBe(false);
      expect(generator.isUpToDate({ docFile: join(dir, 'absent.md') })).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The object node at a documented path such as `tasks[].est`. */
function findNode(schema: JsonSchemaNode, where: string): JsonSchemaNode {
  let node = schema;
  for (const part of where.split('.')) {
    const name = part.replace(/\[\]$/, '');
    const prop = node.properties![name];
    node = part.endsWith('[]') ? prop.items! : prop;
  }
  return node;
}
