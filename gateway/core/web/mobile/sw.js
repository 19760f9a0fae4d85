// The phone app's service worker: the app shell from the cache, so the app opens without a
// signal (its reports wait in IndexedDB). The API is never cached: its requests pass through.
const VERSION = 'citygw-mobile-v5';
const SHELL = [
  './',
  'index.html',
  'app.js',
  'app.css',
  'queue.js',
  'dom.js',
  'photos.js',
  'patrol.js',
  'voice.js',
  'tasks.js',
  'texts.js',
  'manifest.webmanifest',
  'icon.svg',
  '../js/labels.js',
];
// the position map (position_map.js) and Leaflet: not fetched with the app, kept once fetched
const LAZY = [
  'position_map.js',
  'position_map.css',
  '/vendor/leaflet/leaflet.esm.min.js',
  '/vendor/leaflet/leaflet.css',
];
const LAZY_URLS = new Set(LAZY.map((path) => new URL(path, self.location).href));
const SHELL_URLS = new Set([...SHELL.map((path) => new URL(path, self.location).href), ...LAZY_URLS]);

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(VERSION).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== VERSION).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

// network first (a fresh app when the core answers), the cached shell when it does not
self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || !SHELL_URLS.has(request.url.split('?')[0])) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(VERSION).then((cache) => cache.put(request, copy));
        }
        return response;
      })
      .catch(() =>
        caches.match(request).then((hit) => hit || (LAZY_URLS.has(request.url) ? Response.error() : caches.match('index.html'))),
      ),
  );
});
