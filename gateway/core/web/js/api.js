// The core's REST API from the browser: bearer token, timeouts, errors by the core's stable
// code, said in Chinese from labels.js (the core's own reason is English, for developers).
import { ERRORS, FIELDS, VALIDATION } from './labels.js';

const TOKEN_KEY = 'citygw.token';
const USER_KEY = 'citygw.user';
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(typeof detail === 'string' ? detail : JSON.stringify(detail));
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export function session() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const user = sessionStorage.getItem(USER_KEY);
  return token && user ? { token, user: JSON.parse(user) } : null;
}

function saveSession(token, user) {
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(USER_KEY, JSON.stringify(user));
}

export function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

// a client-made id for a request that must happen once (an inspector's answer): sent again
// after a lost reply, the core answers with what the first made. getRandomValues, unlike
// randomUUID, is there on a plain-http page too.
export function newRequestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `d-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

let onUnauthenticated = () => {};
export function setUnauthenticatedHandler(handler) {
  onUnauthenticated = handler;
}

// body: sent as JSON; form: a FormData sent as multipart (the browser sets its boundary)
async function request(method, path, { body, form, query, raw = false, timeoutMs = TIMEOUT_MS } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === '') continue;
    for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, v);
  }
  const headers = {};
  const s = session();
  if (s) headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: form ?? (body === undefined ? undefined : JSON.stringify(body)),
      signal: abort.signal,
    });
  } catch (err) {
    const why = err.name === 'AbortError' ? `${timeoutMs / 1000} 秒内无响应` : '无法连接';
    throw new ApiError(0, 'network', `核心服务${why}，请稍后重试`);
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) {
    let code = 'http_' + response.status;
    let detail = response.statusText;
    try {
      const doc = await response.json();
      code = doc.error || code;
      detail = doc.detail ?? detail;
    } catch (_) {
      /* not JSON: keep the status text */
    }
    if (response.status === 401 && path !== '/api/v1/auth/login') onUnauthenticated();
    const err = new ApiError(response.status, code, detail);
    err.retryAfter = Number(response.headers.get('Retry-After')) || null; // seconds (429)
    throw err;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export const api = {
  get: (path, query) => request('GET', path, { query }),
  post: (path, body) => request('POST', path, { body }),
  patch: (path, body) => request('PATCH', path, { body }),
  raw: (path, query) => request('GET', path, { query, raw: true }),
  // a multipart form (fields and photos) in one request, given a minute as an upload is
  form: (path, form) => request('POST', path, { form, timeoutMs: 60000 }),

  async login(name, password) {
    const out = await request('POST', '/api/v1/auth/login', { body: { name, password } });
    saveSession(out.token, out.user);
    return out.user;
  },

  async logout() {
    try {
      await request('POST', '/api/v1/auth/logout');
    } catch (_) {
      /* the token may be gone already */
    }
    clearSession();
  },

  async upload(caseId, file, role = 'photo') {
    const form = new FormData();
    form.append('file', file);
    form.append('role', role);
    const s = session();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 60000);
    let response;
    try {
      response = await fetch(`/api/v1/cases/${encodeURIComponent(caseId)}/attachments`, {
        method: 'POST',
        headers: s ? { Authorization: `Bearer ${s.token}` } : {},
        body: form,
        signal: abort.signal,
      });
    } catch (err) {
      throw new ApiError(0, 'network', '上传失败：核心服务无响应');
    } finally {
      clearTimeout(timer);
    }
    const doc = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, doc.error || 'upload', doc.detail || response.statusText);
    return doc;
  },

  transition(caseId, body) {
    return request('POST', `/api/v1/cases/${encodeURIComponent(caseId)}/transitions`, { body });
  },

  // the core's OpenAPI document, read once: which optional features this core has
  _openapi: null,
  async features() {
    if (!this._openapi) {
      try {
        this._openapi = await request('GET', '/openapi.json');
      } catch (_) {
        this._openapi = { paths: {} };
      }
    }
    const paths = Object.keys(this._openapi.paths || {});
    return {
      cameras: paths.includes('/api/v1/cameras'),
      paths,
    };
  },
};

// evidence needs the bearer token: fetch it as a blob and hand out an object URL
const blobUrls = new Map();
export async function evidenceUrl(url) {
  if (blobUrls.has(url)) return blobUrls.get(url);
  const response = await request('GET', url, { raw: true, timeoutMs: 60000 });
  const objectUrl = URL.createObjectURL(await response.blob());
  blobUrls.set(url, objectUrl);
  return objectUrl;
}

// one of the API's validation errors ({loc, type, ctx}) as a Chinese sentence
function validationMessage(d) {
  const names = (d.loc || []).filter((part) => typeof part === 'string' && part !== 'body' && part !== 'query');
  const field = FIELDS[names[names.length - 1]] || '提交的内容';
  const template = VALIDATION[d.type] || '{field}不符合要求';
  const values = { field, ...(d.ctx || {}) };
  return template.replace(/\{(\w+)\}/g, (_, key) => (values[key] === undefined ? '' : String(values[key])));
}

// what went wrong, in Chinese: never the core's English reason nor a bare code
export function describeError(err) {
  if (err instanceof ApiError) {
    if (err.code === 'network') return err.detail;
    if (Array.isArray(err.detail) && err.detail.length) return err.detail.map(validationMessage).join('；');
    if (ERRORS[err.code]) return ERRORS[err.code];
    console.warn('API error without a Chinese sentence', err.status, err.code, err.detail);
    if (err.status >= 500) return `核心服务出错（${err.status}），请稍后重试`;
    return `操作未成功（${err.status || '无响应'}）`;
  }
  // the console's own errors are worded in Chinese; the browser's ("Failed to fetch") are not
  const message = String(err && err.message ? err.message : err);
  if (/[\u4e00-\u9fff]/.test(message)) return message;
  console.warn('error without a Chinese sentence', err);
  return '操作未成功，请稍后重试';
}
