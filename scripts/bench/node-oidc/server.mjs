// scripts/bench.sh --peer node-oidc: panva's oidc-provider (the version in package.json), set up to
// do what keyward's token endpoint does: client_credentials for one client authenticated with
// client_secret_basic, answered with an RS256 JWT access token (RFC 9068) signed with a 2048-bit
// key, through resource indicators (the one way oidc-provider issues JWT access tokens). Everything
// is in memory: the default adapter, and JWT access tokens are not stored anyway.
//
//   PORT=18300 CLIENT_ID=bench CLIENT_SECRET=... NODE_ENV=production node server.mjs
//
// The token endpoint and the JWKS are served at keyward's paths (/oauth/token,
// /.well-known/jwks.json) so that cmd/keyward-bench loads both servers with the same requests.
// Prints one JSON line once it listens.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 18300);
const issuer = `http://127.0.0.1:${port}`;
const resource = 'https://api.example.com';
const { CLIENT_ID: clientId, CLIENT_SECRET: clientSecret } = process.env;
if (!clientId || !clientSecret) {
  console.error('CLIENT_ID and CLIENT_SECRET must be set');
  process.exit(2);
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      getResourceServerInfo: () => ({
        audience: resource,
        scope: 'read',
        accessTokenTTL: 3600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  routes: { token: '/oauth/token', jwks: '/.well-known/jwks.json' },
});

const pkg = JSON.parse(readFileSync(new URL('./node_modules/oidc-provider/package.json', import.meta.url)));
provider.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ listening: issuer, node: process.version, 'oidc-provider': pkg.version }));
});
