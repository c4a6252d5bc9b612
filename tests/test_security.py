"""JWT client authentication, CORS and body limit (service/security)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from service.config import Settings
from service.security import (
    AUTH_OFF_WARNING,
    SANDBOX_ISS,
    AuthError,
    AuthMiddleware,
    BodyLimitMiddleware,
    Claims,
    Verifier,
    install_security,
)
from sandbox_support import SANDBOX_JKU, sandbox_jwt
from service.security.issuers import RemoteKeys, TrustedIssuers, parse_jwks

ISS = "https://ehr.example.org"
JKU_ISS = "https://ehr2.example.org"
BASE = "https://cds.example.org"
SERVICE = "/cds-services/nekpijn"
AUD = BASE + SERVICE
EXTRA_AUD = "https://configured-by-hand.example.org/nekpijn"
ORIGIN = "https://app.example.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
LIMIT = 2_000

_MISSING = object()


# -- keys, tokens, replay cache ------------------------------------------------


class MemoryReplay:
    """In-memory stand-in for the store's replay cache."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], object] = {}

    def seen_jti(self, issuer, jti, expires_at) -> bool:
        if (issuer, jti) in self.seen:
            return True
        self.seen[(issuer, jti)] = expires_at
        return False


def public_jwk(private_key, kid: str, alg: str) -> dict:
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(private_key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture(scope="module")
def keys():
    return {
        "ec": ec.generate_private_key(ec.SECP384R1()),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "other_ec": ec.generate_private_key(ec.SECP384R1()),
        "jku_ec": ec.generate_private_key(ec.SECP384R1()),
    }


def make_token(private_key, *, alg="ES384", kid="ec-1", headers=None, **claims) -> str:
    now = int(time.time())
    payload = {
        "iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()),
        "sub": "client-app-7", "tenant": "praktijk-42",
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not _MISSING}
    return jwt.encode(payload, private_key, algorithm=alg, headers={"kid": kid, **(headers or {})})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict, payload: dict, secret: bytes | None = None) -> str:
    """A token built by hand: alg none (empty signature) or HMAC with *secret*."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha384).digest()
    return f"{signing_input}.{b64(mac)}"


def default_payload() -> dict:
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}


# -- a JWK Set served over HTTP (for jku) -----------------------------------------


@pytest.fixture(scope="module")
def jwks_server(keys):
    body = json.dumps({"keys": [public_jwk(keys["jku_ec"], "jku-1", "ES384")]}).encode()
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            if self.path != "/jwks.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    yield {"allowed": url + "/jwks.json", "other": url + "/evil.json", "hits": hits}
    server.shutdown()
    server.server_close()


# -- settings and app ----------------------------------------------------------------


@pytest.fixture
def issuers_file(tmp_path, keys, jwks_server):
    jwks = {"keys": [public_jwk(keys["ec"], "ec-1", "ES384"), public_jwk(keys["rsa"], "rsa-1", "RS384")]}
    (tmp_path / "ehr.jwks.json").write_text(json.dumps(jwks))
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps([
        {"iss": ISS, "jwks_file": "ehr.jwks.json"},
        {"iss": JKU_ISS, "jku": [jwks_server["allowed"]]},
    ]))
    return path


@pytest.fixture
def settings(issuers_file):
    return Settings(
        base_url=BASE, trusted_issuers_file=issuers_file, audiences=(EXTRA_AUD,),
        cors_origins=(ORIGIN,), max_body_bytes=LIMIT,
    )


def build_app(settings: Settings, replay=None) -> FastAPI:
    app = FastAPI()

    @app.post(SERVICE)
    async def call(request: Request) -> dict:
        body = await request.json()
        auth = request.state.auth
        return {"echo": body, "issuer": auth.issuer if auth else None,
                "tenant": auth.tenant if auth else None}

    @app.get("/cds-services")
    def discovery(request: Request) -> dict:
        return {"services": [], "authenticated": request.state.auth is not None}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    install_security(app, settings, replay if replay is not None else MemoryReplay())
    return app


@pytest.fixture
def client(settings):
    with TestClient(build_app(settings)) as c:
        yield c


def call(client, token, *, body=None, headers=None):
    headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    return client.post(SERVICE, json=body if body is not None else {"hook": "patient-view"}, headers=headers)


def reason(response) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] in ("login", "security")
    return outcome["issue"][0]["diagnostics"]


# -- accepted tokens ---------------------------------------------------------------------


def test_valid_es384(client, keys):
    r = call(client, make_token(keys["ec"]))
    assert r.status_code == 200, r.text
    assert r.json() == {"echo": {"hook": "patient-view"}, "issuer": ISS, "tenant": "praktijk-42"}


def test_valid_rs384(client, keys):
    r = call(client, make_token(keys["rsa"], alg="RS384", kid="rsa-1"))
    assert r.status_code == 200, r.text


def test_aud_as_list_and_trailing_slash(client, keys):
    assert call(client, make_token(keys["ec"], aud=[AUD + "/"])).status_code == 200


def test_aud_from_settings_audiences(client, keys):
    assert call(client, make_token(keys["ec"], aud=EXTRA_AUD)).status_code == 200


def test_aud_from_request_url_without_base_url(settings, keys):
    settings = Settings(**{**settings.__dict__, "base_url": None})
    with TestClient(build_app(settings)) as c:
        ok = call(c, make_token(keys["ec"], aud="http://testserver" + SERVICE))
        assert ok.status_code == 200, ok.text
        assert "audience mismatch" in reason(call(c, make_token(keys["ec"])))


def test_get_endpoint_needs_token(client, keys):
    assert reason(client.get("/cds-services")) == "Authentication failed: missing bearer token"
    token = make_token(keys["ec"], aud=BASE + "/cds-services")
    r = client.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["authenticated"] is True


# -- refused tokens ---------------------------------------------------------------------------


class _Ago:
    """A claim time relative to the moment the test runs (seconds ago; negative = ahead)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"exp": _Ago(120)}, "expired"),
        ({"exp": _MISSING}, "missing or invalid claim"),
        ({"iat": _Ago(-600)}, "issued in the future"),
        ({"iat": _MISSING}, "missing or invalid claim"),
        ({"nbf": _Ago(-600)}, "not yet valid"),
        ({"aud": "https://other.example.org/cds-services/nekpijn"}, "audience mismatch"),
        ({"aud": _MISSING}, "missing or invalid claim"),
        ({"iss": "https://evil.example.org"}, "unknown issuer"),
        ({"jti": _MISSING}, "missing or invalid claim"),
        ({"jti": ""}, "missing or invalid claim"),
    ],
    ids=["expired", "no-exp", "iat-future", "no-iat", "nbf-future", "wrong-aud", "no-aud",
         "unknown-iss", "no-jti", "empty-jti"],
)
def test_refused_claims(client, keys, claims, expected):
    # times are taken when the test runs, not when it is collected (the suite runs > 10 min)
    claims = {k: int(time.time()) - v.seconds if isinstance(v, _Ago) else v for k, v in claims.items()}
    assert reason(call(client, make_token(keys["ec"], **claims))) == f"Authentication failed: {expected}"


