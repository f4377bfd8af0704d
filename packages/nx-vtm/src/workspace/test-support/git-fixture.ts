/**
 * Real temporary git repositories for workspace specs: `git init -b main`, a local identity, and real commits.
 * Setup uses synchronous `execFileSync` (argv arrays) for brevity; the code under test goes through `runGit`.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TempRepo {
  /** Real path of the main checkout. */
  root: string;
  /** Run git in the repo (or in `cwd`) and return trimmed stdout; throws on failure (setup bugs should be loud). */
  git(args: readonly string[], cwd?: string): string;
  /** Write files (relative paths) in `cwd` (default the root). */
  write(files: Record<string, string>, cwd?: string): void;
  /** Write files, `git add -A`, commit; returns the new sha. */
  commit(files: Record<string, string>, message: string, cwd?: string): string;
  cleanup(): void;
}

/** Environment that keeps the machine's global and system git config out of the specs. */
export const isolatedGitEnv = (home: string): NodeJS.ProcessEnv => ({
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: home,
  XDG_CONFIG_HOME: path.join(home, '.config'),
});

export function makeTempRepo({ gitignore = 'node_modules/\n.vtm/\n' }: { gitignore?: string } = {}): TempRepo {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nx-vtm-ws-')));
  const git = (args: readonly string[], cwd = root) =>
    execFileSync('git', [...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const write = (files: Record<string, string>, cwd = root) => {
    for (const [rel, content] of Object.entries(files)) {
      const file = path.join(cwd, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
    }
  };
  const commit = (files: Record<string, string>, message: string, cwd = root) => {
    write(files, cwd);
    git(['add', '-A'], cwd);
    git(['commit', '-q', '-m', message], cwd);
    return git(['rev-parse', 'HEAD'], cwd);
  };
  git(['init', '-q', '-b', 'main']);
  git(['config', 'user.name', 'Spec Author']);
  git(['config', 'user.email', 'spec@example.com']);
  git(['config', 'commit.gpgsign', 'false']);
  commit({ '.gitignore': gitignore, 'README.md': '# repo\n' }, 'initial');
  return { root, git, write, commit, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}
