/**
 * Seeded generators of the scheduling benchmark families (see /work/shared/notes/scheduling.md).
 *
 * Every instance is a real manifest (tasks with task_id, title, acceptance_criteria, risk, depends_on_tasks,
 * file_scope, conflicts_with, est.minutes) plus the actual duration of each task in a separate map, so the same
 * instance can be simulated (tools/bench/simulate.js) and run through real `nx run-many` with a sleeping agent.
 *
 * Durations: lognormal with median ~12 min, clamped to [2, 150] min (the layered family uses its own skewed mix);
 * actual = estimate x exp(sigma N(0,1)). Same (family, seed, options) -> same instance.
 *
 * CLI: node tools/bench/families.js <family> [seed] [--sigma S]   prints {manifest, actualMinutes} as JSON.
 */
'use strict';

/** mulberry32: small, fast, good enough for benchmarks, and identical on every platform. */
function createRng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => {
    // Box-Muller; 1 - u keeps log away from 0.
    const u = 1 - next();
    const v = next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  return {
    next,
    normal,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    uniform: (lo, hi) => lo + next() * (hi - lo),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    chance: (p) => next() < p,
  };
}

const MEDIAN_MINUTES = 12;
const DURATION_SIGMA = 0.9;
const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));
const round1 = (x) => Math.round(x * 10) / 10;

/** Paths many tasks touch: a root config file, a shared source directory and a file inside it. */
const HOT_PATHS = ['package.json', 'packages/shared/src/', 'packages/shared/src/index.ts'];

/** Collects tasks and actual durations for one instance. */
function createBuilder(rng, { sigma }) {
  const tasks = [];
  const actualMinutes = {};
  return {
    tasks,
    actualMinutes,
    /** Lognormal estimate, median ~12 min, clamped to [2, 150]. */
    lognormalEstimate: () => clamp(MEDIAN_MINUTES * Math.exp(DURATION_SIGMA * rng.normal()), 2, 150),
    add({ id, deps = [], scope, risk = 'Medium', estimate, conflictsWith = [] }) {
      const est = round1(estimate);
      tasks.push({
        task_id: id,
        title: `Benchmark task ${id}`,
        acceptance_criteria: [{ id: `${id}-AC01`, text: `The work of ${id} is done.` }],
        risk,
        depends_on_tasks: deps,
        file_scope: scope,
        conflicts_with: conflictsWith,
        est: { minutes: est },
      });
      actualMinutes[id] = round1(Math.max(0.5, est * Math.exp(sigma * rng.normal())));
      return id;
    },
  };
}

/** With probability p, one hot path appended to a task's own scope. */
const withHotPath = (rng, scope, p) => (rng.chance(p) ? [...scope, rng.pick(HOT_PATHS)] : scope);

const pad = (n) => String(n).padStart(2, '0');