def test_small_clock_skew_tolerated(client, keys):
    now = int(time.time())
    assert call(client, make_token(keys["ec"], exp=now - 30, iat=now + 30)).status_code == 200


def test_bad_signature_same_kid(client, keys):
    assert "bad signature" in reason(call(client, make_token(keys["other_ec"], kid="ec-1")))


def test_tampered_payload(client, keys):
    header, payload, signature = make_token(keys["ec"]).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["tenant"] = "someone-else"
    forged = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert "bad signature" in reason(call(client, forged))


def test_alg_none(client):
    token = unsigned_token({"alg": "none", "typ": "JWT", "kid": "ec-1"}, default_payload())
    assert "algorithm not allowed" in reason(call(client, token))


def test_hs384_with_public_key_as_secret(client, keys):
    pem = keys["ec"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = unsigned_token({"alg": "HS384", "typ": "JWT", "kid": "ec-1"}, default_payload(), pem)
    assert "algorithm not allowed" in reason(call(client, token))


@pytest.mark.parametrize("alg", ["none", "HS384", "HS256", "ES256", "RS256", "PS384", "EdDSA"])
def test_other_algorithms_refused_before_key_lookup(settings, alg):
    class NoKeys:
        def __contains__(self, iss):
            raise AssertionError("issuer looked up")

        def __len__(self):
            return 0

    verifier = Verifier(settings, MemoryReplay(), issuers=NoKeys())
    token = unsigned_token({"alg": alg, "typ": "JWT", "kid": "ec-1"}, default_payload(), b"x")
    with pytest.raises(AuthError) as err:
        verifier.verify(token, [AUD])
    assert err.value.reason == "algorithm not allowed"


def test_algorithm_must_fit_key(client, keys):
    # RS384 header naming the EC key: refused without trying to verify
    assert "algorithm not allowed" in reason(call(client, make_token(keys["rsa"], alg="RS384", kid="ec-1")))


def test_missing_kid(client, keys):
    token = jwt.encode(default_payload(), keys["ec"], algorithm="ES384")
    assert "missing kid" in reason(call(client, token))


def test_unknown_kid(client, keys):
    assert "unknown key" in reason(call(client, make_token(keys["ec"], kid="nope")))


def test_replayed_jti(client, keys):
    token = make_token(keys["ec"])
    assert call(client, token).status_code == 200
    assert "replayed" in reason(call(client, token))
    # another token with the same jti from the same issuer: also a replay
    jti = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
    assert "replayed" in reason(call(client, make_token(keys["rsa"], alg="RS384", kid="rsa-1", jti=jti)))


def test_invalid_tokens_are_not_recorded_as_seen(settings, keys):
    replay = MemoryReplay()
    with TestClient(build_app(settings, replay)) as c:
        reason(call(c, make_token(keys["ec"], aud="https://other.example.org")))
        reason(call(c, make_token(keys["other_ec"])))
    assert replay.seen == {}


def test_replay_gets_issuer_jti_and_expiry(settings, keys):
    replay = MemoryReplay()
    exp = int(time.time()) + 300
    claims = Verifier(settings, replay).verify(make_token(keys["ec"], jti="j-1", exp=exp), [AUD])
    assert isinstance(claims, Claims)
    assert (claims.issuer, claims.jti, claims.sub, claims.tenant) == (ISS, "j-1", "client-app-7", "praktijk-42")
    (key, expires_at), = replay.seen.items()
    assert key == (ISS, "j-1")
    assert expires_at.timestamp() >= exp
    assert "client-app-7" not in repr(claims) and "praktijk-42" not in repr(claims)


@pytest.mark.parametrize("header", ["", "Basic abc", "Bearer", "Bearer   "])
def test_missing_or_wrong_authorization_header(client, header):
    r = client.post(SERVICE, json={}, headers={"Authorization": header} if header else {})
    assert reason(r) == "Authentication failed: missing bearer token"
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["issue"][0]["code"] == "login"


def test_garbage_token(client):
    r = call(client, "not.a.jwt")
    assert "malformed token" in reason(r)
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_message_never_echoes_token(client, keys):
    token = make_token(keys["other_ec"])
    r = call(client, token)
    assert token not in r.text and token.split(".")[1] not in r.text
    assert "client-app-7" not in r.text


# -- jku --------------------------------------------------------------------------------------


def test_jku_on_allowlist_is_followed(client, keys, jwks_server):
    token = make_token(keys["jku_ec"], kid="jku-1", iss=JKU_ISS, headers={"jku": jwks_server["allowed"]})
    r = call(client, token)
    assert r.status_code == 200, r.text
    assert r.json()["issuer"] == JKU_ISS
    assert "/jwks.json" in jwks_server["hits"]


def test_jku_not_on_allowlist(client, keys, jwks_server):
    before = len(jwks_server["hits"])
    token = make_token(keys["jku_ec"], kid="jku-1", iss=JKU_ISS, headers={"jku": jwks_server["other"]})
    assert "jku not allowed" in reason(call(client, token))
    # an issuer without a jku allowlist: a jku header is refused too
    token = make_token(keys["ec"], headers={"jku": jwks_server["allowed"]})
    assert "jku not allowed" in reason(call(client, token))
    assert len(jwks_server["hits"]) == before  # never fetched


def test_remote_keys_cache_and_rate_limited_refetch(keys):
    calls = []
    jwks = {"keys": [public_jwk(keys["ec"], "k1", "ES384")]}

    def handler(request):
        calls.append(request.url)
        return httpx.Response(200, json=jwks)

    now = [1000.0]
    remote = RemoteKeys("https://ehr.example.org/jwks", httpx.Client(transport=httpx.MockTransport(handler)),
                        ttl=600, refetch_interval=30, clock=lambda: now[0])
    assert remote.get("k1")["kid"] == "k1" and len(calls) == 1
    assert remote.get("k1") and len(calls) == 1           # cached
    assert remote.get("k2") is None and len(calls) == 1   # fetched 0 s ago: rate-limited
    now[0] += 31
    jwks["keys"].append(public_jwk(keys["rsa"], "k2", "RS384"))  # key rotation
    assert remote.get("k2")["kid"] == "k2" and len(calls) == 2
    assert remote.get("k3") is None and len(calls) == 2   # rate-limited again
    now[0] += 600
    assert remote.get("k1") and len(calls) == 3           # TTL expired


def test_remote_keys_unavailable(keys):
    remote = RemoteKeys(
        "https://ehr.example.org/jwks",
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))),
    )
    with pytest.raises(AuthError) as err:
        remote.get("k1")
    assert err.value.reason == "issuer keys unavailable"


