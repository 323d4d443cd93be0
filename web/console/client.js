// client.js: one client's screen: its settings, its credentials (secrets,
// public keys or API keys, by its auth method) and a "try it" panel.

import {
  h, replace, field, checkbox, button, table, timeEl, timeFull, code, badge, notify, formDialog, confirmDanger,
  revealOnce, copyButton, uid,
} from './dom.js';
import { call, seg, requestToken, serverMetadata, root } from './api.js';
import { decodeJWT } from './jwt.js';
import { refresh } from './app.js';

const authMethods = [
  { value: 'client_secret', label: 'Client secret', hint: 'secrets that keyward generates, sent as client_secret_basic, client_secret_post or a client_secret_jwt assertion' },
  { value: 'private_key_jwt', label: 'Private key JWT', hint: 'assertions signed with a private key whose public half is registered here, such as a downloaded credentials.json' },
  { value: 'api_key', label: 'API key', hint: 'long-lived keys that your APIs check by introspection; the client gets no tokens' },
];

export function authMethodLabel(m) {
  return authMethods.find((a) => a.value === m)?.label || m;
}

const words = (s) => s.split(/[\s,]+/).filter(Boolean);

/**
 * The fields of a client, filled from c (null for a new client). The auth
 * method is chosen at creation and never changes.
 */
export function clientFields(c) {
  const ctl = {
    name: h('input', { name: 'name', required: true, maxlength: '256', value: c?.name || '', autocomplete: 'off' }),
    description: h('textarea', { name: 'description', maxlength: '1024', rows: '2' }),
    authMethod: c ? null : h('select', { name: 'auth_method' }, authMethods.map((a) => h('option', { value: a.value }, a.label))),
    scopes: h('input', { name: 'scopes', value: (c?.scopes || []).join(' '), autocomplete: 'off', spellcheck: 'false' }),
    audience: h('input', { name: 'audience', value: (c?.audience || []).join(' '), autocomplete: 'off', spellcheck: 'false' }),
    claims: h('textarea', { name: 'custom_claims', rows: '3', spellcheck: 'false' }),
    expiry: h('input', { name: 'expiry', type: 'number', min: '60', step: '1', required: true, value: String(c?.expiry ?? 3600) }),
    ctx: null,
  };
  ctl.description.value = c?.description || '';
  ctl.claims.value = (c?.custom_claims || []).map((kv) => `${kv.key}=${kv.value}`).join('\n');
  const ctxBox = checkbox('Allow a context identifier', { checked: Boolean(c?.inject_context_identifier) },
    'The client may send context_identifier with a token request; it becomes the token\'s ctx claim.');
  ctl.ctx = ctxBox.querySelector('input');
  const methodHint = h('span');
  if (ctl.authMethod) {
    const showHint = () => replace(methodHint, authMethods.find((a) => a.value === ctl.authMethod.value).hint, '. It cannot be changed later.');
    ctl.authMethod.addEventListener('change', showHint);
    showHint();
  }
  const fields = [
    field('Name', ctl.name),
    field('Description (optional)', ctl.description),
    ctl.authMethod ? field('Authentication method', ctl.authMethod, methodHint) : null,
    field('Scopes', ctl.scopes, 'Separated by spaces, such as read:invoices deploy:applications. A token request may ask for some of them; without scope it gets them all.'),
    field('Audience', ctl.audience, 'The APIs the tokens are for, separated by spaces (up to 20). Empty: the tokens\' aud is the issuer.'),
    field('Custom claims', ctl.claims, 'One key=value per line; each becomes a string claim in every token of this client.'),
    field('Token lifetime (seconds)', ctl.expiry, 'From 60 up to the server\'s maximum (86400 unless configured otherwise).'),
    ctxBox,
  ];
  return { fields, ctl };
}

/** The request body of the fields; throws an Error naming a malformed line. */
export function readClientFields(f, creating) {
  const { ctl } = f;
  const claims = [];
  ctl.claims.value.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const at = line.indexOf('=');
    if (at < 1) throw new Error(`Custom claims, line ${i + 1}: write key=value.`);
    claims.push({ key: line.slice(0, at).trim(), value: line.slice(at + 1).trim() });
  });
  const body = {
    name: ctl.name.value.trim(),
    description: ctl.description.value,
    scopes: words(ctl.scopes.value),
    audience: words(ctl.audience.value),
    custom_claims: claims,
    expiry: Number(ctl.expiry.value),
    inject_context_identifier: ctl.ctx.checked,
  };
  if (creating) body.auth_method = ctl.authMethod.value;
  return body;
}

