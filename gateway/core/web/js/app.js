// The console's shell: login, the role's menu, hash routing (#/view or #/case/<id>).
import { api, clearSession, describeError, session, setUnauthenticatedHandler } from './api.js';
import { LOGIN_LOCKED, ROLES, STATES, VIEWS, VIEW_TITLES } from './labels.js';
import { startDesk } from './desk.js';
import { h, setLocale, toast } from './ui.js';
import * as board from './views/board.js';
import * as cameras from './views/cameras.js';
import * as casePage from './views/case.js';
import * as deadLetters from './views/dead_letters.js';
import * as evaluation from './views/evaluation.js';
import * as inspectorTasks from './views/inspector_tasks.js';
import * as levels from './views/levels.js';
import * as map from './views/map.js';
import * as queue from './views/queue.js';
import * as report from './views/report.js';
import * as users from './views/users.js';

const VIEW_MODULES = {
  queue,
  board,
  department: board,
  inspector: inspectorTasks, // 核实 / 核查 tasks, the phone's list and answer
  cameras,
  evaluation,
  levels,
  map,
  screen: map,
  report,
  deadletters: deadLetters,
  users,
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let cleanup = null;
let ref = null;
let desk = null; // the agent's screen pop (desk.js), over every page while signed in

function stopDesk() {
  if (desk) desk.stop();
  desk = null;
}

async function loadReference() {
  const [events, departments, states, locale, grids, org] = await Promise.all([
    api.get('/api/v1/event-codes').catch(() => ({})),
    api.get('/api/v1/departments').catch(() => []),
    api.get('/api/v1/states').catch(() => STATES),
    api.get('/api/v1/locale').catch(() => ({})),
    api.get('/api/v1/grids').catch(() => []),
    api.get('/api/v1/organisation').catch(() => null),
  ]);
  setLocale(locale);
  return {
    grids: Object.fromEntries(grids.map((g) => [g.code, g])),
    events,
    departments: Object.fromEntries(departments.map((d) => [d.id, d.name])),
    states: { ...STATES, ...states },
    // 两级指挥: the user's centre and whom they dispatch to (null: one centre)
    org,
    centres: org ? Object.fromEntries(org.nodes.map((n) => [n.id, n.name])) : {},
  };
}

function eventName(code) {
  const name = ref && ref.events[code];
  if (name) return `${code} ${name}`;
  // CJ/T 214 local extensions count down from 99 in each class; the core's table may lack them
  return Number(code.slice(2)) >= 90 ? `${code}（本地扩展代码）` : `${code}（未知代码）`;
}

function renderLogin(message) {
  nav.replaceChildren();
  who.replaceChildren();
  const error = h('p', { class: 'error', id: 'login-error', role: 'alert' }, message || '');
  const form = h(
    'form',
    { class: 'login', id: 'login-form' },
    h('h2', {}, '登录'),
    h('label', {}, h('span', {}, '用户名'), h('input', { name: 'name', autocomplete: 'username', required: true })),
    h(
      'label',
      {},
      h('span', {}, '密码'),
      h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    ),
    h('button', { type: 'submit', class: 'primary' }, '登录'),
    error,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    error.textContent = '';
    try {
      await api.login(String(data.get('name')), String(data.get('password')));
      location.hash = '';
      await start();
    } catch (err) {
      if (err.code === 'login_locked' && err.retryAfter) {
        error.textContent = LOGIN_LOCKED.replace('{minutes}', String(Math.ceil(err.retryAfter / 60)));
      } else {
        error.textContent = err.status === 401 ? '用户名或密码错误' : `登录失败：${describeError(err)}`;
      }
    }
  });
  main.replaceChildren(h('div', { class: 'login-wrap' }, form));
  form.querySelector('input').focus();
}

function renderNav(user) {
  const views = VIEWS[user.role] || [];
  nav.replaceChildren(
    ...views.map((view) => h('a', { href: `#/${view}`, dataset: { view } }, VIEW_TITLES[view])),
  );
  const dept = user.department ? ` · ${ref.departments[user.department] || user.department}` : '';
  who.replaceChildren(
    h('span', { id: 'who-name' }, `${user.name}（${ROLES[user.role] || user.role}${dept}）`),
    h(
      'button',
      {
        id: 'logout',
        onclick: async () => {
          await api.logout();
          route();
        },
      },
      '退出',
    ),
  );
}

async function route() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const s = session();
  if (!s) {
    stopDesk();
    renderLogin();
    return;
  }
  if (!ref) ref = await loadReference();
  if (!desk) desk = startDesk({ user: s.user, ref, eventName, go: (hash) => (location.hash = hash) });
  renderNav(s.user);
  const views = VIEWS[s.user.role] || [];
  const [, view, arg] = (location.hash || '').split('/');
  // 大屏 (screen) is the map's full-screen mode: open to those with the map
  const open = view === 'case' || views.includes(view) || (view === 'screen' && views.includes('map'));
  if (!view || !open) {
    if (!views.length) {
      main.replaceChildren(h('p', {}, '此角色没有可用的页面。'));
      return;
    }
    location.hash = `#/${views[0]}`;
    return;
  }
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.view === view);
  const ctx = { user: s.user, ref, view, eventName, go: (hash) => (location.hash = hash) };
  main.replaceChildren();
  document.title = `${view === 'case' ? '案件' : VIEW_TITLES[view]} · 城市管理指挥中心`;
  try {
    const module = view === 'case' ? casePage : VIEW_MODULES[view];
    cleanup = (await module.render(main, ctx, arg && decodeURIComponent(arg))) || null;
  } catch (err) {
    main.replaceChildren(h('p', { class: 'error' }, `页面加载失败：${describeError(err)}`));
  }
}

async function start() {
  await route();
}

setUnauthenticatedHandler(() => {
  clearSession();
  ref = null;
  stopDesk();
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  renderLogin('登录已过期，请重新登录');
});
window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (event) => toast(describeError(event.reason), 'error'));
start();
