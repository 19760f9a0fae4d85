// The core's live events (Server-Sent Events at /api/v1/events/stream) for one view.
//
// EventSource cannot send the bearer token, so each connection first asks for a one-time
// ticket (an authenticated POST) and puts that in the URL. A used ticket cannot reconnect, so
// on any error the stream is closed and opened again with a fresh ticket (with backoff), and
// `resume_from` carries the last event id: the core replays what was missed, or says it
// could not (`hello` with resumed: false) and the view reloads its list.
//
// openLive({ onEvent(kind, data), onUp(resumed), onDown() }) → { close() }
import { api } from './api.js';

const KINDS = ['case', 'cameras', 'agent_call', 'queues'];
const LAST = ['dropped', 'expired', 'stopping', 'busy'];

export function openLive({ onEvent = () => {}, onUp = () => {}, onDown = () => {} }) {
  let source = null;
  let closed = false;
  let timer = null;
  let failures = 0;
  let lastId = null;
  let up = false;

  function down() {
    if (source) source.close();
    source = null;
    up = false;
    onDown(); // the view polls until the stream is back
    failures += 1;
    if (!closed) timer = setTimeout(connect, Math.min(30000, 1000 * 2 ** Math.min(failures, 5)));
  }

  async function connect() {
    timer = null;
    if (closed) return;
    if (typeof EventSource === 'undefined') {
      onDown();
      return;
    }
    let ticket;
    try {
      ticket = await api.post('/api/v1/events/stream-ticket');
    } catch (_) {
      down();
      return;
    }
    if (closed) return;
    const url = new URL(ticket.url, location.origin);
    if (lastId) url.searchParams.set('resume_from', lastId);
    const es = new EventSource(url);
    source = es;
    es.addEventListener('hello', (message) => {
      failures = 0;
      up = true;
      onUp(JSON.parse(message.data).resumed === true);
    });
    for (const kind of KINDS) {
      es.addEventListener(kind, (message) => {
        if (message.lastEventId) lastId = message.lastEventId;
        onEvent(kind, JSON.parse(message.data));
      });
    }
    for (const kind of LAST) {
      es.addEventListener(kind, () => {
        if (kind === 'dropped' || kind === 'expired') lastId = null; // what was queued is gone: reload
        if (source === es) down();
      });
    }
    // the browser would retry with the same (used) ticket: start over with a new one instead
    es.onerror = () => source === es && down();
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (source) source.close();
      source = null;
    },
    get up() {
      return up;
    },
  };
}