def test_jwks_drops_symmetric_and_private_keys():
    keys = parse_jwks({"keys": [
        {"kty": "oct", "kid": "s", "k": "c2VjcmV0"},
        {"kty": "EC", "kid": "p", "crv": "P-384", "x": "a", "y": "b", "d": "c"},
        {"kty": "RSA", "kid": "e", "use": "enc", "n": "a", "e": "AQAB"},
        {"kty": "EC", "crv": "P-384", "x": "a", "y": "b"},
    ]}, "test")
    assert keys == {}


# -- sandbox ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("trusted", "expected"), [(True, "bad signature"), (False, "unknown issuer")])
def test_sandbox_issuer_only_when_trusted(settings, keys, trusted, expected):
    settings = Settings(**{**settings.__dict__, "trust_sandbox": trusted})
    token = make_token(keys["ec"], kid=SANDBOX_KID, iss=SANDBOX_ISS)
    with pytest.raises(AuthError) as err:
        Verifier(settings, MemoryReplay()).verify(token, [AUD])
    assert err.value.reason == expected
    with TestClient(build_app(settings)) as c:
        assert expected in reason(call(c, token))


def test_sandbox_alone(keys, caplog):
    with caplog.at_level("WARNING", logger="nekpijn_cds.security"):
        verifier = Verifier(Settings(trust_sandbox=True), MemoryReplay())
    assert verifier.issuers.names() == [SANDBOX_ISS]
    assert verifier.issuers.key(SANDBOX_ISS, SANDBOX_KID)["crv"] == "P-384"
    # its private key is public: the operator is told so at start-up
    assert any("Development only" in r.getMessage() for r in caplog.records)