function clientPath(orgID, clientID) {
  return `organizations/${seg(orgID)}/clients/${seg(clientID)}`;
}

export async function clientView(ctx, orgID, clientID) {
  const [{ organization: org }, { client: c }] = await Promise.all([
    call('GET', `organizations/${seg(orgID)}`),
    call('GET', clientPath(orgID, clientID)),
  ]);
  const list = (xs) => (xs.length ? xs.map((x) => [code(x), ' ']) : h('span', { class: 'muted' }, 'none'));
  let credentials;
  if (c.auth_method === 'private_key_jwt') credentials = keysSection(org, c);
  else if (c.auth_method === 'api_key') credentials = apiKeysSection(org, c);
  else credentials = secretsSection(org, c);

  return h('div', { class: 'view' },
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' },
      h('a', { href: '#/organizations' }, 'Organizations'), ' › ',
      h('a', { href: `#/organizations/${seg(org.id)}` }, org.display_name), ' › ',
      h('span', { 'aria-current': 'page' }, c.name)),
    h('div', { class: 'view-head' },
      h('h1', { tabindex: '-1', 'data-testid': 'client-name' }, c.name),
      h('div', { class: 'row' },
        button('Edit', () => editClient(org, c)),
        button('Delete client', () => deleteClient(org, c), { class: 'danger' }))),
    c.description ? h('p', { class: 'description' }, c.description) : null,
    h('dl', { class: 'facts' },
      h('dt', null, 'Client ID'), h('dd', null, code(c.client_id), ' ', copyButton(() => c.client_id, 'Copy ID')),
      h('dt', null, 'Authentication'), h('dd', null, authMethodLabel(c.auth_method)),
      h('dt', null, 'Scopes'), h('dd', null, list(c.scopes)),
      h('dt', null, 'Audience'), h('dd', null, c.audience.length ? list(c.audience) : h('span', { class: 'muted' }, 'the issuer')),
      h('dt', null, 'Custom claims'), h('dd', null, c.custom_claims.length
        ? c.custom_claims.map((kv) => [code(`${kv.key}=${kv.value}`), ' '])
        : h('span', { class: 'muted' }, 'none')),
      h('dt', null, 'Token lifetime'), h('dd', null, duration(c.expiry)),
      h('dt', null, 'Context identifier'), h('dd', null, c.inject_context_identifier ? 'allowed (ctx claim)' : 'not allowed'),
      h('dt', null, 'Created'), h('dd', null, timeEl(c.create_time)),
      h('dt', null, 'Updated'), h('dd', null, timeEl(c.update_time))),
    credentials,
    await tryItSection(c));
}

function duration(secs) {
  if (secs % 3600 === 0) return `${secs / 3600} ${secs === 3600 ? 'hour' : 'hours'} (${secs} s)`;
  if (secs % 60 === 0) return `${secs / 60} minutes (${secs} s)`;
  return `${secs} seconds`;
}

async function editClient(org, c) {
  const f = clientFields(c);
  const res = await formDialog({
    title: `Edit ${c.name}`, fields: f.fields, submitLabel: 'Save',
    submit: async () => call('PATCH', clientPath(org.id, c.client_id), readClientFields(f, false)),
  });
  if (res) {
    notify(`Client “${res.client.name}” saved.`);
    refresh();
  }
}

async function deleteClient(org, c) {
  const what = {
    client_secret: `its ${c.secrets.length} ${c.secrets.length === 1 ? 'secret goes' : 'secrets go'} with it`,
    private_key_jwt: 'its registered public keys go with it',
    api_key: 'its API keys go with it and stop introspecting as active',
  }[c.auth_method];
  const ok = await confirmDanger({
    title: `Delete ${c.name}?`,
    confirmLabel: 'Delete client',
    content: [
      h('p', null, 'The client ', h('strong', null, c.name), ' (', code(c.client_id), ') of ', h('strong', null, org.display_name), ' will be deleted; ', what, '.'),
      h('p', null, `This cannot be undone. Access tokens issued already stay valid at resource servers until they expire (within ${duration(c.expiry)}).`),
    ],
  });
  if (!ok) return;
  await call('DELETE', clientPath(org.id, c.client_id));
  notify(`Client “${c.name}” deleted.`);
  location.hash = `#/organizations/${seg(org.id)}`;
}

