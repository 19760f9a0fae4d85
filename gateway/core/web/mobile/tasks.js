// 任务 on the phone (issue 19): the inspector's 核实 / 核查 tasks (kept on the phone for
// offline use) and the answer form: 属实 / 不属实 or 已解决 / 未解决, an opinion, photos and an
// optional 语音备注 (voice.js, as on the report form). An answer goes through the outbox like
// a report, with the request id it got when it was written, its note as a Blob beside its
// photos: a resend never makes a second step or a second note.
import { T, fill } from './texts.js';
import { h } from './dom.js';
import { photoPicker } from './photos.js';
import { cache, newRequestId } from './queue.js';
import { recording, stopVoice, voiceField } from './voice.js';

// 核实 (confirm) of a report not registered yet, 核查 (verify) of a case reported done
export function taskKind(task) {
  return (task.facts && task.facts.task && task.facts.task.kind) || (task.state === 'candidate' ? 'confirm' : 'verify');
}

function kindText(task) {
  return T[`kind_${taskKind(task)}`];
}

function taskDue(task) {
  return (task.facts && task.facts.task && task.facts.task.due) || task.deadline;
}

// the 待发送 line of a queued answer: 核查：案件 … （通过）（含语音 3 秒）
export function queuedAnswerText(item) {
  const confirm = item.task_kind === 'confirm';
  const verdict = item.verdict === 'pass' ? (confirm ? T.verdict_confirmed : T.verdict_pass) : (confirm ? T.verdict_not_found : T.verdict_fail);
  const text = fill(T.queue_answer, { kind: T[`kind_${item.task_kind || 'verify'}`], number: item.number, verdict });
  return text + (item.voice ? fill(T.queue_voice, { s: Math.round(item.voice.seconds) }) : '');
}

// state: the app's state (tasks, tasksOffline, answer, answeredCases); call: the API call;
// render / showView / toast / complain / expired / enqueue: the app's shell
export function createTasks({ state, call, render, showView, toast, complain, expired, enqueue }) {
  async function load() {
    try {
      state.tasks = await call('GET', '/api/v1/mobile/tasks');
      state.tasksOffline = false;
      await cache.set('tasks', state.tasks);
    } catch (err) {
      if (err.status === 401) return expired();
      state.tasks = (await cache.get('tasks')) || [];
      state.tasksOffline = true;
    }
    if (state.view === 'tasks') render();
  }

  function listView() {
    const wrap = h(
      'section',
      { class: 'card', id: 'tasks' },
      h('div', { class: 'head' }, h('h2', {}, T.tasks_title), h('button', { type: 'button', id: 'tasks-refresh', onclick: load }, T.tasks_refresh)),
    );
    if (state.tasksOffline) wrap.append(h('p', { class: 'hint' }, T.tasks_offline));
    const answered = new Set(state.answeredCases || []);
    const open = state.tasks.filter((t) => !answered.has(t.id));
    if (!open.length) wrap.append(h('p', { class: 'muted' }, T.tasks_empty));
    for (const task of open) {
      wrap.append(
        h(
          'article',
          { class: 'task', dataset: { case: task.id } },
          h('div', { class: 'task-title' }, h('span', { class: `kind kind-${taskKind(task)}` }, kindText(task)), ' ', h('strong', {}, task.number), ' ', task.event_name || task.event_code),
          h('div', { class: 'muted' }, T[`task_kind_hint_${taskKind(task)}`]),
          h('div', {}, task.address || task.grid_code || ''),
          taskDue(task) ? h('div', { class: `muted light-${task.light || ''}` }, fill(T.task_deadline, { at: new Date(taskDue(task)).toLocaleString('zh-CN') })) : null,
          h('button', { type: 'button', class: 'primary big task-open', onclick: () => { state.answer = { task, verdict: null, photos: [], opinion: '', voice: null }; showView('answer'); } }, fill(T.task_open, { kind: kindText(task) })),
        ),
      );
    }
    return wrap;
  }

  async function leave() {
    if (recording()) await stopVoice(); // the microphone is given back
    showView('tasks');
  }

  function answerView() {
    const answer = state.answer;
    const kind = kindText(answer.task);
    const confirm = taskKind(answer.task) === 'confirm';
    const wrap = h('section', { class: 'card', id: 'answer' }, h('h2', {}, fill(T.answer_title, { kind, number: answer.task.number })));
    const verdicts = h(
      'div',
      { class: 'verdicts' },
      h('button', { type: 'button', id: 'answer-pass', class: answer.verdict === 'pass' ? 'big chosen' : 'big', onclick: () => { answer.verdict = 'pass'; render(); } }, confirm ? T.confirm_pass : T.answer_pass),
      h('button', { type: 'button', id: 'answer-fail', class: answer.verdict === 'fail' ? 'big chosen bad' : 'big', onclick: () => { answer.verdict = 'fail'; render(); } }, confirm ? T.confirm_fail : T.answer_fail),
    );
    const opinion = h('textarea', { id: 'answer-opinion', rows: 3, maxlength: 4000, placeholder: T.answer_opinion_hint });
    wrap.dataset.kind = taskKind(answer.task);
    opinion.value = answer.opinion;
    opinion.addEventListener('input', () => (answer.opinion = opinion.value));
    wrap.append(
      verdicts,
      h('label', { class: 'field' }, h('div', { class: 'label' }, fill(T.answer_opinion, { kind })), opinion),
      photoPicker(answer.photos, 'answer-photo', complain),
      voiceField(answer, complain),
      h('button', { type: 'button', id: 'answer-submit', class: 'primary big', onclick: submit }, fill(T.answer_submit, { kind })),
      h('button', { type: 'button', id: 'answer-cancel', class: 'big', onclick: leave }, T.answer_cancel),
    );
    return wrap;
  }

  async function submit() {
    if (recording()) await stopVoice(); // the note so far goes with the answer
    const answer = state.answer;
    if (!answer) return;
    const kind = taskKind(answer.task);
    if (!answer.verdict) return toast(fill(T.answer_need_verdict, { kind: T[`kind_${kind}`] }), 'error');
    if (answer.verdict === 'fail' && !answer.opinion.trim()) return toast(T.answer_need_opinion, 'error');
    if (!answer.photos.length) return toast(T.need_photo, 'error');
    const position = state.position;
    const item = {
      id: newRequestId(),
      kind: 'answer',
      created: Date.now(),
      case_id: answer.task.id,
      number: answer.task.number,
      task_kind: kind,
      verdict: answer.verdict,
      opinion: answer.opinion.trim(),
      lat: position ? position.lat : null,
      lon: position ? position.lon : null,
      photos: answer.photos.slice(),
      voice: answer.voice ? { blob: answer.voice.blob, seconds: answer.voice.seconds, type: answer.voice.type } : null,
    };
    state.answeredCases = [...(state.answeredCases || []), answer.task.id];
    state.answer = null;
    showView('tasks');
    await enqueue(item);
  }

  return { load, listView, answerView };
}
