// The case page's map panel: where the case is, on its grid and the grids around it
// (the imported base data; the city's tiles when the core names a tile server).
import * as L from '/vendor/leaflet/leaflet.esm.js';
import { api } from '../api.js';
import { MAP } from '../labels.js';
import { h } from '../ui.js';

const AROUND = 0.004; // degrees of grids shown around the case (about 400 m)

// the panel for a case with a point, else null; mount() after it is in the page, remove() when done
export function caseMapPanel(c) {
  if (c.lat === null || c.lat === undefined || c.lon === null || c.lon === undefined) return null;
  const holder = h('div', { class: 'map-panel', id: 'case-map' });
  const where = c.grid_code
    ? `${MAP.case_grid}：${c.grid_code}`
    : c.facts && c.facts.outside_managed_area
      ? MAP.outside
      : '';
  const element = h('section', { id: 'case-map-panel' }, h('h3', {}, MAP.case_title), holder, where ? h('p', { class: 'hint', id: 'case-map-grid' }, where) : null);
  let map = null;
  return {
    element,
    async mount() {
      map = L.map(holder, { zoomControl: false, attributionControl: false });
      L.control.zoom({ zoomInTitle: MAP.zoom_in, zoomOutTitle: MAP.zoom_out }).addTo(map);
      map.setView([c.lat, c.lon], 17);
      const bbox = [c.lon - AROUND, c.lat - AROUND, c.lon + AROUND, c.lat + AROUND].map((v) => v.toFixed(6)).join(',');
      try {
        const [settings, grids] = await Promise.all([api.get('/api/v1/gis/map'), api.get(`/api/v1/gis/grids?bbox=${bbox}`)]);
        if (!map) return;
        if (settings.tile_url) L.tileLayer(settings.tile_url, { maxZoom: 19 }).addTo(map);
        L.geoJSON(grids, {
          style: (f) => ({ className: `grid ${f.properties.code === c.grid_code ? 'grid-load-2' : 'grid-load-0'}` }),
        }).addTo(map);
      } catch {
        // the point alone still says where the case is
      }
      if (!map) return;
      L.circleMarker([c.lat, c.lon], { radius: 8, className: 'case-here' }).addTo(map);
      holder.dataset.ready = '1';
    },
    remove() {
      if (map) map.remove();
      map = null;
    },
  };
}
