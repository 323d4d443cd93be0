// orgs.js: the organizations screen and one organization's screen with its
// clients.

import {
  h, replace, field, button, table, timeEl, code, notify, formDialog, confirmDanger, revealOnce, uid,
} from './dom.js';
import { call, seg, query, isEnvAdmin } from './api.js';
import { refresh } from './app.js';
import { clientFields, readClientFields, authMethodLabel } from './client.js';

const pageSizes = [10, 20, 50, 100, 500];

/** Paging state of a list: the page tokens seen so far, the page shown, its size, the filter. */
function pager() {
  return { pageSize: 20, tokens: [''], index: 0, filter: '' };
}

const orgPaging = pager();
const clientPaging = new Map(); // organization id -> pager

/**
 * The controls under a list: Previous, Next, the page size, and where we
 * are ("21–40 of 57").
 */
function pagerControls(state, shown, total, nextToken, noun) {
  const first = state.index * state.pageSize;
  const sizeSelect = h('select', { id: uid('pagesize') },
    pageSizes.map((n) => h('option', { value: String(n), selected: n === state.pageSize }, String(n))));
  sizeSelect.addEventListener('change', () => {
    state.pageSize = Number(sizeSelect.value);
    state.tokens = [''];
    state.index = 0;
    refresh();
  });
  const where = total === 0 ? `No ${noun}s` : `${first + 1}–${first + shown} of ${total} ${total === 1 ? noun : `${noun}s`}`;
  return h('div', { class: 'pager' },
    h('span', { class: 'muted', 'data-testid': 'pager-position' }, where),
    button('Previous page', () => { state.index -= 1; refresh(); }, { disabled: state.index === 0 }),
    button('Next page', () => {
      state.tokens[state.index + 1] = nextToken;
      state.index += 1;
      refresh();
    }, { disabled: !nextToken }),
    h('label', { for: sizeSelect.id }, 'Per page'), sizeSelect);
}

/** A search box that hides the rows of tbody whose text does not contain the query. */
function filterBox(state, label, hint, onChange) {
  const input = h('input', { type: 'search', value: state.filter, autocomplete: 'off', spellcheck: 'false' });
  input.addEventListener('input', () => {
    state.filter = input.value;
    onChange();
  });
  return field(label, input, hint);
}

function matches(q, ...texts) {
  const needle = q.trim().toLowerCase();
  return !needle || texts.some((t) => (t || '').toLowerCase().includes(needle));
}

export async function organizationsView(ctx) {
  const st = orgPaging;
  const data = await call('GET', `organizations${query({ page_size: st.pageSize, page_token: st.tokens[st.index] })}`);
  const orgs = data.organizations;
  const envAdmin = isEnvAdmin();

  const listBox = h('div');
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' });
  const draw = () => {
    const shown = orgs.filter((o) => matches(st.filter, o.display_name, o.id, o.external_id));
    replace(summary, st.filter.trim() ? `${shown.length} of the ${orgs.length} organizations on this page match.` : '');
    replace(listBox, table({
      caption: 'Organizations',
      empty: orgs.length === 0 ? 'No organizations yet.' : 'No organization on this page matches.',
      rows: shown,
      rowProps: (o) => ({ 'data-org-id': o.id }),
      columns: [
        { label: 'Name', cell: (o) => h('a', { href: `#/organizations/${seg(o.id)}` }, o.display_name) },
        { label: 'ID', cell: (o) => code(o.id) },
        { label: 'External ID', cell: (o) => (o.external_id ? code(o.external_id) : h('span', { class: 'muted' }, '—')) },
        { label: 'Created', cell: (o) => timeEl(o.create_time) },
        {
          label: 'Actions', class: 'actions-cell', cell: (o) => [
            button('Rename', () => renameOrganization(o), { 'aria-label': `Rename ${o.display_name}` }),
            envAdmin ? button('Delete', () => deleteOrganization(o), { class: 'danger', 'aria-label': `Delete ${o.display_name}` }) : null,
          ],
        },
      ],
    }));
  };
  draw();

  return h('div', { class: 'view' },
    h('div', { class: 'view-head' },
      h('h1', { tabindex: '-1' }, 'Organizations'),
      envAdmin ? button('New organization', createOrganization, { class: 'primary' }) : null),
    h('p', { class: 'muted' }, 'Tenants that own clients. Open one to manage its clients and their credentials.'),
    h('div', { class: 'toolbar' },
      filterBox(st, 'Search', 'Filters the organizations on this page by name, ID or external ID; choose a larger page to search more.', draw)),
    summary, listBox,
    pagerControls(st, orgs.length, data.total_size, data.next_page_token, 'organization'));
}

