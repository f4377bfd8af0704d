/** The commit identity nx-vtm uses when the user has none configured (CI machines, fresh containers). */
import { runGit } from './git';

/** Used for commits when neither git config nor the environment names an author. */
export const FALLBACK_IDENTITY = { name: 'nx-vtm', email: 'nx-vtm@localhost' } as const;

/**
 * Environment that supplies the fallback identity for whichever of name and email neither git config nor the
 * environment provides; empty when the user's identity is complete (theirs is always preferred).
 */
export async function getIdentityEnv(cwd: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const [key, fallback] of [
    ['name', FALLBACK_IDENTITY.name],
    ['email', FALLBACK_IDENTITY.email],
  ] as const) {
    const configured = await runGit({ cwd, args: ['config', '--get', `user.${key}`] });
    if (configured.code === 0 && configured.stdout.trim()) continue;
    for (const who of ['AUTHOR', 'COMMITTER']) {
      const name = `GIT_${who}_${key.toUpperCase()}`;
      if (!process.env[name]) env[name] = fallback;
    }
  }
  return env;
}