const FAMILIES = {
  /** 12 tasks in one chain: any sane scheduler is optimal (ratio 1.00). */
  'chain-12'(rng, b) {
    let prev;
    for (let i = 1; i <= 12; i++) {
      prev = b.add({ id: `CHAIN--T${pad(i)}`, deps: prev ? [prev] : [], scope: [`src/chain/step-${pad(i)}.ts`], estimate: b.lognormalEstimate() });
    }
  },
  /** One root, then 30 independent tasks. */
  'fan-out-30'(rng, b, { conflictRate = 0 } = {}) {
    const root = b.add({ id: 'FAN--ROOT', scope: ['src/fan/root.ts'], estimate: b.lognormalEstimate() });
    for (let i = 1; i <= 30; i++) {
      b.add({ id: `FAN--T${pad(i)}`, deps: [root], scope: withHotPath(rng, [`src/fan/task-${pad(i)}.ts`], conflictRate), estimate: b.lognormalEstimate() });
    }
  },
  'fan-out-30-c30'(rng, b) {
    FAMILIES['fan-out-30'](rng, b, { conflictRate: 0.3 });
  },
  /** 6x6 lattice: (i, j) depends on (i-1, j) and (i, j-1). */
  'diamond-6x6'(rng, b) {
    const id = (i, j) => `DIAMOND--R${i}C${j}`;
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 6; j++) {
        const deps = [];
        if (i > 0) deps.push(id(i - 1, j));
        if (j > 0) deps.push(id(i, j - 1));
        b.add({ id: id(i, j), deps, scope: [`src/diamond/r${i}c${j}.ts`], estimate: b.lognormalEstimate() });
      }
    }
  },
  /** 6 layers of 7; each task depends on 1-3 tasks of the layer above; 15% long tasks (40-120 min), rest 2-12 min. */
  'layered-6x7-skewed'(rng, b, { conflictRate = 0 } = {}) {
    const id = (l, k) => `LAYER--L${l}T${k}`;
    for (let l = 0; l < 6; l++) {
      for (let k = 0; k < 7; k++) {
        const deps = new Set();
        if (l > 0) for (let n = rng.int(1, 3); n > 0; n--) deps.add(id(l - 1, rng.int(0, 6)));
        const estimate = rng.chance(0.15) ? rng.uniform(40, 120) : rng.uniform(2, 12);
        b.add({ id: id(l, k), deps: [...deps], scope: withHotPath(rng, [`src/layer-${l}/task-${k}.ts`], conflictRate), estimate });
      }
    }
  },
  'layered-6x7-skewed-c30'(rng, b) {
    FAMILIES['layered-6x7-skewed'](rng, b, { conflictRate: 0.3 });
  },
  /**
   * A 68-task backlog: 9 epics, each a contract task, an implementation fan-out (5-6 tasks) and an integration task.
   * Epics build on 0-2 earlier epics; ~30% of tasks also touch a hot path; 4 tasks (~6%) are High risk; a few declare
   * conflicts_with a sibling.
   */
  'backlog-68'(rng, b) {
    const implCounts = [5, 5, 5, 5, 6, 6, 6, 6, 6];
    for (let i = implCounts.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [implCounts[i], implCounts[j]] = [implCounts[j], implCounts[i]];
    }
    const total = 9 * 2 + implCounts.reduce((a, c) => a + c, 0);
    const high = new Set();
    while (high.size < Math.round(total * 0.06)) high.add(rng.int(0, total - 1));
    let index = 0;
    const risk = () => (high.has(index++) ? 'High' : rng.chance(0.4) ? 'Low' : 'Medium');
    const epicEnds = [];
    for (let e = 1; e <= 9; e++) {
      const dir = `packages/epic-${e}/`;
      const upstream = new Set();
      if (e > 1) for (let n = rng.int(0, 2); n > 0; n--) upstream.add(rng.pick(epicEnds));
      const contract = b.add({
        id: `EPIC${e}--CONTRACT`,
        deps: [...upstream],
        scope: withHotPath(rng, [`${dir}src/contract.ts`], 0.3),
        risk: risk(),
        estimate: b.lognormalEstimate(),
      });
      const impls = [];
      for (let k = 1; k <= implCounts[e - 1]; k++) {
        const deps = [contract];
        if (impls.length > 0 && rng.chance(0.2)) deps.push(rng.pick(impls));
        const conflictsWith = impls.length > 0 && rng.chance(0.05) ? [rng.pick(impls)] : [];
        impls.push(
          b.add({
            id: `EPIC${e}--IMPL${pad(k)}`,
            deps,
            scope: withHotPath(rng, [`${dir}src/impl-${pad(k)}.ts`, `${dir}test/impl-${pad(k)}.spec.ts`], 0.3),
            risk: risk(),
            estimate: b.lognormalEstimate(),
            conflictsWith,
          }),
        );
      }
      const integration = b.add({
        id: `EPIC${e}--INTEGRATION`,
        deps: impls,
        scope: withHotPath(rng, [`${dir}src/index.ts`], 0.3),
        risk: risk(),
        estimate: b.lognormalEstimate(),
      });
      epicEnds.push(contract, integration);
    }
  },
  /**
   * 3 chains of 3 tasks; one 60-min task per chain, in a different layer each, the rest 2 min. Exact durations: this
   * family isolates the cost of barriers (waves pay 3 x 60 min, a list scheduler 64 min).
   */
  'staggered-chains'(rng, b) {
    for (let c = 0; c < 3; c++) {
      let prev;
      for (let l = 0; l < 3; l++) {
        prev = b.add({
          id: `STAGGER--C${c}L${l}`,
          deps: prev ? [prev] : [],
          scope: [`src/chain-${c}/layer-${l}.ts`],
          estimate: l === c ? 60 : 2,
        });
      }
    }
  },
};

/** Families whose durations are exact by construction (no actual-vs-estimate noise). */
const EXACT_FAMILIES = new Set(['staggered-chains']);

/**
 * Generate one instance: `{ family, seed, manifest: { tasks }, actualMinutes: { [task_id]: minutes } }`.
 * `sigma` is the spread of actual vs estimated duration (log scale; 0 = estimates exact).
 */
function generateInstance(family, seed, { sigma = 0.5 } = {}) {
  const make = FAMILIES[family];
  if (!make) throw new Error(`unknown family ${family}; known: ${Object.keys(FAMILIES).join(', ')}`);
  // Mix the family name into the seed so that seed 1 of two families are unrelated.
  let h = seed >>> 0;
  for (const ch of family) h = Math.imul(h ^ ch.charCodeAt(0), 0x9e3779b1) >>> 0;
  const rng = createRng(h);
  const builder = createBuilder(rng, { sigma: EXACT_FAMILIES.has(family) ? 0 : sigma });
  make(rng, builder);
  return { family, seed, manifest: { tasks: builder.tasks }, actualMinutes: builder.actualMinutes };
}

module.exports = { FAMILY_NAMES: Object.keys(FAMILIES), generateInstance, createRng, HOT_PATHS };

if (require.main === module) {
  const [family, seedArg] = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--sigma');
  const sigmaAt = process.argv.indexOf('--sigma');
  if (!family) {
    process.stderr.write(`usage: node tools/bench/families.js <${Object.keys(FAMILIES).join('|')}> [seed] [--sigma S]\n`);
    process.exit(2);
  }
  const instance = generateInstance(family, Number(seedArg ?? 1), sigmaAt > 0 ? { sigma: Number(process.argv[sigmaAt + 1]) } : {});
  process.stdout.write(`${JSON.stringify(instance, null, 2)}\n`);
}
