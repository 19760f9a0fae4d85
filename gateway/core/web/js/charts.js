// Inline SVG charts (no library, no CDN): grouped horizontal bars of rates in [0, 1].
import { svg } from './ui.js';

const COLORS = ['#1f6feb', '#2da44e', '#bf8700', '#cf222e', '#8250df'];

// rows: [{label, values: {key: rate|null}}]; series: [[key, name]]
export function rateBars(rows, series, { width = 620, title = '', format = (v) => `${(v * 100).toFixed(1)}%` } = {}) {
  const labelW = 150;
  const barH = 14;
  const gap = 10;
  const groupH = series.length * barH + gap;
  const legendH = 24;
  const height = legendH + rows.length * groupH + 24;
  const plotW = width - labelW - 60;
  const root = svg('svg', {
    class: 'chart',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': title,
  });
  series.forEach(([, name], i) => {
    root.append(
      svg('rect', { x: labelW + i * 120, y: 4, width: 12, height: 12, fill: COLORS[i % COLORS.length] }),
      svg('text', { x: labelW + i * 120 + 16, y: 15, class: 'legend' }, name),
    );
  });
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    const x = labelW + tick * plotW;
    root.append(
      svg('line', { x1: x, x2: x, y1: legendH, y2: height - 20, class: 'grid' }),
      svg('text', { x, y: height - 6, class: 'tick', 'text-anchor': 'middle' }, `${tick * 100}%`),
    );
  }
  rows.forEach((row, r) => {
    const y0 = legendH + r * groupH;
    root.append(svg('text', { x: labelW - 8, y: y0 + (series.length * barH) / 2 + 4, class: 'label', 'text-anchor': 'end' }, row.label));
    series.forEach(([key, name], i) => {
      const value = row.values[key];
      const y = y0 + i * barH;
      if (value === null || value === undefined) {
        root.append(svg('text', { x: labelW + 4, y: y + barH - 3, class: 'na' }, `${name}：无数据`));
        return;
      }
      const w = Math.max(1, Math.min(1, value) * plotW);
      root.append(
        svg('rect', { x: labelW, y: y + 1, width: w, height: barH - 2, fill: COLORS[i % COLORS.length], 'data-key': key },
          svg('title', {}, `${row.label} ${name} ${format(value)}`)),
        svg('text', { x: labelW + w + 4, y: y + barH - 3, class: 'value' }, format(value)),
      );
    });
  });
  return root;
}
