// Checks a running keyward against the Node.js libraries people point at an
// OAuth server: openid-client v6 (discovery and the client-credentials grant
// with each client authentication method) and jose v6 (createRemoteJWKSet and
// jwtVerify), and runs the README's resource server (resource-server.mjs).
//
// Environment: KEYWARD_URL (the server, which is also its issuer),
// KEYWARD_CLIENT_ID and KEYWARD_CLIENT_SECRET (an environment admin). Prints
// one line per check, "ok   node: NAME" or "FAIL node: NAME: why", and exits 1
// if any failed. Run by scripts/interop.sh.
import { createServer } from 'node:http';
import * as client from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, importPKCS8, jwtVerify } from 'jose';

const issuer = process.env.KEYWARD_URL;
const adminId = process.env.KEYWARD_CLIENT_ID;
const adminSecret = process.env.KEYWARD_CLIENT_SECRET;
if (!issuer || !adminId || !adminSecret) {
  console.error('interop: set KEYWARD_URL, KEYWARD_CLIENT_ID and KEYWARD_CLIENT_SECRET');
  process.exit(2);
}
const audience = 'interop-api.example.com';
const insecure = { execute: [client.allowInsecureRequests] }; // keyward listens on http://127.0.0.1 here

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   node: ${name}`);
    return true;
  } catch (err) {
    failed++;
    console.log(`FAIL node: ${name}: ${err?.code ?? ''} ${err?.message ?? err}`.replace(/\s+/g, ' '));
    return false;
  }
}
function expect(cond, what) {
  if (!cond) throw new Error(what);
}

// The admin API, with a token got by hand (no library: this is setup).
async function adminToken() {
  const res = await fetch(`${issuer}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(adminId)}:${encodeURIComponent(adminSecret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`admin token: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}
const admin = await adminToken();
async function api(method, path, body) {
  const res = await fetch(`${issuer}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const out = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(out)}`);
  return out;
}

const org = (await api('POST', '/api/v1/organizations', { display_name: 'interop (Node.js)' })).organization.id;
const secretClient = await api('POST', `/api/v1/organizations/${org}/clients`, {
  name: 'node-interop',
  scopes: ['read:things', 'write:things'],
  audience: [audience],
  custom_claims: [{ key: 'environment', value: 'interop' }],
});
const clientId = secretClient.client.client_id;
const secret = secretClient.plain_secret;
const keyClient = await api('POST', `/api/v1/organizations/${org}/clients`, {
  name: 'node-interop-pkjwt',
  auth_method: 'private_key_jwt',
  scopes: ['read:things'],
  audience: [audience],
});
const credentials = (await api('POST', `/api/v1/organizations/${org}/clients/${keyClient.client.client_id}/keys`, {})).credentials;
const otherClient = await api('POST', `/api/v1/organizations/${org}/clients`, {
  name: 'node-interop-other',
  scopes: ['read:things'],
  audience: ['other-api.example.com'],
});

// Discovery.
let config;
await check('openid-client discovery (OpenID path) on the issuer', async () => {
  config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(secret), insecure);
  const meta = config.serverMetadata();
  expect(meta.issuer === issuer, `issuer ${meta.issuer}`);
  expect(meta.token_endpoint === `${issuer}/oauth/token`, `token_endpoint ${meta.token_endpoint}`);
  expect(meta.jwks_uri === `${issuer}/.well-known/jwks.json`, `jwks_uri ${meta.jwks_uri}`);
});
await check('openid-client discovery (RFC 8414 path) on the issuer', async () => {
  const c = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(secret), {
    ...insecure,
    algorithm: 'oauth2',
  });
  expect(c.serverMetadata().issuer === issuer, 'issuer');
});

// jose: the verifier resource servers use.
const JWKS = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
async function verified(token) {
  const { payload, protectedHeader } = await jwtVerify(token, JWKS, { issuer, audience, typ: 'at+jwt', algorithms: ['RS256'] });
  expect(protectedHeader.typ === 'at+jwt' && protectedHeader.kid, `header ${JSON.stringify(protectedHeader)}`);
  return payload;
}

// The client-credentials grant with each authentication method, each token
// verified with jose.
const tokens = {};
async function grant(name, id, auth, params, want) {
  await check(`openid-client clientCredentialsGrant with ${name}, verified by jose (iss, aud, typ at+jwt)`, async () => {
    const c = await client.discovery(new URL(issuer), id, undefined, auth, insecure);
    const tr = await client.clientCredentialsGrant(c, params);
    expect(tr.token_type.toLowerCase() === 'bearer' && tr.expires_in > 0, `token response ${JSON.stringify(tr)}`);
    const claims = await verified(tr.access_token);
    expect(claims.client_id === id && claims.sub === id && claims.org_id === org, `claims ${JSON.stringify(claims)}`);
    expect(claims.scope === want.scope, `scope ${claims.scope}, want ${want.scope}`);
    if (want.environment) expect(claims.environment === want.environment, `environment ${claims.environment}`);
    tokens[name] = tr.access_token;
  });
}
await grant('ClientSecretBasic', clientId, client.ClientSecretBasic(secret), { scope: 'read:things' },
  { scope: 'read:things', environment: 'interop' });
await grant('ClientSecretPost', clientId, client.ClientSecretPost(secret), { scope: 'read:things write:things', audience },
  { scope: 'read:things write:things', environment: 'interop' });
await grant('ClientSecretJwt', clientId, client.ClientSecretJwt(secret), {}, { scope: 'read:things write:things' });
const privateKey = await importPKCS8(credentials.private_key, 'RS256');
await grant('PrivateKeyJwt (a key registered with POST .../keys)', credentials.client_id, client.PrivateKeyJwt(privateKey), {},
  { scope: 'read:things' });
await grant('PrivateKeyJwt with the kid of credentials.json', credentials.client_id,
  client.PrivateKeyJwt({ key: privateKey, kid: credentials.key_id }), { scope: 'read:things' }, { scope: 'read:things' });

await check('openid-client: a wrong secret is 401 invalid_client with a Basic challenge', async () => {
  const c = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(`${secret}x`), insecure);
  try {
    await client.clientCredentialsGrant(c);
  } catch (err) {
    // RFC 6749 5.2: a failed Basic authentication is a 401 with a challenge
    // for the scheme tried; openid-client reports the challenge, and the
    // body is the OAuth error.
    expect(err instanceof client.WWWAuthenticateChallengeError && err.status === 401, `${err}`);
    expect(err.cause?.[0]?.scheme === 'basic', `challenge ${JSON.stringify(err.cause)}`);
    const body = await err.response.json();
    expect(body.error === 'invalid_client', `body ${JSON.stringify(body)}`);
    return;
  }
  throw new Error('a token was issued');
});
await check('openid-client: a scope the client lacks is invalid_scope', async () => {
  try {
    await client.clientCredentialsGrant(config, { scope: 'delete:everything' });
  } catch (err) {
    expect(err instanceof client.ResponseBodyError && err.error === 'invalid_scope', `${err}`);
    return;
  }
  throw new Error('a token was issued');
});
const otherConfig = await client.discovery(new URL(issuer), otherClient.client.client_id, undefined,
  client.ClientSecretBasic(otherClient.plain_secret), insecure);
const otherToken = (await client.clientCredentialsGrant(otherConfig)).access_token;
await check('jose jwtVerify rejects a token for another audience', async () => {
  try {
    await verified(otherToken);
  } catch (err) {
    expect(err.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && err.claim === 'aud', `${err.code} ${err.message}`);
    return;
  }
  throw new Error('accepted');
});

// The README's resource server, as a user would run it.
process.env.KEYWARD_ISSUER = issuer;
process.env.API_AUDIENCE = audience;
const { requireScope, verify } = await import('./resource-server.mjs');
const server = createServer(requireScope('read:things', (req, res) => {
  res.end(`hello ${req.claims.client_id} of ${req.claims.org_id}`);
}));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const apiURL = `http://127.0.0.1:${server.address().port}/`;
async function call(token) {
  const res = await fetch(apiURL, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.text(), challenge: res.headers.get('www-authenticate') ?? '' };
}
try {
  await check('README resource server (Node.js): verify() returns the claims', async () => {
    const claims = await verify(tokens.ClientSecretBasic);
    expect(claims.client_id === clientId && claims.scope === 'read:things', JSON.stringify(claims));
  });
  await check('README resource server (Node.js): a valid token with the scope gets through', async () => {
    const r = await call(tokens.ClientSecretBasic);
    expect(r.status === 200 && r.body === `hello ${clientId} of ${org}`, `${r.status} ${r.body}`);
  });
  const writeOnly = (await client.clientCredentialsGrant(config, { scope: 'write:things' })).access_token;
  const forged = tokens.ClientSecretBasic.slice(0, -4) + (tokens.ClientSecretBasic.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  for (const [name, token, status, challenge] of [
    ['no token is 401', undefined, 401, 'invalid_token'],
    ['a token for another audience is 401', otherToken, 401, 'invalid_token'],
    ['a token with a forged signature is 401', forged, 401, 'invalid_token'],
    ['a token without the scope is 403', writeOnly, 403, 'insufficient_scope'],
  ]) {
    await check(`README resource server (Node.js): ${name}`, async () => {
      const r = await call(token);
      expect(r.status === status && r.challenge.includes(challenge), `${r.status} ${r.body}, WWW-Authenticate ${r.challenge}`);
    });
  }
  await check('jose: every token names a kid of the JWKS', async () => {
    const jwks = await (await fetch(`${issuer}/.well-known/jwks.json`)).json();
    const kids = new Set(jwks.keys.map((k) => k.kid));
    for (const t of Object.values(tokens)) expect(kids.has(decodeProtectedHeader(t).kid), 'a kid is missing');
  });
} finally {
  server.close();
}

if (failed > 0) process.exit(1);
