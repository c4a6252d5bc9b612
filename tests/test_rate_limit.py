"""Rate limiting of the public endpoints (issue 14, finding 4): a fixed window per client address,
counted in the store and so shared by replicas, 429 OperationOutcome with Retry-After.

Store tests run on SQLite and PostgreSQL (``NEKPIJN_TEST_POSTGRES_URL``, set by conftest.py to the
throw-away server it starts), each in a fresh schema, as in tests/test_store.py.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from self_check_support import APPLY_PATH, OUTCOMES, apply_parameters, questionnaire_response
from service.app import create_app
from service.config import ConfigError, Settings
from service.security.rate_limit import TrustedProxies, client_address
from service.store import Store
from service.store.rate_limit_guard import RateLimitGuard
from test_store import backend, new_url  # noqa: F401  (fixtures: a new database on SQLite and PostgreSQL)

FHIR = {"Content-Type": "application/fhir+json"}
SUBMISSIONS = "/zelfcheck/submissions"


@pytest.fixture
def stores():
    opened: list[Store] = []

    def make(url: str) -> Store:
        store = Store.from_url(url)
        store.migrate()
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


# -- the store's counters -------------------------------------------------------------------------


def test_fixed_windows_count_per_bucket_and_client(new_url, stores):
    store = stores(new_url())
    t0 = 1_800_000_000.0  # a multiple of 60
    assert [store.rate_limit_hit("apply", "a", 60, t0 + 1)[0] for _ in range(3)] == [1, 2, 3]
    assert store.rate_limit_hit("apply", "b", 60, t0 + 2) == (1, int(t0) + 60)  # another client
    assert store.rate_limit_hit("submit", "a", 60, t0 + 3)[0] == 1  # another bucket
    assert store.rate_limit_hit("apply", "a", 60, t0 + 60) == (1, int(t0) + 120)  # the next window
    assert store.purge_rate_limits(t0 + 60) == 3  # the windows that ended at t0 + 60
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM rate_limit_hits")).scalar_one() == 1


def test_two_replicas_count_together_exactly(new_url, stores):
    """Two Store objects (two replicas) on one database, 8 threads: every hit counted once."""
    url = new_url()
    a, b = stores(url), stores(url)
    seen: list[int] = []
    lock = threading.Lock()
    now = time.time()

    def work(store):
        for _ in range(10):
            count, _ = store.rate_limit_hit("apply", "client", 3600, now)
            with lock:
                seen.append(count)

    threads = [threading.Thread(target=work, args=(a if i % 2 else b,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(seen) == list(range(1, 81))


def test_the_client_is_stored_as_a_keyed_hash(new_url, stores):
    store = stores(new_url())
    guard = RateLimitGuard(store)
    assert guard.hit("apply", "203.0.113.7", 5, 60) is None
    with store.engine.connect() as conn:
        [(client,)] = conn.execute(text("SELECT client FROM rate_limit_hits")).all()
    assert "203.0.113" not in client and len(client) == 64


def test_guard_refuses_beyond_the_limit_with_the_seconds_left(new_url, stores):
    store = stores(new_url())
    clock = [1_800_000_010.0]
    guard = RateLimitGuard(store, clock=lambda: clock[0])
    assert [guard.hit("apply", "c", 3, 60) for _ in range(3)] == [None] * 3
    assert guard.hit("apply", "c", 3, 60) == pytest.approx(50.0)
    clock[0] += 50
    assert guard.hit("apply", "c", 3, 60) is None  # a new window


def test_without_the_store_the_limit_is_kept_by_the_process(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = Store.from_url(f"postgresql+psycopg://u@127.0.0.1:{port}/x?connect_timeout=1")
    guard = RateLimitGuard(store)
    started = time.perf_counter()
    verdicts = [guard.hit("apply", "c", 3, 60) for _ in range(5)]
    assert verdicts[:3] == [None] * 3 and all(v is not None and v > 0 for v in verdicts[3:])
    assert time.perf_counter() - started < 5  # one failed connect, then local at once (the outage)
    store.close()


# -- the client address ---------------------------------------------------------------------------


def scope(peer: str, **headers) -> dict:
    return {"type": "http", "client": (peer, 40000),
            "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


def test_client_address_believes_the_header_only_from_trusted_proxies():
    proxies = TrustedProxies(["10.0.0.0/8", "192.0.2.1"])
    header = "x-forwarded-for"
    assert client_address(scope("198.51.100.9", x_forwarded_for="1.2.3.4"), proxies, header) == "198.51.100.9"
    assert client_address(scope("10.1.2.3", x_forwarded_for="1.2.3.4"), proxies, header) == "1.2.3.4"
    # a client's own made-up entry comes first; the proxies append: the nearest untrusted hop counts
    assert client_address(scope("192.0.2.1", x_forwarded_for="6.6.6.6, 1.2.3.4, 10.0.0.7"), proxies,
                          header) == "1.2.3.4"
    assert client_address(scope("10.1.2.3"), proxies, header) == "10.1.2.3"  # no header: the peer
    assert client_address(scope("10.1.2.3", x_forwarded_for="1.2.3.4"), proxies, None) == "10.1.2.3"
    assert client_address(scope("10.1.2.3", x_real_ip="5.6.7.8"), proxies, "x-real-ip") == "5.6.7.8"
    assert client_address(scope("2001:db8::1", x_forwarded_for="1.2.3.4"), TrustedProxies(["2001:db8::/32"]),
                          header) == "1.2.3.4"
    assert client_address(scope("9.9.9.9", x_forwarded_for="1.2.3.4"), TrustedProxies(["*"]), header) == "1.2.3.4"


def test_rate_limit_settings_from_the_environment():
    settings = Settings.from_env({"NEKPIJN_RATE_LIMIT_APPLY": "10/30", "NEKPIJN_RATE_LIMIT_SUBMISSIONS": "off",
                                  "NEKPIJN_CLIENT_IP_HEADER": "X-Real-IP"})
    assert settings.rate_limit_apply == (10, 30) and settings.rate_limit_submissions is None
    assert settings.client_ip_header == "x-real-ip"
    assert Settings.from_env({}).rate_limit_apply == (30, 60)
    for bad in ("10", "ten/60", "0/60", "10/-1"):
        with pytest.raises(ConfigError):
            Settings.from_env({"NEKPIJN_RATE_LIMIT_APPLY": bad})


# -- through the service -------------------------------------------------------------------------


def service(url: str, **overrides) -> TestClient:
    values = {"rate_limit_apply": (3, 60), "rate_limit_submissions": (2, 600), **overrides}
    settings = dataclasses.replace(Settings.from_env(), auth="off", database_url=url, **values)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def apply_body() -> bytes:
    import json
    return json.dumps(apply_parameters(questionnaire_response(OUTCOMES["self-care"][0]))).encode()


def test_public_apply_gets_429_with_retry_after_beyond_the_limit(tmp_path):
    with service(f"sqlite:///{tmp_path / 's.db'}") as c:
        body = apply_body()
        assert [c.post(APPLY_PATH, content=body, headers=FHIR).status_code for _ in range(3)] == [200] * 3
        refused = c.post(APPLY_PATH, content=body, headers=FHIR)
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        outcome = refused.json()
        assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "throttled"
        assert c.get("/health").status_code == 200  # not limited
        assert c.get("/zelfcheck").status_code == 200
        # submissions have their own bucket: two, then 429 (before the body is even looked at)
        codes = [c.post(SUBMISSIONS, content=b"{}", headers={"Content-Type": "application/json"}).status_code
                 for _ in range(3)]
        assert codes[:2] != [429, 429] and codes[2] == 429


def test_a_forwarded_header_from_an_untrusted_peer_does_not_reset_the_budget(tmp_path):
    with service(f"sqlite:///{tmp_path / 's.db'}") as c:
        body = apply_body()
        codes = [c.post(APPLY_PATH, content=body, headers={**FHIR, "X-Forwarded-For": f"10.0.0.{i}"}).status_code
                 for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(tmp_path):
    # the TestClient's peer address is "testclient"
    with service(f"sqlite:///{tmp_path / 's.db'}", trusted_proxies=("testclient",)) as c:
        body = apply_body()
        first = [c.post(APPLY_PATH, content=body, headers={**FHIR, "X-Forwarded-For": "198.51.100.1"}).status_code
                 for _ in range(4)]
        other = c.post(APPLY_PATH, content=body, headers={**FHIR, "X-Forwarded-For": "198.51.100.2"})
    assert first == [200, 200, 200, 429] and other.status_code == 200


def test_replicas_on_one_database_share_the_budget(new_url):
    url = new_url()
    with service(url) as a, service(url) as b:
        body = apply_body()
        codes = [a.post(APPLY_PATH, content=body, headers=FHIR).status_code,
                 b.post(APPLY_PATH, content=body, headers=FHIR).status_code,
                 a.post(APPLY_PATH, content=body, headers=FHIR).status_code,
                 b.post(APPLY_PATH, content=body, headers=FHIR).status_code]
    assert codes == [200, 200, 200, 429]


def test_rate_limit_off_means_unlimited(tmp_path):
    with service(f"sqlite:///{tmp_path / 's.db'}", rate_limit_apply=None) as c:
        body = apply_body()
        assert {c.post(APPLY_PATH, content=body, headers=FHIR).status_code for _ in range(6)} == {200}