function orgFields(o = {}) {
  const name = h('input', { name: 'display_name', required: true, maxlength: '256', value: o.display_name || '', autocomplete: 'off' });
  const ext = h('input', { name: 'external_id', maxlength: '256', value: o.external_id || '', autocomplete: 'off', spellcheck: 'false' });
  const fields = [field('Display name', name)];
  if (isEnvAdmin()) fields.push(field('External ID (optional)', ext, 'Your own identifier for this tenant, unique across organizations.'));
  return {
    fields,
    read() {
      const body = { display_name: name.value.trim() };
      if (isEnvAdmin()) body.external_id = ext.value.trim() || null;
      return body;
    },
  };
}

async function createOrganization() {
  const f = orgFields();
  const org = await formDialog({
    title: 'New organization', fields: f.fields, submitLabel: 'Create organization',
    submit: async () => (await call('POST', 'organizations', f.read())).organization,
  });
  if (org) {
    notify(`Organization “${org.display_name}” created.`);
    location.hash = `#/organizations/${seg(org.id)}`;
  }
}

async function renameOrganization(o) {
  const f = orgFields(o);
  const org = await formDialog({
    title: `Rename ${o.display_name}`, fields: f.fields, submitLabel: 'Save',
    submit: async () => (await call('PATCH', `organizations/${seg(o.id)}`, f.read())).organization,
  });
  if (org) {
    notify(`Organization renamed to “${org.display_name}”.`);
    refresh();
  }
}

async function deleteOrganization(o) {
  const clients = await call('GET', `organizations/${seg(o.id)}/clients${query({ page_size: 1 })}`);
  const n = clients.total_size;
  const ok = await confirmDanger({
    title: `Delete ${o.display_name}?`,
    confirmLabel: 'Delete organization',
    content: [
      h('p', null, 'The organization ', h('strong', null, o.display_name), ' (', code(o.id), ') will be deleted.'),
      h('p', { 'data-testid': 'goes-with-it' }, n === 0
        ? 'It has no clients.'
        : `Its ${n} ${n === 1 ? 'client goes' : 'clients go'} with it, with all their secrets, public keys and API keys: they can get no more tokens.`),
      h('p', null, 'This cannot be undone. Access tokens issued already stay valid at resource servers until they expire.'),
    ],
  });
  if (!ok) return;
  await call('DELETE', `organizations/${seg(o.id)}`);
  notify(`Organization “${o.display_name}” deleted${n ? `, with ${n} ${n === 1 ? 'client' : 'clients'}` : ''}.`);
  if (location.hash.startsWith(`#/organizations/${seg(o.id)}`)) location.hash = '#/organizations';
  else refresh();
}

function lastUsed(c) {
  const times = c.secrets.map((s) => s.last_used_time).filter(Boolean).sort();
  return times.at(-1) || null;
}

function credentialSummary(c) {
  if (c.auth_method !== 'client_secret') return h('span', { class: 'muted' }, c.auth_method === 'api_key' ? 'API keys' : 'public keys');
  const active = c.secrets.filter((s) => s.status === 'ACTIVE').length;
  return `${active} active of ${c.secrets.length} ${c.secrets.length === 1 ? 'secret' : 'secrets'}`;
}

