// 地图 (监督指挥): the imported unit grids coloured by their open cases, the cases as dots
// by light (thinned into counted clusters when many), a grid's cases and figures on click,
// and 框选: drag a rectangle to list the cases inside. Leaflet is Debian's libjs-leaflet,
// served by the core; the base layer is the grids themselves, or the city's tile server
// when the core names one. No inline style or script (the console's CSP).
import * as L from '/vendor/leaflet/leaflet.esm.js';
import { api, describeError } from '../api.js';
import { LIGHTS, MAP } from '../labels.js';
import { fill, fmtTime, h } from '../ui.js';

const CLUSTER_PX = 36; // cases closer than this on screen share one counted dot past MAX_DOTS
const MAX_DOTS = 400;

function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

function bboxOf(bounds) {
  return [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()].map((v) => v.toFixed(6)).join(',');
}

// a grid's class by its open cases: none, a few, several, many (console map.css colours them)
export function loadClass(openCases) {
  if (!openCases) return 'grid-load-0';
  if (openCases === 1) return 'grid-load-1';
  if (openCases <= 3) return 'grid-load-2';
  return 'grid-load-3';
}

function caseRow(ctx, props) {
  return h(
    'li',
    { class: 'map-case', dataset: { caseId: props.id } },
    h('a', { href: `#/case/${encodeURIComponent(props.id)}` }, props.number),
    ' ',
    h('span', { class: `light ${props.light || 'none'}` }, props.light ? LIGHTS[props.light] : MAP.no_light),
    ' ',
    props.state_label || ctx.ref.states[props.state] || props.state,
    ' · ',
    ctx.eventName(props.event_code),
    props.created_at ? h('span', { class: 'hint' }, ` ${fmtTime(props.created_at)}`) : null,
  );
}

