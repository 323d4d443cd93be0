// api.js: the console's session and its calls to keyward.
//
// The console signs in like any admin tool: it trades an admin client's id
// and secret for an access token at /oauth/token (client_secret_basic) and
// sends that token to /api/v1. The token lives in this module's memory
// only, never in localStorage, sessionStorage or a cookie: reloading the
// page or closing the tab ends the session. The secret is not kept at all,
// so when the token expires, or the server refuses it (401), the sign-in
// dialog asks again and the request that needed it goes on afterwards.

import { decodeJWT } from './jwt.js';

/** The server's root, whatever path prefix a proxy adds: the page is at ROOT/console. */
export const root = new URL('.', document.baseURI);

/** The current session: {token, expiresAt, clientID, orgID, scopes, kid} or null. */
let session = null;
let expiryTimer = 0;
/** The promise of the sign-in in progress, shared by every caller that waits for it. */
let pending = null;
const listeners = new Set();

export class APIError extends Error {
  constructor(status, code, description) {
    super(description || `the server answered ${status}`);
    this.status = status;
    this.code = code || '';
  }
}

/** Calls fn(session) whenever the session starts or ends. */
export function onSession(fn) {
  listeners.add(fn);
}

export function currentSession() {
  return session;
}

export function isEnvAdmin() {
  return Boolean(session?.scopes.includes('keyward:admin'));
}

// RFC 6749 section 2.3.1: the id and secret are form-urlencoded, then Basic.
function formEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');
}

/**
 * Asks /oauth/token for an access token with client_secret_basic. Resolves
 * with the token response or throws an APIError with the server's words.
 */
