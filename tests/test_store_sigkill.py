"""SIGKILL during load: nothing the service acknowledged is lost (no write-behind).

A hook call's writes — the JWT replay-cache row (``jti_seen``), its issued cards and its
audit entry — are committed before the answer is sent (docs/performance.md, "Durability"):
the replay row in the authentication layer before the call is evaluated, cards and audit
entry in ONE transaction just before the response leaves. So the loss window for an
acknowledged call is empty: killed with SIGKILL (no shutdown at all), the database holds

* the audit entry and every issued card of every answered call;
* the jti of every answered call: a service started again on the same database refuses
  the token as replayed;
* for calls not answered: the cards and the audit entry both, or neither (never cards
  without their audit entry, or the reverse).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess

import httpx
from sqlalchemy import text

from apply_support import TODAY, cases
from hooks_support import Signer, hook_request, prefetch_for, resources_of
from service.cds_hooks.discovery import PREFETCH_KEYS
from service.store import Store
from support.service_process import start_service

SERVICE = "nekpijn-behandelprofiel"
AUDIENCE = f"https://cds.example.org/cds-services/{SERVICE}"
CASE = "b-abnormal-duration"
HOOK_CALLS = 60


async def _burst(base: str, calls: list[tuple[dict, str]], proc: subprocess.Popen, kill_after: int) -> list[dict]:
    """Every call at once; SIGKILL once *kill_after* are answered."""
    results: list[dict] = []
    answered = asyncio.Event()

    async def one(client: httpx.AsyncClient, body: dict, token: str) -> None:
        record = {"request": body, "token": token, "status": None, "body": None}
        try:
            response = await client.post(f"{base}/cds-services/{SERVICE}", content=json.dumps(body),
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
            record.update(status=response.status_code, body=response.text)
        except httpx.HTTPError:
            pass  # killed before it answered
        results.append(record)
        if not answered.is_set() and sum(r["status"] is not None for r in results) >= kill_after:
            # killed right here, not by a task woken later: by then a fast service had sometimes answered all
            proc.send_signal(signal.SIGKILL)
            answered.set()

    limits = httpx.Limits(max_connections=len(calls), max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        tasks = [asyncio.create_task(one(client, *c)) for c in calls]
        await asyncio.wait_for(answered.wait(), 60)
        await asyncio.gather(*tasks)
    return results


def test_sigkill_during_load_loses_nothing_acknowledged(tmp_path):
    signer = Signer.create(tmp_path)
    db = tmp_path / "service.db"
    env = {**os.environ, "NEKPIJN_AUTH": "jwt", "NEKPIJN_TRUSTED_ISSUERS_FILE": str(signer.issuers_file),
           "NEKPIJN_DATABASE_URL": f"sqlite:///{db}", "NEKPIJN_AUDIENCES": AUDIENCE, "NEKPIJN_LOG_LEVEL": "info"}
    case = next(c for c in cases() if c["id"] == CASE)
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"])
    calls = [(hook_request("patient-view", CASE, prefetch=prefetch), signer.token(AUDIENCE))
             for _ in range(HOOK_CALLS)]
    proc, base = start_service(env, tmp_path / "service.log")
    try:
        results = asyncio.run(_burst(base, calls, proc, kill_after=10))
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    answered = [r for r in results if r["status"] == 200]
    assert len(answered) >= 10
    assert any(r["status"] is None for r in results), "the kill must catch calls in flight"

    store = Store.from_url(f"sqlite:///{db}")
    try:
        audited = {e.hook_instance: e for e in store.audit(limit=10_000)}
        for r in answered:
            assert r["request"]["hookInstance"] in audited, "an answered call's audit entry is stored"
            for c in json.loads(r["body"])["cards"]:
                assert store.issued_card(c["uuid"]) is not None, "an answered call's cards are stored"
        with store.engine.connect() as conn:
            with_cards = {row[0] for row in conn.execute(text("SELECT DISTINCT hook_instance FROM issued_cards"))}
            jtis = conn.execute(text("SELECT count(*) FROM jti_seen")).scalar_one()
        ok = {i for i, e in audited.items() if e.outcome == "ok"}
        assert with_cards == ok, "cards and audit entry: both or neither, also for calls cut off by the kill"
        assert jtis >= len(answered)
    finally:
        store.close()

    # the replay cache survived the kill: a service on the same database refuses an answered token
    proc, base = start_service(env, tmp_path / "service.log", append=True)
    try:
        replayed = answered[0]
        again = httpx.post(f"{base}/cds-services/{SERVICE}", content=json.dumps(replayed["request"]),
                           headers={"Authorization": f"Bearer {replayed['token']}",
                                    "Content-Type": "application/json"}, timeout=30)
        assert again.status_code == 401 and "replayed" in again.text
        fresh = httpx.post(f"{base}/cds-services/{SERVICE}", content=json.dumps(calls[0][0]),
                           headers={"Authorization": f"Bearer {signer.token(AUDIENCE)}",
                                    "Content-Type": "application/json"}, timeout=30)
        assert fresh.status_code == 200, fresh.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
