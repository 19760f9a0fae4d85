// The phone's outbox: reports (with their photos and voice note, as Blobs) and task answers
// kept in IndexedDB until the core has them.
// Each item carries the request id made when it was written; a resend (after a lost answer,
// a restart, the network back) uses the same id, so the core never makes a second case.
import { voiceFileName } from './voice.js';

const DB_NAME = 'citygw-mobile';
const STORE = 'outbox';
const CACHE = 'cache';

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore(STORE, { keyPath: 'id' });
      db.createObjectStore(CACHE);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

let opened = null;
function db() {
  if (!opened) opened = open();
  return opened;
}

async function run(storeName, mode, work) {
  const database = await db();
  return new Promise((resolve, reject) => {
    const tx = database.transaction(storeName, mode);
    const result = work(tx.objectStore(storeName));
    tx.oncomplete = () => resolve(result && 'result' in result ? result.result : undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export function newRequestId() {
  const random = crypto.randomUUID
    ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  return `m-${random}`;
}

export const outbox = {
  put: (item) => run(STORE, 'readwrite', (s) => s.put(item)),
  remove: (id) => run(STORE, 'readwrite', (s) => s.delete(id)),
  async all() {
    const items = (await run(STORE, 'readonly', (s) => s.getAll())) || [];
    return items.sort((a, b) => a.created - b.created);
  },
};

// ------------------------------------------------------------------ an item as its request

// the one multipart POST an outbox item is sent as: its fields, photos and voice note
export function formOf(item) {
  const form = new FormData();
  form.append('request_id', item.id);
  if (item.kind === 'report') {
    form.append('event_code', item.event_code);
    form.append('description', item.description || '');
    if (item.accuracy_m != null) form.append('accuracy_m', String(Math.round(item.accuracy_m * 10) / 10));
    if (item.gps) for (const [k, v] of Object.entries({ position_source: 'map', gps_lat: item.gps.lat, gps_lon: item.gps.lon, gps_accuracy_m: item.gps.accuracy })) if (v != null) form.append(k, String(v));
  } else {
    form.append('verdict', item.verdict);
    form.append('opinion', item.opinion || '');
  }
  if (item.lat !== null && item.lon !== null) {
    form.append('lat', String(item.lat));
    form.append('lon', String(item.lon));
  }
  item.photos.forEach((blob, i) => form.append('photos', blob, `photo-${i + 1}.jpg`));
  if (item.voice) form.append('voice', item.voice.blob, voiceFileName(item.voice));
  return form;
}

export function pathOf(item) {
  return item.kind === 'report'
    ? '/api/v1/mobile/reports'
    : `/api/v1/mobile/tasks/${encodeURIComponent(item.case_id)}/answer`;
}

// small things kept for offline use: the event codes, the last task list
export const cache = {
  get: (key) => run(CACHE, 'readonly', (s) => s.get(key)),
  set: (key, value) => run(CACHE, 'readwrite', (s) => s.put(value, key)),
};
