// dom.js: building the page. Every string becomes a text node or an
// attribute value, never markup: there is no innerHTML anywhere in the
// console, and the server's Content-Security-Policy requires Trusted Types,
// so the browser would refuse one.

let nextID = 0;

/** A fresh id for an element, so that a label can point at it. */
export function uid(prefix = 'f') {
  nextID += 1;
  return `${prefix}-${nextID}`;
}

/**
 * h builds an element. props: `class`; `for`; `on<Event>` listeners;
 * booleans (hidden, disabled, required, checked, selected, open, readOnly)
 * set as properties; `value` as the property; anything else as an attribute.
 * Children: strings and numbers become text, null/undefined/false are
 * skipped, arrays are flattened, nodes are appended.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'style' || k === 'innerHTML' || k === 'outerHTML' || k === 'srcdoc') {
      throw new Error(`h: ${k} is not allowed`);
    }
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'class') {
      el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    } else if (k === 'for') {
      el.htmlFor = v;
    } else if (['hidden', 'disabled', 'required', 'checked', 'selected', 'open', 'readOnly', 'multiple'].includes(k)) {
      el[k] = Boolean(v);
    } else if (k === 'value') {
      el.value = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces the children of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled form control: label, the control, an optional hint. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid();
  const parts = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hintID = `${control.id}-hint`;
    control.setAttribute('aria-describedby', hintID);
    parts.push(h('p', { class: 'hint', id: hintID }, hint));
  }
  return h('div', { class: control.type === 'checkbox' ? 'field check' : 'field' }, parts);
}

/** A checkbox with its label after it. */
export function checkbox(label, props, hint) {
  const box = h('input', { type: 'checkbox', id: uid(), ...props });
  const parts = [box, h('label', { for: box.id }, label)];
  if (hint) {
    const hintID = `${box.id}-hint`;
    box.setAttribute('aria-describedby', hintID);
    parts.push(h('p', { class: 'hint', id: hintID }, hint));
  }
  return h('div', { class: 'field check' }, parts);
}

export function button(label, onclick, props = {}) {
  return h('button', { type: 'button', onclick, ...props }, label);
}

/** An RFC 3339 time as "3 minutes ago" / "in 2 days", in a <time>. */
export function timeEl(iso, empty = 'never') {
  if (!iso) return h('span', { class: 'muted' }, empty);
  return h('time', { datetime: iso, title: formatTime(iso) }, relativeTime(iso));
}

/** An RFC 3339 time as an absolute time and, beside it, a relative one. */
export function timeFull(iso, empty = '—') {
  if (!iso) return h('span', { class: 'muted' }, empty);
  return h('span', null, h('time', { datetime: iso }, formatTime(iso)), ' ', h('span', { class: 'muted' }, `(${relativeTime(iso)})`));
}

export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
}

const units = [
  ['year', 365 * 24 * 3600], ['month', 30 * 24 * 3600], ['week', 7 * 24 * 3600],
  ['day', 24 * 3600], ['hour', 3600], ['minute', 60], ['second', 1],
];
const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

export function relativeTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return String(iso);
  const secs = (t - now) / 1000;
  const abs = Math.abs(secs);
  if (abs < 10) return secs > 0 ? 'in a few seconds' : 'just now';
  for (const [unit, size] of units) {
    if (abs >= size || unit === 'second') return rtf.format(Math.round(secs / size), unit);
  }
  return String(iso);
}

export function code(text) {
  return h('code', null, text);
}

/** A status badge: the text, with a class for its colour. */
export function badge(text, kind) {
  return h('span', { class: ['badge', `badge-${kind || String(text).toLowerCase()}`] }, text);
}

/**
 * A table: caption (read by screen readers; shown when visible is true),
 * columns [{label, cell(row) -> node|string, class}], rows, and what to
 * say when there are none.
 */
export function table({ caption, captionVisible = false, columns, rows, empty, rowProps }) {
  const head = h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label))));
  const body = h('tbody', null, rows.map((r) => h('tr', rowProps ? rowProps(r) : null,
    columns.map((c) => h('td', { class: c.class }, c.cell(r))))));
  if (rows.length === 0) {
    return h('div', { class: 'empty' }, h('p', null, empty || 'Nothing here yet.'));
  }
  return h('div', { class: 'table-wrap' }, h('table', null,
    h('caption', { class: captionVisible ? null : 'visually-hidden' }, caption), head, body));
}

/** Copies text to the clipboard; returns whether it worked. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** A Copy button for what getText returns; it says "Copied" for a moment. */
export function copyButton(getText, label = 'Copy') {
  const b = button(label, async () => {
    const ok = await copyText(getText());
    b.textContent = ok ? 'Copied' : 'Copy failed: select and copy by hand';
    setTimeout(() => { b.textContent = label; }, 2000);
  }, { class: 'copy' });
  return b;
}