export async function render(main, ctx) {
  const side = h('aside', { id: 'map-side', class: 'map-side' }, h('p', { class: 'hint' }, MAP.hint));
  const status = h('p', { id: 'map-status', class: 'hint' });
  const selectButton = h('button', { id: 'map-select', type: 'button' }, MAP.select);
  const openOnly = h('input', { type: 'checkbox', id: 'map-open-only', checked: true });
  const holder = h('div', { id: 'map', class: 'map' });
  const legend = h(
    'div',
    { class: 'map-legend', id: 'map-legend' },
    h('span', {}, MAP.legend_title),
    ...[0, 1, 2, 3].map((n) => h('span', { class: `swatch grid-load-${n}` }, MAP.legend[n])),
  );
  fill(
    main,
    h(
      'div',
      { class: 'map-bar' },
      h('h2', {}, MAP.title),
      selectButton,
      h('label', {}, openOnly, MAP.open_only),
      legend,
      status,
    ),
    h('div', { class: 'map-layout' }, holder, side),
  );

  const settings = await api.get('/api/v1/gis/map');
  const map = L.map(holder, { zoomControl: false, attributionControl: false, boxZoom: false, zoomSnap: 0.25 });
  L.control.zoom({ zoomInTitle: MAP.zoom_in, zoomOutTitle: MAP.zoom_out }).addTo(map);
  if (settings.tile_url) L.tileLayer(settings.tile_url, { maxZoom: 19 }).addTo(map);
  const gridLayer = L.layerGroup().addTo(map);
  const caseLayer = L.layerGroup().addTo(map);
  let cases = [];
  let selected = null;
  let loading = 0;

  function showGrid(props) {
    const mine = cases.filter((c) => c.properties.grid_code === props.code);
    fill(
      side,
      h('h3', { id: 'map-grid-title' }, props.name || props.code),
      h(
        'table',
        { class: 'facts' },
        h('tr', {}, h('th', {}, MAP.grid_code), h('td', { class: 'mono' }, props.code)),
        h('tr', {}, h('th', {}, MAP.place), h('td', {}, `${props.district} ${props.street} ${props.community}`)),
        h('tr', {}, h('th', {}, MAP.open_cases), h('td', { id: 'map-grid-open' }, String(props.open_cases))),
      ),
      h('p', { class: 'hint', id: 'map-grid-total' }, MAP.loading),
      h('ul', { id: 'map-grid-cases', class: 'map-cases' }, mine.map((c) => caseRow(ctx, c.properties))),
    );
    // every case of the grid (those without a point too), and how many in all
    api
      .get(`/api/v1/cases?grid=${encodeURIComponent(props.code)}&limit=50`)
      .then((page) => {
        const total = document.getElementById('map-grid-total');
        if (!total) return;
        total.textContent = format(MAP.grid_total, { total: page.total });
        fill(document.getElementById('map-grid-cases'), page.items.length ? page.items.map((c) => caseRow(ctx, c)) : h('li', { class: 'hint' }, MAP.no_cases));
      })
      .catch((err) => {
        const total = document.getElementById('map-grid-total');
        if (total) total.textContent = describeError(err);
      });
  }

  function drawCases() {
    caseLayer.clearLayers();
    const dots = cases.map((c) => ({ c, at: map.latLngToContainerPoint([c.geometry.coordinates[1], c.geometry.coordinates[0]]) }));
    if (dots.length <= MAX_DOTS) {
      for (const { c } of dots) {
        const [lon, lat] = c.geometry.coordinates;
        const marker = L.circleMarker([lat, lon], {
          radius: 7,
          className: `case-dot light-${c.properties.light || 'none'}${c.properties.urgent ? ' urgent' : ''}`,
        });
        marker.bindTooltip(`${c.properties.number} ${c.properties.state_label} ${ctx.eventName(c.properties.event_code)}`);
        marker.on('click', () => ctx.go(`#/case/${encodeURIComponent(c.properties.id)}`));
        marker.addTo(caseLayer);
      }
      return;
    }
    const cells = new Map();
    for (const dot of dots) {
      const key = `${Math.floor(dot.at.x / CLUSTER_PX)}:${Math.floor(dot.at.y / CLUSTER_PX)}`;
      if (!cells.has(key)) cells.set(key, []);
      cells.get(key).push(dot.c);
    }
    for (const members of cells.values()) {
      const lat = members.reduce((s, c) => s + c.geometry.coordinates[1], 0) / members.length;
      const lon = members.reduce((s, c) => s + c.geometry.coordinates[0], 0) / members.length;
      const worst = members.some((c) => c.properties.light === 'red') ? 'red' : members.some((c) => c.properties.light === 'yellow') ? 'yellow' : 'none';
      const icon = L.divIcon({ className: `case-cluster light-${worst}`, html: h('span', {}, String(members.length)), iconSize: [30, 30] });
      const marker = L.marker([lat, lon], { icon, title: format(MAP.cluster, { n: members.length }) });
      marker.on('click', () => map.setView([lat, lon], Math.min(map.getZoom() + 2, 19)));
      marker.addTo(caseLayer);
    }
  }

  async function load() {
    const mine = ++loading;
    const bbox = bboxOf(map.getBounds().pad(0.1));
    status.textContent = MAP.loading;
    try {
      const [grids, found] = await Promise.all([
        api.get(`/api/v1/gis/grids?bbox=${bbox}`),
        api.get(`/api/v1/gis/cases?bbox=${bbox}&open=${openOnly.checked}`),
      ]);
      if (mine !== loading) return;
      gridLayer.clearLayers();
      L.geoJSON(grids, {
        style: (f) => ({ className: `grid grid-${f.properties.code} ${loadClass(f.properties.open_cases)}` }),
        onEachFeature: (f, layer) => {
          layer.bindTooltip(`${f.properties.name || f.properties.code}：${format(MAP.open_n, { n: f.properties.open_cases })}`, { sticky: true });
          layer.on('click', () => showGrid(f.properties));
        },
      }).addTo(gridLayer);
      cases = found.features;
      drawCases();
      const parts = [format(MAP.counts, { grids: grids.features.length, cases: cases.length })];
      if (grids.truncated || found.truncated) parts.push(MAP.truncated);
      status.textContent = parts.join(' ');
      holder.dataset.grids = String(grids.features.length);
      holder.dataset.cases = String(cases.length);
    } catch (err) {
      status.textContent = describeError(err);
    }
  }

  // 框选: the next drag draws a rectangle instead of moving the map
  let selecting = false;
  let start = null;
  function setSelecting(on) {
    selecting = on;
    selectButton.classList.toggle('active', on);
    holder.classList.toggle('selecting', on);
    if (on) map.dragging.disable();
    else map.dragging.enable();
  }
  selectButton.addEventListener('click', () => setSelecting(!selecting));
  map.on('mousedown', (e) => {
    if (!selecting) return;
    start = e.latlng;
    if (selected) selected.remove();
    selected = L.rectangle(L.latLngBounds(start, start), { className: 'map-selection' }).addTo(map);
  });
  map.on('mousemove', (e) => {
    if (selecting && start && selected) selected.setBounds(L.latLngBounds(start, e.latlng));
  });
  map.on('mouseup', async (e) => {
    if (!selecting || !start) return;
    const bounds = L.latLngBounds(start, e.latlng);
    start = null;
    setSelecting(false);
    if (bounds.getNorth() === bounds.getSouth() || bounds.getEast() === bounds.getWest()) return;
    try {
      const found = await api.get(`/api/v1/gis/cases?bbox=${bboxOf(bounds)}&open=${openOnly.checked}&limit=500`);
      fill(
        side,
        h('h3', { id: 'map-selection-title' }, format(MAP.selection, { n: found.features.length })),
        found.truncated ? h('p', { class: 'hint' }, MAP.truncated) : null,
        h('ul', { id: 'map-selection-cases', class: 'map-cases' }, found.features.length ? found.features.map((c) => caseRow(ctx, c.properties)) : h('li', { class: 'hint' }, MAP.no_cases)),
      );
    } catch (err) {
      fill(side, h('p', { class: 'error' }, describeError(err)));
    }
  });

  openOnly.addEventListener('change', load);
  map.on('moveend', load);
  map.on('zoomend', drawCases);
  if (settings.bbox) {
    const [w, s, e, n] = settings.bbox;
    map.fitBounds([
      [s, w],
      [n, e],
    ]);
  } else {
    map.setView([34.6, 119.18], 14);
    status.textContent = MAP.no_grids;
  }
  return () => map.remove();
}
