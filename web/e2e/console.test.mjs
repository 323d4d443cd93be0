// End-to-end tests of keyward's admin console in headless Chromium, driven
// by playwright-core. scripts/e2e.sh starts keyward and runs this file with
// node's test runner; it passes:
//   KEYWARD_URL            the server, e.g. http://127.0.0.1:18380
//   KEYWARD_ADMIN_ID/_SECRET  its bootstrap admin client
//   E2E_OUT                where screenshots go
//   E2E_CHROMIUM           the browser (Debian's /usr/bin/chromium)
//   E2E_README_SCREENSHOT  when set, where to save the README's screenshot
//
// The steps run in order on one page, as a person would use the console;
// after a failed step the rest are skipped.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { randomUUID, sign as cryptoSign } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.KEYWARD_URL;
const adminID = process.env.KEYWARD_ADMIN_ID;
const adminSecret = process.env.KEYWARD_ADMIN_SECRET;
const out = process.env.E2E_OUT || '.';
const readmeShot = process.env.E2E_README_SCREENSHOT || '';
if (!base || !adminID || !adminSecret) throw new Error('KEYWARD_URL, KEYWARD_ADMIN_ID and KEYWARD_ADMIN_SECRET must be set');

const XSS = '<img src=x onerror=alert(1)>';
const XSS_ORG = '"><svg onload=alert(2)>';

let context;
let page;
let userDataDir;
const alerts = []; // every alert/confirm/prompt the page opened: there must be none
const pageErrors = [];
const consoleErrors = [];
let broken = false;

// Shared between steps.
const s = { orgID: '', clientID: '', secret1: '', secret2: '', token: '' };

/** One step: skipped once an earlier one failed; a failure leaves a screenshot. */
function step(name, fn) {
  test(name, { timeout: 60_000 }, async (t) => {
    if (broken) {
      t.skip('an earlier step failed');
      return;
    }
    try {
      await fn(t);
    } catch (e) {
      broken = true;
      await page?.screenshot({ path: path.join(out, 'failure.png'), fullPage: true }).catch(() => {});
      const where = await page?.evaluate(() => ({
        hash: location.hash,
        h1: document.querySelector('h1:not(#signin-title)')?.textContent,
        signingIn: document.getElementById('signin')?.open,
        busy: document.getElementById('main')?.getAttribute('aria-busy'),
        notices: document.getElementById('notices')?.textContent,
      })).catch((err) => String(err));
      t.diagnostic(`the page at the failure: ${JSON.stringify(where)}`);
      t.diagnostic(`alerts ${JSON.stringify(alerts)}; page errors ${JSON.stringify(pageErrors)}; console errors ${JSON.stringify(consoleErrors)}`);
      throw e;
    }
  });
}

