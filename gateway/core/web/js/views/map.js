// 地图 (监督指挥): the imported unit grids coloured by their open cases, the cases as dots
// by light (thinned into counted clusters when many), a grid's cases and figures on click,
// and 框选: drag a rectangle to list the cases inside. Leaflet is Debian's libjs-leaflet,
// served by the core; the base layer is the grids themselves, or the city's tile server
// when the core names one. Cameras: an icon by health with the ground each sees; a click
// shows where its cases go and a live view. No inline style or script (the console's CSP).
// 大屏 (#/screen): the map full screen with today's figures; a city user's 跳转到 there picks
// 全市 or a district for the map and the figures both, kept in the address (#/screen/<id>)
// so a wall display can be bookmarked to a district; a district user's shows their own.
import * as L from '/vendor/leaflet/leaflet.esm.js';
import { api, describeError } from '../api.js';
import { LIGHTS, MAP, METRICS } from '../labels.js';
import { openLive } from '../live.js';
import { fill, fmtTime, h, locale } from '../ui.js';
import { watch } from './cameras.js';
import { PATROL_READERS, patrolLayer } from './map_patrols.js';

// the roles that may read the evaluation figures (/api/v1/metrics): score colours, 大屏 figures
const EVALUATORS = ['shift_lead', 'dispatcher', 'admin'];
const SCORE_DAYS = 30;
const SCREEN_FIGURES = ['registered', 'closed', 'closed_on_time', 'overdue_undisposed', 'on_time_closure_rate', 'score'];
const COMPONENTS_ZOOM = 17; // census components (部件) are drawn from this zoom in
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

// a grid's class by its composite score over the last days (none: no case to score)
export function scoreClass(score) {
  if (score === undefined || score === null) return 'grid-score-none';
  if (score >= 90) return 'grid-score-a';
  if (score >= 75) return 'grid-score-b';
  if (score >= 60) return 'grid-score-c';
  return 'grid-score-d';
}

// midnight today in the centre's time zone, as an instant (ISO, UTC)
function todayStart(now = new Date()) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: locale.timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
      .formatToParts(now)
      .map((p) => [p.type, Number(p.value)]),
  );
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  const offset = Math.round((wall - now.getTime()) / 60000) * 60000;
  return new Date(Date.UTC(parts.year, parts.month - 1, parts.day) - offset).toISOString();
}

