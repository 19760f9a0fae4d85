// Small DOM helpers: elements built with textContent (never innerHTML with data), toasts, dates.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// replace an element's children, skipping null/false ones (replaceChildren would print "null")
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// save a blob (a CSV, a report) as a file the browser downloads
export function downloadBlob(blob, name) {
  const a = h('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 9000 : 4000);
}

const pad = (n) => String(n).padStart(2, '0');

// the centre's time zone and the Chinese names of detector labels, from the core's
// /api/v1/locale (app.js sets them at login); times show in that zone whatever the browser's
export const locale = { timeZone: 'Asia/Shanghai', objects: {} };
const timeFormats = new Map();

export function setLocale({ time_zone: timeZone, object_labels: objects } = {}) {
  if (timeZone) locale.timeZone = timeZone;
  if (objects) locale.objects = objects;
  timeFormats.clear();
}

// a detector label ("car", "fallen_person") as people read it
export function objectName(label) {
  if (label === undefined || label === null || label === '') return '';
  return locale.objects[label] || '目标';
}

function timeFormat(seconds) {
  const key = `${locale.timeZone}:${seconds}`;
  if (!timeFormats.has(key)) {
    timeFormats.set(
      key,
      new Intl.DateTimeFormat('en-CA', {
        timeZone: locale.timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: seconds ? '2-digit' : undefined,
        hourCycle: 'h23',
      }),
    );
  }
  return timeFormats.get(key);
}

// "2026-12-04 18:05" in the centre's time zone (with ":07" when seconds is set)
export function fmtTime(value, { seconds = false } = {}) {
  if (!value) return '—';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '—';
  const parts = Object.fromEntries(timeFormat(seconds).formatToParts(d).map((p) => [p.type, p.value]));
  const time = `${parts.hour}:${parts.minute}${seconds ? ':' + parts.second : ''}`;
  return `${parts.year}-${parts.month}-${parts.day} ${time}`;
}

// the centre's calendar day of a moment: "YYYY-MM-DD"
export function centreDate(value) {
  return fmtTime(value).slice(0, 10);
}

// the moment a calendar day ("YYYY-MM-DD") starts in the centre's time zone
export function centreMidnight(value) {
  const [y, m, d] = value.split('-').map(Number);
  const wall = Date.UTC(y, m - 1, d);
  // the zone's offset at a moment: what its clock reads there, minus UTC
  const offset = (t) => {
    const p = Object.fromEntries(timeFormat(true).formatToParts(new Date(t)).map((x) => [x.type, Number(x.value)]));
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - t;
  };
  return new Date(wall - offset(wall - offset(wall)));
}

export function fmtAgo(value) {
  if (!value) return '';
  const seconds = Math.round((Date.now() - new Date(value).getTime()) / 1000);
  if (seconds < 60) return `${Math.max(seconds, 0)} 秒前`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} 分钟前`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} 小时前`;
  return `${Math.round(seconds / 86400)} 天前`;
}

export function fmtRate(value) {
  return value === null || value === undefined ? '—' : `${(value * 100).toFixed(1)}%`;
}

export function dateInput(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function lightBadge(light, labels) {
  if (!light) return h('span', { class: 'light none', title: '未派遣' }, '—');
  return h('span', { class: `light ${light}`, title: labels[light] }, labels[light]);
}

// a modal dialog that resolves with the form's values, or null if cancelled
export function ask(title, fields, submitLabel = '确定') {
  return new Promise((resolve) => {
    const form = h('form', { method: 'dialog', class: 'ask' }, h('h3', {}, title));
    for (const field of fields) {
      let input;
      if (field.type === 'select') {
        input = h(
          'select',
          { name: field.name, required: field.required },
          Object.entries(field.options).map(([value, label]) =>
            h('option', { value, selected: value === field.value }, label),
          ),
        );
      } else if (field.type === 'textarea') {
        input = h('textarea', {
          name: field.name,
          rows: 3,
          required: field.required,
          placeholder: field.placeholder || '',
          maxlength: field.maxlength,
        });
        if (field.value) input.value = field.value;
        if (field.maxlength) {
          form.append(h('label', {}, h('span', {}, field.label), input, lengthCounter(input)));
          continue;
        }
      } else {
        input = h('input', {
          name: field.name,
          type: field.type || 'text',
          required: field.required,
          min: field.min,
          step: field.step,
          value: field.value,
          accept: field.accept,
        });
        if (field.type === 'file') input = filePicker(input);
      }
      form.append(h('label', {}, h('span', {}, field.label), input));
    }
    const dialog = h('dialog', { class: 'ask-dialog' }, form);
    form.append(
      h(
        'div',
        { class: 'buttons' },
        h('button', { type: 'submit', class: 'primary', value: 'ok' }, submitLabel),
        h('button', { type: 'button', onclick: () => dialog.close('cancel') }, '取消'),
      ),
    );
    dialog.addEventListener('close', () => {
      const values = dialog.returnValue === 'ok' ? Object.fromEntries(new FormData(form)) : null;
      dialog.remove();
      resolve(values);
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = form.querySelector('select, textarea, input');
    if (first) first.focus();
  });
}

// a file input shown as a Chinese button and the chosen file's name (the browser's own control
// speaks the browser's language: "Choose File / No file chosen")
export function filePicker(input) {
  input.classList.add('file-input');
  const chosen = h('span', { class: 'muted file-name' }, '未选择文件');
  const show = () => {
    chosen.textContent = input.files && input.files.length ? input.files[0].name : '未选择文件';
  };
  input.addEventListener('change', show);
  if (input.form) input.form.addEventListener('reset', () => setTimeout(show));
  return h('span', { class: 'file-picker' }, input, h('span', { class: 'button' }, '选择文件'), chosen);
}

// "12 / 4000" under a text field with a maxlength, kept up to date as the user types
export function lengthCounter(input) {
  const max = Number(input.getAttribute('maxlength'));
  const counter = h('small', { class: 'counter muted', 'aria-live': 'polite' });
  const update = () => {
    counter.textContent = `${input.value.length} / ${max} 字`;
    counter.classList.toggle('full', input.value.length >= max);
  };
  input.addEventListener('input', update);
  update();
  return counter;
}

export function isTyping(event) {
  const t = event.target;
  return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
}
