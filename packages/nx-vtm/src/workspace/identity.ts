/** The commit identity nx-vtm uses when the user has none configured (CI machines, fresh containers). */
import { runGit } from './git';

/** Used for commits when neither git config nor the environment names an author. */
export const FALLBACK_IDENTITY = { name: 'nx-vtm', email: 'nx-vtm@localhost' } as const;

/**
 * Environment that supplies the fallback identity for whichever of name and email neither git config nor the
 * environment provides; empty when the user's identity is complete (theirs is always preferred).
 */
export async function getIdentityEnv(cwd: string): Promise<Record<string, string>> {
  // One git process for both keys (this runs for every commit nx-vtm makes: one or two per task). `-z` prints each
  // entry as "<key>\n<value>\0"; git exits 1 when neither key is set.
  const read = await runGit({ cwd, args: ['config', '-z', '--get-regexp', '^user\\.(name|email)$'] });
  const configured = new Set<string>();
  if (read.code === 0) {
    for (const entry of read.stdout.split('\0')) {
      const nl = entry.indexOf('\n');
      if (nl > 0 && entry.slice(nl + 1).trim()) configured.add(entry.slice(0, nl).toLowerCase());
    }
  }
  const env: Record<string, string> = {};
  for (const [key, fallback] of [
    ['name', FALLBACK_IDENTITY.name],
    ['email', FALLBACK_IDENTITY.email],
  ] as const) {
    if (configured.has(`user.${key}`)) continue;
    for (const who of ['AUTHOR', 'COMMITTER']) {
      const name = `GIT_${who}_${key.toUpperCase()}`;
      if (!process.env[name]) env[name] = fallback;
    }
  }
  return env;
}
