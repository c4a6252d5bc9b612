"""Two service processes on one PostgreSQL share feedback, audit and the JWT replay cache.

Starts two real `nekpijn-cds serve` processes (uvicorn) on loopback, both on a
fresh PostgreSQL schema, and talks to them over HTTP like two replicas behind
a load balancer.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from apply_support import TODAY, cases
from hooks_support import Signer, hook_request, prefetch_for, resources_of
from service.cds_hooks.discovery import PREFETCH_KEYS
from service.store import Store

PG_URL = os.environ.get("NEKPIJN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AUDIENCE = "https://cds.example.org/cds-services/nekpijn-behandelprofiel"
FEEDBACK_AUDIENCE = AUDIENCE + "/feedback"


@pytest.fixture
def pg_schema():
    url = make_url(PG_URL)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"nekpijn_e2e_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for this test ({PG_URL}): {exc}")
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def service_process(env: dict):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"service did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_two_replicas_share_feedback_audit_and_replay_cache(tmp_path, pg_schema):
    signer = Signer.create(tmp_path)
    env = {**os.environ, "NEKPIJN_AUTH": "jwt", "NEKPIJN_TRUSTED_ISSUERS_FILE": str(signer.issuers_file),
           "NEKPIJN_DATABASE_URL": pg_schema, "NEKPIJN_AUDIENCES": f"{AUDIENCE},{FEEDBACK_AUDIENCE}",
           "NEKPIJN_LOG_LEVEL": "warning"}
    case = next(c for c in cases() if c["id"] == "b-abnormal-duration")
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"])
    with service_process(env) as a, service_process(env) as b:
        def post(base, path, body, token=None, aud=AUDIENCE):
            token = token or signer.token(aud)
            return httpx.post(f"{base}{path}", content=json.dumps(body), timeout=30,
                              headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

        # replica A issues the cards ...
        body = hook_request("patient-view", case["id"], prefetch=prefetch)
        response = post(a, "/cds-services/nekpijn-behandelprofiel", body)
        assert response.status_code == 200, response.text
        card = next(c for c in response.json()["cards"] if c.get("suggestions"))
        # ... replica B accepts feedback on them (the issued cards are shared)
        feedback = {"feedback": [{"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-11-02T11:00:00Z",
                                  "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}]}
        accepted = post(b, "/cds-services/nekpijn-behandelprofiel/feedback", feedback, aud=FEEDBACK_AUDIENCE)
        assert accepted.status_code == 200, accepted.text
        # a token used at A is a replay at B (the replay cache is shared)
        token = signer.token(AUDIENCE)
        second = hook_request("patient-view", case["id"], prefetch=prefetch)
        assert post(a, "/cds-services/nekpijn-behandelprofiel", second, token=token).status_code == 200
        replayed = post(b, "/cds-services/nekpijn-behandelprofiel", second, token=token)
        assert replayed.status_code == 401 and "replay" in replayed.text
        # both replicas wrote to the one audit log
        third = hook_request("patient-view", case["id"], prefetch=prefetch)
        assert post(b, "/cds-services/nekpijn-behandelprofiel", third).status_code == 200

    store = Store.from_url(pg_schema)
    instances = {e.hook_instance for e in store.audit(limit=100)}
    assert {body["hookInstance"], second["hookInstance"], third["hookInstance"]} <= instances
    summary = store.feedback_summary("nekpijn-behandelprofiel")
    assert sum(row["accepted"] for row in summary) == 1
    store.close()
