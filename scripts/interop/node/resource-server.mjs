// An API's side of keyward in Node.js, with jose: node:http middleware that
// lets a request through only with a valid keyward access token, checked
// offline against keyward's published keys (no call per request).
import { createRemoteJWKSet, jwtVerify } from 'jose';

const issuer = process.env.KEYWARD_ISSUER ?? 'http://localhost:8080'; // keyward's KEYWARD_ISSUER
const audience = process.env.API_AUDIENCE ?? 'deployment-api.example.com'; // this API

// Cached (10 minutes by default, within keyward's max-age of 15); refetched,
// at most every 30 s, when a token names a kid it has not seen.
const JWKS = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));

// verify checks signature, alg, typ, iss, aud, exp and nbf, and returns the
// claims: scope, org_id, client_id and any custom claims.
export async function verify(token) {
  const { payload } = await jwtVerify(token, JWKS, {
    issuer,
    audience,
    typ: 'at+jwt',
    algorithms: ['RS256'], // plus ES256 or EdDSA if keyward signs with them
  });
  return payload;
}

// requireScope wraps a node:http handler: 401 without a valid access token
// (RFC 6750), 403 without the scope; the handler finds the claims in
// req.claims.
export function requireScope(scope, handler) {
  return async (req, res) => {
    const [kind, token] = (req.headers.authorization ?? '').split(' ');
    try {
      if (kind !== 'Bearer' || !token) throw new Error('no bearer token');
      req.claims = await verify(token);
    } catch {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer error="invalid_token"' }).end('invalid access token');
      return;
    }
    if (!String(req.claims.scope ?? '').split(' ').includes(scope)) {
      res.writeHead(403, { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${scope}"` }).end('insufficient scope');
      return;
    }
    return handler(req, res);
  };
}