/** Shows a short notice in the live region at the top of the page. */
export function notify(text, kind = 'info') {
  const box = document.getElementById('notices');
  const n = h('div', { class: ['notice', `notice-${kind}`], role: kind === 'error' ? 'alert' : null },
    h('span', null, text),
    button('Dismiss', () => n.remove(), { class: 'link', 'aria-label': 'Dismiss this message' }));
  box.appendChild(n);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => n.remove(), kind === 'error' ? 15000 : 5000);
}

/**
 * A modal dialog. content: nodes for its body. actions: [{label, value,
 * class}]; the first action gets the focus (put the safe one first).
 * Resolves with the value of the action chosen, or null for Escape.
 */
export function modal({ title, content, actions, className, dismissible = true, initialFocus }) {
  return new Promise((resolve) => {
    const titleID = uid('dlg');
    const dlg = h('dialog', { class: ['modal', className], 'aria-labelledby': titleID });
    let result = null;
    if (!dismissible) dlg.addEventListener('cancel', (e) => e.preventDefault());
    const buttons = actions.map((a) => button(a.label, () => { result = a.value; dlg.close(); }, { class: a.class }));
    dlg.append(h('h2', { id: titleID }, title), h('div', { class: 'modal-body' }, content), h('div', { class: 'actions' }, buttons));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.appendChild(dlg);
    dlg.showModal();
    (initialFocus || buttons[0])?.focus();
  });
}

/** Asks to confirm something that cannot be undone; resolves true or false. */
export async function confirmDanger({ title, content, confirmLabel }) {
  const v = await modal({
    title, content, className: 'confirm',
    actions: [{ label: 'Cancel', value: false }, { label: confirmLabel, value: true, class: 'danger' }],
  });
  return v === true;
}

/**
 * A dialog with a form. fields: nodes made with field(); submit(form) is
 * called on Submit and may throw an error whose message is shown in the
 * dialog, which then stays open. Resolves with submit's result, or null
 * when cancelled.
 */
export function formDialog({ title, fields, submitLabel, submit, intro }) {
  return new Promise((resolve) => {
    const titleID = uid('dlg');
    const err = h('p', { class: 'error', role: 'alert', hidden: true });
    const submitBtn = h('button', { type: 'submit', class: 'primary' }, submitLabel);
    // method=dialog: should a submit ever slip past the handler, the browser
    // only closes the dialog; it never puts the fields in a URL.
    const form = h('form', { method: 'dialog', novalidate: true },
      intro ? h('p', { class: 'muted' }, intro) : null,
      fields, err,
      h('div', { class: 'actions' }, button('Cancel', () => dlg.close()), submitBtn));
    const dlg = h('dialog', { class: 'modal', 'aria-labelledby': titleID }, h('h2', { id: titleID }, title), form);
    let result = null;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!form.checkValidity()) {
        form.reportValidity();
        return;
      }
      submitBtn.disabled = true;
      err.hidden = true;
      try {
        result = await submit(form);
        dlg.close();
      } catch (ex) {
        err.textContent = ex.message;
        err.hidden = false;
      } finally {
        submitBtn.disabled = false;
      }
    });
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.appendChild(dlg);
    dlg.showModal();
    form.querySelector('input, textarea, select')?.focus();
  });
}

/**
 * Shows a credential that exists only in this answer: a plain warning, the
 * value with a Copy button, and, for a file, a Download button. It cannot
 * be shown again once closed.
 */
export function revealOnce({ title, label, value, warning, download }) {
  const id = uid('reveal');
  const multiline = value.includes('\n');
  const box = multiline
    ? h('textarea', { id, class: 'reveal-value', readOnly: true, rows: 8, spellcheck: 'false', 'data-testid': 'reveal-value' })
    : h('input', { id, class: 'reveal-value', readOnly: true, spellcheck: 'false', 'data-testid': 'reveal-value' });
  box.value = value;
  const extra = [];
  if (download) {
    extra.push(button(`Download ${download.filename}`, () => saveFile(download.filename, download.type, value), { class: 'primary' }));
  }
  const copy = copyButton(() => box.value);
  const content = [
    h('p', { class: 'warning' }, h('strong', null, 'Shown once. '), warning),
    h('div', { class: 'field' }, h('label', { for: id }, label), box),
    h('div', { class: 'row' }, copy, extra),
  ];
  return modal({
    // Escape must not lose it, nor an Enter pressed at once: the focus starts on Copy.
    title, content, className: 'reveal', dismissible: false, initialFocus: extra[0] || copy,
    actions: [{ label: 'I have stored it: close', value: true, class: 'primary' }],
  }).then(() => { box.value = ''; });
}

/** Offers text as a file download through a Blob URL. */
export function saveFile(filename, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename, class: 'visually-hidden' });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
