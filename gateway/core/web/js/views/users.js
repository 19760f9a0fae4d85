// 用户管理 (admin): every account with its role, department, an inspector's grids and whether it
// may log in; create one, change its role/department/grids, reset its password, deactivate or
// reactivate it. The core ends the user's sessions at once on a new password, another role or
// department, or deactivation, and refuses to leave the centre without an active admin.
// 所属中心 (两级指挥): the organisation node a user sits at, picked from the tree the console
// loaded (ref.org): the city or a district centre for the desk and admins, also a street or
// community for an inspector; a department user sits at its department's node.
import { api, describeError } from '../api.js';
import { ROLES } from '../labels.js';
import { h, toast } from '../ui.js';

// the page's text (labels.js holds the console-wide tables)
export const TEXT = {
  title: '用户管理',
  intro:
    '新建、修改账号，重置密码，停用或启用账号。重置密码、更改角色、部门或所属中心、停用账号后，该用户已登录的会话立即失效。监督员只能看到其负责网格内的案件和本人上报的案件；区级中心的用户只办理本区的案件。',
  new_user: '新建用户',
  columns: ['用户名', '角色', '所属中心', '部门', '负责网格', '状态', '操作'],
  name: '用户名',
  role: '角色',
  node: '所属中心',
  department: '部门',
  no_department: '（请选择部门）',
  grids: '负责网格',
  grids_hint: '网格编码或编码前缀，多个用逗号分隔',
  password: '初始密码（至少 8 位）',
  new_password: '新密码（至少 8 位）',
  create: '创建',
  created: '已创建用户 {name}',
  edit: '修改',
  save: '保存',
  saved: '已保存用户 {name}',
  reset: '重置密码',
  reset_done: '已重置 {name} 的密码，该用户需用新密码重新登录',
  active: '启用',
  inactive: '已停用',
  deactivate: '停用',
  activate: '启用',
  deactivated: '已停用用户 {name}，其会话已失效',
  activated: '已启用用户 {name}',
};

const USER_ROLES = ['inspector', 'operator', 'shift_lead', 'dispatcher', 'department', 'admin'];

function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

// "32070690100101, 320703" -> ["32070690100101", "320703"]
function parseGrids(text) {
  return String(text || '')
    .split(/[\s,，、;；]+/)
    .filter(Boolean);
}

function roleSelect(name, selected) {
  return h(
    'select',
    { name },
    USER_ROLES.map((role) => h('option', { value: role, selected: role === selected }, ROLES[role])),
  );
}

// the nodes a user of ``role`` may sit at, in the tree's order: the city and the district
// centres; an inspector also the streets and communities (indented under their district)
function nodeChoices(ref, role) {
  const nodes = ref.org ? ref.org.nodes : [];
  const kinds = role === 'inspector' ? ['city', 'district', 'street', 'community'] : ['city', 'district'];
  const depth = { city: 0, district: 1, street: 2, community: 3 };
  const byParent = {};
  for (const node of nodes) (byParent[node.parent] ||= []).push(node);
  const out = [];
  const walk = (node) => {
    if (!kinds.includes(node.kind)) return;
    out.push([node.id, `${'\u3000'.repeat(Math.max(depth[node.kind] - 1, 0))}${node.name}`]);
    for (const child of byParent[node.id] || []) walk(child);
  };
  for (const root of byParent[null] || []) walk(root);
  return out;
}

// whether the tree has a centre besides the city (else every user sits at the city)
function hasCentres(ref) {
  return Boolean(ref.org && ref.org.nodes.some((n) => n.kind === 'district'));
}

// the picker's options for the form's role, keeping the chosen node where it still fits
function fillNodes(form, ref, selected) {
  const select = form.elements.org_node;
  const keep = selected ?? select.value;
  const choices = nodeChoices(ref, form.elements.role.value);
  const fits = choices.some(([id]) => id === keep);
  select.replaceChildren(
    ...choices.map(([id, name]) => h('option', { value: id, selected: fits ? id === keep : id === 'city' }, name)),
  );
}

// the name of the node a user sits at: a department user's centre (the city or its district)
function nodeName(ref, user) {
  if (!ref.org) return '—';
  const byId = Object.fromEntries(ref.org.nodes.map((n) => [n.id, n]));
  let node = byId[user.org_node || 'city'];
  if (user.role === 'department') {
    while (node && node.kind !== 'city' && node.kind !== 'district') node = byId[node.parent];
  }
  return node ? node.name : user.org_node || '—';
}

// the org_node the API is sent: null for the city; a department user's is its department's
function chosenNode(form) {
  const value = form.elements.org_node.value;
  return value && value !== 'city' ? value : null;
}

function departmentSelect(ref, selected) {
  return h(
    'select',
    { name: 'department' },
    h('option', { value: '' }, TEXT.no_department),
    Object.entries(ref.departments).map(([id, name]) => h('option', { value: id, selected: id === selected }, name)),
  );
}

// the department field only for department users, the grids only for inspectors, the centre
// for everyone else (where the tree has district centres)
function showFor(form, ref, selectedNode) {
  const role = form.elements.role.value;
  form.querySelector('.user-department').hidden = role !== 'department';
  form.querySelector('.user-grids').hidden = role !== 'inspector';
  form.querySelector('.user-node').hidden = role === 'department' || !hasCentres(ref);
  fillNodes(form, ref, selectedNode);
}

function field(label, control, cls) {
  return h('label', { class: cls }, h('span', {}, label), control);
}