export async function organizationView(ctx, orgID) {
  if (!clientPaging.has(orgID)) clientPaging.set(orgID, pager());
  const st = clientPaging.get(orgID);
  const [{ organization: org }, data] = await Promise.all([
    call('GET', `organizations/${seg(orgID)}`),
    call('GET', `organizations/${seg(orgID)}/clients${query({ page_size: st.pageSize, page_token: st.tokens[st.index] })}`),
  ]);
  const clients = data.clients;
  const envAdmin = isEnvAdmin();

  const listBox = h('div');
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' });
  const draw = () => {
    const shown = clients.filter((c) => matches(st.filter, c.name, c.client_id, c.description, c.scopes.join(' ')));
    replace(summary, st.filter.trim() ? `${shown.length} of the ${clients.length} clients on this page match.` : '');
    replace(listBox, table({
      caption: `Clients of ${org.display_name}`,
      empty: clients.length === 0 ? 'No clients yet: create one to give a machine its credentials.' : 'No client on this page matches.',
      rows: shown,
      rowProps: (c) => ({ 'data-client-id': c.client_id }),
      columns: [
        { label: 'Name', cell: (c) => h('a', { href: `#/organizations/${seg(orgID)}/clients/${seg(c.client_id)}`, class: 'client-name' }, c.name) },
        { label: 'Client ID', cell: (c) => code(c.client_id) },
        { label: 'Authentication', cell: (c) => authMethodLabel(c.auth_method) },
        { label: 'Scopes', cell: (c) => (c.scopes.length ? c.scopes.map((s) => [code(s), ' ']) : h('span', { class: 'muted' }, 'none')) },
        { label: 'Credentials', cell: credentialSummary },
        { label: 'Last used', cell: (c) => (c.auth_method === 'client_secret' ? timeEl(lastUsed(c)) : h('span', { class: 'muted' }, 'see client')) },
        { label: 'Created', cell: (c) => timeEl(c.create_time) },
      ],
    }));
  };
  draw();

  return h('div', { class: 'view' },
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: '#/organizations' }, 'Organizations'), ' › ', h('span', { 'aria-current': 'page' }, org.display_name)),
    h('div', { class: 'view-head' },
      h('h1', { tabindex: '-1' }, org.display_name),
      h('div', { class: 'row' },
        button('Rename', () => renameOrganization(org)),
        envAdmin ? button('Delete organization', () => deleteOrganization(org), { class: 'danger' }) : null)),
    h('dl', { class: 'facts' },
      h('dt', null, 'Organization ID'), h('dd', null, code(org.id)),
      h('dt', null, 'External ID'), h('dd', null, org.external_id ? code(org.external_id) : h('span', { class: 'muted' }, '—')),
      h('dt', null, 'Created'), h('dd', null, timeEl(org.create_time)),
      h('dt', null, 'Updated'), h('dd', null, timeEl(org.update_time))),
    h('div', { class: 'view-head' },
      h('h2', null, 'Clients'),
      button('New client', () => createClient(org), { class: 'primary' })),
    h('div', { class: 'toolbar' },
      filterBox(st, 'Search clients', 'Filters the clients on this page by name, ID, description or scope.', draw)),
    summary, listBox,
    pagerControls(st, clients.length, data.total_size, data.next_page_token, 'client'));
}

async function createClient(org) {
  const f = clientFields(null);
  const res = await formDialog({
    title: `New client in ${org.display_name}`, fields: f.fields, submitLabel: 'Create client',
    submit: async () => call('POST', `organizations/${seg(org.id)}/clients`, readClientFields(f, true)),
  });
  if (!res) return;
  const c = res.client;
  const page = `#/organizations/${seg(org.id)}/clients/${seg(c.client_id)}`;
  if (res.plain_secret) {
    await revealOnce({
      title: `Client “${c.name}” created`,
      label: 'Client secret',
      value: res.plain_secret,
      warning: 'Copy this secret now and store it where the machine can read it. keyward keeps only a hash of it and cannot show it again; if it is lost, add a new secret and delete this one.',
    });
  } else {
    notify(c.auth_method === 'api_key'
      ? `Client “${c.name}” created: create an API key for it below.`
      : `Client “${c.name}” created: generate a key pair or register a public key for it below.`);
  }
  location.hash = page;
}