def _no_network_client(fetched: list) -> httpx.Client:
    """An httpx client that records and refuses every request (no JWK Set may be fetched)."""
    def handler(request):
        fetched.append(str(request.url))
        return httpx.Response(503)
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_sandbox_jku_resolves_to_the_bundled_keys_without_fetching():
    """Every sandbox token names its jku (issue 13 item 9): accepted with the bundled set, nothing fetched."""
    fetched: list = []
    settings = Settings(trust_sandbox=True)
    issuers = TrustedIssuers.from_settings(settings, client=_no_network_client(fetched))
    verifier = Verifier(settings, MemoryReplay(), issuers=issuers)
    claims = verifier.verify(sandbox_jwt(AUD), [AUD])  # the sandbox's published key and token shape
    assert claims.issuer == SANDBOX_ISS and claims.kid == SANDBOX_KID and claims.sub is None
    assert fetched == []
    # the same jku with a key that is not the sandbox's: the bundled set decides
    with pytest.raises(AuthError) as err:
        verifier.verify(sandbox_jwt(AUD, key=ec.generate_private_key(ec.SECP384R1())), [AUD])
    assert err.value.reason == "bad signature" and fetched == []


@pytest.mark.parametrize("jku", [
    "https://sandbox.cds-hooks.org/.well-known/other.json",
    "https://evil.example.org/.well-known/jwks.json",
    "http://sandbox.cds-hooks.org/.well-known/jwks.json",
    SANDBOX_JKU + "/",
])
def test_sandbox_other_jku_refused(jku):
    fetched: list = []
    settings = Settings(trust_sandbox=True)
    verifier = Verifier(settings, MemoryReplay(),
                        issuers=TrustedIssuers.from_settings(settings, client=_no_network_client(fetched)))
    with pytest.raises(AuthError) as err:
        verifier.verify(sandbox_jwt(AUD, jku=jku), [AUD])
    assert err.value.reason == "jku not allowed" and fetched == []