function figureText(kind, value) {
  if (value === null || value === undefined) return '—';
  if (kind === 'rate') return `${(value * 100).toFixed(1)}%`;
  if (kind === 'score') return value.toFixed(1);
  return String(value);
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

// [[id, name, extent]]: 全市 for the city's users, then each district of the tree they see
// that has grids (the extents come from /api/v1/gis/map); none when there is one district
function jumpTargets(org, settings) {
  if (!org || !org.me || !org.me.centre) return [];
  const city = org.me.centre.kind === 'city';
  const districts = org.nodes
    .filter((n) => n.kind === 'district' && (city || n.id === org.me.centre.id))
    .filter((n) => settings.districts && settings.districts[n.id])
    .map((n) => [n.id, n.name, settings.districts[n.id]]);
  if (districts.length < 2) return [];
  return city && settings.bbox ? [['city', MAP.jump_city, settings.bbox], ...districts] : districts;
}

// the 大屏's address for an area: 全市 (or a district user's own) is #/screen itself
function screenHash(id) {
  return id && id !== 'city' ? `#/screen/${encodeURIComponent(id)}` : '#/screen';
}

export async function render(main, ctx, arg) {
  const screen = ctx.view === 'screen';
  const centre = ctx.ref.org && ctx.ref.org.me ? ctx.ref.org.me.centre : null;
  const evaluator = EVALUATORS.includes(ctx.user.role);
  const side = h('aside', { id: 'map-side', class: 'map-side' }, h('p', { class: 'hint' }, MAP.hint));
  const status = h('p', { id: 'map-status', class: 'hint' });
  const selectButton = h('button', { id: 'map-select', type: 'button' }, MAP.select);
  const openOnly = h('input', { type: 'checkbox', id: 'map-open-only', checked: true });
  const colourBy = h(
    'select',
    { id: 'map-colour', 'aria-label': MAP.colour_by },
    h('option', { value: 'open' }, MAP.colour_open),
    evaluator ? h('option', { value: 'score' }, format(MAP.colour_score, { days: SCORE_DAYS })) : null,
  );
  const holder = h('div', { id: 'map', class: 'map' });
  // 跳转到: the districts of the tree the user sees (and 全市), filled once the extents are in
  const jump = h('select', { id: 'map-jump', 'aria-label': MAP.jump });
  const jumpLabel = h('label', { id: 'map-jump-label', hidden: true }, `${MAP.jump} `, jump);
  const legend = h('div', { class: 'map-legend', id: 'map-legend' });
  function drawLegend() {
    if (colourBy.value === 'score') {
      fill(legend, h('span', {}, MAP.score_legend_title), ...['a', 'b', 'c', 'd', 'none'].map((k) => h('span', { class: `swatch grid-score-${k}` }, MAP.score_legend[k])));
    } else {
      fill(legend, h('span', {}, MAP.legend_title), ...[0, 1, 2, 3].map((n) => h('span', { class: `swatch grid-load-${n}` }, MAP.legend[n])));
    }
  }
  drawLegend();
  const figures = h('div', { id: 'screen-figures', class: 'screen-figures' });
  const todayTitle = h('h3', { id: 'screen-today' }, MAP.today);
  const clock = h('span', { id: 'screen-clock', class: 'screen-clock' });
  if (screen) {
    document.body.classList.add('screen-mode');
    fill(
      main,
      h(
        'div',
        { class: 'screen' },
        h('div', { class: 'screen-head' }, h('h2', {}, MAP.screen_title), jumpLabel, clock, legend, status, h('a', { href: '#/map', id: 'screen-exit' }, MAP.screen_exit)),
        h('div', { class: 'screen-body' }, holder, h('aside', { class: 'screen-side' }, todayTitle, figures, side)),
      ),
    );
  } else {
    fill(
      main,
      h(
        'div',
        { class: 'map-bar' },
        h('h2', {}, MAP.title),
        selectButton,
        h('label', {}, openOnly, MAP.open_only),
        colourBy,
        jumpLabel,
        legend,
        evaluator ? h('a', { href: '#/screen', id: 'map-screen', class: 'button' }, MAP.screen_open) : null,
        status,
      ),
      h('div', { class: 'map-layout' }, holder, side),
    );
  }

  const settings = await api.get('/api/v1/gis/map');
  const jumps = jumpTargets(ctx.ref.org, settings);
  if (jumps.length > 1) {
    fill(jump, jumps.map(([id, name]) => h('option', { value: id }, name)));
    jumpLabel.hidden = false;
  }
  // the 大屏's area: a bookmarked district of the picker, else 全市; one the picker lacks
  // (another district's, for a district user) leaves the address
  const bookmarked = screen && arg ? jumps.find(([id]) => id === arg) : null;
  if (bookmarked) jump.value = bookmarked[0];
  else if (screen && arg) history.replaceState(null, '', screenHash(null));
  const map = L.map(holder, { zoomControl: false, attributionControl: false, boxZoom: false, zoomSnap: 0.25 });
  L.control.zoom({ zoomInTitle: MAP.zoom_in, zoomOutTitle: MAP.zoom_out }).addTo(map);
  if (settings.tile_url) L.tileLayer(settings.tile_url, { maxZoom: 19 }).addTo(map);
  const gridLayer = L.layerGroup().addTo(map);
  const componentLayer = L.layerGroup().addTo(map);
  const cameraLayer = L.layerGroup().addTo(map);
  // cameras' zones above the grids (redrawn with each viewport) so their names show on
  // hover, and the case and component dots above the zones so a case on a zone is clickable
  map.createPane('zones').style.zIndex = '450';
  map.createPane('dots').style.zIndex = '460';
  const caseLayer = L.layerGroup().addTo(map);
  // inspectors' last positions and, on a click, their track of today (views/map_patrols.js)
  const patrols = PATROL_READERS.includes(ctx.user.role) ? patrolLayer(L, map, side, holder) : null;
  let cases = [];
  let peer = null; // the live view of the camera shown in the side panel
  let selected = null;
  let loading = 0;
  let scores = null; // grid code -> composite score over SCORE_DAYS, when colouring by score

  function gridClass(props) {
    if (colourBy.value === 'score' && scores) return scoreClass(scores.get(props.code));
    return loadClass(props.open_cases);
  }

  async function loadScores() {
    const start = new Date(Date.now() - SCORE_DAYS * 86400000).toISOString();
    const doc = await api.get(`/api/v1/metrics?group_by=grid&start=${encodeURIComponent(start)}&end=${encodeURIComponent(new Date().toISOString())}`);
    scores = new Map(doc.groups.map((g) => [g.group, g.score]));
  }

  // [organisation node or null for all cases, its name] whose figures the 大屏 shows: the
  // picker's district, else a district user's own district, else 全市
  function screenArea() {
    const picked = jumps.find(([id]) => id === jump.value && id !== 'city');
    if (picked) return [picked[0], picked[1]];
    if (centre && centre.kind === 'district') return [centre.id, centre.name];
    return [null, centre ? MAP.jump_city : null];
  }

  let figuresAsked = 0;
  async function loadFigures() {
    const mine = ++figuresAsked;
    const start = todayStart();
    const [node, areaName] = screenArea();
    let today = null;
    if (evaluator) {
      const where = node ? `&node=${encodeURIComponent(node)}` : '';
      const doc = await api.get(`/api/v1/metrics?start=${encodeURIComponent(start)}&end=${encodeURIComponent(new Date().toISOString())}${where}`).catch(() => null);
      today = doc && doc.groups[0] ? doc.groups[0] : null;
    }
    if (mine !== figuresAsked) return; // an older answer: the area may have changed since
    todayTitle.textContent = areaName ? format(MAP.today_of, { area: areaName }) : MAP.today;
    figures.dataset.node = node || 'city';
    const red = cases.filter((c) => c.properties.light === 'red').length;
    const rows = [
      [MAP.open_in_view, String(cases.length)],
      [MAP.red_in_view, String(red)],
      ...METRICS.filter(([key]) => SCREEN_FIGURES.includes(key)).map(([key, name, kind]) => [name, today ? figureText(kind, today[key]) : '—']),
    ];
    fill(figures, h('table', { class: 'facts screen-table' }, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))));
    clock.textContent = fmtTime(new Date().toISOString());
  }

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

  function closeLive() {
    if (peer) peer.close();
    peer = null;
  }

  function showCamera(props) {
    closeLive();
    const video = h('video', { autoplay: true, muted: true, playsinline: true, class: 'live', id: 'map-camera-video' });
    const note = h('p', { class: 'hint', id: 'map-camera-note' });
    const grid = props.grid
      ? `${props.grid.street} ${props.grid.community} · ${props.grid.code}（${MAP.camera_placed_by[props.placed_by] || ''}）`
      : props.outside_managed_area
        ? MAP.camera_outside
        : MAP.camera_no_grid;
    const liveButton = h('button', { type: 'button', id: 'map-camera-live' }, MAP.camera_live);
    liveButton.addEventListener('click', async () => {
      closeLive();
      note.classList.remove('error');
      note.textContent = MAP.camera_connecting;
      try {
        peer = await watch(props.id, video, note);
      } catch (err) {
        note.classList.add('error');
        note.textContent = describeError(err);
      }
    });
    fill(
      side,
      h('h3', { id: 'map-camera-title' }, format(MAP.camera_title, { name: props.name })),
      h(
        'table',
        { class: 'facts' },
        h('tr', {}, h('th', {}, MAP.camera_id), h('td', { class: 'mono' }, props.id)),
        h('tr', {}, h('th', {}, MAP.camera_health), h('td', { id: 'map-camera-health' }, props.health_label)),
        h('tr', {}, h('th', {}, MAP.camera_grid), h('td', { id: 'map-camera-grid' }, grid)),
      ),
      h('p', {}, liveButton, ' ', h('a', { href: '#/cameras' }, MAP.camera_wall)),
      video,
      note,
    );
  }

  async function loadCameras() {
    const found = await api.get('/api/v1/gis/cameras');
    cameraLayer.clearLayers();
    for (const f of found.features) {
      const p = f.properties;
      if (p.footprint) L.polygon(p.footprint.map(([lon, lat]) => [lat, lon]), { className: 'camera-footprint', interactive: false }).addTo(cameraLayer);
      // each zone with its own ground (a kerb, a stall spot): light, its name on hover
      for (const z of p.zones || []) {
        const where = z.grid ? z.grid.code : z.outside_managed_area ? MAP.outside : '';
        const zone = L.polygon(z.footprint.map(([lon, lat]) => [lat, lon]), { className: 'zone-footprint', pane: 'zones' });
        zone.bindTooltip(format(where ? MAP.zone_tooltip : MAP.zone_tooltip_bare, { name: z.name, camera: p.name, where }), { sticky: true });
        zone.on('click', () => showCamera(p));
        zone.addTo(cameraLayer);
      }
      const [lon, lat] = f.geometry.coordinates;
      const icon = L.divIcon({ className: `camera-icon health-${p.health}`, html: h('span', {}, MAP.camera_icon), iconSize: [22, 22] });
      const marker = L.marker([lat, lon], { icon, title: `${p.name} ${p.health_label}`, zIndexOffset: 1000 });
      marker.bindTooltip(`${p.name}（${p.health_label}）`);
      marker.on('click', () => showCamera(p));
      marker.addTo(cameraLayer);
    }
    holder.dataset.cameras = String(found.features.length);
  }

  function drawCases() {
    caseLayer.clearLayers();
    const dots = cases.map((c) => ({ c, at: map.latLngToContainerPoint([c.geometry.coordinates[1], c.geometry.coordinates[0]]) }));
    if (dots.length <= MAX_DOTS) {
      for (const { c } of dots) {
        const [lon, lat] = c.geometry.coordinates;
        const marker = L.circleMarker([lat, lon], {
          pane: 'dots',
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
    const bounds = map.getBounds();
    if (bounds.getWest() === bounds.getEast() || bounds.getNorth() === bounds.getSouth()) return; // no size yet
    const mine = ++loading;
    const bbox = bboxOf(bounds.pad(0.1));
    status.textContent = MAP.loading;
    try {
      const [grids, found] = await Promise.all([
        api.get(`/api/v1/gis/grids?bbox=${bbox}`),
        api.get(`/api/v1/gis/cases?bbox=${bbox}&open=${openOnly.checked}`),
      ]);
      if (mine !== loading) return;
      gridLayer.clearLayers();
      L.geoJSON(grids, {
        style: (f) => ({ className: `grid grid-${f.properties.code} ${gridClass(f.properties)}` }),
        onEachFeature: (f, layer) => {
          const score = scores ? scores.get(f.properties.code) : undefined;
          const scoreText = scores ? ` · ${MAP.score}${score === undefined || score === null ? '—' : score.toFixed(1)}` : '';
          layer.bindTooltip(`${f.properties.name || f.properties.code}：${format(MAP.open_n, { n: f.properties.open_cases })}${scoreText}`, { sticky: true });
          layer.on('click', () => showGrid(f.properties));
        },
      }).addTo(gridLayer);
      componentLayer.clearLayers();
      delete holder.dataset.components; // says how many are drawn only once they are
      if (map.getZoom() >= COMPONENTS_ZOOM) {
        const parts = await api.get(`/api/v1/gis/components?bbox=${bbox}`);
        if (mine !== loading) return;
        for (const f of parts.features) {
          const [lon, lat] = f.geometry.coordinates;
          L.circleMarker([lat, lon], { pane: 'dots', radius: 3, className: `component-dot component-${f.properties.type_code.slice(0, 2)}` })
            .bindTooltip(`${f.properties.name}（${f.properties.state}）${f.properties.owner}`)
            .addTo(componentLayer);
        }
        holder.dataset.components = String(parts.features.length);
      }
      cases = found.features;
      drawCases();
      const parts = [format(MAP.counts, { grids: grids.features.length, cases: cases.length })];
      if (grids.truncated || found.truncated) parts.push(MAP.truncated);
      status.textContent = parts.join(' ');
      holder.dataset.grids = String(grids.features.length);
      holder.dataset.cases = String(cases.length);
      if (screen) await loadFigures();
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
  colourBy.addEventListener('change', async () => {
    drawLegend();
    if (colourBy.value === 'score') {
      try {
        await loadScores();
      } catch (err) {
        status.textContent = describeError(err);
        return;
      }
    }
    load();
  });
  // 大屏: case changes come over the live stream (a reload at most every 2 s), else a poll
  let live = null;
  let poller = null;
  let soon = null;
  if (screen) {
    const refreshSoon = () => {
      if (!soon) soon = setTimeout(() => ((soon = null), load()), 2000);
    };
    live = openLive({ onEvent: (kind) => kind === 'case' && refreshSoon(), onUp: refreshSoon });
    poller = setInterval(() => (load(), loadCameras().catch(() => {}), patrols && patrols.load().catch(() => {})), 60000);
  }
  jump.addEventListener('change', () => {
    const found = jumps.find(([id]) => id === jump.value);
    if (!found) return;
    if (screen) {
      history.replaceState(null, '', screenHash(found[0])); // no hashchange: no new page
      loadFigures().catch((err) => (status.textContent = describeError(err)));
    }
    fitTo(found[2]);
  });
  map.on('moveend', load);
  loadCameras().catch((err) => (status.textContent = describeError(err)));
  if (patrols) patrols.load().catch((err) => (status.textContent = describeError(err)));
  map.on('zoomend', drawCases);
  map.invalidateSize();
  if (bookmarked) {
    fitTo(bookmarked[2]);
  } else if (settings.bbox) {
    fitTo(settings.bbox);
  } else {
    map.setView([34.6, 119.18], 14);
    status.textContent = MAP.no_grids;
  }
  function fitTo([w, s, e, n]) {
    map.fitBounds([
      [s, w],
      [n, e],
    ]);
    holder.dataset.view = [w, s, e, n].join(',');
  }

  return () => {
    if (live) live.close();
    closeLive();
    clearInterval(poller);
    clearTimeout(soon);
    document.body.classList.remove('screen-mode');
    map.remove();
  };
}
