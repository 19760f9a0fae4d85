// 上报问题's 位置 (issue 17 §2): where the reported problem is, found from what the caller said
// or picked on a small map. The address search lists the geocoder's scored candidates
// (GET /api/v1/gis/geocode) with their grid; the operator picks one, never a silent best
// guess. A click on the map (the imported grids drawn, Leaflet served by the core, no inline
// style or script: the console's CSP) asks GET /api/v1/gis/reverse for the grid there, or
// 不在管理区域内. The report then carries the point; the core's intake places it on the grids
// as it does every channel's.
import * as L from '/vendor/leaflet/leaflet.esm.js';
import { api, describeError } from '../api.js';
import { fill, h } from '../ui.js';

// the page's text (labels.js holds the console-wide tables)
export const TEXT = {
  legend: '问题位置',
  search_label: '地址查询（输入来电人所说的地址）',
  search_placeholder: '例如：海州区朝阳路12号',
  search: '查询',
  searching: '查询中…',
  search_failed: '地址查询失败：',
  search_empty: '请输入地址后再查询',
  no_candidates: '未找到相符的地址，请换个说法再查，或在地图上选点',
  candidates: '找到 {n} 个候选地址，请核对后选择（按匹配度排列）：',
  score: '匹配度 {score}',
  pick: '选择',
  map_hint: '也可在地图上点击问题所在位置',
  zoom_in: '放大',
  zoom_out: '缩小',
  map_loading: '地图加载中…',
  map_failed: '地图加载失败：',
  no_grids: '尚未导入单元网格，无法在地图上选点',
  reverse_failed: '查询该位置失败：',
  locating: '正在查询该位置所属网格…',
  chosen: '已选位置',
  chosen_none: '尚未选择位置（可只填写单元网格编码）',
  from_address: '来自地址查询',
  from_map: '来自地图选点',
  grid: '单元网格',
  outside: '不在管理区域内',
  outside_note: '该位置不在任何单元网格内，案件将不归属网格',
  nearest: '最近门牌：{text}（约 {m} 米）',
  coordinates: '经度 {lon}，纬度 {lat}',
  clear: '清除位置',
  dropped: '已改为手工填写网格编码，原选位置已清除',
  why: {
    road_exact: '道路名一致',
    road_fuzzy: '道路名相近',
    road_uncertain: '道路名不确定',
    number_exact: '门牌号一致',
    number_near: '门牌号相邻',
    number_other: '门牌号不同',
    number_missing: '未说门牌号',
    building_exact: '楼栋一致',
    building_other: '楼栋不同',
    building_unknown: '楼栋未知',
    unit_exact: '单元一致',
    unit_other: '单元不同',
    unit_unknown: '单元未知',
    district_other: '区县不同',
  },
};

function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

function bboxOf(bounds) {
  return [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()].map((v) => v.toFixed(6)).join(',');
}

// "鼓楼社区第1网格 32070600100101（海州区 海州街道 鼓楼社区）"
export function gridText(grid) {
  const names = [grid.district, grid.street, grid.community].filter(Boolean).join(' ');
  return `${grid.name || ''} ${grid.code}${names ? `（${names}）` : ''}`.trim();
}

