/**
 * Synthetic manifests for benchmarks: realistic shape (phases, slices, capabilities, dependencies on earlier tasks,
 * file scopes with shared directories), deterministic for a given size and seed.
 */
function mulberry32(seed) {
  return function rand() {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generateManifest(n, seed = 1) {
  const rand = mulberry32(seed);
  const tasks = [];
  for (let i = 0; i < n; i++) {
    const cap = `CAP_${Math.floor(i / 4)}`;
    const deps = new Set();
    const k = i === 0 ? 0 : Math.floor(rand() * 3);
    for (let j = 0; j < k; j++) deps.add(`${`CAP_${Math.floor(Math.max(0, i - 1 - Math.floor(rand() * 40)) / 4)}`}--T${String(Math.max(0, i - 1 - Math.floor(rand() * 40)) % 4).padStart(2, '0')}`);
    tasks.push({
      task_id: `${cap}--T${String(i % 4).padStart(2, '0')}`,
      capability_id: cap,
      phase: `Phase ${1 + Math.floor(i / Math.max(1, Math.ceil(n / 3)))}`,
      slice: `Slice ${1 + Math.floor(i / Math.max(1, Math.ceil(n / 3)))}.${1 + (Math.floor(i / 25) % 4)}`,
      title: `Task ${i}`,
      description: `Synthetic task ${i}`,
      acceptance_criteria: [
        { id: `${cap}-AC${String((i % 4) * 2 + 1).padStart(2, '0')}`, text: 'first' },
        { id: `${cap}-AC${String((i % 4) * 2 + 2).padStart(2, '0')}`, text: 'second' },
      ],
      risk: rand() < 0.06 ? 'High' : rand() < 0.5 ? 'Medium' : 'Low',
      est: { size: ['S', 'M', 'L'][Math.floor(rand() * 3)] },
      depends_on_tasks: [],
      _deps: [...deps],
      related_specs: [`docs/specs/spec-${Math.floor(i / 50)}.md`],
      related_adrs: [],
      related_guides: [],
      test_verification: [`packages/p${Math.floor(i / 20)}/test/t${i}.spec.ts`],
      file_scope: rand() < 0.3 ? [`packages/p${Math.floor(i / 20)}/`] : [`packages/p${Math.floor(i / 20)}/src/f${i}.ts`],
      conflicts_with: [],
      parallel: true,
      provisional: false,
      gap_codes: [],
    });
  }
  // Dependencies only on earlier tasks (acyclic), deduplicated, never on self.
  const ids = new Set();
  for (const t of tasks) {
    t.depends_on_tasks = t._deps.filter((d) => ids.has(d) && d !== t.task_id);
    delete t._deps;
    ids.add(t.task_id);
  }
  return { status: 'OK', tasks };
}

module.exports = { generateManifest, mulberry32 };
