#!/usr/bin/env node
/**
 * What a task start costs in worktree mode, with and without a spare worktree (worktree.spares), on a generated
 * repository of --files files (default 20,000, in 200 folders; a mid-size application). For each round: main moves
 * on by one commit (a dependency integrated), then `createTaskWorktree` (the plugin's own, from dist) runs either a
 * full `git worktree add` or takes the spare checked out ahead; the task's worktree is then removed as after success.
 * Prints the time to a ready worktree per round, their median, and what filling a spare costs off the critical path.
 *
 *   npm run bench:worktree -- [--files N] [--rounds R]
 */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const root = path.resolve(__dirname, '../..');
const dist = path.join(root, 'dist/packages/nx-vtm');
const { createTaskWorktree, fillSpareWorktrees, removeTaskWorktree } = require(path.join(dist, 'src/workspace/worktree'));

const arg = (name, fallback) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const FILES = arg('--files', 20_000);
const ROUNDS = arg('--rounds', 5);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(0)} ms`;

async function main() {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'vtm-bench-wt-'));
  const git = (args, cwd = repo) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  git(['init', '-q', '-b', 'main']);
  git(['config', 'user.name', 'bench']);
  git(['config', 'user.email', 'bench@example.com']);
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(repo, 'src', `m${i % 200}`);
    if (i < 200) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${i}.ts`), `export const v${i} = ${i};\n// ${'x'.repeat(200)}\n`);
  }
  fs.writeFileSync(path.join(repo, '.gitignore'), '.vtm/\n');
  git(['add', '-A']);
  git(['commit', '-q', '-m', 'init']);
  const withLock = (fn) => fn();
  const results = { add: [], spare: [], fill: [] };
  console.log(`nx-vtm worktree benchmark: ${FILES} files, ${ROUNDS} rounds, node ${process.version}, load ${os.loadavg()[0].toFixed(2)}`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of ['add', 'spare']) {
      if (mode === 'spare') {
        const t = performance.now();
        const filled = await fillSpareWorktrees({ repoRoot: repo, baseRef: 'main', count: 1, withLock });
        if (!filled.ok) throw new Error(filled.error.message);
        results.fill.push(performance.now() - t);
      }
      // A dependency lands on main between the spare's checkout and the task's start.
      fs.writeFileSync(path.join(repo, 'src/m0/f0.ts'), `export const v0 = ${round}${mode === 'add' ? 0 : 1};\n`);
      git(['commit', '-qam', `dep ${round} ${mode}`]);
      const id = `T${round}${mode === 'add' ? 'A' : 'S'}`;
      const t = performance.now();
      const wt = await createTaskWorktree({ repoRoot: repo, taskId: id, baseRef: 'main', linkDirs: [], useSpare: mode === 'spare' });
      const took = performance.now() - t;
      if (!wt.ok) throw new Error(wt.error.message);
      if (git(['rev-parse', 'HEAD'], wt.value.path) !== git(['rev-parse', 'main'])) throw new Error('worktree not at main');
      results[mode].push(took);
      await removeTaskWorktree({ repoRoot: repo, taskId: id, linkDirs: [], integrationRef: 'main', force: true });
    }
    console.log(`round ${round + 1}: git worktree add ${ms(results.add[round])}, spare taken ${ms(results.spare[round])} (filling it, off the critical path: ${ms(results.fill[round])})`);
  }
  console.log(
    `median time to a ready task worktree: ${ms(median(results.add))} with a full checkout, ${ms(median(results.spare))} with a spare ` +
      `(${(median(results.add) / median(results.spare)).toFixed(1)}x); filling a spare ${ms(median(results.fill))} while agents work`,
  );
  fs.rmSync(repo, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
