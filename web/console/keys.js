// keys.js: the server's signing keys, what happens to them next, and the
// two things an admin may do about them: rotate now, or revoke one key.

import { h, replace, button, table, timeEl, timeFull, code, badge, confirmDanger, formatTime, relativeTime } from './dom.js';
import { call, seg, currentSession, APIError } from './api.js';

const stateHelp = [
  ['next', 'published in the JWKS, not signing yet: verifiers fetch it before it signs.'],
  ['active', 'signs every new token; exactly one key is active.'],
  ['retired', 'no longer signs; stays published until every token it signed has expired, then is removed.'],
  ['revoked', 'withdrawn at once: out of the JWKS, and its tokens no longer verify at keyward.'],
];

export async function keysView() {
  const data = await call('GET', 'keys');
  const out = h('div');
  const status = h('div', { 'aria-live': 'polite' });
  const draw = (d) => replace(out, plan(d), keyTable(d, draw, status));
  draw(data);
  return h('div', { class: 'view' },
    h('div', { class: 'view-head' },
      h('h1', { tabindex: '-1' }, 'Signing keys'),
      button('Rotate now', () => rotate(draw, status), { class: 'primary' })),
    h('p', { class: 'muted' }, 'keyward rotates its signing keys by itself. Rotate now only to shorten a key\'s life; revoke a key only if its private half may have leaked.'),
    status, out,
    h('h2', null, 'States'),
    h('dl', { class: 'facts states' }, stateHelp.map(([s, text]) => [h('dt', null, badge(s)), h('dd', null, text)])));
}

// plan says in words what the lifecycle will do next.
function plan(d) {
  const active = d.keys.find((k) => k.state === 'active');
  const next = d.keys.find((k) => k.state === 'next');
  const lines = [];
  if (active) lines.push(h('li', null, 'Key ', code(active.kid), ` (${active.alg}) signs every new token, since `, timeFull(active.activate_time), '.'));
  if (next && d.next_rotation_time) {
    lines.push(h('li', { 'data-testid': 'next-rotation' }, 'At ', timeFull(d.next_rotation_time), ', key ', code(next.kid), ' takes over',
      active ? [' and ', code(active.kid), ' retires'] : null, '.'));
    if (next.activate_time && Date.parse(next.activate_time) > Date.now()) {
      lines.push(h('li', null, 'Until ', timeFull(next.activate_time), ' the next key is too new for verifiers\' caches: a rotation now is refused.'));
    }
  } else if (next) {
    lines.push(h('li', null, 'Key ', code(next.kid), ' is published and will take over at the next rotation.'));
  } else {
    lines.push(h('li', null, 'There is no next key yet: one is published at the next lifecycle check.'));
  }
  for (const k of d.keys.filter((x) => x.state === 'retired' && x.remove_time)) {
    lines.push(h('li', null, 'Retired key ', code(k.kid), ' stays published until ', timeFull(k.remove_time), ', when its last tokens have expired.'));
  }
  return h('section', { class: 'panel', 'aria-label': 'What happens next' }, h('h2', null, 'What happens next'), h('ul', null, lines));
}

function keyTable(d, draw, status) {
  const mine = currentSession()?.kid;
  return table({
    caption: 'Signing keys, oldest first',
    rows: d.keys,
    empty: 'No signing keys are loaded.',
    rowProps: (k) => ({ 'data-kid': k.kid, 'data-state': k.state }),
    columns: [
      { label: 'Key ID', cell: (k) => [code(k.kid), k.kid === mine ? h('div', { class: 'muted small' }, 'signed your session') : null] },
      { label: 'Algorithm', cell: (k) => k.alg },
      { label: 'State', cell: (k) => badge(k.state) },
      { label: 'Created', cell: (k) => timeEl(k.create_time) },
      {
        label: 'Active from',
        cell: (k) => {
          if (k.state !== 'next' || !k.activate_time) return timeEl(k.activate_time, '—');
          if (Date.parse(k.activate_time) > Date.now()) return ['may sign ', timeEl(k.activate_time)];
          return h('span', { title: formatTime(k.activate_time) }, 'may sign now');
        },
      },
      { label: 'Retired', cell: (k) => timeEl(k.retire_time, '—') },
      { label: 'Removed', cell: (k) => timeEl(k.remove_time, '—') },
      { label: 'Revoked', cell: (k) => timeEl(k.revoke_time, '—') },
      {
        label: 'Actions', class: 'actions-cell',
        cell: (k) => (k.state === 'revoked' ? null : button('Revoke', () => revoke(k, draw, status), { class: 'danger', 'aria-label': `Revoke the key ${k.kid}` })),
      },
    ],
  });
}

function say(status, text, kind) {
  replace(status, h('p', { class: kind === 'error' ? 'error' : 'success', role: kind === 'error' ? 'alert' : null, 'data-testid': 'keys-status' }, text));
}

async function rotate(draw, status) {
  const before = await call('GET', 'keys');
  const active = before.keys.find((k) => k.state === 'active');
  const next = before.keys.find((k) => k.state === 'next');
  const ok = await confirmDanger({
    title: 'Rotate the signing key now?',
    confirmLabel: 'Rotate now',
    content: [
      h('p', null, next
        ? ['The next key ', code(next.kid), ', published ', relativeTime(next.create_time), ', starts signing now']
        : 'The next key starts signing now',
      active ? [', and the active key ', code(active.kid), ' retires: it stays published until every token it signed has expired'] : null, '. A new next key is published.'),
      h('p', null, 'keyward refuses while the next key is too new for verifiers\' cached JWKS to hold it.'),
    ],
  });
  if (!ok) return;
  try {
    const d = await call('POST', 'keys/rotate');
    draw(d);
    const now = d.keys.find((k) => k.state === 'active');
    say(status, `Rotated: key ${now ? now.kid : '?'} signs from now on.`);
  } catch (ex) {
    if (!(ex instanceof APIError) || ex.status !== 409) throw ex;
    say(status, `Rotation refused: ${ex.message}.`, 'error');
    draw(await call('GET', 'keys'));
  }
}

async function revoke(k, draw, status) {
  const mine = currentSession()?.kid === k.kid;
  const ok = await confirmDanger({
    title: `Revoke the key ${k.kid}?`,
    confirmLabel: 'Revoke key',
    content: [
      h('p', null, 'Only if its private key may have leaked. The key ', code(k.kid), ` (${k.state}) leaves the JWKS at once and every token it signed stops verifying at keyward; resource servers stop accepting them when their cached JWKS expires.`),
      k.state === 'active' ? h('p', null, 'It is the active key: the next key signs from now on, and a new next key is published.') : null,
      mine ? h('p', { class: 'warning' }, 'It signed your own session: you will be asked to sign in again.') : null,
      h('p', null, 'This cannot be undone.'),
    ],
  });
  if (!ok) return;
  try {
    const d = await call('POST', `keys/${seg(k.kid)}/revoke`);
    draw(d);
    say(status, `Key ${k.kid} revoked at ${formatTime(new Date().toISOString())}.`);
  } catch (ex) {
    if (!(ex instanceof APIError) || ex.status !== 409) throw ex;
    say(status, `Revocation refused: ${ex.message}.`, 'error');
  }
}