def test_sandbox_jku_not_pinned_for_other_issuers(settings, keys):
    """The pinned sandbox jku belongs to the sandbox issuer only."""
    settings = Settings(**{**settings.__dict__, "trust_sandbox": True})
    token = make_token(keys["ec"], headers={"jku": SANDBOX_JKU})
    with TestClient(build_app(settings)) as c:
        assert "jku not allowed" in reason(call(c, token))


def test_sandbox_token_over_http_with_trust_sandbox(settings):
    settings = Settings(**{**settings.__dict__, "trust_sandbox": True})
    with TestClient(build_app(settings)) as c:
        r = call(c, sandbox_jwt(AUD))
        assert r.status_code == 200, r.text
        assert r.json()["issuer"] == SANDBOX_ISS


# -- public paths, auth off ------------------------------------------------------------------------


def test_health_without_token(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_auth_off(settings, caplog):
    settings = Settings(**{**settings.__dict__, "auth": "off"})
    with caplog.at_level(logging.WARNING, logger="nekpijn_cds.security"):
        with TestClient(build_app(settings)) as c:
            r = call(c, None)
            assert r.status_code == 200, r.text
            assert r.json()["issuer"] is None
            assert c.get("/cds-services").json()["authenticated"] is False
    warnings = [rec for rec in caplog.records if rec.getMessage() == AUTH_OFF_WARNING]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_auth_off_warning_repeats_at_most_once_a_minute(settings, caplog):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mw = AuthMiddleware(app, settings, verifier=None)
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}

    async def noop(*a):
        return {"type": "http.disconnect"}

    with caplog.at_level(logging.WARNING, logger="nekpijn_cds.security"):
        for _ in range(3):
            asyncio.run(mw(dict(scope), noop, noop))
        assert AUTH_OFF_WARNING not in caplog.text  # just warned at install time
        mw._warned_at -= 61
        for _ in range(3):
            asyncio.run(mw(dict(scope), noop, noop))
    assert caplog.text.count(AUTH_OFF_WARNING) == 1


def test_jwt_requires_replay_cache(settings):
    with pytest.raises(ValueError):
        install_security(FastAPI(), settings, None)


