import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readUtf8File } from './text-file';

describe('readUtf8File', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-text-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['ASCII', '{"tasks":[{"task_id":"A--T01","title":"plain"}]}\n'],
    ['accents and an emoji', '{"title":"Créer l\'accès 🚀"}'],
    ['a byte-order mark', '\uFEFF{"tasks":[]}'],
    ['empty', ''],
  ])('gives what a UTF-8 read gives: %s', (_name, text) => {
    const file = path.join(dir, 'f.json');
    fs.writeFileSync(file, text, 'utf8');
    expect(readUtf8File(file)).toBe(fs.readFileSync(file, 'utf8'));
  });

  it('decodes invalid UTF-8 as a UTF-8 read does (replacement characters), not byte for byte', () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, Buffer.from([0x7b, 0xe9, 0x7d]));
    expect(readUtf8File(file)).toBe('{\uFFFD}');
  });

  it('throws as readFileSync does for a missing file', () => {
    expect(() => readUtf8File(path.join(dir, 'missing.json'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
