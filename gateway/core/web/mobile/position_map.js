// 在地图上调整位置 (issue 19): a full-screen map centred on the phone's GPS fix with its
// accuracy circle; the inspector taps the map or drags the marker to where the problem
// really is, and 确定 hands the point (and the grid it falls in) back to the report.
// Loaded only when opened (app.js imports this module on demand), like Leaflet (Debian's
// libjs-leaflet, served by the core at /vendor/leaflet) and the map's CSS: the app's first
// load stays small. The base layer is the imported unit grids (GET /api/v1/gis/grids), plus
// the city's tiles when the core names a tile server (core.map_tile_url). The service
// worker keeps these files once fetched, and the grids seen last are kept in IndexedDB, so
// a point can be corrected offline where the grids are known; otherwise the map says it
// cannot load offline and the GPS point stays. No inline script or style (the core's CSP).
import { T, fill } from './texts.js';
import { h } from './dom.js';
import { cache } from './queue.js';

const LEAFLET = '/vendor/leaflet/leaflet.esm.min.js';
const STYLES = ['/vendor/leaflet/leaflet.css', new URL('position_map.css', import.meta.url).href];
const START_ZOOM = 17;
const MAX_ZOOM = 19;
const MIN_ZOOM = 14;
const GRIDS_KEY = 'map-grids';
const MAX_CACHED_GRIDS = 600; // the grids kept for offline use (the demo area has 400)
const GRID_TIMEOUT_MS = 8000;

let leaflet = null;

function loadStyle(href) {
  const present = [...document.querySelectorAll('link[rel=stylesheet]')].find((l) => l.href === href);
  if (present) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const link = h('link', { rel: 'stylesheet', href });
    link.addEventListener('load', () => resolve());
    link.addEventListener('error', () => {
      link.remove();
      reject(new Error(`style ${href}`));
    });
    document.head.append(link);
  });
}

// Leaflet and the styles, once; a failure (offline and not cached yet) may be retried
function loadLeaflet() {
  if (!leaflet) {
    leaflet = Promise.all([import(LEAFLET), ...STYLES.map(loadStyle)])
      .then(([L]) => L)
      .catch((err) => {
        leaflet = null;
        throw err;
      });
  }
  return leaflet;
}

function metres(a, b) {
  const rad = Math.PI / 180;
  const x = (b.lon - a.lon) * rad * Math.cos(((a.lat + b.lat) / 2) * rad);
  const y = (b.lat - a.lat) * rad;
  return Math.sqrt(x * x + y * y) * 6371000;
}

// ray casting on a GeoJSON ring ([lon, lat] pairs)
function inRing(ring, lon, lat) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function inPolygon(rings, lon, lat) {
  return inRing(rings[0], lon, lat) && !rings.slice(1).some((hole) => inRing(hole, lon, lat));
}

// the grid (its properties) a point falls in, among the grids drawn
export function gridAt(features, lon, lat) {
  for (const f of features) {
    const g = f.geometry;
    const polygons = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : [];
    if (polygons.some((rings) => inPolygon(rings, lon, lat))) return f.properties;
  }
  return null;
}

function bboxOf(bounds) {
  return [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()].map((v) => v.toFixed(6)).join(',');
}

function pickedText(grid, far) {
  const where = grid
    ? fill(T.map_in_grid, { street: grid.street || '', community: grid.community || '', code: grid.code })
    : T.map_outside;
  return `${where}（${fill(T.map_from_fix, { m: Math.round(far) })}）`;
}

// Opens the map over the app. `fix`: the GPS position {lat, lon, accuracy}; `start`: the
// point chosen before ({lat, lon}) or null; `call(method, path, options)`: the app's API
// call. Resolves with {lat, lon, grid} on 确定, null on 取消; rejects when the map cannot
// be shown (offline, Leaflet or the grids not cached).
export async function openPositionMap({ fix, start, call }) {
  const L = await loadLeaflet();
  const known = new Map(((await cache.get(GRIDS_KEY).catch(() => null)) || []).map((f) => [f.properties.code, f]));
  const first = await call('GET', `/api/v1/gis/grids?bbox=${aroundFix(fix)}`, { timeoutMs: GRID_TIMEOUT_MS }).catch(() => null);
  if (first) for (const f of first.features) known.set(f.properties.code, f);
  else if (!gridAt([...known.values()], fix.lon, fix.lat)) throw new Error('no grids here offline');

  const holder = h('div', { id: 'position-map', class: 'position-map-canvas' });
  const picked = h('p', { id: 'position-map-picked', class: 'position-map-picked', role: 'status' });
  const offline = h('p', { id: 'position-map-offline', class: 'position-map-note', hidden: true }, T.map_offline_cached);
  const ok = h('button', { type: 'button', id: 'position-map-ok', class: 'primary' }, T.map_ok);
  const cancel = h('button', { type: 'button', id: 'position-map-cancel' }, T.map_cancel);
  const reset = h('button', { type: 'button', id: 'position-map-reset' }, T.map_reset);
  const dialog = h(
    'div',
    { id: 'position-map-dialog', class: 'position-map', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'position-map-title' },
    h('div', { class: 'position-map-head' }, h('h2', { id: 'position-map-title' }, T.map_title), h('p', { class: 'position-map-note' }, T.map_hint)),
    holder,
    h('div', { class: 'position-map-foot' }, picked, offline, h('div', { class: 'position-map-buttons' }, reset, cancel, ok)),
  );
  document.body.append(dialog);
  document.body.classList.add('position-map-open');
  offline.hidden = Boolean(first);
  const shut = () => {
    dialog.remove();
    document.body.classList.remove('position-map-open');
  };
  try {
    return await showMap({ L, fix, start, call, first, known, holder, picked, offline, buttons: { ok, cancel, reset }, shut });
  } catch (err) {
    shut(); // the app says the map cannot be shown; the GPS point stays
    throw err;
  }
}