# -- CORS ------------------------------------------------------------------------------------------


def preflight(client, origin):
    return client.options(SERVICE, headers={
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })


def test_cors_preflight_allowed_origin(client):
    r = preflight(client, ORIGIN)
    assert r.status_code in (200, 204)
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert {m.strip() for m in r.headers["access-control-allow-methods"].split(",")} >= {"GET", "POST", "OPTIONS"}
    allowed_headers = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    assert int(r.headers["access-control-max-age"]) > 0
    assert "origin" in r.headers["vary"].lower()


def test_cors_preflight_foreign_origin(client):
    r = preflight(client, "https://evil.example.com")
    assert not any(h.startswith("access-control-allow") for h in r.headers)


def test_cors_simple_response(client, keys):
    r = call(client, make_token(keys["ec"]), headers={"Origin": ORIGIN})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "origin" in r.headers["vary"].lower()
    r = call(client, make_token(keys["ec"]), headers={"Origin": "https://evil.example.com"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_401_carries_cors_headers(client):
    r = call(client, None, headers={"Origin": ORIGIN})
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "www-authenticate" in r.headers["access-control-expose-headers"].lower()


def test_cors_any_origin(settings, keys):
    settings = Settings(**{**settings.__dict__, "cors_origins": ("*",)})
    with TestClient(build_app(settings)) as c:
        assert preflight(c, "https://anywhere.example").headers["access-control-allow-origin"] == "*"
        r = call(c, None, headers={"Origin": "https://anywhere.example"})
        assert r.headers["access-control-allow-origin"] == "*"


def test_no_cors_configured(settings):
    settings = Settings(**{**settings.__dict__, "cors_origins": ()})
    with TestClient(build_app(settings)) as c:
        assert "access-control-allow-origin" not in preflight(c, ORIGIN).headers
        assert "access-control-allow-origin" not in c.get("/health", headers={"Origin": ORIGIN}).headers


# -- body limit -----------------------------------------------------------------------------------


def test_413_on_content_length(client, keys):
    big = {"hook": "patient-view", "pad": "x" * (LIMIT + 10)}
    r = call(client, make_token(keys["ec"]), body=big)
    assert r.status_code == 413
    assert r.json()["issue"][0]["code"] == "too-costly"


def test_413_before_authentication(client):
    r = client.post(SERVICE, content=b"x" * (LIMIT + 1), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_413_on_chunked_body(client, keys):
    def chunks():
        for _ in range(10):
            yield b" " * 500

    r = client.post(SERVICE, content=chunks(), headers={
        "Authorization": f"Bearer {make_token(keys['ec'])}", "Content-Type": "application/json",
    })
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413


def test_small_chunked_body_passes(client, keys):
    def chunks():
        yield b'{"hook": '
        yield b'"patient-view"}'

    r = client.post(SERVICE, content=chunks(), headers={
        "Authorization": f"Bearer {make_token(keys['ec'])}", "Content-Type": "application/json",
    })
    assert r.status_code == 200 and r.json()["echo"] == {"hook": "patient-view"}


def test_chunked_body_reading_stops_at_limit():
    """ASGI level: many small chunks, no Content-Length; the app's answer is replaced."""
    received = []

    async def receive():
        received.append(1)
        return {"type": "http.request", "body": b"y" * 100, "more_body": True}  # endless

    async def app(scope, receive, send):
        while True:
            await receive()

    sent = []

    async def send(message):
        sent.append(message)

    mw = BodyLimitMiddleware(app, max_bytes=1000)
    asyncio.run(mw({"type": "http", "method": "POST", "path": "/x", "headers": []}, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert len(received) == 11  # stopped just past the limit


def test_app_answer_to_interrupted_read_is_replaced_by_413():
    """An inner layer that turns the aborted read into its own error (e.g. a 500)."""

    async def receive():
        return {"type": "http.request", "body": b"y" * 600, "more_body": True}

    async def app(scope, receive, send):
        try:
            while True:
                await receive()
        except Exception:
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"oops"})

    sent = []

    async def send(message):
        sent.append(message)

    mw = BodyLimitMiddleware(app, max_bytes=1000)
    asyncio.run(mw({"type": "http", "method": "POST", "path": "/x", "headers": []}, receive, send))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [413]
    assert b"oops" not in b"".join(m.get("body", b"") for m in sent)


# -- logs -------------------------------------------------------------------------------------------


def test_logs_never_contain_token_or_claims(client, keys, caplog):
    tokens = [
        make_token(keys["ec"]), make_token(keys["other_ec"]),
        make_token(keys["ec"], exp=int(time.time()) - 600), make_token(keys["ec"], iss="https://evil.example.org"),
    ]
    with caplog.at_level(logging.DEBUG):
        for token in tokens:
            call(client, token, body={"patient": "Patient/secret-123"})
        call(client, tokens[0])  # replay
    text = caplog.text
    assert "Refused" in text  # failures are logged, by category
    for token in tokens:
        for part in token.split("."):
            assert part not in text
    for secret in ("client-app-7", "praktijk-42", "secret-123"):
        assert secret not in text


# -- hardening: numeric claims, lifetime, one Authorization header, nosniff ----------------


def raw_token(private_key, payload_json: str, kid: str = "ec-1") -> str:
    """A token whose payload is the exact JSON text given (e.g. the literal 1e999)."""
    return jwt.PyJWS().encode(payload_json.encode(), private_key, algorithm="ES384", headers={"kid": kid})


@pytest.mark.parametrize("claim", ["exp", "iat"])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999", "1e20", "-1e20", "-1", "1.5"])
def test_numeric_claims_must_be_finite_whole_seconds_in_range(client, keys, claim, value):
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    text = json.dumps(claims).replace(f'"{claim}": {claims[claim]}', f'"{claim}": {value}')
    assert value in text
    r = call(client, raw_token(keys["ec"], text))
    assert reason(r) == "Authentication failed: missing or invalid claim"


def test_a_nan_exp_never_passes_the_expiry_checks(client, keys):
    # NaN compares false with everything: before, `now > NaN + leeway` let it through
    assert reason(call(client, make_token(keys["ec"], exp=float("nan")))) == \
        "Authentication failed: missing or invalid claim"


def test_whole_seconds_written_as_floats_are_accepted(client, keys):
    now = int(time.time())
    assert call(client, make_token(keys["ec"], exp=float(now + 300), iat=float(now))).status_code == 200


def test_a_token_valid_for_ten_years_is_refused(client, keys):
    now = int(time.time())
    r = call(client, make_token(keys["ec"], iat=now, exp=now + 10 * 365 * 86400))
    assert reason(r) == "Authentication failed: token lifetime too long"
    assert call(client, make_token(keys["ec"], iat=now, exp=now + 300)).status_code == 200
    assert reason(call(client, make_token(keys["ec"], iat=now, exp=now + 301))) == \
        "Authentication failed: token lifetime too long"


def test_the_maximum_lifetime_is_configurable(settings, keys):
    now = int(time.time())
    longer = Settings(**{**settings.__dict__, "max_token_lifetime": 3600})
    with TestClient(build_app(longer)) as c:
        assert call(c, make_token(keys["ec"], iat=now, exp=now + 3600)).status_code == 200
    assert Settings.from_env({"NEKPIJN_MAX_TOKEN_LIFETIME": "900"}).max_token_lifetime == 900


def test_two_authorization_headers_are_refused(client, keys):
    good = make_token(keys["ec"])
    headers = [("authorization", f"Bearer {good}"), ("authorization", "Bearer garbage"),
               ("content-type", "application/json")]
    r = client.post(SERVICE, content=b'{"hook": "patient-view"}', headers=headers)
    assert reason(r) == "Authentication failed: more than one authorization header"


def test_every_response_carries_nosniff(client, keys):
    assert client.get("/health").headers["x-content-type-options"] == "nosniff"
    assert call(client, make_token(keys["ec"])).headers["x-content-type-options"] == "nosniff"
    assert client.get("/cds-services").headers["x-content-type-options"] == "nosniff"  # 401
    too_big = client.post(SERVICE, content=b"x" * (LIMIT + 1), headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413 and too_big.headers["x-content-type-options"] == "nosniff"


# -- request floor (issue 17): each token decoded once, each public key parsed once ---------------


def test_a_public_key_is_parsed_once_not_per_call(settings, keys, monkeypatch):
    from service.security import jwt_auth

    built: list[str] = []
    real = jwt_auth.jwt.PyJWK

    class CountingPyJWK(real):
        def __init__(self, jwk, algorithm=None):
            built.append(jwk["kid"])
            super().__init__(jwk, algorithm=algorithm)

    monkeypatch.setattr(jwt_auth.jwt, "PyJWK", CountingPyJWK)
    verifier = Verifier(settings, MemoryReplay())
    for _ in range(5):
        assert verifier.verify(make_token(keys["ec"]), [AUD]).issuer == ISS
    verifier.verify(make_token(keys["rsa"], alg="RS384", kid="rsa-1"), [AUD])
    assert built == ["ec-1", "rsa-1"], "one parse per key, whatever the number of calls"
    # a refused signature is still refused with the cached key, and a valid one accepted after it
    other = make_token(keys["other_ec"])
    with pytest.raises(AuthError) as refused:
        verifier.verify(other, [AUD])
    assert refused.value.reason == "bad signature"
    assert verifier.verify(make_token(keys["ec"]), [AUD]).issuer == ISS
    assert built == ["ec-1", "rsa-1"]


def test_the_signature_is_checked_over_the_bytes_the_claims_came_from(settings, keys):
    """The token is decoded once: swapping in another payload must fail the signature check."""
    verifier = Verifier(settings, MemoryReplay())
    header, _, signature = make_token(keys["ec"]).split(".")
    forged = default_payload() | {"sub": "someone-else"}
    with pytest.raises(AuthError) as refused:
        verifier.verify(f"{header}.{b64(json.dumps(forged).encode())}.{signature}", [AUD])
    assert refused.value.reason == "bad signature"


@pytest.mark.parametrize("token", ["a.b", "abc", "..", "e30.e30.", "W10.e30.AA", "e30.W10.AA", "!!.e30.AA"])
def test_malformed_compact_tokens_are_malformed(settings, token):
    with pytest.raises(AuthError) as refused:
        Verifier(settings, MemoryReplay()).verify(token, [AUD])
    assert refused.value.reason in ("malformed token", "algorithm not allowed")


def test_route_table_answers_as_match_and_stays_bounded(monkeypatch):
    """The per-(method, path) memo of the public routes gives the first matching route, as `match` does."""
    from service.security import public_routes
    from service.security.public_routes import PublicRoute, RouteTable, match

    routes = [PublicRoute.of(("GET",), "/health"), PublicRoute.of(("POST",), "/zelfcheck/", prefix=True),
              PublicRoute.of(("POST",), "/zelfcheck/x", max_body_bytes=10)]
    table = RouteTable(routes)
    monkeypatch.setattr(public_routes, "MATCH_CACHE_SIZE", 4)
    asked = [("GET", "/health"), ("HEAD", "/health"), ("POST", "/zelfcheck/x"), ("POST", "/zelfcheck/a/b"),
             ("GET", "/cds-services"), ("POST", "/zelfcheck/")]
    for _ in range(2):  # the second time from the memo (or after it was emptied)
        for method, path in asked:
            assert table.match(method, path) is match(routes, method, path)
    assert table.match("POST", "/zelfcheck/x") is routes[1]  # the first match wins, as before
    assert len(table._seen) <= 4
