// 上报问题: an inspector in the field (or an operator taking a report) opens a case; a photo
// is attached once the case exists. The request id makes a double submit one case. Where the
// problem is: a unit grid code typed or chosen from the list, or a place found by address or
// picked on the map (views/report_place.js): the report then carries that point and the
// core's intake finds its grid (none outside the managed area), as for every channel.
import { api, describeError } from '../api.js';
import { takePrefill } from '../desk.js';
import { DESK } from '../labels.js';
import { filePicker, fill, h, lengthCounter, toast } from '../ui.js';
import { placePicker } from './report_place.js';

function requestId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return 'web-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// "连云区 连云街道 港口社区"
function place(grid) {
  return [grid.district, grid.street, grid.community].filter(Boolean).join(' ');
}

export async function render(main, ctx) {
  const codes = Object.entries(ctx.ref.events).sort(([a], [b]) => a.localeCompare(b));
  const grids = ctx.ref.grids || {};
  const result = h('div', { id: 'report-result' });
  // the city's unit grids to pick from; a code that is not one of them is refused here and by the core
  const gridInput = h('input', {
    name: 'grid_code',
    pattern: '\\d{14}',
    placeholder: '输入编码或从列表选择',
    inputmode: 'numeric',
    list: 'grid-options',
    autocomplete: 'off',
  });
  const gridNote = h('small', { class: 'muted', id: 'grid-note' }, '');
  const district = h('input', { name: 'district', maxlength: 100 });
  const description = h('textarea', { name: 'description', rows: 4, maxlength: 4000 });
  const photoInput = h('input', { name: 'photo', type: 'file', accept: 'image/*' });
  // started from an agent's screen pop (desk.js): the caller and the call come with the report
  const pre = takePrefill();
  const fromCall = pre
    ? h(
        'fieldset',
        { class: 'from-call', id: 'report-from-call' },
        h('p', { class: 'ok-note', id: 'report-prefilled' }, pre.note),
        h('label', {}, h('span', {}, DESK.caller), h('input', { name: 'callback_number', pattern: '[0-9+*#]{1,32}', value: pre.callback_number || '' })),
        h('label', {}, h('span', {}, DESK.caller_name), h('input', { name: 'reporter_name', maxlength: 100, value: pre.reporter_name || '' })),
        h('input', { type: 'hidden', name: 'call_uniqueid', value: pre.call_uniqueid || '' }),
      )
    : null;
  function checkGrid() {
    const code = gridInput.value.trim();
    const grid = grids[code];
    // no list: the core judges; a picked place's grid (maybe imported since the list was read)
    // is not sent: the core places the point
    const unknown = Boolean(code && !grid && code !== placedGrid && Object.keys(grids).length);
    gridInput.setCustomValidity(unknown ? '单元网格编码不存在，请从列表中选择' : '');
    gridNote.textContent = grid ? place(grid) : unknown ? '单元网格编码不存在，请从列表中选择' : '';
    gridNote.classList.toggle('error', unknown);
    if (grid && !district.value.trim()) district.value = grid.district;
  }
  gridInput.addEventListener('input', () => {
    picker.gridTyped(gridInput.value.trim()); // a grid typed by hand replaces a picked place
    checkGrid();
  });
  const addressInput = h('input', { name: 'address', maxlength: 500 });
  let placedGrid = ''; // the grid code a picked place put in the grid field
  let pendingId = requestId();
  const picker = placePicker({
    onChange(picked) {
      pendingId = requestId(); // another place is another report
      if (!picked) {
        if (placedGrid && gridInput.value.trim() === placedGrid) gridInput.value = '';
        placedGrid = '';
        checkGrid();
        return;
      }
      placedGrid = picked.grid ? picked.grid.code : '';
      gridInput.value = placedGrid;
      if (picked.grid) district.value = picked.grid.district || district.value;
      if (picked.text) addressInput.value = picked.text;
      checkGrid();
    },
  });
  const form = h(
    'form',
    { class: 'report-form', id: 'report-form' },
    fromCall,
    h('label', {}, h('span', {}, '事件类型（CJ/T 214）'), h(
      'select',
      { name: 'event_code', required: true },
      h('option', { value: '' }, '请选择'),
      codes.map(([code, name]) => h('option', { value: code }, `${code} ${name}`)),
    )),
    picker.element,
    h('label', {}, h('span', {}, '单元网格编码（14 位）'), gridInput, gridNote),
    h(
      'datalist',
      { id: 'grid-options' },
      Object.values(grids).map((g) => h('option', { value: g.code }, place(g))),
    ),
    h('label', {}, h('span', {}, '区域'), district),
    h('label', {}, h('span', {}, '地址'), addressInput),
    h('label', {}, h('span', {}, '标题'), h('input', { name: 'title', maxlength: 200 })),
    h('label', {}, h('span', {}, '问题描述'), description, lengthCounter(description)),
    h('label', { class: 'inline' }, h('input', { name: 'urgent', type: 'checkbox' }), h('span', {}, '紧急')),
    h('label', {}, h('span', {}, '现场照片（可选）'), filePicker(photoInput)),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, '上报')),
  );
  form.addEventListener('input', () => {
    pendingId = requestId(); // a changed form is a new report; a re-submit of the same is not
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { event_code: data.get('event_code'), request_id: pendingId, urgent: data.get('urgent') === 'on' };
    for (const key of ['grid_code', 'district', 'address', 'title', 'description', 'callback_number', 'reporter_name', 'call_uniqueid']) {
      const value = String(data.get(key) || '').trim();
      if (value) body[key] = value;
    }
    const picked = picker.value();
    if (picked) {
      // the point goes to the core, whose intake places it on the grids (or outside them)
      body.lon = picked.lon;
      body.lat = picked.lat;
      delete body.grid_code;
    }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const created = await api.post('/api/v1/cases', body);
      const photo = data.get('photo');
      if (photo && photo.size) await api.upload(created.id, photo, 'photo');
      fill(result, h('p', { class: 'ok-note' }, '已上报：', h('a', { href: `#/case/${encodeURIComponent(created.id)}`, id: 'report-case' }, `${created.number} ${ctx.eventName(created.event_code)}`), `（${created.state_label}）`));
      toast(`已上报 ${created.number}`, 'ok');
      form.reset();
      picker.reset();
      placedGrid = '';
      if (fromCall) fromCall.remove(); // the next report is not this call's
      checkGrid();
      description.dispatchEvent(new Event('input'));
      photoInput.dispatchEvent(new Event('change'));
      pendingId = requestId();
    } catch (err) {
      fill(result, h('p', { class: 'error' }, `上报失败：${describeError(err)}`));
    } finally {
      button.disabled = false;
    }
  });
  if (pre) {
    for (const key of ['event_code', 'title', 'description', 'district', 'grid_code']) {
      const field = form.elements.namedItem(key);
      if (field && pre[key] && (key !== 'event_code' || field.querySelector(`option[value="${pre[key]}"]`))) field.value = pre[key];
    }
    checkGrid();
  }
  main.append(h('div', { class: 'view-head' }, h('h2', {}, '上报问题')), h('div', { class: 'report' }, form, result));
  picker.mount(); // the map needs its box in the page; it reports its own failures
  return () => picker.remove();
}