/**
 * A section that draws itself from data that load() fetches, and can be
 * redrawn after a change: the focus then goes to its heading.
 */
function liveSection(title, load, draw) {
  const headingID = uid('sec');
  const heading = h('h2', { id: headingID, tabindex: '-1' }, title);
  const body = h('div');
  const sec = h('section', { 'aria-labelledby': headingID, class: 'panel' }, heading, body);
  const reload = async (focus = true) => {
    try {
      replace(body, draw(await load(), reload));
    } catch (ex) {
      replace(body, h('p', { class: 'error', role: 'alert' }, ex.message));
    }
    if (focus) heading.focus();
  };
  return { sec, body, reload };
}

function statusBadge(status) {
  return badge(status === 'ACTIVE' ? 'active' : 'inactive', status === 'ACTIVE' ? 'active' : 'inactive');
}

function secretsSection(org, client) {
  const path = clientPath(org.id, client.client_id);
  const { sec, body, reload } = liveSection('Secrets', async () => (await call('GET', path)).client.secrets, (secrets) => {
    const active = secrets.filter((s) => s.status === 'ACTIVE');
    const add = async () => {
      const res = await call('POST', `${path}/secrets`, {});
      await revealOnce({
        title: 'New secret',
        label: 'Client secret',
        value: res.plain_secret,
        warning: 'Copy this secret now: keyward keeps only a hash of it and cannot show it again. Both it and the older secrets work until you deactivate or delete those.',
      });
      await reload();
    };
    const setStatus = async (s, status) => {
      await call('PATCH', `${path}/secrets/${seg(s.id)}`, { status });
      notify(`Secret …${s.secret_suffix} ${status === 'ACTIVE' ? 'reactivated' : 'deactivated: it authenticates nothing until reactivated'}.`);
      await reload();
    };
    const remove = async (s) => {
      const last = s.status === 'ACTIVE' && active.length === 1;
      const ok = await confirmDanger({
        title: `Delete the secret …${s.secret_suffix}?`,
        confirmLabel: 'Delete secret',
        content: [
          h('p', null, 'The secret ending ', code(s.secret_suffix), ' (', code(s.id), ') will be deleted: anything still using it can no longer authenticate. This cannot be undone.'),
          last ? h('p', { class: 'warning' }, 'It is the client\'s only active secret: the client can get no tokens until you add another.') : null,
        ],
      });
      if (!ok) return;
      await call('DELETE', `${path}/secrets/${seg(s.id)}`);
      notify(`Secret …${s.secret_suffix} deleted.`);
      await reload();
    };
    return [
      h('p', { class: 'muted' }, 'Several secrets may be active at once: to rotate, add a secret, move the machine to it, then deactivate and delete the old one.'),
      h('div', { class: 'row' }, button('Add secret', add, { class: 'primary' })),
      table({
        caption: 'Secrets',
        empty: 'No secrets: the client cannot authenticate. Add one.',
        rows: secrets,
        rowProps: (s) => ({ 'data-secret-id': s.id, 'data-suffix': s.secret_suffix }),
        columns: [
          { label: 'Secret', cell: (s) => [code(`…${s.secret_suffix}`), h('div', { class: 'muted small' }, s.id)] },
          { label: 'Status', cell: (s) => statusBadge(s.status) },
          { label: 'Created', cell: (s) => timeEl(s.create_time) },
          { label: 'Last used', cell: (s) => timeEl(s.last_used_time), class: 'last-used' },
          {
            label: 'Actions', class: 'actions-cell', cell: (s) => [
              s.status === 'ACTIVE'
                ? button('Deactivate', () => setStatus(s, 'INACTIVE'), { 'aria-label': `Deactivate the secret ending ${s.secret_suffix}` })
                : button('Reactivate', () => setStatus(s, 'ACTIVE'), { 'aria-label': `Reactivate the secret ending ${s.secret_suffix}` }),
              button('Delete', () => remove(s), { class: 'danger', 'aria-label': `Delete the secret ending ${s.secret_suffix}` }),
            ],
          },
        ],
      }),
    ];
  });
  replace(body, h('p', { class: 'muted' }, 'Loading…'));
  reload(false);
  return sec;
}