before(async () => {
  userDataDir = mkdtempSync(path.join(tmpdir(), 'keyward-e2e-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.E2E_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // Without the background-networking flags Chromium keeps calling home,
    // which this machine's closed network refuses.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  context.setDefaultTimeout(15_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  // CSP violations, reported by the page itself.
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  page = context.pages()[0] || await context.newPage();
  page.on('dialog', (d) => {
    alerts.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    // A fetch that the server answers 4xx is logged by Chromium as
    // "Failed to load resource"; the tests make some on purpose.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text());
  });
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

// --- helpers -------------------------------------------------------------

async function shot(name, opts = {}) {
  await page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true, ...opts });
}

const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A token request with client_secret_basic: {status, body}. */
async function tokenRequest(id, secret) {
  const res = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { Authorization: basic(id, secret), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  return { status: res.status, body: await res.json() };
}

let adminToken = '';
/** The admin API from Node, to set things up and to check what the console did. */
async function api(method, p, body) {
  if (!adminToken) {
    const t = await tokenRequest(adminID, adminSecret);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    adminToken = t.body.access_token;
  }
  const res = await fetch(`${base}/api/v1/${p}`, {
    method,
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) { // the test revokes a signing key: get a fresh token
    adminToken = '';
    return api(method, p, body);
  }
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

const heading = (name) => page.getByRole('heading', { level: 1, name });
const signin = () => page.locator('#signin');

async function signIn(secret = adminSecret, id = adminID) {
  await signin().waitFor({ state: 'visible' });
  await page.locator('#signin-id').fill(id);
  await page.locator('#signin-secret').fill(secret);
  await page.locator('#signin-secret').press('Enter');
}

/** Goes to a console route by its fragment and waits for its heading. */
async function go(hash, h1) {
  await page.evaluate((hsh) => { location.hash = hsh; }, hash);
  await heading(h1).waitFor();
}

/** Every visible form control has a label, and every button a name. */
async function checkAccessible(where) {
  const problems = await page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden' || !el.checkVisibility()) continue;
      if (el.labels.length === 0 && !el.getAttribute('aria-label')) bad.push(`unlabelled ${el.tagName.toLowerCase()} ${el.name || el.id}`);
    }
    for (const el of document.querySelectorAll('button')) {
      if (!el.checkVisibility()) continue;
      if (!(el.getAttribute('aria-label') || el.textContent).trim()) bad.push('a button without a name');
    }
    // (Chromium's autofill leaves an empty style="" on sign-in fields: harmless.)
    for (const el of document.querySelectorAll('[onclick], [style]:not([style=""]), [role="button"], a:not([href])')) {
      bad.push(`${el.tagName.toLowerCase()} with ${[...el.attributes].map((a) => `${a.name}=${a.value}`).join(' ')}`);
    }
    return bad;
  });
  assert.deepEqual(problems, [], `accessibility problems on ${where}`);
}

/** The row of a table that holds the given attribute. */
const row = (attr, value) => page.locator(`tr[${attr}="${value}"]`);

// --- the steps ------------------------------------------------------------

step('serves the console with a strict Content-Security-Policy and no inline code', async () => {
  const res = await page.goto(`${base}/console`);
  assert.equal(res.status(), 200);
  const h = res.headers();
  assert.match(h['content-type'], /^text\/html/);
  const csp = h['content-security-policy'];
  for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
    assert.ok(csp.includes(d), `CSP ${csp} lacks ${d}`);
  }
  assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), csp);
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.equal(h['referrer-policy'], 'no-referrer');
  assert.equal(h['cache-control'], 'no-cache');
  assert.ok(h.etag);

  const inline = await page.evaluate(() => ({
    scripts: [...document.scripts].filter((x) => !x.src).length,
    styles: document.querySelectorAll('style, [style]').length,
  }));
  assert.deepEqual(inline, { scripts: 0, styles: 0 });

  const js = await fetch(`${base}/console/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  const again = await fetch(`${base}/console/app.js`, { headers: { 'If-None-Match': js.headers.get('etag') } });
  assert.equal(again.status, 304);
  assert.equal((await fetch(`${base}/console/nope.js`)).status, 404);
  const slash = await fetch(`${base}/console/`, { redirect: 'manual' });
  assert.equal(slash.status, 301);
});

step('refuses a wrong secret at sign-in, and says so', async () => {
  await signin().waitFor({ state: 'visible' });
  await shot('01-signin');
  await checkAccessible('the sign-in dialog');
  await signIn('kw_sk_not-the-secret-at-all-000000000');
  const err = page.locator('#signin-error');
  await err.waitFor({ state: 'visible' });
  assert.match(await err.textContent(), /refused/i);
  assert.ok(await signin().isVisible());
});

step('signs in with the keyboard, and keeps the token in memory only', async () => {
  await page.locator('#signin-id').fill('');
  await page.locator('#signin-id').focus();
  await page.keyboard.type(adminID);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'signin-secret');
  await page.keyboard.type(adminSecret);
  await page.keyboard.press('Enter');
  await heading('Organizations').waitFor();
  assert.equal(await page.getByTestId('signed-in-as').textContent(), adminID);
  assert.ok(!(await signin().isVisible()));
  const stored = await page.evaluate(() => ({
    local: localStorage.length, session: sessionStorage.length, cookie: document.cookie,
  }));
  assert.deepEqual(stored, { local: 0, session: 0, cookie: '' });
  assert.deepEqual(await context.cookies(), []);
});

step('creates an organization, and searches and pages the list', async () => {
  await page.getByRole('button', { name: 'New organization' }).click();
  const dlg = page.getByRole('dialog', { name: 'New organization' });
  await dlg.getByLabel('Display name').fill('Acme Corp (e2e)');
  await dlg.getByLabel('External ID (optional)').fill(`acme-${Date.now()}`);
  await dlg.getByRole('button', { name: 'Create organization' }).click();
  await heading('Acme Corp (e2e)').waitFor();
  s.orgID = decodeURIComponent(await page.evaluate(() => location.hash.split('/')[2]));
  assert.match(s.orgID, /^org_/);

  // enough organizations for two pages of 10
  for (let i = 1; i <= 11; i += 1) {
    const r = await api('POST', 'organizations', { display_name: `Paging org ${String(i).padStart(2, '0')}` });
    assert.equal(r.status, 201);
  }
  const total = (await api('GET', 'organizations?page_size=1')).body.total_size;
  await page.getByRole('link', { name: 'Organizations', exact: true }).first().click();
  await heading('Organizations').waitFor();
  await page.getByLabel('Per page').selectOption('10');
  const pos = page.getByTestId('pager-position');
  await page.waitForFunction((t) => document.querySelector('[data-testid="pager-position"]')?.textContent === `1–10 of ${t} organizations`, total);
  assert.equal(await page.locator('tr[data-org-id]').count(), 10);
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid="pager-position"]')?.textContent.startsWith('11–'));
  assert.ok(await page.locator('tr[data-org-id]').count() >= 1);
  await page.getByRole('button', { name: 'Previous page' }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid="pager-position"]')?.textContent.startsWith('1–10 '));
  assert.match(await pos.textContent(), /^1–10 /);

  await page.getByLabel('Per page').selectOption('50');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-org-id]').length > 10);
  await page.getByLabel('Search', { exact: true }).fill('acme corp');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-org-id]').length === 1);
  assert.equal(await row('data-org-id', s.orgID).count(), 1);
  await page.getByLabel('Search', { exact: true }).fill('');
  await checkAccessible('the organizations screen');
  await shot('02-organizations');
});

step('renames an organization to markup, which shows as text', async () => {
  const target = (await api('GET', 'organizations?page_size=50')).body.organizations.find((o) => o.display_name === 'Paging org 01');
  await row('data-org-id', target.id).getByRole('button', { name: 'Rename' }).click();
  const dlg = page.getByRole('dialog', { name: /^Rename/ });
  await dlg.getByLabel('Display name').fill(XSS_ORG);
  await dlg.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(([id, name]) => document.querySelector(`tr[data-org-id="${id}"] a`)?.textContent === name, [target.id, XSS_ORG]);
  assert.equal(await page.locator('svg').count(), 0);
  assert.deepEqual(alerts, []);
});

step('creates a client and shows its secret once, with a copy button and a warning', async () => {
  await page.locator(`tr[data-org-id="${s.orgID}"] a`).click();
  await heading('Acme Corp (e2e)').waitFor();
  await page.getByRole('button', { name: 'New client' }).click();
  const dlg = page.getByRole('dialog', { name: /^New client/ });
  await dlg.getByLabel('Name').fill('deployer');
  await dlg.getByLabel('Description (optional)').fill('Deploys applications from CI');
  assert.equal(await dlg.getByLabel('Authentication method').inputValue(), 'client_secret');
  await dlg.getByLabel('Scopes').fill('deploy:applications read:status');
  await dlg.getByLabel('Audience').fill('deployment-api.example.com');
  await dlg.getByLabel('Custom claims').fill('environment=production_us');
  await dlg.getByLabel('Token lifetime (seconds)').fill('600');
  await checkAccessible('the new client dialog');
  await dlg.getByRole('button', { name: 'Create client' }).click();

  const reveal = page.getByRole('dialog', { name: 'Client “deployer” created' });
  await reveal.waitFor();
  assert.match(await reveal.textContent(), /Shown once\..*cannot show it again/);
  s.secret1 = await reveal.getByTestId('reveal-value').inputValue();
  assert.match(s.secret1, /^kw_sk_/);
  await page.keyboard.press('Escape'); // shown once: Escape must not lose it
  assert.ok(await reveal.isVisible());
  await reveal.getByRole('button', { name: 'Copy' }).click();
  await reveal.getByRole('button', { name: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), s.secret1);
  await shot('04-new-secret');
  await reveal.getByRole('button', { name: 'I have stored it: close' }).click();

  await heading('deployer').waitFor();
  s.clientID = decodeURIComponent(await page.evaluate(() => location.hash.split('/')[4]));
  assert.match(s.clientID, /^m2m_/);
  // Shown once: nowhere on the page now.
  assert.ok(!(await page.content()).includes(s.secret1));
});

step('the secret read from the page gets a token with fetch', async () => {
  const t = await tokenRequest(s.clientID, s.secret1);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  s.token = t.body.access_token;
  const c = claimsOf(s.token);
  assert.equal(c.client_id, s.clientID);
  assert.equal(c.org_id, s.orgID);
  assert.equal(c.aud, 'deployment-api.example.com');
  assert.equal(c.environment, 'production_us');
  assert.equal(c.scope, 'deploy:applications read:status');
  assert.equal(c.exp - c.iat, 600);
});

step('"try it" shows the curl line and decodes a token', async () => {
  const cmd = await page.getByTestId('try-it-command').textContent();
  assert.ok(cmd.includes(`-u "${s.clientID}:$CLIENT_SECRET"`), cmd);
  assert.ok(cmd.includes(`${base}/oauth/token`) && cmd.includes('grant_type=client_credentials'), cmd);

  await page.getByLabel('Access token (JWT)').fill(s.token);
  await page.getByTestId('jwt-claims').waitFor();
  const claims = JSON.parse(await page.getByTestId('jwt-claims').textContent());
  assert.equal(claims.environment, 'production_us');
  assert.equal(JSON.parse(await page.getByTestId('jwt-header').textContent()).typ, 'at+jwt');

  await page.getByLabel('Access token (JWT)').fill('not.a-token');
  await page.getByText(/^Not a JWT:/).waitFor();

  // and a token fetched by the page itself, with the secret typed in
  const main = page.locator('main');
  await main.getByLabel('Client secret').fill(s.secret1);
  await main.getByRole('button', { name: 'Get a token' }).click();
  await main.getByText(/^Token issued: Bearer, expires in 600 s/).waitFor();
  assert.equal(JSON.parse(await page.getByTestId('jwt-claims').textContent()).client_id, s.clientID);
  assert.equal(await main.getByLabel('Client secret').inputValue(), '');
  await checkAccessible('the client screen');
});

step('rotates the secret: adds a second, deactivates and deletes the first, which is then refused', async () => {
  const suffix1 = s.secret1.slice(-4);
  await page.getByRole('button', { name: 'Add secret' }).click();
  const reveal = page.getByRole('dialog', { name: 'New secret' });
  s.secret2 = await reveal.getByTestId('reveal-value').inputValue();
  assert.match(s.secret2, /^kw_sk_/);
  assert.notEqual(s.secret2, s.secret1);
  await reveal.getByRole('button', { name: 'I have stored it: close' }).click();
  await page.waitForFunction(() => document.querySelectorAll('tr[data-secret-id]').length === 2);

  await page.getByRole('button', { name: `Deactivate the secret ending ${suffix1}` }).click();
  await page.getByRole('button', { name: `Reactivate the secret ending ${suffix1}` }).waitFor();
  assert.equal(await page.locator(`tr[data-suffix="${suffix1}"] .badge`).textContent(), 'inactive');
  let t = await tokenRequest(s.clientID, s.secret1);
  assert.equal(t.status, 401);
  assert.equal(t.body.error, 'invalid_client');
  t = await tokenRequest(s.clientID, s.secret2);
  assert.equal(t.status, 200);

  await page.getByRole('button', { name: `Reactivate the secret ending ${suffix1}` }).click();
  await page.getByRole('button', { name: `Deactivate the secret ending ${suffix1}` }).waitFor();
  assert.equal((await tokenRequest(s.clientID, s.secret1)).status, 200);
  await page.getByRole('button', { name: `Deactivate the secret ending ${suffix1}` }).click();
  await page.getByRole('button', { name: `Reactivate the secret ending ${suffix1}` }).waitFor();
  await page.getByRole('heading', { name: 'Secrets' }).scrollIntoViewIfNeeded();
  await shot('05-client');

  // The confirmation: Cancel has the focus, and Escape keeps the secret.
  await page.getByRole('button', { name: `Delete the secret ending ${suffix1}` }).click();
  const confirm = page.getByRole('dialog', { name: `Delete the secret …${suffix1}?` });
  await confirm.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Cancel');
  await page.keyboard.press('Escape');
  await confirm.waitFor({ state: 'detached' });
  assert.equal(await page.locator('tr[data-secret-id]').count(), 2);

  await page.getByRole('button', { name: `Delete the secret ending ${suffix1}` }).click();
  await confirm.getByRole('button', { name: 'Delete secret' }).click();
  await page.waitForFunction(() => document.querySelectorAll('tr[data-secret-id]').length === 1);
  assert.equal(await page.locator(`tr[data-suffix="${suffix1}"]`).count(), 0);
  t = await tokenRequest(s.clientID, s.secret1);
  assert.equal(t.status, 401);
  assert.equal(t.body.error, 'invalid_client');
  assert.equal((await tokenRequest(s.clientID, s.secret2)).status, 200);
});

step('shows when a secret was last used, as a relative time', async () => {
  // last_used_time is written in batches every few seconds
  const suffix2 = s.secret2.slice(-4);
  const deadline = Date.now() + 20_000;
  for (;;) {
    await go(`#/organizations/${s.orgID}`, 'Acme Corp (e2e)');
    await go(`#/organizations/${s.orgID}/clients/${s.clientID}`, 'deployer');
    const cell = page.locator(`tr[data-suffix="${suffix2}"] td.last-used`);
    const text = await cell.textContent();
    if (/ago|just now/.test(text)) {
      assert.match(await cell.locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);
      break;
    }
    assert.ok(Date.now() < deadline, `last used still reads "${text}"`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (readmeShot) { // the README's picture: the top of a client's screen
    await page.locator('#notices').evaluate((n) => n.replaceChildren());
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: readmeShot });
  }
});