export async function requestToken(clientID, clientSecret, extra = {}) {
  const body = new URLSearchParams({ grant_type: 'client_credentials', ...extra });
  // credentials: 'omit' sends no cookie and keeps the browser from answering
  // a Basic challenge with a password prompt of its own.
  const res = await fetch(new URL('oauth/token', root), {
    method: 'POST',
    credentials: 'omit',
    cache: 'no-store',
    headers: {
      Authorization: `Basic ${btoa(`${formEncode(clientID)}:${formEncode(clientSecret)}`)}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body,
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new APIError(res.status, data?.error, data?.error_description);
  return data;
}

async function signIn(clientID, clientSecret) {
  const tok = await requestToken(clientID, clientSecret);
  let who;
  try {
    who = await rawCall(tok.access_token, 'GET', 'whoami');
  } catch (ex) {
    throw new Error(`keyward issued a token, but its admin API refuses it: ${ex.message}`);
  }
  const scopes = who.scopes || [];
  if (!scopes.includes('keyward:admin') && !scopes.includes('keyward:org:admin')) {
    throw new Error('This client is not an admin: its tokens carry neither keyward:admin nor keyward:org:admin.');
  }
  let kid = '';
  try { kid = decodeJWT(tok.access_token).header.kid || ''; } catch { /* not a JWT we can read: no matter */ }
  return {
    token: tok.access_token,
    expiresAt: Date.now() + tok.expires_in * 1000,
    clientID: who.client_id,
    orgID: who.organization_id,
    scopes,
    kid,
  };
}

function setSession(s, why) {
  clearTimeout(expiryTimer);
  session = s;
  if (s) {
    // Ask again a little before the token expires, so that no request
    // fails half-way; setTimeout cannot wait longer than about 24.8 days.
    const wait = Math.min(Math.max(s.expiresAt - Date.now() - 15000, 0), 2 ** 31 - 1);
    expiryTimer = setTimeout(() => {
      setSession(null);
      ensureSession('Your session has expired. Sign in again to go on.');
    }, wait);
  }
  for (const fn of listeners) fn(session, why);
}

/** Ends the session: the token is forgotten at once. */
export function signOut() {
  setSession(null);
}

/**
 * Resolves with a session, showing the sign-in dialog when there is none.
 * why is the sentence the dialog starts with.
 */
export function ensureSession(why) {
  if (session && session.expiresAt > Date.now()) return Promise.resolve(session);
  if (!pending) {
    pending = showSignIn(why).finally(() => { pending = null; });
  }
  return pending;
}

let defaultIntro = null;

function showSignIn(why) {
  const dlg = document.getElementById('signin');
  const form = document.getElementById('signin-form');
  const idInput = document.getElementById('signin-id');
  const secretInput = document.getElementById('signin-secret');
  const err = document.getElementById('signin-error');
  const intro = document.getElementById('signin-why');
  const submit = document.getElementById('signin-submit');
  defaultIntro ??= [...intro.childNodes].map((n) => n.cloneNode(true));
  if (why) {
    intro.textContent = why;
    intro.classList.add('attention');
  } else {
    intro.replaceChildren(...defaultIntro.map((n) => n.cloneNode(true)));
    intro.classList.remove('attention');
  }
  err.hidden = true;
  secretInput.value = '';
  return new Promise((resolve) => {
    const onCancel = (e) => e.preventDefault(); // Escape does not skip signing in
    const onSubmit = async (e) => {
      e.preventDefault();
      const id = idInput.value.trim();
      const secret = secretInput.value;
      if (!id || !secret) {
        err.textContent = 'Enter the client ID and the client secret.';
        err.hidden = false;
        (id ? secretInput : idInput).focus();
        return;
      }
      submit.disabled = true;
      err.hidden = true;
      try {
        const s = await signIn(id, secret);
        secretInput.value = '';
        form.removeEventListener('submit', onSubmit);
        dlg.removeEventListener('cancel', onCancel);
        dlg.close();
        setSession(s, why);
        resolve(s);
      } catch (ex) {
        err.textContent = ex.status === 401
          ? `Sign-in refused: the client ID or secret is wrong, or the secret is inactive (${ex.message}).`
          : `Sign-in failed: ${ex.message}`;
        err.hidden = false;
        secretInput.select();
        secretInput.focus();
      } finally {
        submit.disabled = false;
      }
    };
    form.addEventListener('submit', onSubmit);
    dlg.addEventListener('cancel', onCancel);
    if (!dlg.open) dlg.showModal();
    (idInput.value ? secretInput : idInput).focus();
  });
}

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

async function rawCall(token, method, path, body) {
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const send = () => fetch(new URL(`api/v1/${path}`, root), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
  let res = await send();
  // 503 means the database is out of reach for a moment: a read is tried
  // again a few times, as Retry-After says (at most 3 s each); a change is
  // not, and the user sees the answer.
  for (let i = 0; res.status === 503 && method === 'GET' && i < 3; i += 1) {
    await sleep(Math.min(Number(res.headers.get('Retry-After')) || 1, 3) * 1000);
    res = await send();
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new APIError(res.status, data?.error, data?.error_description);
  return data;
}

/**
 * Calls the admin API at /api/v1/PATH. A 401 ends the session, asks the
 * user to sign in again and then retries once.
 */
export async function call(method, path, body) {
  let s = await ensureSession();
  try {
    return await rawCall(s.token, method, path, body);
  } catch (ex) {
    if (!(ex instanceof APIError) || ex.status !== 401) throw ex;
    if (session === s) setSession(null);
    s = await ensureSession(`The server no longer accepts your session (${ex.message}). Sign in again to go on.`);
    return rawCall(s.token, method, path, body);
  }
}

/** A path segment: ids are URL-safe already, but nothing is taken on trust. */
export function seg(s) {
  return encodeURIComponent(s);
}

/** The query string of a list call. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

let metadata = null;
/** The authorization server metadata (for the issuer's advertised URLs). */
export async function serverMetadata() {
  if (!metadata) {
    const res = await fetch(new URL('.well-known/oauth-authorization-server', root), { credentials: 'omit' });
    if (!res.ok) throw new APIError(res.status, '', 'the server metadata cannot be read');
    metadata = await res.json();
  }
  return metadata;
}