function apiKeysSection(org, client) {
  const path = `${clientPath(org.id, client.client_id)}/api_keys`;
  const { sec, body, reload } = liveSection('API keys', async () => (await call('GET', path)).api_keys, (keys) => {
    const create = async () => {
      const when = h('input', { type: 'datetime-local', name: 'expire_time' });
      const res = await formDialog({
        title: 'New API key', submitLabel: 'Create API key',
        fields: [field('Expires (optional, your local time)', when, 'Empty: the key never expires. It can be deactivated or deleted at any time.')],
        submit: async () => {
          const b = {};
          if (when.value) b.expire_time = new Date(when.value).toISOString().replace(/\.\d+Z$/, 'Z');
          return call('POST', path, b);
        },
      });
      if (!res) return;
      await revealOnce({
        title: 'API key created', label: 'API key', value: res.plain_key,
        warning: 'Copy this key now and give it to the caller: keyward keeps only a hash of it and cannot show it again.',
      });
      await reload();
    };
    const setStatus = async (k, status) => {
      await call('PATCH', `${path}/${seg(k.id)}`, { status });
      notify(`API key …${k.key_suffix} ${status === 'ACTIVE' ? 'reactivated' : 'deactivated'}.`);
      await reload();
    };
    const remove = async (k) => {
      const ok = await confirmDanger({
        title: `Delete the API key …${k.key_suffix}?`, confirmLabel: 'Delete API key',
        content: h('p', null, 'The API key ending ', code(k.key_suffix), ' (', code(k.id), ') will be deleted: introspection answers it inactive from now on. This cannot be undone.'),
      });
      if (!ok) return;
      await call('DELETE', `${path}/${seg(k.id)}`);
      notify(`API key …${k.key_suffix} deleted.`);
      await reload();
    };
    return [
      h('p', { class: 'muted' }, 'Long-lived keys your APIs check at /oauth/introspect (up to 10 per client). Rotate by creating a new key, moving the caller to it, then deleting the old one.'),
      h('div', { class: 'row' }, button('Create API key', create, { class: 'primary' })),
      table({
        caption: 'API keys', empty: 'No API keys yet.', rows: keys,
        rowProps: (k) => ({ 'data-api-key-id': k.id }),
        columns: [
          { label: 'Key', cell: (k) => [code(`…${k.key_suffix}`), h('div', { class: 'muted small' }, k.id)] },
          { label: 'Status', cell: (k) => statusBadge(k.status) },
          { label: 'Created', cell: (k) => timeEl(k.create_time) },
          { label: 'Expires', cell: (k) => timeEl(k.expire_time, 'never') },
          { label: 'Last used', cell: (k) => timeEl(k.last_used_time), class: 'last-used' },
          {
            label: 'Actions', class: 'actions-cell', cell: (k) => [
              k.status === 'ACTIVE'
                ? button('Deactivate', () => setStatus(k, 'INACTIVE'), { 'aria-label': `Deactivate the API key ending ${k.key_suffix}` })
                : button('Reactivate', () => setStatus(k, 'ACTIVE'), { 'aria-label': `Reactivate the API key ending ${k.key_suffix}` }),
              button('Delete', () => remove(k), { class: 'danger', 'aria-label': `Delete the API key ending ${k.key_suffix}` }),
            ],
          },
        ],
      }),
    ];
  });
  replace(body, h('p', { class: 'muted' }, 'Loading…'));
  reload(false);
  return sec;
}