export async function render(main, ctx) {
  const body = h('tbody', { id: 'users-rows' });
  const createForm = h(
    'form',
    { class: 'user-form', id: 'user-create' },
    field(TEXT.name, h('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'off' })),
    field(TEXT.role, roleSelect('role', 'operator')),
    field(TEXT.node, h('select', { name: 'org_node' }), 'user-node'),
    field(TEXT.department, departmentSelect(ctx.ref, null), 'user-department'),
    field(TEXT.grids, h('input', { name: 'grids', placeholder: TEXT.grids_hint }), 'user-grids'),
    field(TEXT.password, h('input', { name: 'password', type: 'password', minlength: 8, required: true, autocomplete: 'new-password' })),
    h('button', { type: 'submit', class: 'primary', id: 'user-create-submit' }, TEXT.create),
  );
  createForm.elements.role.addEventListener('change', () => showFor(createForm, ctx.ref));
  showFor(createForm, ctx.ref, 'city');
  createForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const f = createForm.elements;
    const role = f.role.value;
    try {
      await api.post('/api/v1/users', {
        name: f.name.value.trim(),
        role,
        password: f.password.value,
        department: role === 'department' ? f.department.value || null : null,
        grids: role === 'inspector' ? parseGrids(f.grids.value) : [],
        org_node: role === 'department' ? null : chosenNode(createForm),
      });
      toast(format(TEXT.created, { name: f.name.value.trim() }));
      createForm.reset();
      showFor(createForm, ctx.ref, 'city');
      await load();
    } catch (err) {
      toast(describeError(err), 'error');
    }
  });

  main.append(
    h('div', { class: 'view-head' }, h('h2', {}, TEXT.title)),
    h('p', { class: 'hint' }, TEXT.intro),
    h('details', { class: 'user-new', open: true }, h('summary', {}, TEXT.new_user), createForm),
    h(
      'table',
      { class: 'users', id: 'users' },
      h('thead', {}, h('tr', {}, TEXT.columns.map((title) => h('th', {}, title)))),
      body,
    ),
  );

  async function change(name, patch, done) {
    try {
      await api.patch(`/api/v1/users/${encodeURIComponent(name)}`, patch);
      toast(done);
      await load();
    } catch (err) {
      toast(describeError(err), 'error');
    }
  }

  function row(user) {
    const edit = h(
      'form',
      { class: 'user-form user-edit' },
      field(TEXT.role, roleSelect('role', user.role)),
      field(TEXT.node, h('select', { name: 'org_node' }), 'user-node'),
      field(TEXT.department, departmentSelect(ctx.ref, user.department), 'user-department'),
      field(TEXT.grids, h('input', { name: 'grids', value: user.grids.join(', '), placeholder: TEXT.grids_hint }), 'user-grids'),
      h('button', { type: 'submit', class: 'user-save' }, TEXT.save),
    );
    edit.elements.role.addEventListener('change', () => showFor(edit, ctx.ref));
    showFor(edit, ctx.ref, user.role === 'department' ? 'city' : user.org_node || 'city');
    edit.addEventListener('submit', (event) => {
      event.preventDefault();
      const role = edit.elements.role.value;
      const patch = {
        role,
        department: role === 'department' ? edit.elements.department.value || null : null,
        grids: role === 'inspector' ? parseGrids(edit.elements.grids.value) : [],
      };
      // a department user's node follows its department (the core places it)
      if (role !== 'department' && hasCentres(ctx.ref)) patch.org_node = chosenNode(edit);
      change(
        user.name,
        patch,
        format(TEXT.saved, { name: user.name }),
      );
    });
    const reset = h(
      'form',
      { class: 'user-form user-reset' },
      field(TEXT.new_password, h('input', { name: 'password', type: 'password', minlength: 8, required: true, autocomplete: 'new-password' })),
      h('button', { type: 'submit', class: 'user-reset-submit' }, TEXT.reset),
    );
    reset.addEventListener('submit', (event) => {
      event.preventDefault();
      change(user.name, { password: reset.elements.password.value }, format(TEXT.reset_done, { name: user.name }));
    });
    const toggle = h(
      'button',
      {
        class: user.active ? 'user-deactivate' : 'user-activate',
        onclick: () =>
          change(
            user.name,
            { active: !user.active },
            format(user.active ? TEXT.deactivated : TEXT.activated, { name: user.name }),
          ),
      },
      user.active ? TEXT.deactivate : TEXT.activate,
    );
    const department = user.department ? ctx.ref.departments[user.department] || user.department : '—';
    return h(
      'tr',
      { dataset: { name: user.name, active: String(user.active) } },
      h('td', { class: 'mono user-name' }, user.name),
      h('td', { class: 'user-role' }, ROLES[user.role] || user.role),
      h('td', { class: 'user-centre', dataset: { node: user.org_node || 'city' } }, nodeName(ctx.ref, user)),
      h('td', { class: 'user-dept' }, department),
      h('td', { class: 'mono user-grid-list' }, user.grids.length ? user.grids.join(', ') : '—'),
      h('td', { class: 'user-state' }, user.active ? TEXT.active : TEXT.inactive),
      h(
        'td',
        { class: 'user-actions' },
        h('details', {}, h('summary', {}, TEXT.edit), edit, reset),
        toggle,
      ),
    );
  }

  async function load() {
    const users = await api.get('/api/v1/users');
    body.replaceChildren(...users.map(row));
  }

  await load();
}
