// app.js: the console's entry point. It asks for a session, then shows the
// screen the URL's fragment names:
//   #/organizations                                  organizations
//   #/organizations/ORG                              an organization and its clients
//   #/organizations/ORG/clients/CLIENT               a client, its credentials, "try it"
//   #/keys                                           signing keys
//   #/audit                                          audit events

import { h, replace, button, notify } from './dom.js';
import { ensureSession, onSession, signOut, isEnvAdmin, APIError } from './api.js';
import { organizationsView, organizationView } from './orgs.js';
import { clientView } from './client.js';
import { keysView } from './keys.js';
import { auditView } from './audit.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

const routes = [
  { pattern: [], view: organizationsView, section: 'organizations' },
  { pattern: ['organizations'], view: organizationsView, section: 'organizations' },
  { pattern: ['organizations', ':org'], view: organizationView, section: 'organizations' },
  { pattern: ['organizations', ':org', 'clients', ':client'], view: clientView, section: 'organizations' },
  { pattern: ['keys'], view: keysView, section: 'keys' },
  { pattern: ['audit'], view: auditView, section: 'audit' },
];

function match() {
  let parts;
  try {
    parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;
  }
  for (const r of routes) {
    if (r.pattern.length !== parts.length) continue;
    const params = [];
    if (r.pattern.every((p, i) => (p.startsWith(':') ? (params.push(parts[i]), true) : p === parts[i]))) {
      return { ...r, params };
    }
  }
  return null;
}

let renderSeq = 0;
let firstRender = true;

/** Shows the screen of the current URL again, with fresh data. */
export async function refresh() {
  const seq = ++renderSeq;
  const route = match();
  for (const a of nav.querySelectorAll('a')) {
    if (route && a.dataset.section === route.section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  await ensureSession();
  if (seq !== renderSeq) return;
  main.setAttribute('aria-busy', 'true');
  let node;
  try {
    if (!route) {
      node = h('div', { class: 'view' }, h('h1', null, 'Not found'),
        h('p', null, 'The console has no such page. ', h('a', { href: '#/organizations' }, 'Go to the organizations.')));
    } else {
      node = await route.view({ stale: () => seq !== renderSeq }, ...route.params);
    }
  } catch (ex) {
    node = errorView(ex);
  }
  if (seq !== renderSeq) return;
  main.removeAttribute('aria-busy');
  replace(main, node);
  const title = main.querySelector('h1')?.textContent;
  document.title = title ? `${title} · keyward console` : 'keyward console';
  if (!firstRender) main.querySelector('h1')?.focus();
  firstRender = false;
}

function errorView(ex) {
  const notFound = ex instanceof APIError && ex.status === 404;
  return h('div', { class: 'view' },
    h('h1', { tabindex: '-1' }, notFound ? 'Not found' : 'Something went wrong'),
    h('p', { class: 'error', role: 'alert' }, ex.message),
    h('p', null, button('Try again', () => refresh()), ' ', h('a', { href: '#/organizations' }, 'Organizations')));
}

onSession((s) => {
  nav.hidden = !s;
  for (const a of nav.querySelectorAll('[data-env-admin]')) a.hidden = !isEnvAdmin();
  if (!s) {
    replace(who);
    return;
  }
  const role = s.scopes.includes('keyward:admin') ? 'environment admin' : `admin of ${s.orgID}`;
  replace(who,
    h('span', { class: 'muted' }, 'Signed in as '), h('code', { 'data-testid': 'signed-in-as' }, s.clientID),
    h('span', { class: 'muted' }, ` (${role})`), ' ',
    button('Sign out', () => {
      // Forget the token, then start afresh: a reload leaves nothing of
      // this session in memory (lists, paging, the last screen's data).
      signOut();
      replace(main);
      location.reload();
    }, { class: 'link' }));
});

window.addEventListener('hashchange', () => { refresh(); });
window.addEventListener('unhandledrejection', (e) => {
  if (e.reason instanceof Error) notify(e.reason.message, 'error');
});
refresh();
