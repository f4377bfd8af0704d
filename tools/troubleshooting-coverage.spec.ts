/**
 * docs/troubleshooting.md must explain every code users can see. This spec collects them from the plugin's sources
 * (not from a hand-kept list, so a new code cannot slip through): the `BLOCKED::` and `WARN::` codes, the reason
 * codes of blocked tasks, the `<prefix>:<task_id>` reasons, the cases of `worktree_failed`, and the agent outcome
 * statuses; then fails naming each one the page does not mention.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..');
const SRC = join(ROOT, 'packages/nx-vtm/src');
const DOC = join(ROOT, 'docs/troubleshooting.md');

/** Production sources: tests, fixtures and test helpers produce no user-visible codes. */
function listSources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== '__fixtures__' && entry.name !== 'test-support') out.push(...listSources(path));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') && !entry.name.endsWith('.d.ts')) {
      out.push(path);
    }
  }
  return out;
}

const sources = listSources(SRC).map((file) => ({ file: relative(SRC, file), text: readFileSync(file, 'utf8') }));
const sourceOf = (file: string): string => {
  const found = sources.find((s) => s.file === file);
  if (!found) throw new Error(`${file} not found under packages/nx-vtm/src: update this spec`);
  return found.text;
};

/** Files whose snake_case string literals are (mostly) reason codes of blocked tasks. */
const REASON_FILES = [
  'runtime/pipeline.ts',
  'runtime/shared-checkout.ts',
  'runtime/run-tasks.ts',
  'runtime/hooks.ts',
  'runtime/report.ts',
  'runtime/cache-restore.ts',
  'workspace/integrate.ts',
  'workspace/worktree.ts',
  'state/task-store.ts',
  'state/task-record.ts',
  'state/state-file.ts',
  'agents/outcome.ts',
  'cli/pulse.ts',
];

/** Snake_case literals in REASON_FILES that are not reason codes (field names, integration statuses, meta keys). */
const NOT_REASONS = new Set([
  // integration statuses (documented in state-and-reports.md)
  'already_integrated',
  'applied_from_cache',
  'branch_left',
  'no_changes',
  'not_applicable',
  // the outcome of fetching the remote's integration branch (option remote), logged, never a reason
  'fast_forwarded',
  // task-state.json / store field and meta names
  'completed_at',
  'started_at',
  'run_id',
  'task_hash',
  'test_results',
  'manifest_hash',
  'schema_version',
  'dispatch_paused_reason',
  'dispatch_paused_until',
  'state_rev',
  'projection_rev',
  'projection_size',
  'latest_completed',
  // a folder name
  'node_modules',
]);

const unique = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();
const matchAll = (text: string, re: RegExp, group = 1): string[] => [...text.matchAll(re)].map((m) => m[group]);

function collectCodes(): { blocked: string[]; warn: string[]; reasons: string[]; prefixed: string[]; outcomes: string[] } {
  const all = sources.map((s) => s.text).join('\n');
  const blocked = unique(matchAll(all, /\b(BLOCKED::[A-Z]+(?:-[A-Z]+)*)/g));
  const warn = unique(matchAll(all, /\b(WARN::[A-Z]+(?:-[A-Z]+)*)/g));
  const reasons = unique(
    REASON_FILES.flatMap((file) => matchAll(sourceOf(file), /'([a-z]+(?:_[a-z]+)+)'/g)).filter((r) => !NOT_REASONS.has(r)),
  );
  // One-word reasons: only the imported-state mapping writes them as `reason: '<word>'`.
  const imported = matchAll(sourceOf('state/state-file.ts'), /reason: '([a-z]+)'/g);
  // `dependency_failed:${id}` and the like.
  const prefixed = unique(matchAll(all, /reason[^`\n]{0,40}`([a-z]+(?:_[a-z]+)+):\$\{/g));
  const statuses = /AGENT_OUTCOME_STATUSES = \[([^\]]*)\]/.exec(sourceOf('agents/outcome.ts'));
  const outcomes = statuses ? matchAll(statuses[1], /'([a-z_]+)'/g) : [];
  return { blocked, warn, reasons: unique([...reasons, ...imported]), prefixed, outcomes };
}

describe('docs/troubleshooting.md covers every code the plugin produces', () => {
  const doc = readFileSync(DOC, 'utf8');
  const codes = collectCodes();
  const mentions = (code: string): boolean => new RegExp(`(^|[^A-Za-z0-9_:-])${code.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9_-])`).test(doc);

  it('finds the codes in the sources (the extraction still works)', () => {
    expect(codes.blocked).toEqual(expect.arrayContaining(['BLOCKED::DIRTY-GIT-STATUS', 'BLOCKED::MISSING-CONTEXT', 'BLOCKED::EMPTY-AC']));
    expect(codes.warn).toEqual(expect.arrayContaining(['WARN::WIP-OVERLOAD', 'WARN::STALE-CLAIM']));
    expect(codes.reasons).toEqual(expect.arrayContaining(['agent_failed', 'scope_violation', 'verification_failed', 'merge_conflict', 'owner_lost', 'partial']));
    expect(codes.prefixed).toContain('dependency_failed');
    expect(codes.outcomes).toEqual(expect.arrayContaining(['completed', 'stalled', 'rate_limited']));
  });

  it('explains every BLOCKED:: code', () => {
    expect(codes.blocked.filter((c) => !mentions(c))).toEqual([]);
  });

  it('explains every WARN:: flag', () => {
    expect(codes.warn.filter((c) => !mentions(c))).toEqual([]);
  });

  it('explains every reason code (and every worktree_failed case)', () => {
    expect(codes.reasons.filter((r) => !doc.includes(`\`${r}\``))).toEqual([]);
  });

  it('explains every <reason>:<task_id> form', () => {
    expect(codes.prefixed.filter((p) => !doc.includes(`\`${p}:<task_id>\``))).toEqual([]);
  });

  it('explains the reason recorded for every agent outcome', () => {
    // failed, partial and blocked are recorded as agent_failed, agent_partial and agent_blocked; the others as-is.
    const recorded = codes.outcomes.filter((s) => s !== 'completed').map((s) => (['failed', 'partial', 'blocked'].includes(s) ? `agent_${s}` : s));
    expect(recorded.filter((r) => !doc.includes(`\`${r}\``))).toEqual([]);
  });
});
