import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getIdentityEnv } from './identity';

// The fallback identity fills in only what neither git config nor the environment provides (read with one git process).
describe('getIdentityEnv', () => {
  let root: string;
  const saved = { ...process.env };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, stdio: 'pipe' });
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'vtm-identity-'));
    // Only this repository's config counts: no global or system identity of the machine running the tests.
    process.env.GIT_CONFIG_GLOBAL = '/dev/null';
    process.env.GIT_CONFIG_NOSYSTEM = '1';
    for (const k of Object.keys(process.env)) if (/^GIT_(AUTHOR|COMMITTER)_(NAME|EMAIL)$/.test(k)) delete process.env[k];
    git('init', '-q');
  });
  afterEach(() => {
    process.env = { ...saved };
    rmSync(root, { recursive: true, force: true });
  });

  it('is empty when git config names both', async () => {
    git('config', 'user.name', 'Ada');
    git('config', 'user.email', 'ada@example.com');
    expect(await getIdentityEnv(root)).toEqual({});
  });

  it('fills in only the missing key; a key set to blanks counts as missing', async () => {
    git('config', 'user.Name', 'Ada');
    expect(await getIdentityEnv(root)).toEqual({ GIT_AUTHOR_EMAIL: 'nx-vtm@localhost', GIT_COMMITTER_EMAIL: 'nx-vtm@localhost' });
    git('config', 'user.name', '  ');
    git('config', 'user.email', 'ada@example.com');
    expect(await getIdentityEnv(root)).toEqual({ GIT_AUTHOR_NAME: 'nx-vtm', GIT_COMMITTER_NAME: 'nx-vtm' });
  });

  it('fills in everything when nothing is configured, except what the environment already sets', async () => {
    process.env.GIT_AUTHOR_NAME = 'Env Author';
    expect(await getIdentityEnv(root)).toEqual({
      GIT_COMMITTER_NAME: 'nx-vtm',
      GIT_AUTHOR_EMAIL: 'nx-vtm@localhost',
      GIT_COMMITTER_EMAIL: 'nx-vtm@localhost',
    });
  });
});
