// The phone's outbox: reports and task answers kept in IndexedDB until the core has them.
// Each item carries the request id made when it was written; a resend (after a lost answer,
// a restart, the network back) uses the same id, so the core never makes a second case.
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

// small things kept for offline use: the event codes, the last task list
export const cache = {
  get: (key) => run(CACHE, 'readonly', (s) => s.get(key)),
  set: (key, value) => run(CACHE, 'readwrite', (s) => s.put(value, key)),
};
