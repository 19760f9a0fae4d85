// Photos on the phone: taken or picked (<input capture>), shrunk to MAX_EDGE px and
// re-encoded as JPEG on a canvas before they are kept or sent.
import { h } from './dom.js';
import { T } from './texts.js';

const MAX_PHOTOS = 4;
const MAX_EDGE = 1600; // px: what the phone sends (the core keeps at most 2048)
const JPEG_QUALITY = 0.85;

async function shrink(file) {
  const bitmap = await createImageBitmap(file); // upright by the photo's EXIF orientation
  const scale = Math.min(1, MAX_EDGE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('toBlob'))), 'image/jpeg', JPEG_QUALITY),
  );
}

export function photoPicker(photos, id, complain) {
  const strip = h('div', { class: 'photos' });
  const input = h('input', { id, type: 'file', accept: 'image/*', capture: 'environment', class: 'file' });
  const redraw = () => {
    strip.replaceChildren(
      ...photos.map((blob, i) =>
        h(
          'figure',
          { class: 'thumb' },
          h('img', { src: URL.createObjectURL(blob), alt: `${T.photos} ${i + 1}` }),
          h('button', { type: 'button', class: 'remove', onclick: () => { photos.splice(i, 1); redraw(); } }, T.photo_remove),
        ),
      ),
    );
    label.hidden = photos.length >= MAX_PHOTOS;
  };
  input.addEventListener('change', async () => {
    for (const file of input.files) {
      if (photos.length >= MAX_PHOTOS) {
        complain(T.photo_limit);
        break;
      }
      try {
        photos.push(await shrink(file));
      } catch (_) {
        complain(T.photo_unreadable);
      }
    }
    input.value = '';
    redraw();
  });
  const label = h('label', { class: 'button big', for: id }, T.add_photo);
  redraw();
  return h('div', { class: 'field' }, h('div', { class: 'label' }, T.photos), strip, label, input);
}
