/**
 * Keeps `nx run-many --outputStyle=stream` readable for the demo.
 *
 * With a batch executor Nx shows each task's output twice: live, as nx-vtm prints it ("[TASK_ID] line"), and again
 * when the task's result arrives ("> nx run TASK_ID:implement", a blank line, then the same lines as the task's
 * terminal output, without a final newline, so the next live line is glued to its last line). The filter puts glued
 * lines back on their own lines and leaves out a replayed block whose every line was already shown live. Anything
 * else passes unchanged: a block with a line not seen before (a cache replay, a message only Nx printed) is printed
 * whole, so the filter hides repetition but no news. A cache hit's replay (the output the task printed when it ran,
 * shown again under "> nx run TASK_ID:implement  [local cache]") is shortened to its header and a line count: it
 * describes the earlier run, and printed in full it reads as if the agents had run again.
 */

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const CACHE_HIT = /\[(?:local cache|remote cache|existing outputs match the cache)/;
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A line filter for nx's stdout. `push` takes chunks as they arrive, `end` flushes the rest; `write` receives the
 * text to print. Only the ids in `taskIds` are recognised.
 */
function createOutputFilter({ taskIds, write, dim = (s) => s }) {
  const ids = taskIds.map(escapeRegExp).join('|');
  const glued = new RegExp(`(?<!^)(?=\\[(?:${ids})\\] )`);
  const liveLine = new RegExp(`^\\[(${ids})\\] (.*)$`);
  const header = new RegExp(`^> nx run (${ids}):\\S+`);
  /** Lines already shown live, per task; `null` holds lines printed live without a task prefix. */
  const seen = new Map();
  const remember = (id, text) => {
    if (!seen.has(id)) seen.set(id, new Set());
    seen.get(id).add(text.trim());
  };
  const wasSeen = (id, text) => seen.get(id)?.has(text.trim()) || seen.get(null)?.has(text.trim());
  let block = null; // { id, before, lines: [{ raw, plain }] } of the replay being read
  let blankLines = 0; // blank lines not printed yet: they belong to a replay block when one follows
  let partial = '';
  const writeBlankLines = () => {
    for (; blankLines > 0; blankLines--) write('\n');
  };

  const flushBlock = () => {
    if (!block) return;
    const { id, before, lines } = block;
    block = null;
    const [head, ...body] = lines;
    const content = body.filter((l) => l.plain.trim() !== '');
    let trailing = 0; // blank lines ending the block: they separate it from what follows, so they are kept
    while (trailing < body.length && body[body.length - 1 - trailing].plain.trim() === '') trailing++;
    if (content.length > 0 && content.every((l) => wasSeen(id, l.plain))) {
      blankLines += trailing;
      return;
    }
    for (let i = 0; i < before; i++) write('\n');
    if (CACHE_HIT.test(head.plain) && content.length > 0) {
      const n = content.length;
      write(`${head.raw}  ${dim(`(${n === 1 ? 'its line' : `its ${n} lines`} from the earlier run not repeated here)`)}\n`);
      blankLines += trailing;
      return;
    }
    write(`${head.raw}\n`);
    for (const l of body) write(`${l.raw}\n`);
  };

  const onLine = (raw) => {
    const plain = raw.replace(ANSI, '');
    const live = liveLine.exec(plain);
    if (live) {
      flushBlock();
      writeBlankLines();
      remember(live[1], live[2]);
      write(`${raw}\n`);
      return;
    }
    const replay = header.exec(plain);
    if (replay) {
      flushBlock();
      block = { id: replay[1], before: blankLines, lines: [{ raw, plain }] };
      blankLines = 0;
      return;
    }
    if (block && !/^\s*NX\s/.test(plain)) {
      block.lines.push({ raw, plain });
      return;
    }
    flushBlock();
    if (plain.trim() === '') {
      blankLines++;
      return;
    }
    writeBlankLines();
    remember(null, plain);
    write(`${raw}\n`);
  };

  const onRawLine = (raw) => {
    // Split at a "[TASK_ID] " glued to the end of the line before it (ANSI codes never sit inside the prefix).
    for (const part of raw.split(glued)) onLine(part);
  };

  return {
    push(chunk) {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const line of lines) onRawLine(line);
    },
    end() {
      if (partial !== '') onRawLine(partial);
      partial = '';
      flushBlock();
      writeBlankLines();
    },
  };
}

module.exports = { createOutputFilter };
