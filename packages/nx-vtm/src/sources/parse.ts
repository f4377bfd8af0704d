/** One entry point over the format parsers (pure): the source's text in, `ParsedSource` out. */
import type { ParsedSource, SourceType } from './types';
import { parseTodoMd } from './todo-md';
import { parseBeadsJsonl } from './beads';
import { parseTaskmasterJson } from './taskmaster';
import { parseSpeckitTasks } from './speckit';

export function parseSourceText({ type, text, tag = 'master', now }: { type: SourceType; text: string; tag?: string; now: number }): ParsedSource {
  switch (type) {
    case 'todo-md':
      return parseTodoMd({ text });
    case 'beads':
      return parseBeadsJsonl({ text, now });
    case 'taskmaster':
      return parseTaskmasterJson({ text, tag });
    case 'speckit':
      return parseSpeckitTasks({ text });
  }
}
