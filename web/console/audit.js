// audit.js: the audit log, newest first: every admin change whatever its
// outcome, and bursts of failed client authentications.

import { h, field, button, table, code, badge, formatTime, relativeTime } from './dom.js';
import { call, seg, query, isEnvAdmin, currentSession } from './api.js';
import { refresh } from './app.js';

const state = { organization: '', tokens: [''], index: 0, pageSize: 50 };

export async function auditView() {
  const data = await call('GET', `audit_events${query({
    organization_id: state.organization, page_size: state.pageSize, page_token: state.tokens[state.index],
  })}`);
  const events = data.audit_events;
  const envAdmin = isEnvAdmin();

  let filter = null;
  if (envAdmin) {
    const org = h('input', { name: 'organization_id', value: state.organization, autocomplete: 'off', spellcheck: 'false', placeholder: 'org_…' });
    filter = h('form', { class: 'toolbar', method: 'dialog', novalidate: true },
      field('Organization ID', org, 'Empty: every organization\'s events and the environment\'s own.'),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show')));
    filter.addEventListener('submit', (e) => {
      e.preventDefault();
      state.organization = org.value.trim();
      state.tokens = [''];
      state.index = 0;
      refresh();
    });
  }

  const first = state.index * state.pageSize;
  return h('div', { class: 'view' },
    h('div', { class: 'view-head' }, h('h1', { tabindex: '-1' }, 'Audit events'), button('Reload', () => refresh())),
    h('p', { class: 'muted' }, envAdmin
      ? 'Every admin change, whatever its outcome, and failed client authentications (folded per client, source and reason each second). No secret or token is ever recorded.'
      : `The events of your organization, ${currentSession()?.orgID || ''}.`),
    filter,
    table({
      caption: 'Audit events, newest first',
      empty: 'No events.',
      rows: events,
      rowProps: (e) => ({ 'data-action': e.action }),
      columns: [
        { label: 'Time', cell: (e) => [h('time', { datetime: e.time }, formatTime(e.time)), h('span', { class: 'sub' }, relativeTime(e.time))] },
        { label: 'Action', class: 'nowrap', cell: (e) => code(e.action) },
        { label: 'Target', cell: (e) => (e.target ? code(e.target) : h('span', { class: 'muted' }, '—')) },
        {
          label: 'Organization',
          cell: (e) => (e.organization_id ? h('a', { href: `#/organizations/${seg(e.organization_id)}` }, e.organization_id) : h('span', { class: 'muted' }, '—')),
        },
        { label: 'Actor', cell: (e) => (e.actor_client_id ? code(e.actor_client_id) : h('span', { class: 'muted' }, '—')) },
        { label: 'Source', cell: (e) => e.source_address },
        {
          label: 'Result',
          cell: (e) => {
            if (e.result === 'success') return badge('success', 'active');
            // "failure: 409 conflict": the badge, then the detail
            return [badge('failure'), h('span', { class: 'sub' }, e.result.replace(/^failure:\s*/, ''))];
          },
        },
        { label: 'Count', cell: (e) => String(e.count), class: 'num' },
      ],
    }),
    h('div', { class: 'pager' },
      h('span', { class: 'muted' }, data.total_size === 0 ? 'No events' : `${first + 1}–${first + events.length} of ${data.total_size}`),
      button('Newer', () => { state.index -= 1; refresh(); }, { disabled: state.index === 0 }),
      button('Older', () => {
        state.tokens[state.index + 1] = data.next_page_token;
        state.index += 1;
        refresh();
      }, { disabled: !data.next_page_token })));
}