// The 位置 fieldset of the report form. ``onChange(place)`` is told each pick and each
// clear (place null); a place is {lon, lat, grid (or null), outside, text, from}.
// mount() once the element is in the page; remove() when the page goes.
export function placePicker({ onChange }) {
  let place = null;
  let map = null;
  let marker = null;
  let asked = 0; // the latest search or reverse asked: an older answer is dropped
  const query = h('input', { id: 'report-place-query', type: 'search', maxlength: 200, placeholder: TEXT.search_placeholder, autocomplete: 'off', 'aria-label': TEXT.search_label });
  const searchButton = h('button', { type: 'button', id: 'report-place-search' }, TEXT.search);
  const found = h('div', { id: 'report-place-candidates', class: 'place-candidates' });
  const holder = h('div', { id: 'report-map', class: 'map-panel report-map' });
  const mapNote = h('p', { class: 'hint', id: 'report-map-note' }, TEXT.map_hint);
  const chosen = h('div', { id: 'report-place-chosen', class: 'place-chosen' });
  const clearButton = h('button', { type: 'button', id: 'report-place-clear', hidden: true }, TEXT.clear);
  clearButton.addEventListener('click', () => clear());

  function showChosen(note) {
    clearButton.hidden = !place;
    if (!place) {
      fill(chosen, h('p', { class: 'hint', id: 'report-place-none' }, note || TEXT.chosen_none));
      return;
    }
    const where = place.grid
      ? h('span', { id: 'report-place-grid' }, gridText(place.grid))
      : h('span', { id: 'report-place-grid', class: 'error' }, TEXT.outside);
    fill(
      chosen,
      h('h4', {}, `${TEXT.chosen}（${place.from === 'map' ? TEXT.from_map : TEXT.from_address}）`),
      place.text ? h('p', { id: 'report-place-text' }, place.text) : null,
      h('p', {}, `${TEXT.grid}：`, where),
      place.grid ? null : h('p', { class: 'hint' }, TEXT.outside_note),
      place.nearest ? h('p', { class: 'hint', id: 'report-place-nearest' }, format(TEXT.nearest, { text: place.nearest.text, m: Math.round(place.nearest.distance_m) })) : null,
      h('p', { class: 'hint mono', id: 'report-place-point' }, format(TEXT.coordinates, { lon: place.lon.toFixed(6), lat: place.lat.toFixed(6) })),
    );
  }

  function drawMarker() {
    if (!map) return;
    if (marker) marker.remove();
    marker = place ? L.circleMarker([place.lat, place.lon], { radius: 8, className: 'case-here report-place-here', interactive: false }).addTo(map) : null;
  }

  function choose(next) {
    place = next;
    showChosen();
    drawMarker();
    if (map && place && !map.getBounds().contains([place.lat, place.lon])) map.panTo([place.lat, place.lon]);
    onChange(place);
  }

  function clear(note) {
    place = null;
    showChosen(note);
    drawMarker();
    onChange(null);
  }

  function candidateItem(item, i) {
    const reasons = item.why.map((w) => TEXT.why[w]).filter(Boolean).join('，');
    const where = item.grid ? gridText(item.grid) : TEXT.outside;
    const button = h('button', { type: 'button', class: 'place-pick' }, TEXT.pick);
    button.addEventListener('click', () => {
      for (const li of found.querySelectorAll('li')) li.classList.remove('picked');
      button.closest('li').classList.add('picked');
      choose({ lon: item.lon, lat: item.lat, grid: item.grid, outside: item.outside_managed_area, text: item.text, from: 'address' });
    });
    return h(
      'li',
      { class: 'place-candidate', dataset: { index: String(i) } },
      button,
      ' ',
      h('strong', { class: 'place-text' }, item.text),
      ' ',
      h('span', { class: 'place-score' }, format(TEXT.score, { score: item.score.toFixed(1) })),
      h('br'),
      h('span', { class: item.grid ? 'hint place-grid' : 'error place-grid' }, where),
      reasons ? h('span', { class: 'hint' }, ` · ${reasons}`) : null,
    );
  }

  async function search() {
    const q = query.value.trim();
    if (!q) {
      fill(found, h('p', { class: 'error' }, TEXT.search_empty));
      return;
    }
    const mine = ++asked;
    fill(found, h('p', { class: 'hint' }, TEXT.searching));
    try {
      const answer = await api.get('/api/v1/gis/geocode', { q, limit: 8 });
      if (mine !== asked) return;
      fill(
        found,
        answer.items.length
          ? [h('p', { class: 'hint', id: 'report-place-count' }, format(TEXT.candidates, { n: answer.items.length })), h('ol', { class: 'place-list' }, answer.items.map(candidateItem))]
          : h('p', { class: 'hint', id: 'report-place-count' }, TEXT.no_candidates),
      );
    } catch (err) {
      if (mine === asked) fill(found, h('p', { class: 'error' }, TEXT.search_failed, describeError(err)));
    }
  }
  searchButton.addEventListener('click', search);
  query.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault(); // Enter here searches; it does not submit the report
    search();
  });

  async function pickAt(latlng) {
    const mine = ++asked;
    mapNote.classList.remove('error');
    mapNote.textContent = TEXT.locating;
    try {
      const answer = await api.get('/api/v1/gis/reverse', { lon: latlng.lng.toFixed(7), lat: latlng.lat.toFixed(7) });
      if (mine !== asked) return;
      mapNote.textContent = TEXT.map_hint;
      for (const li of found.querySelectorAll('li.picked')) li.classList.remove('picked');
      choose({ lon: answer.lon, lat: answer.lat, grid: answer.grid, outside: answer.outside_managed_area, text: '', nearest: answer.nearest, from: 'map' });
    } catch (err) {
      if (mine !== asked) return;
      mapNote.classList.add('error');
      mapNote.textContent = TEXT.reverse_failed + describeError(err);
    }
  }

  async function mount() {
    mapNote.textContent = TEXT.map_loading;
    try {
      const settings = await api.get('/api/v1/gis/map');
      if (!settings.bbox) {
        holder.hidden = true;
        mapNote.textContent = TEXT.no_grids;
        return;
      }
      map = L.map(holder, { zoomControl: false, attributionControl: false });
      L.control.zoom({ zoomInTitle: TEXT.zoom_in, zoomOutTitle: TEXT.zoom_out }).addTo(map);
      if (settings.tile_url) L.tileLayer(settings.tile_url, { maxZoom: 19 }).addTo(map);
      const gridLayer = L.layerGroup().addTo(map);
      let loading = 0;
      const load = async () => {
        const mine = ++loading;
        delete holder.dataset.ready; // says the grids are drawn only once this view's are
        holder.dataset.zoom = String(map.getZoom());
        try {
          const grids = await api.get(`/api/v1/gis/grids?bbox=${bboxOf(map.getBounds().pad(0.1))}`);
          if (mine !== loading || !map) return;
          gridLayer.clearLayers();
          // not interactive: a click goes through to the map (the pick), whatever it lands on
          L.geoJSON(grids, { interactive: false, style: (f) => ({ className: `grid grid-load-0 grid-${f.properties.code}` }) }).addTo(gridLayer);
          holder.dataset.grids = String(grids.features.length);
          holder.dataset.ready = '1';
        } catch (err) {
          if (mine === loading) {
            mapNote.classList.add('error');
            mapNote.textContent = TEXT.map_failed + describeError(err);
          }
        }
      };
      map.on('moveend', load);
      map.on('click', (e) => pickAt(e.latlng));
      const [w, s, e, n] = settings.bbox;
      map.fitBounds([
        [s, w],
        [n, e],
      ]);
      mapNote.textContent = TEXT.map_hint;
      drawMarker();
    } catch (err) {
      if (err && err.status === 404) {
        holder.hidden = true; // a core without the map's routes: the address search alone
        mapNote.textContent = TEXT.no_grids;
        return;
      }
      mapNote.classList.add('error');
      mapNote.textContent = TEXT.map_failed + describeError(err);
    }
  }

  showChosen();
  const element = h(
    'fieldset',
    { class: 'report-place', id: 'report-place' },
    h('legend', {}, TEXT.legend),
    h('label', {}, h('span', {}, TEXT.search_label), h('span', { class: 'place-search' }, query, searchButton)),
    found,
    holder,
    mapNote,
    chosen,
    clearButton,
  );
  return {
    element,
    mount,
    value: () => place,
    // a grid code typed by hand that is not the place's grid: the place no longer holds
    gridTyped(code) {
      if (place && code !== (place.grid ? place.grid.code : '')) clear(TEXT.dropped);
    },
    reset() {
      place = null;
      query.value = '';
      fill(found);
      showChosen();
      drawMarker();
    },
    remove() {
      if (map) map.remove();
      map = null;
    },
  };
}
