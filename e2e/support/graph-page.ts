/**
 * What `nx graph --file=<dir>/graph.html` draws on first load, read from a real headless Chromium (Debian's
 * `chromium`, installed by .ci/run). The graph is a canvas, so the DOM has no labels: a probe script, added to a copy of
 * the page before Nx's own scripts, records every text the page paints. Nx 24's graph client (cytoscape) paints node
 * and folder labels into an OffscreenCanvas label atlas (measured: nothing reaches CanvasRenderingContext2D), so both
 * contexts are hooked; only labels of elements actually rendered get painted, so the list is what the user sees.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const PROBE = `<script>
(function () {
  var seen = [];
  function hook(proto) {
    if (!proto) return;
    var fill = proto.fillText;
    proto.fillText = function (text) { var t = String(text); if (seen.indexOf(t) < 0) seen.push(t); return fill.apply(this, arguments); };
  }
  hook(window.CanvasRenderingContext2D && CanvasRenderingContext2D.prototype);
  hook(window.OffscreenCanvasRenderingContext2D && OffscreenCanvasRenderingContext2D.prototype);
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message)); });
  setTimeout(function () {
    var pre = document.createElement('pre');
    pre.id = 'vtm-graph-probe';
    pre.textContent = JSON.stringify({ labels: seen, errors: errors });
    document.body.appendChild(pre);
  }, 6000);
})();
</script>`;

function chromium(args: string[], cwd: string) {
  return spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--window-size=1400,900', '--virtual-time-budget=10000', ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 90_000,
  });
}

export interface GraphPage {
  /** Every label painted on first load (folders read `./<name> (<shown> / <total>)` when open, `./<name> (<n>)` closed). */
  labels: string[];
  errors: string[];
}

/** Load graph.html (written by `nx graph --file`) in headless Chromium and return what it painted. */
export function readGraphPage(graphHtml: string): GraphPage {
  const dir = dirname(graphHtml);
  const probed = join(dir, 'graph-probe.html');
  writeFileSync(probed, readFileSync(graphHtml, 'utf8').replace('<script id="environment"', `${PROBE}<script id="environment"`));
  const r = chromium(['--dump-dom', `file://${probed}`], dir);
  if (r.error) throw r.error;
  const m = /<pre id="vtm-graph-probe">(.*?)<\/pre>/s.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`chromium did not render ${probed} (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  const text = m[1].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return JSON.parse(text) as GraphPage;
}

/** Screenshot of graph.html as a user first sees it. */
export function screenshotGraphPage(graphHtml: string, png: string): void {
  const r = chromium([`--screenshot=${png}`, `file://${graphHtml}`], dirname(graphHtml));
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`chromium screenshot failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
}