async function showMap({ L, fix, start, call, first, known, holder, picked, offline, buttons, shut }) {
  const { ok, cancel, reset } = buttons;

  const at = start || fix;
  const map = L.map(holder, { attributionControl: false, zoomControl: false, maxZoom: MAX_ZOOM });
  L.control.zoom({ zoomInTitle: T.map_zoom_in, zoomOutTitle: T.map_zoom_out }).addTo(map);
  const settings = first ? await call('GET', '/api/v1/gis/map', { timeoutMs: GRID_TIMEOUT_MS }).catch(() => null) : null;
  if (settings && settings.tile_url) L.tileLayer(settings.tile_url, { maxZoom: MAX_ZOOM }).addTo(map);
  const gridLayer = L.layerGroup().addTo(map);
  L.circle([fix.lat, fix.lon], { radius: fix.accuracy || 0, className: 'gps-accuracy', interactive: false }).addTo(map);
  L.circleMarker([fix.lat, fix.lon], { radius: 6, className: 'gps-fix', interactive: false }).addTo(map);
  const icon = L.divIcon({ className: 'pick-marker', html: h('span', {}), iconSize: [48, 48], iconAnchor: [24, 44] });
  const marker = L.marker([at.lat, at.lon], { icon, draggable: true, title: T.map_marker, keyboard: false }).addTo(map);

  let point = { lat: at.lat, lon: at.lon };
  const features = () => [...known.values()];
  function showPicked() {
    const grid = gridAt(features(), point.lon, point.lat);
    for (const path of holder.querySelectorAll('path.map-grid')) path.classList.toggle('picked', Boolean(grid) && path.classList.contains(`grid-${grid.code}`));
    picked.textContent = pickedText(grid, metres(fix, point));
    holder.dataset.lat = point.lat.toFixed(6);
    holder.dataset.lon = point.lon.toFixed(6);
    holder.dataset.grid = grid ? grid.code : '';
  }
  function moveTo(latlng) {
    point = { lat: latlng.lat, lon: latlng.lng };
    marker.setLatLng(latlng);
    showPicked();
  }
  function drawGrids() {
    gridLayer.clearLayers();
    L.geoJSON({ type: 'FeatureCollection', features: features() }, {
      style: (f) => ({ className: `map-grid grid-${f.properties.code}` }),
    }).addTo(gridLayer);
    holder.dataset.grids = String(known.size);
    showPicked();
  }
  let loading = 0;
  async function loadGrids() {
    const mine = ++loading;
    const found = await call('GET', `/api/v1/gis/grids?bbox=${bboxOf(map.getBounds().pad(0.2))}`, { timeoutMs: GRID_TIMEOUT_MS }).catch(() => null);
    if (!found || mine !== loading) return;
    for (const f of found.features) known.set(f.properties.code, f);
    offline.hidden = true;
    drawGrids();
    cache.set(GRIDS_KEY, features().slice(-MAX_CACHED_GRIDS)).catch(() => {});
  }

  map.on('click', (event) => moveTo(event.latlng));
  marker.on('drag', () => {
    const latlng = marker.getLatLng();
    point = { lat: latlng.lat, lon: latlng.lng };
    showPicked();
  });
  map.on('moveend', () => {
    holder.dataset.centre = `${map.getCenter().lat.toFixed(7)},${map.getCenter().lng.toFixed(7)}`;
    holder.dataset.zoom = String(map.getZoom());
    if (navigator.onLine) loadGrids();
  });
  // the whole accuracy circle in view when the fix is poor (never wider than MIN_ZOOM)
  const circle = L.latLng(fix.lat, fix.lon).toBounds(2 * (fix.accuracy || 0));
  map.setView([at.lat, at.lon], Math.max(MIN_ZOOM, Math.min(START_ZOOM, map.getBoundsZoom(circle))));
  drawGrids();
  const resized = new ResizeObserver(() => map.invalidateSize()); // the foot's text wraps
  resized.observe(holder);
  if (first) cache.set(GRIDS_KEY, features().slice(-MAX_CACHED_GRIDS)).catch(() => {});
  holder.dataset.ready = 'true';

  return new Promise((resolve) => {
    function close(result) {
      resized.disconnect();
      map.remove();
      shut();
      resolve(result);
    }
    ok.addEventListener('click', () => close({ ...point, grid: gridAt(features(), point.lon, point.lat) }));
    cancel.addEventListener('click', () => close(null));
    reset.addEventListener('click', () => {
      moveTo(L.latLng(fix.lat, fix.lon));
      map.setView([fix.lat, fix.lon], map.getZoom());
    });
  });
}

// a box of about 300 m around the fix: the grids the map shows first
function aroundFix(fix) {
  const dLat = 300 / 111320;
  const dLon = dLat / Math.cos((fix.lat * Math.PI) / 180);
  return [fix.lon - dLon, fix.lat - dLat, fix.lon + dLon, fix.lat + dLat].map((v) => v.toFixed(6)).join(',');
}
