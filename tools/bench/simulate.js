/**
 * Scheduling quality benchmark (simulation): per family, N seeded instances at W slots, makespan / lower bound
 * (mean, p95, max) for our list scheduler and the two baselines (waves with a barrier, the seed's conflict groups).
 * Every schedule is also checked for rule violations (WIP, conflicts, exclusivity, dependencies); any violation fails.
 *
 *   node tools/bench/simulate.js [--instances 100] [--wip 3] [--sigma 0] [--threshold-min 10]
 *                                [--family NAME]... [--thresholds 0,5,10,30,inf] [--src] [--json]
 *
 * --sigma: spread of actual vs estimated durations (actual = estimate x exp(sigma N(0,1))). The default 0 (exact
 * estimates) is the setting of the scheduling note's main table; 0.5 and 1.0 show what estimate errors cost.
 * --thresholds: compare reservation thresholds (minutes, "inf" = never reserve) instead of the default one.
 * Uses the built plugin (dist/, from `npm run build`) when present, else the TypeScript sources through
 * tools/ts-register.js; `--src` forces the sources.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { FAMILY_NAMES, generateInstance } = require('./families');

const root = path.resolve(__dirname, '..', '..');

function parseArgs(argv) {
  const opts = { instances: 100, wip: 3, sigma: 0, thresholdMin: undefined, families: [], thresholds: undefined, src: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--instances') opts.instances = Number(value());
    else if (a === '--wip') opts.wip = Number(value());
    else if (a === '--sigma') opts.sigma = Number(value());
    else if (a === '--threshold-min') opts.thresholdMin = Number(value());
    else if (a === '--family') opts.families.push(value());
    else if (a === '--thresholds') opts.thresholds = value().split(',').map((s) => (s === 'inf' ? Infinity : Number(s)));
    else if (a === '--src') opts.src = true;
    else if (a === '--json') opts.json = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (opts.families.length === 0) opts.families = FAMILY_NAMES;
  return opts;
}

function loadSimulator(forceSources) {
  const built = path.join(root, 'dist/packages/nx-vtm/src/scheduler/simulate.js');
  if (!forceSources && fs.existsSync(built)) return { sim: require(built), from: built };
  require(path.join(root, 'tools/ts-register.js'));
  const source = path.join(root, 'packages/nx-vtm/src/scheduler/simulate.ts');
  return { sim: require(source), from: source };
}

function summarise(ratios) {
  const sorted = [...ratios].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)];
  return { mean, p95, max: sorted[sorted.length - 1] };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { sim, from } = loadSimulator(opts.src);
  const thresholdsMin = opts.thresholds ?? [opts.thresholdMin];
  const schedulers = [];
  for (const t of thresholdsMin) {
    const thresholdMs = t === undefined ? undefined : t * 60_000;
    const label = t === undefined ? 'list (ours)' : `list, reserve after ${t === Infinity ? 'never' : `${t} min`}`;
    schedulers.push({ label, run: (inst) => sim.simulateListSchedule(inst, { wipLimit: opts.wip, thresholdMs }) });
  }
  schedulers.push({ label: 'waves + barrier', run: (inst) => sim.simulateWavesWithBarrier(inst, { wipLimit: opts.wip }) });
  schedulers.push({ label: 'seed groups', run: (inst) => sim.simulateSeedGroups(inst, { maxConcurrent: opts.wip }) });

  const report = [];
  let violations = 0;
  const started = process.hrtime.bigint();
  for (const family of opts.families) {
    const ratios = schedulers.map(() => []);
    for (let seed = 1; seed <= opts.instances; seed++) {
      const { manifest, actualMinutes } = generateInstance(family, seed, { sigma: opts.sigma });
      const instance = sim.buildSimInstance({ tasks: manifest.tasks, actualMinutes });
      const lb = sim.lowerBound(instance, opts.wip).value;
      schedulers.forEach((s, k) => {
        const schedule = s.run(instance);
        const problems = sim.findScheduleViolations(instance, schedule, opts.wip);
        // The seed's groups never violate the rules either; they are only slow.
        if (problems.length > 0) {
          violations += problems.length;
          process.stderr.write(`${family} seed ${seed} ${s.label}: ${problems.slice(0, 3).join('; ')}\n`);
        }
        ratios[k].push(schedule.makespan / lb);
      });
    }
    report.push({ family, results: schedulers.map((s, k) => ({ scheduler: s.label, ...summarise(ratios[k]) })) });
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;

  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ options: opts, from, seconds, violations, report }, null, 2)}\n`);
  } else {
    const f = (x) => x.toFixed(2);
    process.stdout.write(
      `makespan / lower bound, ${opts.instances} instances per family, W=${opts.wip}, actual = estimate x exp(${opts.sigma} N(0,1))\n` +
        `simulator: ${path.relative(root, from)}\n\n`,
    );
    const header = ['family', ...schedulers.map((s) => `${s.label}: mean p95 [max]`)];
    const rows = report.map((r) => [r.family, ...r.results.map((x) => `${f(x.mean)} ${f(x.p95)} [${f(x.max)}]`)]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
    const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
    process.stdout.write(`${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`);
    process.stdout.write(`\n${violations} rule violations; ${seconds.toFixed(1)} s\n`);
  }
  if (violations > 0) process.exitCode = 1;
}

main();