step('a client named like markup shows as those characters, and nothing runs', async () => {
  await go(`#/organizations/${s.orgID}`, 'Acme Corp (e2e)');
  await page.getByRole('button', { name: 'New client' }).click();
  const dlg = page.getByRole('dialog', { name: /^New client/ });
  await dlg.getByLabel('Name').fill(XSS);
  await dlg.getByRole('button', { name: 'Create client' }).click();
  const reveal = page.getByRole('dialog', { name: `Client “${XSS}” created` });
  await reveal.waitFor();
  await reveal.getByRole('button', { name: 'I have stored it: close' }).click();
  await page.getByTestId('client-name').waitFor();
  assert.equal(await page.getByTestId('client-name').textContent(), XSS);
  await shot('08-markup-name');
  await go(`#/organizations/${s.orgID}`, 'Acme Corp (e2e)');
  const links = await page.locator('a.client-name').allTextContents();
  assert.ok(links.includes(XSS), JSON.stringify(links));
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  await page.waitForTimeout(300);
  assert.deepEqual(alerts, []);
  await checkAccessible('the organization screen');
  await shot('03-organization');
});

step('a service account\'s credentials.json downloads once and gets a token', async () => {
  await go(`#/organizations/${s.orgID}`, 'Acme Corp (e2e)');
  await page.getByRole('button', { name: 'New client' }).click();
  const dlg = page.getByRole('dialog', { name: /^New client/ });
  await dlg.getByLabel('Name').fill('billing-sync');
  await dlg.getByLabel('Authentication method').selectOption('private_key_jwt');
  await dlg.getByLabel('Scopes').fill('read:invoices');
  await dlg.getByRole('button', { name: 'Create client' }).click();
  await heading('billing-sync').waitFor();
  const clientID = decodeURIComponent(await page.evaluate(() => location.hash.split('/')[4]));
  await page.getByText('No keys yet').waitFor();

  await page.getByRole('button', { name: 'Generate key pair (credentials.json)' }).click();
  const reveal = page.getByRole('dialog', { name: 'New key pair: credentials.json' });
  await reveal.waitFor();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    reveal.getByRole('button', { name: 'Download credentials.json' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'credentials.json');
  assert.match(download.url(), /^blob:/);
  const creds = JSON.parse(await readFile(await download.path(), 'utf8'));
  assert.equal(creds.client_id, clientID);
  assert.match(creds.private_key, /^-----BEGIN PRIVATE KEY-----/);
  await reveal.getByRole('button', { name: 'I have stored it: close' }).click();
  await row('data-key-id', creds.key_id).waitFor();

  // RFC 7523: an assertion signed with the downloaded key gets a token.
  const now = Math.floor(Date.now() / 1000);
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'RS256', typ: 'JWT', kid: creds.key_id })}.${enc({
    iss: clientID, sub: clientID, aud: creds.token_uri, iat: now, exp: now + 300, jti: randomUUID(),
  })}`;
  const assertion = `${input}.${cryptoSign('sha256', Buffer.from(input), creds.private_key).toString('base64url')}`;
  const res = await fetch(creds.token_uri, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(claimsOf((await res.json()).access_token).client_id, clientID);
});

step('an API key is shown once and introspects until it is deactivated', async () => {
  await go(`#/organizations/${s.orgID}`, 'Acme Corp (e2e)');
  await page.getByRole('button', { name: 'New client' }).click();
  const dlg = page.getByRole('dialog', { name: /^New client/ });
  await dlg.getByLabel('Name').fill('reports-reader');
  await dlg.getByLabel('Authentication method').selectOption('api_key');
  await dlg.getByRole('button', { name: 'Create client' }).click();
  await heading('reports-reader').waitFor();
  await page.getByRole('button', { name: 'Create API key' }).click();
  const form = page.getByRole('dialog', { name: 'New API key' });
  await form.getByRole('button', { name: 'Create API key' }).click();
  const reveal = page.getByRole('dialog', { name: 'API key created' });
  const key = await reveal.getByTestId('reveal-value').inputValue();
  assert.match(key, /^kw_ak_/);
  await reveal.getByRole('button', { name: 'I have stored it: close' }).click();
  const introspect = async () => {
    const r = await fetch(`${base}/oauth/introspect`, {
      method: 'POST',
      headers: { Authorization: basic(adminID, adminSecret), 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: key }),
    });
    return (await r.json()).active;
  };
  assert.equal(await introspect(), true);
  await page.getByRole('button', { name: `Deactivate the API key ending ${key.slice(-4)}` }).click();
  await page.getByRole('button', { name: `Reactivate the API key ending ${key.slice(-4)}` }).waitFor();
  assert.equal(await introspect(), false);
});

