"""SIGTERM during load: requests in flight finish, nothing acknowledged is lost.

Starts a real ``python -m service.cli serve`` process (SQLite in a temporary
folder, JWT with the test signer), sends a burst of concurrent hook calls and
feedback, and sends SIGTERM while they are being answered (uvicorn's graceful
shutdown). Then, with the process gone, it opens the database itself:

* the process shuts down by itself (uvicorn: application shutdown complete,
  then the signal re-raised), without a traceback;
* every request that got an answer got a complete one (a hook call: 200 with
  cards; feedback: 200 ``{}``; otherwise a clean OperationOutcome), and
  requests answered after the SIGTERM show that requests in flight finished;
* a request without an answer was never taken in (a connection the server
  closed without reading it): the service has no audit entry for it;
* everything the service acknowledged is stored: the audit entry and the
  issued cards of every answered hook call, every acknowledged feedback item.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from apply_support import TODAY, cases
from hooks_support import Signer, hook_request, prefetch_for, resources_of
from service.cds_hooks.discovery import PREFETCH_KEYS
from service.store import Store
from support.service_process import start_service

SERVICE = "nekpijn-behandelprofiel"
AUDIENCE = f"https://cds.example.org/cds-services/{SERVICE}"
FEEDBACK_AUDIENCE = AUDIENCE + "/feedback"
CASE = "b-abnormal-duration"
HOOK_CALLS = 120
FEEDBACK_CALLS = 40


def test_sigterm_during_load_loses_nothing_acknowledged(tmp_path):
    signer = Signer.create(tmp_path)
    db = tmp_path / "service.db"
    env = {**os.environ, "NEKPIJN_AUTH": "jwt", "NEKPIJN_TRUSTED_ISSUERS_FILE": str(signer.issuers_file),
           "NEKPIJN_DATABASE_URL": f"sqlite:///{db}", "NEKPIJN_AUDIENCES": f"{AUDIENCE},{FEEDBACK_AUDIENCE}",
           "NEKPIJN_LOG_LEVEL": "info"}
    case = next(c for c in cases() if c["id"] == CASE)
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"])
    proc, base = start_service(env, tmp_path / "service.log")
    try:
        # cards to give feedback on
        first = httpx.post(f"{base}/cds-services/{SERVICE}", json=hook_request("patient-view", CASE, prefetch=prefetch),
                           headers={"Authorization": f"Bearer {signer.token(AUDIENCE)}"}, timeout=30)
        assert first.status_code == 200, first.text
        card = next(c for c in first.json()["cards"] if c.get("suggestions"))

        hooks = [hook_request("patient-view", CASE, prefetch=prefetch) for _ in range(HOOK_CALLS)]
        stamp = datetime(2026, 11, 2, 11, 0, tzinfo=timezone.utc)
        feedbacks = [{"feedback": [{"card": card["uuid"], "outcome": "accepted",
                                    "outcomeTimestamp": (stamp + timedelta(seconds=i)).isoformat().replace(
                                        "+00:00", "Z"),
                                    "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}]}
                     for i in range(FEEDBACK_CALLS)]
        requests = [("hook", body, signer.token(AUDIENCE)) for body in hooks]
        requests += [("feedback", body, signer.token(FEEDBACK_AUDIENCE)) for body in feedbacks]
        requests = requests[::4] + requests[1::4] + requests[2::4] + requests[3::4]  # feedback spread in
        late = [("hook", hook_request("patient-view", CASE, prefetch=prefetch), signer.token(AUDIENCE))
                for _ in range(5)]  # sent 0.3 s after the SIGTERM: the listener is closed by then
        results, sigterm_at = asyncio.run(_burst(base, requests, late, proc))
        exit_code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    log = (tmp_path / "service.log").read_text(errors="replace")
    # uvicorn shuts down gracefully, then re-raises the signal: "killed by SIGTERM" is its normal exit
    assert exit_code in (0, -signal.SIGTERM), log[-3000:]
    assert "Application shutdown complete" in log and "Traceback" not in log, log[-3000:]

    answered = [r for r in results if r["status"] is not None]
    unanswered = [r for r in results if r["status"] is None]
    after_sigterm = [r for r in answered if r["done"] > sigterm_at]
    assert answered and after_sigterm, "requests in flight at the SIGTERM must still be answered"
    for r in answered:
        if r["status"] == 200:
            body = json.loads(r["body"])  # complete JSON
            if r["kind"] == "hook":
                assert body["cards"], r
            else:
                assert body == {}, r
        else:
            assert r["status"] < 500 or r["status"] == 503, r
            assert json.loads(r["body"])["resourceType"] == "OperationOutcome", r
    for r in unanswered:
        assert r["error"] in ("ConnectError", "RemoteProtocolError", "ReadError", "ConnectTimeout"), r

    store = Store.from_url(f"sqlite:///{db}")
    try:
        instances = {e.hook_instance for e in store.audit(limit=10_000)}
        for r in answered:
            if r["kind"] == "hook" and r["status"] == 200:
                assert r["request"]["hookInstance"] in instances, "an answered hook call is audited"
                for c in json.loads(r["body"])["cards"]:
                    assert store.issued_card(c["uuid"]) is not None, "the issued cards of an answered call are stored"
        for r in unanswered:
            if r["kind"] == "hook":
                assert r["request"]["hookInstance"] not in instances, "taken in but never answered"
        stored = {f.outcome_timestamp for f in store.feedback(limit=10_000)}
        acknowledged = [r for r in answered if r["kind"] == "feedback" and r["status"] == 200]
        for r in acknowledged:
            ts = datetime.fromisoformat(r["request"]["feedback"][0]["outcomeTimestamp"].replace("Z", "+00:00"))
            assert ts in stored, "acknowledged feedback is stored"
    finally:
        store.close()
    print(f"SIGTERM after {len(answered) - len(after_sigterm)} answers; {len(after_sigterm)} answered after it, "
          f"{len(unanswered)} not taken in; {len(acknowledged)} feedback items acknowledged and stored")


def test_a_service_that_cannot_start_is_reported_with_its_log(tmp_path):
    """The start helper (tests/support/service_process.py) does not wait out its timeout for a
    process that has exited: it reports at once, with the service's own message."""
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="NEKPIJN_AUTH must be") as failure:
        start_service({**os.environ, "NEKPIJN_AUTH": "bogus"}, tmp_path / "service.log", timeout=60)
    assert time.monotonic() - started < 30 and "exit 2" in str(failure.value)


async def _burst(base: str, requests: list[tuple[str, dict, str]], late: list[tuple[str, dict, str]],
                 proc: subprocess.Popen):
    """All requests at once; SIGTERM once a few are answered, then the `late` ones.

    (results, monotonic time of the SIGTERM)."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    results: list[dict] = []
    answered = asyncio.Event()
    count = 0

    async def one(client: httpx.AsyncClient, kind: str, body: dict, token: str) -> None:
        nonlocal count
        path = f"/cds-services/{SERVICE}" + ("/feedback" if kind == "feedback" else "")
        record = {"kind": kind, "request": body, "status": None, "body": None, "error": None, "done": None}
        try:
            response = await client.post(f"{base}{path}", content=json.dumps(body),
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
            record.update(status=response.status_code, body=response.text)
        except httpx.HTTPError as exc:
            record["error"] = type(exc).__name__
        record["done"] = time.monotonic()
        results.append(record)
        count += 1
        if count >= 10:
            answered.set()

    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        tasks = [asyncio.create_task(one(client, *r)) for r in requests]
        await asyncio.wait_for(answered.wait(), 60)
        sigterm_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        tasks += [asyncio.create_task(one(client, *r)) for r in late]
        await asyncio.gather(*tasks)
    return results, sigterm_at
