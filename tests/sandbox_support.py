"""The public CDS Hooks sandbox as a client: its signing key and its JWT, copied from its source.

Source: https://github.com/cds-hooks/sandbox (Apache-2.0), commit 3b7e255.

The sandbox is a browser-only tool, so its ES384 private key is published on purpose in
`keys/jwk-keypair.json` ("The private key is exposed on the repository as it is an open
source client-side project and tool", src/retrieve-data-helpers/jwt-generator.js); its
public half is `build/.well-known/jwks.json`, the set bundled in
service/security/sandbox-jwks.json. Signing with it gives byte-for-byte the tokens the
sandbox sends, verified against the bundled set through the real code path. (It also
shows why NEKPIJN_TRUST_SANDBOX is for development only: anyone can sign such tokens.)
"""

from __future__ import annotations

import time
import uuid

import jwt

# keys/jwk-keypair.json of cds-hooks/sandbox (public test key, see above)
SANDBOX_PRIVATE_JWK = {
    "kty": "EC",
    "d": "yOcYl9QzMKnBFUiPZKBijDV_lsEtn6oWFVOqtFyXbY_-V63WCBYYdxsLo9Pclr84",
    "use": "sig",
    "crv": "P-384",
    "kid": "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f",
    "x": "dw_JGR8nB2I6XveNxUOl2qk699ZPLM2nYI5STSdiEl9avAkrm3CkfYMbrrjr8laB",
    "y": "Sm3mLE-n1zYNla_aiE3cb3nZsL51RbC7ysw3q8aJLxGm-hx79RPMYpITDjp7kgzy",
    "alg": "ES384",
}
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_KID = SANDBOX_PRIVATE_JWK["kid"]
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_ORIGIN = "https://sandbox.cds-hooks.org"  # build/CNAME: where the sandbox is served


def sandbox_private_key():
    return jwt.PyJWK(SANDBOX_PRIVATE_JWK, algorithm="ES384").key


def sandbox_jwt(audience: str, *, key=None, jku: str = SANDBOX_JKU, now: float | None = None) -> str:
    """A token shaped as src/retrieve-data-helpers/jwt-generator.js `generateJWT(audience)` makes it:
    header {alg ES384, typ JWT, kid, jku}, payload {iss, aud, exp = now + 300, iat = now, jti = uuid4}
    (no sub, no tenant)."""
    now = time.time() if now is None else now
    payload = {
        "iss": SANDBOX_ISS,
        "aud": audience,
        "exp": round(now + 300),
        "iat": round(now),
        "jti": str(uuid.uuid4()),
    }
    header = {"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": jku}
    return jwt.encode(payload, key if key is not None else sandbox_private_key(), algorithm="ES384",
                      headers=header)