step('signing keys: a rotation confirmed, then one refused, as the server answers', async () => {
  await page.getByRole('link', { name: 'Signing keys' }).click();
  await heading('Signing keys').waitFor();
  let keys = (await api('GET', 'keys')).body.keys;
  const active = keys.find((k) => k.state === 'active');
  const next = keys.find((k) => k.state === 'next');
  assert.ok(active && next, JSON.stringify(keys));
  assert.equal(await row('data-kid', active.kid).getAttribute('data-state'), 'active');
  await page.getByTestId('next-rotation').waitFor();
  await checkAccessible('the signing keys screen');
  await shot('06-keys');

  // Cancelling changes nothing.
  await page.getByRole('button', { name: 'Rotate now' }).click();
  let confirm = page.getByRole('dialog', { name: 'Rotate the signing key now?' });
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await confirm.waitFor({ state: 'detached' });
  assert.equal((await api('GET', 'keys')).body.keys.find((k) => k.state === 'active').kid, active.kid);

  // keyward lets the next key sign once it has been published for the
  // publish lead (6 s here).
  const wait = Date.parse(next.create_time) + 7000 - Date.now();
  if (wait > 0) await page.waitForTimeout(wait);
  await page.getByRole('button', { name: 'Rotate now' }).click();
  confirm = page.getByRole('dialog', { name: 'Rotate the signing key now?' });
  await confirm.getByRole('button', { name: 'Rotate now' }).click();
  await page.getByTestId('keys-status').getByText(`Rotated: key ${next.kid} signs from now on.`).waitFor();
  keys = (await api('GET', 'keys')).body.keys;
  assert.equal(keys.find((k) => k.state === 'active').kid, next.kid);
  assert.equal(keys.find((k) => k.kid === active.kid).state, 'retired');
  assert.equal(await row('data-kid', active.kid).getAttribute('data-state'), 'retired');

  // The new next key is seconds old: the server refuses, and the page says why.
  await page.getByRole('button', { name: 'Rotate now' }).click();
  confirm = page.getByRole('dialog', { name: 'Rotate the signing key now?' });
  await confirm.getByRole('button', { name: 'Rotate now' }).click();
  await page.getByTestId('keys-status').getByText(/^Rotation refused: .*published too recently/).waitFor();
  await shot('09-rotation-refused');
  assert.equal((await api('GET', 'keys')).body.keys.find((k) => k.state === 'active').kid, next.kid);
  s.retired = active.kid;
});

