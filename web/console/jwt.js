// jwt.js: reading a JWT's header and claims, for display only. Nothing here
// checks a signature: resource servers do that against the JWKS.

function b64urlDecode(part) {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/**
 * Splits a compact JWS and parses its header and payload. Throws an Error
 * saying what is wrong with a string that is not one.
 */
export function decodeJWT(token) {
  const parts = token.trim().split('.');
  if (parts.length !== 3) {
    throw new Error(`a JWT has three parts separated by dots; this has ${parts.length}`);
  }
  const parse = (part, what) => {
    let v;
    try {
      v = JSON.parse(b64urlDecode(part));
    } catch {
      throw new Error(`the ${what} is not base64url-encoded JSON`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`the ${what} is not a JSON object`);
    return v;
  };
  return { header: parse(parts[0], 'header'), claims: parse(parts[1], 'payload') };
}
