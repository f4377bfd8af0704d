/**
 * Workspace-relative paths in the manifest (file_scope, test_verification, related documents).
 *
 * Every path must stay inside the workspace: agents get these paths as their allowed scope and the runner reads and
 * hashes them, so an absolute path or a `..` escape would let a manifest point the tool at any file on the machine.
 * Two spellings of one file must not dodge the file-scope conflict check, so parsing rewrites the harmless spellings
 * planners produce (`./tests/x.spec.ts`, `src//a.ts`, `src/./a.ts`) into one form (`normaliseManifestPath`) before
 * any rule or consumer sees them; what cannot be rewritten safely (`\`, `..`, absolute paths) is refused.
 */

const GLOB_CHARS = /[*?[\]{}]/;

/**
 * Paths that are certainly normalised and acceptable: segments of ordinary characters, none starting with "." (so no
 * `.`, `..` or `.git`), no glob characters, whitespace, `\`, `:`, `~` or NUL, at most one trailing "/". Almost every
 * path a planner writes is one; checking them with one regular expression instead of the full rules below keeps
 * parsing a 10,000-task manifest cheap. Anything else takes the full path (which may still accept it).
 */
const PLAIN_PATH = /^[A-Za-z0-9_@+=,-][A-Za-z0-9_@+=,.-]*(?:\/[A-Za-z0-9_@+=,-][A-Za-z0-9_@+=,.-]*)*\/?$/;

/**
 * The one spelling of a manifest path: empty and `.` segments dropped (`./a`, `a//b`, `a/./b` -> `a`, `a/b`,
 * `a/b`), a trailing "/" kept (and added for a trailing `/.`, which names a directory). Paths that are refused
 * whatever their spelling are returned unchanged, so the refusal quotes what the user wrote: absolute ones (`//x`
 * must not turn into a relative `x`), ones with `\`, NUL or surrounding whitespace, and ones naming the workspace
 * root itself (`.`, `./`). `..` segments are kept (and refused by `getPathProblem`). Pure.
 */
export function normaliseManifestPath(p: string): string {
  if (PLAIN_PATH.test(p)) return p;
  if (p.startsWith('/') || p.includes('\\') || p.includes('\0') || p.trim() !== p) return p;
  const segments = p.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0) return p;
  const directory = p.endsWith('/') || p.endsWith('/.');
  return segments.join('/') + (directory ? '/' : '');
}

/**
 * Why a manifest path is unacceptable, or undefined when it is fine. Expects a path already passed through
 * `normaliseManifestPath` (the manifest parser does that); a raw path with `./` or `//` is reported as not normalised.
 * Pure.
 */
export function getPathProblem(p: string, { allowGlob = false }: { allowGlob?: boolean } = {}): string | undefined {
  if (PLAIN_PATH.test(p)) return undefined;
  if (p.includes('\0')) return 'contains a NUL character';
  if (p.trim() !== p) return `has leading or trailing whitespace: ${JSON.stringify(p)}`;
  if (p.includes('\\')) return `uses "\\"; write paths with "/" (e.g. ${JSON.stringify(p.replace(/\\/g, '/'))})`;
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return `is absolute (${JSON.stringify(p)}); write it relative to the workspace root`;
  if (p === '~' || p.startsWith('~/')) return `points into a home directory (${JSON.stringify(p)}); write it relative to the workspace root`;
  const body = p.endsWith('/') ? p.slice(0, -1) : p;
  const segments = body.split('/');
  if (segments.includes('..')) return `escapes the workspace with ".." (${JSON.stringify(p)})`;
  if (segments.every((s) => s === '' || s === '.')) {
    return `names the workspace root itself (${JSON.stringify(p)}); list the files or directories (ending with "/") inside it`;
  }
  if (segments.some((s) => s === '' || s === '.')) {
    return `is not normalised (${JSON.stringify(p)}); write ${JSON.stringify(normaliseManifestPath(p))}`;
  }
  if (segments[0] === '.git') return `points into .git (${JSON.stringify(p)})`;
  if (!allowGlob && GLOB_CHARS.test(p)) {
    return `contains glob characters (${JSON.stringify(p)}); list files, or a directory ending with "/"`;
  }
  return undefined;
}

/** A path written with a trailing "/" names a directory and everything in it. */
export const isDirectoryEntry = (p: string): boolean => p.endsWith('/');

const stripSlash = (p: string): string => (p.endsWith('/') ? p.slice(0, -1) : p);

/**
 * Whether two scope entries can touch the same file: equal, or one is a directory prefix of the other on a "/"
 * boundary (`src/` covers `src/a.ts`; `src/a` does not cover `src/ab.ts`). A directory written without its trailing
 * slash is treated as covering its contents too: for conflicts, over-reporting serialises two tasks, under-reporting
 * lets two agents edit one file.
 */
export function scopeEntriesOverlap(a: string, b: string): boolean {
  const x = stripSlash(a);
  const y = stripSlash(b);
  return x === y || y.startsWith(`${x}/`) || x.startsWith(`${y}/`);
}

/** The first pair of overlapping entries of two scopes, or undefined. */
export function findScopeOverlap(a: readonly string[], b: readonly string[]): [string, string] | undefined {
  for (const x of a) for (const y of b) if (scopeEntriesOverlap(x, y)) return [x, y];
  return undefined;
}

/** Whether a file path lies within a scope (used by the diff audit). */
export function isPathInScope(file: string, scope: readonly string[]): boolean {
  return scope.some((entry) => {
    const e = stripSlash(entry);
    return file === e || file.startsWith(`${e}/`);
  });
}

/**
 * Related documents are paths, but planners also write named references such as "ADR-0002: Dual Hash Migration".
 * A reference with a "/" or a file extension is a path; anything else is a name resolved at run time.
 */
export function isNamedDocReference(ref: string): boolean {
  return !ref.includes('/') && !/\.[A-Za-z0-9]{1,8}$/.test(ref);
}
