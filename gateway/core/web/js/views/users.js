// 用户管理 (admin): every account with its role, department, an inspector's grids and whether it
// may log in; create one, change its role/department/grids, reset its password, deactivate or
// reactivate it. The core ends the user's sessions at once on a new password, another role or
// department, or deactivation, and refuses to leave the centre without an active admin.
import { api, describeError } from '../api.js';
import { ROLES, USERS } from '../labels.js';
import { h, toast } from '../ui.js';

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

function departmentSelect(ref, selected) {
  return h(
    'select',
    { name: 'department' },
    h('option', { value: '' }, USERS.no_department),
    Object.entries(ref.departments).map(([id, name]) => h('option', { value: id, selected: id === selected }, name)),
  );
}

// the department field only for department users, the grids only for inspectors
function showFor(form) {
  const role = form.elements.role.value;
  form.querySelector('.user-department').hidden = role !== 'department';
  form.querySelector('.user-grids').hidden = role !== 'inspector';
}

function field(label, control, cls) {
  return h('label', { class: cls }, h('span', {}, label), control);
}

export async function render(main, ctx) {
  const body = h('tbody', { id: 'users-rows' });
  const createForm = h(
    'form',
    { class: 'user-form', id: 'user-create' },
    field(USERS.name, h('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'off' })),
    field(USERS.role, roleSelect('role', 'operator')),
    field(USERS.department, departmentSelect(ctx.ref, null), 'user-department'),
    field(USERS.grids, h('input', { name: 'grids', placeholder: USERS.grids_hint }), 'user-grids'),
    field(USERS.password, h('input', { name: 'password', type: 'password', minlength: 8, required: true, autocomplete: 'new-password' })),
    h('button', { type: 'submit', class: 'primary', id: 'user-create-submit' }, USERS.create),
  );
  createForm.elements.role.addEventListener('change', () => showFor(createForm));
  showFor(createForm);
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
      });
      toast(format(USERS.created, { name: f.name.value.trim() }));
      createForm.reset();
      showFor(createForm);
      await load();
    } catch (err) {
      toast(describeError(err), 'error');
    }
  });

  main.append(
    h('div', { class: 'view-head' }, h('h2', {}, USERS.title)),
    h('p', { class: 'hint' }, USERS.intro),
    h('details', { class: 'user-new', open: true }, h('summary', {}, USERS.new_user), createForm),
    h(
      'table',
      { class: 'users', id: 'users' },
      h('thead', {}, h('tr', {}, USERS.columns.map((title) => h('th', {}, title)))),
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
      field(USERS.role, roleSelect('role', user.role)),
      field(USERS.department, departmentSelect(ctx.ref, user.department), 'user-department'),
      field(USERS.grids, h('input', { name: 'grids', value: user.grids.join(', '), placeholder: USERS.grids_hint }), 'user-grids'),
      h('button', { type: 'submit', class: 'user-save' }, USERS.save),
    );
    edit.elements.role.addEventListener('change', () => showFor(edit));
    showFor(edit);
    edit.addEventListener('submit', (event) => {
      event.preventDefault();
      const role = edit.elements.role.value;
      change(
        user.name,
        {
          role,
          department: role === 'department' ? edit.elements.department.value || null : null,
          grids: role === 'inspector' ? parseGrids(edit.elements.grids.value) : [],
        },
        format(USERS.saved, { name: user.name }),
      );
    });
    const reset = h(
      'form',
      { class: 'user-form user-reset' },
      field(USERS.new_password, h('input', { name: 'password', type: 'password', minlength: 8, required: true, autocomplete: 'new-password' })),
      h('button', { type: 'submit', class: 'user-reset-submit' }, USERS.reset),
    );
    reset.addEventListener('submit', (event) => {
      event.preventDefault();
      change(user.name, { password: reset.elements.password.value }, format(USERS.reset_done, { name: user.name }));
    });
    const toggle = h(
      'button',
      {
        class: user.active ? 'user-deactivate' : 'user-activate',
        onclick: () =>
          change(
            user.name,
            { active: !user.active },
            format(user.active ? USERS.deactivated : USERS.activated, { name: user.name }),
          ),
      },
      user.active ? USERS.deactivate : USERS.activate,
    );
    const department = user.department ? ctx.ref.departments[user.department] || user.department : '—';
    return h(
      'tr',
      { dataset: { name: user.name, active: String(user.active) } },
      h('td', { class: 'mono user-name' }, user.name),
      h('td', { class: 'user-role' }, ROLES[user.role] || user.role),
      h('td', { class: 'user-dept' }, department),
      h('td', { class: 'mono user-grid-list' }, user.grids.length ? user.grids.join(', ') : '—'),
      h('td', { class: 'user-state' }, user.active ? USERS.active : USERS.inactive),
      h(
        'td',
        { class: 'user-actions' },
        h('details', {}, h('summary', {}, USERS.edit), edit, reset),
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
