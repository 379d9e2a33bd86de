/**
 * A hand-written SVG chart of the overhead run: one row per gateway, median throughput
 * on the left, median p99 latency on the right. No chart library: a few rects and
 * texts that any browser or GitHub renders.
 *
 * @example
 *   await writeFile('bench/results/chart.svg', chartSvg(results));
 */
import type { Results, TargetSummary } from './results.ts';

const W = 940;
const LABEL_W = 230;
const PANEL_W = 330;
const GAP = 50;
const ROW_H = 36;
const TOP = 70;

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function color(t: TargetSummary): string {
  if (t.name === 'sluice') return '#1f7a5c';
  if (t.name === 'direct') return '#8a8f98';
  return '#3b6ea8';
}

function panel(
  x: number,
  title: string,
  targets: readonly TargetSummary[],
  value: (t: TargetSummary) => number | undefined,
  format: (v: number, t: TargetSummary) => string,
): string[] {
  const values = targets.map(value).filter((v): v is number => v !== undefined);
  const max = Math.max(1e-9, ...values);
  const out = [
    `<text x="${x}" y="${TOP - 16}" class="h">${esc(title)}</text>`,
    `<line x1="${x}" y1="${TOP}" x2="${x}" y2="${TOP + targets.length * ROW_H}" stroke="#bbb"/>`,
  ];
  targets.forEach((t, i) => {
    const y = TOP + i * ROW_H;
    const v = value(t);
    if (v === undefined) {
      out.push(`<text x="${x}" y="${y + 21}" class="na">${esc(t.status)}</text>`);
      return;
    }
    const w = Math.max(1, (v / max) * (PANEL_W - 130));
    out.push(
      `<rect x="${x}" y="${y + 6}" width="${w.toFixed(1)}" height="${ROW_H - 14}" fill="${color(t)}" rx="2"/>`,
      `<text x="${(x + w + 6).toFixed(1)}" y="${y + 21}" class="v">${esc(format(v, t))}</text>`,
    );
  });
  return out;
}

/** The chart as an SVG document. */
export function chartSvg(results: Results): string {
  const targets = results.targets;
  const h = TOP + targets.length * ROW_H + 40;
  const s = results.settings;
  const left = LABEL_W;
  const right = LABEL_W + PANEL_W + GAP;
  const body = [
    `<text x="16" y="26" class="t">sluice benchmark: gateway overhead in front of one upstream (medians)</text>`,
    `<text x="16" y="${h - 14}" class="n">${esc(
      `${results.date.slice(0, 10)} · ${s.rounds} rounds × ${s.durationSec} s · ${s.connections} connections · ${s.keys} keys · ${results.machine.cores} cores, servers on core 0, wrk on core 1`,
    )}</text>`,
    ...targets.map(
      (t, i) => `<text x="16" y="${TOP + i * ROW_H + 21}" class="l">${esc(t.label)}</text>`,
    ),
    ...panel(
      left,
      'Throughput (requests/s, higher is better)',
      targets,
      (t) => t.median?.rps,
      (v, t) =>
        `${Math.round(v).toLocaleString('en-US')}${t.vsNginx !== undefined && t.name !== 'nginx' ? ` (${t.vsNginx.toFixed(2)}× nginx)` : ''}`,
    ),
    ...panel(
      right,
      'p99 latency (ms, lower is better)',
      targets,
      (t) => t.median?.p99Ms,
      (v) => v.toFixed(2),
    ),
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">`,
    '<style>.t{font-size:16px;font-weight:600;fill:#222}.h{font-size:13px;font-weight:600;fill:#333}.l{font-size:13px;fill:#222}.v{font-size:12px;fill:#222}.na{font-size:12px;font-style:italic;fill:#999}.n{font-size:11px;fill:#666}</style>',
    `<rect width="${W}" height="${h}" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