step('revoking the key that signed the session asks to sign in again', async () => {
  const r = row('data-kid', s.retired);
  assert.match(await r.textContent(), /signed your session/);
  await page.getByRole('button', { name: `Revoke the key ${s.retired}` }).click();
  const confirm = page.getByRole('dialog', { name: `Revoke the key ${s.retired}?` });
  assert.match(await confirm.textContent(), /signed your own session/);
  await confirm.getByRole('button', { name: 'Revoke key' }).click();
  await page.getByTestId('keys-status').getByText(`Key ${s.retired} revoked`, { exact: false }).waitFor();
  assert.equal(await r.getAttribute('data-state'), 'revoked');

  // The next call carries a token the server no longer accepts.
  await page.getByRole('link', { name: 'Audit events' }).click();
  await signin().waitFor({ state: 'visible' });
  assert.match(await page.locator('#signin-why').textContent(), /no longer accepts your session/);
  await signIn();
  await heading('Audit events').waitFor();
});

step('audit events show what was done', async () => {
  const actions = await page.locator('tr[data-action]').evaluateAll((rows) => rows.map((r) => r.dataset.action));
  for (const a of ['organization.create', 'organization.update', 'client.create', 'secret.create', 'secret.update', 'secret.delete', 'key.rotate', 'key.revoke']) {
    assert.ok(actions.includes(a), `no ${a} in ${actions.join(', ')}`);
  }
  const refused = page.locator('tr[data-action="key.rotate"]').filter({ hasText: '409 conflict' });
  assert.ok(await refused.count() >= 1);
  await checkAccessible('the audit screen');
  await shot('07-audit');

  await page.getByLabel('Organization ID').fill(s.orgID);
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForFunction((org) => {
    const cells = [...document.querySelectorAll('tr[data-action] td:nth-child(4)')];
    return cells.length > 0 && cells.every((c) => c.textContent === org);
  }, s.orgID);
});

