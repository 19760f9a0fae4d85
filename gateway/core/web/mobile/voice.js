// The 语音备注 of a report or a task answer (issue 19): 录音 records with MediaRecorder (Opus
// in WebM where the browser has it, else what it offers), 停止 or the MAX_SECONDS cap ends
// it; the note can be played back, deleted and recorded again, and goes as a Blob with the
// report or answer (waiting in IndexedDB with the photos while offline). Without a microphone (refused, absent, no HTTPS)
// the field says so in one sentence and the rest of the form works as before.
import { h } from './dom.js';
import { T, fill } from './texts.js';

export const MAX_SECONDS = 60; // the core refuses a longer note (voice_notes.MAX_VOICE_SECONDS)
const BITS_PER_SECOND = 32000; // about 240 KB a minute (the core takes up to 2 MB)
const TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4', 'audio/webm'];
const BOX_ID = 'voice-note';

let live = null; // the recording under way: {recorder, stream, draft, started, cap, tick, done}
let problem = null; // why the last try to record failed, in Chinese

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function chosenType() {
  const recorder = window.MediaRecorder;
  if (!recorder.isTypeSupported) return '';
  return TYPES.find((t) => recorder.isTypeSupported(t)) || ''; // '': the browser's own
}

// the DOMException of getUserMedia or MediaRecorder said in Chinese (its message is the
// browser's English)
const MIC_PROBLEMS = {
  NotAllowedError: 'voice_denied',
  SecurityError: 'voice_denied',
  NotFoundError: 'voice_no_mic',
  OverconstrainedError: 'voice_no_mic',
  NotReadableError: 'voice_busy',
  AbortError: 'voice_interrupted',
  NotSupportedError: 'voice_format',
};

function micProblem(err) {
  return T[MIC_PROBLEMS[err && err.name]] || T.voice_failed;
}

function releaseUrl(voice) {
  if (voice && voice.url) URL.revokeObjectURL(voice.url);
}

// the file name the note is sent with (the core reads the bytes, not the name)
export function voiceFileName(voice) {
  const type = voice.type || '';
  return `voice-note.${type.includes('mp4') ? 'm4a' : type.includes('ogg') ? 'ogg' : 'webm'}`;
}

export function recording() {
  return live !== null;
}

// ends the recording under way (if any) and waits until its note is in the draft
export async function stopVoice() {
  const session = live;
  if (!session) return;
  if (session.recorder.state !== 'inactive') session.recorder.stop();
  await session.done;
}

async function startVoice(draft, complain) {
  if (live) return;
  problem = null;
  const media = navigator.mediaDevices;
  if (!window.MediaRecorder || !media || !media.getUserMedia) {
    problem = T.voice_unsupported;
    return repaint(draft);
  }
  let stream;
  try {
    stream = await media.getUserMedia({ audio: true });
  } catch (err) {
    problem = micProblem(err);
    return repaint(draft);
  }
  const type = chosenType();
  let recorder;
  try {
    recorder = new MediaRecorder(stream, type ? { mimeType: type, audioBitsPerSecond: BITS_PER_SECOND } : { audioBitsPerSecond: BITS_PER_SECOND });
  } catch (err) {
    stream.getTracks().forEach((track) => track.stop());
    problem = micProblem(err);
    return repaint(draft);
  }
  const chunks = [];
  const session = { recorder, stream, draft, started: performance.now() };
  recorder.addEventListener('dataavailable', (event) => {
    if (event.data && event.data.size) chunks.push(event.data);
  });
  session.done = new Promise((resolve) => {
    recorder.addEventListener('stop', () => {
      stream.getTracks().forEach((track) => track.stop()); // the microphone is free again
      clearTimeout(session.cap);
      clearInterval(session.tick);
      const seconds = Math.min(MAX_SECONDS, (performance.now() - session.started) / 1000);
      const blob = new Blob(chunks, { type: recorder.mimeType || type || 'audio/webm' });
      live = null;
      if (blob.size) draft.voice = { blob, seconds, type: blob.type };
      else problem = T.voice_empty;
      repaint(draft);
      resolve();
    });
  });
  session.cap = setTimeout(() => {
    complain(fill(T.voice_capped, { s: MAX_SECONDS }));
    stopVoice();
  }, MAX_SECONDS * 1000);
  session.tick = setInterval(() => repaint(draft), 500);
  live = session;
  recorder.start();
  repaint(draft);
}

function deleteVoice(draft) {
  releaseUrl(draft.voice);
  draft.voice = null;
  repaint(draft);
}

function paint(box, draft, complain) {
  const parts = [h('div', { class: 'label' }, T.voice)];
  if (problem) parts.push(h('p', { class: 'error', id: 'voice-error', role: 'alert' }, problem));
  if (live && live.draft === draft) {
    const at = (performance.now() - live.started) / 1000;
    parts.push(
      h('p', { id: 'voice-status', class: 'voice-live' }, fill(T.voice_recording, { at: clock(at), max: clock(MAX_SECONDS) })),
      h('button', { type: 'button', id: 'voice-stop', class: 'big bad', onclick: () => stopVoice() }, T.voice_stop),
    );
  } else if (draft.voice) {
    const voice = draft.voice;
    if (!voice.url) voice.url = URL.createObjectURL(voice.blob);
    parts.push(
      h('p', { id: 'voice-length', class: 'muted', dataset: { seconds: voice.seconds.toFixed(1) } }, fill(T.voice_length, { at: clock(voice.seconds) })),
      h('audio', { id: 'voice-playback', controls: true, preload: 'metadata', src: voice.url }),
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', id: 'voice-delete', class: 'big bad', onclick: () => deleteVoice(draft) }, T.voice_delete),
        h('button', { type: 'button', id: 'voice-redo', class: 'big', onclick: () => { deleteVoice(draft); startVoice(draft, complain); } }, T.voice_redo),
      ),
    );
  } else {
    parts.push(h('button', { type: 'button', id: 'voice-record', class: 'big', onclick: () => startVoice(draft, complain) }, fill(T.voice_record, { max: MAX_SECONDS })));
  }
  box.replaceChildren(...parts);
}

let lastComplain = () => {};

// repaints the field of this draft only: a recording that ends after the form was left
// (another tab) puts its note in its own draft, never in the form shown now
function repaint(draft) {
  const box = document.getElementById(BOX_ID);
  if (box && box.voiceDraft === draft) paint(box, draft, lastComplain);
}

// the 语音备注 field of the report or answer form; draft.voice is {blob, seconds, type} or null
export function voiceField(draft, complain) {
  lastComplain = complain;
  const box = h('div', { class: 'field voice', id: BOX_ID });
  box.voiceDraft = draft;
  paint(box, draft, complain);
  return box;
}
