#!/usr/bin/env node
/**
 * Where a V8 CPU profile's time went, by function: self time (in the function itself) and inclusive time (anywhere
 * below it), optionally per unit of work and within a window of the profile.
 *
 *   node tools/bench/profile-summary.js FILE.cpuprofile [--per N] [--first S | --last S] [--top K]
 *
 * --per N: divide by N (e.g. the tasks done) and print ms per unit; --first S / --last S: only the first or last S
 * seconds (e.g. start-up, or the tail after the last task); --top K: rows per table (default 25 self, 50 inclusive).
 * Each sample is weighted by the time to the next one, so "(idle)" is the time the thread waited.
 */
const fs = require('node:fs');

const args = process.argv.slice(2);
const value = (name) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : undefined);
const file = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
if (!file) {
  console.error('usage: profile-summary.js FILE.cpuprofile [--per N] [--first S | --last S] [--top K]');
  process.exit(2);
}
const per = value('--per') ?? 1;
const top = value('--top') ?? 25;
const profile = JSON.parse(fs.readFileSync(file, 'utf8'));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
const label = (n) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber + 1}`;

// Sample i's time: its start, and its weight until the next sample.
const starts = [];
let t = profile.startTime;
for (const d of profile.timeDeltas) starts.push((t += d));
const from = value('--first') !== undefined ? -Infinity : value('--last') !== undefined ? profile.endTime - value('--last') * 1e6 : -Infinity;
const to = value('--first') !== undefined ? profile.startTime + value('--first') * 1e6 : Infinity;

const self = new Map();
const inclusive = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const start = starts[i];
  if (start < from || start > to) return;
  const weight = (i + 1 < starts.length ? starts[i + 1] : profile.endTime) - start;
  total += weight;
  const node = byId.get(id);
  self.set(label(node), (self.get(label(node)) ?? 0) + weight);
  const seen = new Set();
  for (let at = id; at !== undefined; at = parentOf.get(at)) {
    const l = label(byId.get(at));
    if (seen.has(l)) continue; // recursion: count a function once per sample
    seen.add(l);
    inclusive.set(l, (inclusive.get(l) ?? 0) + weight);
  }
});

const ms = (us) => (us / 1000 / per).toFixed(per === 1 ? 0 : 2).padStart(10);
const unit = per === 1 ? 'ms' : `ms per 1/${per}`;
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled${per === 1 ? '' : ` (${ms(total).trim()} ${unit})`}\n`);
for (const [title, map, rows] of [
  ['self', self, top],
  ['inclusive', inclusive, top * 2],
]) {
  console.log(`${title} (${unit})`);
  for (const [l, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(`${ms(us)}  ${l}`);
  console.log('');
}