step('deleting an organization names what goes with it', async () => {
  await go('#/organizations', 'Organizations');
  await page.getByRole('button', { name: 'Delete Acme Corp (e2e)' }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete Acme Corp (e2e)?' });
  await confirm.waitFor();
  const n = (await api('GET', `organizations/${s.orgID}/clients?page_size=1`)).body.total_size;
  assert.equal(n, 4);
  assert.match(await confirm.getByTestId('goes-with-it').textContent(), /^Its 4 clients go with it, with all their secrets, public keys and API keys/);
  await shot('10-confirm-delete-organization', { fullPage: false });
  await confirm.getByRole('button', { name: 'Delete organization' }).click();
  await row('data-org-id', s.orgID).waitFor({ state: 'detached' });
  assert.equal((await api('GET', `organizations/${s.orgID}`)).status, 404);
  assert.equal((await tokenRequest(s.clientID, s.secret2)).status, 401);
});

step('an organization admin sees its own organization only, and no signing keys', async () => {
  const org = (await api('POST', 'organizations', { display_name: 'Org-admin tenant' })).body.organization;
  const made = await api('POST', `organizations/${org.id}/clients`, { name: 'tenant admin', scopes: ['keyward:org:admin'] });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const id = made.body.client.client_id;

  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(made.body.plain_secret, id);
  await heading('Organizations').waitFor();
  assert.equal(await page.getByTestId('signed-in-as').textContent(), id);
  assert.equal(await page.locator('tr[data-org-id]').count(), 1);
  assert.equal(await row('data-org-id', org.id).count(), 1);
  assert.ok(!(await page.getByRole('link', { name: 'Signing keys' }).isVisible()));
  assert.ok(!(await page.getByRole('button', { name: 'New organization' }).isVisible()));
  assert.ok(!(await page.getByRole('button', { name: /^Delete/ }).first().isVisible().catch(() => false)));
  await go('#/keys', 'Something went wrong');
  await page.getByText('only an environment admin (keyward:admin) may manage signing keys').waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn();
  await heading('Something went wrong').or(heading('Signing keys')).waitFor();
});

step('when the token expires the console asks again', async () => {
  // A fresh page (the token went with the old one) under a clock the test moves.
  await page.clock.install();
  await page.evaluate(() => { location.hash = '#/organizations'; });
  await page.reload();
  await signIn();
  await heading('Organizations').waitFor();
  await page.clock.fastForward('01:00:00'); // the admin client's tokens last an hour
  await signin().waitFor({ state: 'visible' });
  assert.match(await page.locator('#signin-why').textContent(), /expired/);
  await signIn();
  await signin().waitFor({ state: 'hidden' });
  await heading('Organizations').waitFor();
});

step('nothing ran that should not have: no alert, no script error, no CSP violation', async () => {
  assert.deepEqual(alerts, []);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(await page.evaluate(() => window.__csp), []);
});
