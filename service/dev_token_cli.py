"""``nekpijn-cds dev-token --url URL``: a JWT for trying the service locally.

Development only. On first use it creates a local ES384 issuer in
``var/dev-issuer/`` (``--dir``)::

    private-key.pem        the signing key (PKCS#8, file mode 0600)
    jwks.json              its public JWK Set
    trusted-issuers.json   the issuers file (service/security/issuers.py format)

and reuses it afterwards. It prints only the signed JWT on stdout (so
``TOKEN=$(nekpijn-cds dev-token --url ...)`` works) and, on stderr, the
environment variable that makes the service trust the dev issuer. The token
has ``aud`` = the URL given, ``iss`` = :data:`DEV_ISS`, a fresh ``jti`` and a
lifetime within ``NEKPIJN_MAX_TOKEN_LIFETIME``.

It refuses (exit 2) what looks like production: a ``NEKPIJN_BASE_URL`` or a
``--url`` whose host is not the loopback interface (the service itself warns
that production must set the public base URL).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import stat
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

DEV_ISS = "urn:nekpijn-cds:dev-issuer"
DEFAULT_DIR = Path("var/dev-issuer")
PRIVATE_KEY = "private-key.pem"
JWKS = "jwks.json"
ISSUERS = "trusted-issuers.json"
DEFAULT_LIFETIME = 300  # seconds, as CDS Hooks clients issue them
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class DevTokenError(Exception):
    """A refusal with a message for the user (exit 2)."""


def register(sub: argparse._SubParsersAction, settings) -> None:
    p = sub.add_parser(
        "dev-token",
        help="development only: print a JWT from a local dev issuer for an endpoint URL",
        description="Development only. Creates on first use a local ES384 issuer in --dir and prints "
                    "a fresh JWT for --url on stdout; stderr says which variable makes the service trust it.",
    )
    p.add_argument("--url", required=True,
                   help="the endpoint URL the token is for (its aud), e.g. "
                        "http://127.0.0.1:8080/cds-services/nekpijn-behandelprofiel")
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                   help=f"folder of the dev issuer (default {DEFAULT_DIR})")
    p.add_argument("--lifetime", type=int, default=None,
                   help=f"token lifetime in seconds (default {DEFAULT_LIFETIME}, "
                        "at most NEKPIJN_MAX_TOKEN_LIFETIME)")
    p.add_argument("--sub", default="dev-client", help="the token's sub claim (default dev-client)")


def run(args: argparse.Namespace, settings) -> int:
    try:
        check_development(args.url, settings)
        lifetime = token_lifetime(args.lifetime, settings)
        issuer = DevIssuer.open(args.dir)
        token = issuer.token(args.url, lifetime=lifetime, sub=args.sub)
    except DevTokenError as exc:
        print(f"nekpijn-cds dev-token: {exc}", file=sys.stderr)
        return 2
    print(token)
    issuers_file = args.dir / ISSUERS
    configured = settings.trusted_issuers_file
    if configured is not None and Path(configured).resolve() == issuers_file.resolve():
        print(f"dev-token: NEKPIJN_TRUSTED_ISSUERS_FILE is set to {issuers_file}: the service trusts this token.",
              file=sys.stderr)
    else:
        print("dev-token: start the service with this variable to trust the token (development only):\n"
              f"  NEKPIJN_TRUSTED_ISSUERS_FILE={issuers_file}", file=sys.stderr)
        if configured is not None:
            print(f"dev-token: (NEKPIJN_TRUSTED_ISSUERS_FILE is now {configured}, which does not list the dev issuer)",
                  file=sys.stderr)
    print(f"dev-token: valid {lifetime} s, for {args.url} only, usable once (jti).", file=sys.stderr)
    return 0


def _host(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        return parts.hostname if parts.scheme in ("http", "https") else None
    except ValueError:
        return None


def check_development(url: str, settings) -> None:
    """Refuse anything but a local development set-up."""
    host = _host(url)
    if not host:
        raise DevTokenError(f"--url must be an absolute http(s) URL of an endpoint, got {url!r}")
    if settings.auth == "off":
        print("dev-token: NEKPIJN_AUTH=off: the service checks no token at all", file=sys.stderr)
    base_host = _host(settings.base_url) if settings.base_url else None
    if settings.base_url and base_host not in LOOPBACK_HOSTS:
        raise DevTokenError(
            f"refused: NEKPIJN_BASE_URL={settings.base_url} names a public host, which is how a production "
            "deployment is configured; dev-token is for local development only")
    if host not in LOOPBACK_HOSTS:
        raise DevTokenError(
            f"refused: {host} is not a local address; dev-token issues tokens only for a service on "
            "this machine (localhost, 127.0.0.1, ::1)")


def token_lifetime(requested: int | None, settings) -> int:
    limit = int(settings.max_token_lifetime)
    if requested is None:
        return min(DEFAULT_LIFETIME, limit)
    if not 0 < requested <= limit:
        raise DevTokenError(f"--lifetime must be between 1 and {limit} s (NEKPIJN_MAX_TOKEN_LIFETIME)")
    return requested


class DevIssuer:
    """The local ES384 issuer in a folder: created once, then reused."""

    def __init__(self, folder: Path, private_key, kid: str) -> None:
        self.folder, self.private_key, self.kid = folder, private_key, kid

    @classmethod
    def open(cls, folder: Path) -> DevIssuer:
        from cryptography.hazmat.primitives import serialization

        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            key_path = folder / PRIVATE_KEY
            if not key_path.exists():
                _create_private_key(key_path)
            mode = stat.S_IMODE(key_path.stat().st_mode)
            if mode & 0o077:
                raise DevTokenError(f"{key_path} is readable by others (mode {mode:o}); chmod 600 it")
            private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except OSError as exc:
            raise DevTokenError(f"cannot use the dev issuer in {folder}: {exc}") from None
        except ValueError:
            raise DevTokenError(f"{folder / PRIVATE_KEY} is not a PEM private key; remove it to start afresh") \
                from None
        jwk = _public_jwk(private_key)
        issuer = cls(folder, private_key, jwk["kid"])
        # the public files are derived from the key: (re)written when missing or stale
        _write_if_changed(folder / JWKS, {"keys": [jwk]})
        _write_if_changed(folder / ISSUERS, [{"iss": DEV_ISS, "jwks_file": JWKS}])
        return issuer

    def token(self, url: str, *, lifetime: int, sub: str) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": DEV_ISS, "sub": sub, "aud": url, "iat": now, "exp": now + lifetime,
                  "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self.private_key, algorithm="ES384", headers={"kid": self.kid, "typ": "JWT"})


def _create_private_key(path: Path) -> None:
    """A new P-384 key, published atomically with mode 0600 (a concurrent first run keeps one key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        try:
            os.link(tmp, path)  # fails if another run created the key first: that one is used
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def _public_jwk(private_key) -> dict:
    """The public JWK, with its RFC 7638 thumbprint as kid (stable for the key, new with a new key)."""
    from jwt.algorithms import ECAlgorithm

    jwk = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return {**jwk, "kid": thumbprint, "alg": "ES384", "use": "sig"}


def _write_if_changed(path: Path, document) -> None:
    text = json.dumps(document, indent=2) + "\n"
    try:
        if path.read_text("utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