function keysSection(org, client) {
  const path = `${clientPath(org.id, client.client_id)}/keys`;
  const { sec, body, reload } = liveSection('Public keys', async () => (await call('GET', path)).keys, (keys) => {
    const generate = async () => {
      const res = await call('POST', path, {});
      await revealOnce({
        title: 'New key pair: credentials.json',
        label: 'credentials.json',
        value: `${JSON.stringify(res.credentials, null, 2)}\n`,
        warning: 'This file holds the private key, which keyward has already forgotten: download it now and keep it as you would a password. Use it with keyward token --credentials or any RFC 7523 client.',
        download: { filename: 'credentials.json', type: 'application/json' },
      });
      await reload();
    };
    const register = async () => {
      const text = h('textarea', { name: 'public_key', rows: '8', required: true, spellcheck: 'false' });
      const alg = h('select', { name: 'alg' },
        h('option', { value: '' }, 'From the key'), ['RS256', 'PS256', 'ES256'].map((a) => h('option', { value: a }, a)));
      const res = await formDialog({
        title: 'Register a public key', submitLabel: 'Register key',
        intro: 'Keep the private key where it was made: keyward needs only the public half.',
        fields: [
          field('Public key (PEM or JWK)', text, 'A PEM block (-----BEGIN PUBLIC KEY-----) or a JWK object: RSA of 2048 bits or more, or EC P-256. A JWK with private members is refused.'),
          field('Algorithm', alg, 'What the client signs with: RS256 or PS256 for RSA, ES256 for EC. A JWK\'s own alg counts.'),
        ],
        submit: async () => {
          const v = text.value.trim();
          const b = {};
          if (v.startsWith('{')) {
            try { b.jwk = JSON.parse(v); } catch { throw new Error('The key starts with { but is not valid JSON.'); }
          } else {
            b.public_key_pem = v;
          }
          if (alg.value) b.alg = alg.value;
          return call('POST', path, b);
        },
      });
      if (!res) return;
      notify(`Key ${res.key.id} registered.`);
      await reload();
    };
    const remove = async (k) => {
      const ok = await confirmDanger({
        title: `Delete the key ${k.id}?`, confirmLabel: 'Delete key',
        content: h('p', null, 'Assertions signed with the key ', code(k.id), ' are refused from now on (on every replica within seconds). This cannot be undone.'),
      });
      if (!ok) return;
      await call('DELETE', `${path}/${seg(k.id)}`);
      notify(`Key ${k.id} deleted.`);
      await reload();
    };
    return [
      h('p', { class: 'muted' }, 'The client signs assertions with the private halves (up to 5 keys). Rotate by adding the new key before deleting the old.'),
      h('div', { class: 'row' },
        button('Generate key pair (credentials.json)', generate, { class: 'primary' }),
        button('Register a public key', register)),
      table({
        caption: 'Public keys', empty: 'No keys yet: the client cannot authenticate. Generate a key pair or register a public key.', rows: keys,
        rowProps: (k) => ({ 'data-key-id': k.id }),
        columns: [
          { label: 'Key ID', cell: (k) => code(k.id) },
          { label: 'Algorithm', cell: (k) => k.alg },
          { label: 'Thumbprint', cell: (k) => h('code', { class: 'small' }, k.thumbprint) },
          { label: 'JWK kid', cell: (k) => (k.jwk_kid ? code(k.jwk_kid) : h('span', { class: 'muted' }, '—')) },
          { label: 'Created', cell: (k) => timeEl(k.create_time) },
          { label: 'Last used', cell: (k) => timeEl(k.last_used_time), class: 'last-used' },
          { label: 'Actions', class: 'actions-cell', cell: (k) => button('Delete', () => remove(k), { class: 'danger', 'aria-label': `Delete the key ${k.id}` }) },
        ],
      }),
    ];
  });
  replace(body, h('p', { class: 'muted' }, 'Loading…'));
  reload(false);
  return sec;
}

