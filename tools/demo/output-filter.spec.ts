/**
 * The demo's output filter: a task's output that Nx repeats after the batch executor printed it live is left out,
 * lines Nx glued together are split, and nothing that was not shown already is lost.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createOutputFilter } = require('./output-filter') as {
  createOutputFilter(args: { taskIds: string[]; write: (text: string) => void; dim?: (s: string) => string }): {
    push(chunk: string): void;
    end(): void;
  };
};

const IDS = ['A--T01', 'B--T01'];

/** Feed `chunks` through a filter and return what it printed. */
function filter(chunks: string[]): string {
  let out = '';
  const f = createOutputFilter({ taskIds: IDS, write: (t) => (out += t) });
  for (const c of chunks) f.push(c);
  f.end();
  return out;
}

// What nx run-many --outputStyle=stream prints for a two-task batch: live lines, then each task's output again
// (without a final newline, so the next live line is glued to it), then the summary.
const STREAM = [
  '\n NX   Running 2 tasks with nx-vtm:implement\n\n',
  '[A--T01] A--T01: started\n[B--T01] waiting: 3 of 3 slots busy\n[A--T01] verification passed\n[A--T01] A--T01: success\n',
  '\n> nx run A--T01:implement\n\nA--T01: started\nverification passed\nA--T01: suc',
  'cess[B--T01] B--T01: started\n[B--T01] B--T01: success\n',
  '\n> nx run B--T01:implement\n\nwaiting: 3 of 3 slots busy\nB--T01: started\nB--T01: success\n\n\n NX   Successfully ran target implement\n',
].join('');

const SHOWN_ONCE = [
  '',
  ' NX   Running 2 tasks with nx-vtm:implement',
  '',
  '[A--T01] A--T01: started',
  '[B--T01] waiting: 3 of 3 slots busy',
  '[A--T01] verification passed',
  '[A--T01] A--T01: success',
  '[B--T01] B--T01: started',
  '[B--T01] B--T01: success',
  '',
  '',
  ' NX   Successfully ran target implement',
  '',
].join('\n');

describe('createOutputFilter', () => {
  it("leaves out Nx's repeat of output shown live, and splits the line glued to it", () => {
    expect(filter([STREAM])).toBe(SHOWN_ONCE);
  });

  it('gives the same result however the stream is cut into chunks', () => {
    expect(filter(STREAM.split(''))).toBe(SHOWN_ONCE);
    expect(filter(STREAM.split('\n').map((l, i, all) => (i < all.length - 1 ? `${l}\n` : l)))).toBe(SHOWN_ONCE);
  });

  it('prints a repeated block whole when it holds a line not shown live', () => {
    const stream = '[A--T01] A--T01: started\n\n> nx run A--T01:implement\n\nA--T01: started\nnx-vtm: something only in the stored output\n';
    expect(filter([stream])).toBe(
      '[A--T01] A--T01: started\n\n> nx run A--T01:implement\n\nA--T01: started\nnx-vtm: something only in the stored output\n',
    );
  });

  it("shortens a cache hit's replay of the earlier run to its header and a line count", () => {
    const stream = '\n> nx run A--T01:implement  [local cache]\n\nA--T01: started\nA--T01: success\n> nx run B--T01:implement  [local cache]\n\nB--T01: success\n\n NX   done\n';
    expect(filter([stream])).toBe(
      '\n> nx run A--T01:implement  [local cache]  (its 2 lines from the earlier run not repeated here)\n' +
        '> nx run B--T01:implement  [local cache]  (its line from the earlier run not repeated here)\n\n NX   done\n',
    );
  });

  it('passes output of unknown tasks and plain lines through unchanged, ANSI colours included', () => {
    const stream = '\x1b[1m NX \x1b[22m Running\n> nx run OTHER--T01:implement\n\nsome output\n[OTHER--T01] live\n';
    expect(filter([stream])).toBe(stream);
  });
});
