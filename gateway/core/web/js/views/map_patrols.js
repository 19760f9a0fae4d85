// 巡查 on the map (issue 19): each inspector's last position (the last 12 hours) as a
// marker; a click draws that inspector's track of today and shows today's figures (time on
// patrol, distance, unit grids visited, coverage of the assigned grids) in the side panel.
// Read by the centre's desk (operators, shift leads, dispatchers) and admins.
import { api, describeError } from '../api.js';
import { PATROLS } from '../labels.js';
import { fill, fmtTime, h } from '../ui.js';

export const PATROL_READERS = ['operator', 'shift_lead', 'dispatcher', 'admin'];

function say(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

export function patrolLayer(L, map, side, holder) {
  const markers = L.layerGroup().addTo(map);
  const tracks = L.layerGroup().addTo(map);

  async function show(p) {
    fill(side, h('h3', { id: 'patrol-title' }, say(PATROLS.title, { name: p.inspector })), h('p', { class: 'hint' }, PATROLS.loading));
    try {
      const [track, figures] = await Promise.all([
        api.get(`/api/v1/patrols/track?inspector=${encodeURIComponent(p.inspector)}`),
        api.get('/api/v1/patrols/figures'),
      ]);
      tracks.clearLayers();
      const line = track.points.map((q) => [q.lat, q.lon]);
      if (line.length > 1) L.polyline(line, { className: 'patrol-track', interactive: false }).addTo(tracks);
      holder.dataset.trackPoints = String(line.length);
      const row = figures.inspectors.find((r) => r.inspector === p.inspector) || {};
      const coverage = row.coverage === null || row.coverage === undefined ? PATROLS.none : `${Math.round(row.coverage * 100)}%`;
      fill(
        side,
        h('h3', { id: 'patrol-title' }, say(PATROLS.title, { name: p.inspector })),
        h(
          'table',
          { class: 'facts', id: 'patrol-figures' },
          [
            [PATROLS.last_seen, fmtTime(p.at)],
            [PATROLS.grid, p.grid_code || PATROLS.outside],
            [PATROLS.minutes, say(PATROLS.minutes_value, { n: row.minutes ?? 0 })],
            [PATROLS.distance, say(PATROLS.distance_value, { n: row.distance_km ?? 0 })],
            [PATROLS.grids_visited, String(row.grids_visited ?? 0)],
            [PATROLS.coverage, say(PATROLS.coverage_value, { pct: coverage, visited: row.assigned_grids_visited ?? 0, assigned: row.assigned_grids ?? 0 })],
          ].map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))),
        ),
        h('p', { class: 'hint' }, say(PATROLS.track_points, { n: line.length })),
      );
    } catch (err) {
      fill(side, h('p', { class: 'error' }, describeError(err)));
    }
  }

  async function load() {
    const found = await api.get('/api/v1/patrols/positions');
    markers.clearLayers();
    for (const p of found) {
      const icon = L.divIcon({ className: 'inspector-icon', html: h('span', {}, PATROLS.icon), iconSize: [22, 22] });
      const marker = L.marker([p.lat, p.lon], { icon, title: say(PATROLS.marker, { name: p.inspector }), zIndexOffset: 900 });
      marker.bindTooltip(say(PATROLS.tooltip, { name: p.inspector, at: fmtTime(p.at) }));
      marker.on('click', () => show(p));
      marker.addTo(markers);
    }
    holder.dataset.inspectors = String(found.length);
  }

  return { load, show };
}