// The "try it" panel: how a machine gets a token, and what is inside one.
async function tryItSection(c) {
  const md = await serverMetadata().catch(() => ({}));
  const tokenURL = md.token_endpoint || new URL('oauth/token', root).href;
  const introspectURL = md.introspection_endpoint || new URL('oauth/introspect', root).href;
  let line;
  let explain;
  if (c.auth_method === 'client_secret') {
    line = `curl -sS -u "${c.client_id}:$CLIENT_SECRET" -d grant_type=client_credentials ${shellQuote(tokenURL)}`;
    explain = 'Get a token from a shell, with the client\'s secret in CLIENT_SECRET. Without scope or audience the token gets all of the client\'s; add -d scope=… or -d audience=… for fewer.';
  } else if (c.auth_method === 'private_key_jwt') {
    line = 'keyward token --credentials credentials.json';
    explain = 'Get a token with the credentials.json of a generated key pair; keyward token signs an RFC 7523 assertion with its private key.';
  } else {
    line = `curl -sS -u "$RESOURCE_SERVER_ID:$RESOURCE_SERVER_SECRET" -d token="$API_KEY" ${shellQuote(introspectURL)}`;
    explain = 'An API key gets no tokens: your API checks it by introspection, authenticated as a client of the same organization.';
  }
  const lineID = uid('curl');
  const decoder = tokenDecoder();
  const parts = [
    h('p', { class: 'muted', id: `${lineID}-hint` }, explain),
    h('div', { class: 'codeline' }, h('pre', { id: lineID, 'data-testid': 'try-it-command', 'aria-describedby': `${lineID}-hint` }, line), copyButton(() => line)),
  ];
  if (c.auth_method === 'client_secret') parts.push(tokenFetcher(c, decoder));
  parts.push(decoder.node);
  const headingID = uid('sec');
  return h('section', { 'aria-labelledby': headingID, class: 'panel try-it' }, h('h2', { id: headingID }, 'Try it'), parts);
}

function shellQuote(s) {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

// A small form that asks this server for a token with a secret typed here.
function tokenFetcher(c, decoder) {
  const secret = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', name: 'try_secret' });
  const scope = h('input', { autocomplete: 'off', spellcheck: 'false', name: 'try_scope' });
  const out = h('p', { role: 'status' });
  const form = h('form', { class: 'inline-form', method: 'dialog', novalidate: true },
    field('Client secret', secret, 'Used for this one request and not kept.'),
    field('Scope (optional)', scope),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Get a token')), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(out);
    out.className = '';
    try {
      const extra = scope.value.trim() ? { scope: scope.value.trim() } : {};
      const tok = await requestToken(c.client_id, secret.value, extra);
      replace(out, `Token issued: ${tok.token_type}, expires in ${tok.expires_in} s, scope "${tok.scope || ''}". Decoded below.`);
      decoder.show(tok.access_token);
    } catch (ex) {
      out.className = 'error';
      replace(out, `Refused: ${ex.code ? `${ex.code}: ` : ''}${ex.message}`);
    } finally {
      secret.value = '';
    }
  });
  return h('div', null, h('h3', null, 'Get a token here'), form);
}

// A paste box that shows a JWT's header and claims.
function tokenDecoder() {
  const input = h('textarea', { rows: '4', spellcheck: 'false', name: 'jwt', 'data-testid': 'jwt-input' });
  const out = h('div', { class: 'decoded', 'aria-live': 'polite' });
  const show = (value) => {
    if (value !== undefined) input.value = value;
    const v = input.value.trim();
    if (!v) {
      replace(out);
      return;
    }
    let jwt;
    try {
      jwt = decodeJWT(v);
    } catch (ex) {
      replace(out, h('p', { class: 'error' }, `Not a JWT: ${ex.message}.`));
      return;
    }
    const cl = jwt.claims;
    const when = (n) => (typeof n === 'number' ? timeFull(new Date(n * 1000).toISOString()) : h('span', { class: 'muted' }, '—'));
    replace(out,
      h('dl', { class: 'facts' },
        h('dt', null, 'Issued'), h('dd', null, when(cl.iat)),
        h('dt', null, 'Expires'), h('dd', null, when(cl.exp)),
        h('dt', null, 'Signed with'), h('dd', null, code(`${jwt.header.alg || '?'}`), ' key ', code(`${jwt.header.kid || '?'}`))),
      h('div', { class: 'decoded-parts' },
        h('div', null, h('h4', null, 'Header'), h('pre', { 'data-testid': 'jwt-header' }, JSON.stringify(jwt.header, null, 2))),
        h('div', null, h('h4', null, 'Claims'), h('pre', { 'data-testid': 'jwt-claims' }, JSON.stringify(cl, null, 2)))),
      h('p', { class: 'muted small' }, 'Decoded in this page; the signature is not checked here. Resource servers check it against the JWKS.'));
  };
  input.addEventListener('input', () => show());
  const node = h('div', null, h('h3', null, 'Decode a token'), field('Access token (JWT)', input, 'Paste a token to see its header and claims.'), out);
  return { node, show };
}
