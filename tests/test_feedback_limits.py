"""Feedback limits (issue 14, findings 3 and 5): item count, comment length, issuer binding,
a sane outcomeTimestamp window — every refusal an OperationOutcome, never a 500."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, TODAY, cases
from hooks_support import ISSUER, Signer, hook_request, prefetch_for, resources_of
from service.app import create_app
from service.cds_hooks.discovery import PREFETCH_KEYS
from service.cds_hooks.feedback import MAX_COMMENT, MAX_ITEMS
from service.config import Settings

BASE = "http://testserver"
SERVICE = "nekpijn-behandelprofiel"
OTHER_ISSUER = "https://other-ehr.example.org"
STAMP = "2026-11-02T11:05:31Z"  # the service clock is NOW (2026-11-02 12:00 Amsterdam)


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    signer = Signer.create(folder)
    # a second trusted issuer (same key set, another iss)
    signer.issuers_file.write_text(json.dumps([{"iss": ISSUER, "jwks_file": str(folder / "jwks.json")},
                                               {"iss": OTHER_ISSUER, "jwks_file": str(folder / "jwks.json")}]))
    return signer


@pytest.fixture(scope="module")
def client(tmp_path_factory, signer):
    db = tmp_path_factory.mktemp("db") / "feedback.db"
    settings = Settings(auth="jwt", trusted_issuers_file=signer.issuers_file, database_url=f"sqlite:///{db}")
    return TestClient(create_app(settings=settings, clock=lambda: NOW), raise_server_exceptions=False)


def _card(client, signer, iss=ISSUER):
    case = next(c for c in cases() if c["id"] == "b-abnormal-duration")
    body = hook_request("patient-view", case["id"],
                        prefetch=prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"]))
    response = client.post(f"/cds-services/{SERVICE}", content=json.dumps(body),
                           headers=signer.headers(f"{BASE}/cds-services/{SERVICE}", iss=iss))
    assert response.status_code == 200, response.text
    return next(c for c in response.json()["cards"] if c.get("overrideReasons"))


def _post(client, signer, items, iss=ISSUER):
    return client.post(f"/cds-services/{SERVICE}/feedback", content=json.dumps({"feedback": items}),
                       headers=signer.headers(f"{BASE}/cds-services/{SERVICE}/feedback", iss=iss))


def _overridden(card, **extra):
    return {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": STAMP, **extra}


def _issue(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def _stored(client, card) -> int:
    return sum(f.card_uuid == card["uuid"] for f in client.app.state.store.feedback(limit=10_000, service=SERVICE))


def test_too_many_items_is_413_and_nothing_is_stored(client, signer):
    card = _card(client, signer)
    issue = _issue(_post(client, signer, [_overridden(card)] * (MAX_ITEMS + 1)), 413)
    assert issue["code"] == "too-costly" and str(MAX_ITEMS) in issue["diagnostics"]
    assert _stored(client, card) == 0
    assert _post(client, signer, [_overridden(card)] * MAX_ITEMS).status_code == 200
    assert _stored(client, card) == MAX_ITEMS


def test_a_too_long_comment_is_400(client, signer):
    card = _card(client, signer)
    reason = card["overrideReasons"][0]
    long = _overridden(card, overrideReason={"reason": reason, "userComment": "x" * (MAX_COMMENT + 1)})
    issue = _issue(_post(client, signer, [long]), 400)
    assert issue["code"] == "too-long" and issue["expression"] == ["feedback[0].overrideReason.userComment"]
    assert _stored(client, card) == 0
    fits = _overridden(card, overrideReason={"reason": reason, "userComment": "x" * MAX_COMMENT})
    assert _post(client, signer, [fits]).status_code == 200


def test_feedback_only_from_the_issuer_the_card_was_issued_to(client, signer):
    card = _card(client, signer, iss=ISSUER)
    other = _issue(_post(client, signer, [_overridden(card)], iss=OTHER_ISSUER), 400)
    unknown = _issue(_post(client, signer, [{**_overridden(card), "card": "no-such-card"}], iss=OTHER_ISSUER), 400)
    # answered like an unknown card: no oracle for which uuids were issued
    assert other["diagnostics"].replace(card["uuid"], "?") == unknown["diagnostics"].replace("no-such-card", "?")
    assert _stored(client, card) == 0
    assert _post(client, signer, [_overridden(card)], iss=ISSUER).status_code == 200
    theirs = _card(client, signer, iss=OTHER_ISSUER)
    assert _post(client, signer, [_overridden(theirs)], iss=OTHER_ISSUER).status_code == 200
    assert _post(client, signer, [_overridden(theirs)], iss=ISSUER).status_code == 400


@pytest.mark.parametrize("stamp", [
    "0001-01-01T00:00:00+14:00",   # before the first UTC instant Python can hold
    "9999-12-31T23:59:59-14:00",   # after the last
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",        # far past
    "2030-01-01T00:00:00Z",        # far future
    "2026-11-02T14:00:00+01:00",   # 2 h after the service clock: beyond the skew allowed
])
def test_an_implausible_outcome_timestamp_is_400_never_500(client, signer, stamp):
    card = _card(client, signer)
    issue = _issue(_post(client, signer, [_overridden(card, outcomeTimestamp=stamp)]), 400)
    assert issue["expression"] == ["feedback[0].outcomeTimestamp"] and "plausible" in issue["diagnostics"]


@pytest.mark.parametrize("stamp", ["2026-11-02T11:05:31Z", "2026-11-02T12:30:00+01:00", "2026-01-15T08:00:00Z"])
def test_a_plausible_outcome_timestamp_is_accepted(client, signer, stamp):
    card = _card(client, signer)
    assert _post(client, signer, [_overridden(card, outcomeTimestamp=stamp)]).status_code == 200


def test_feedback_store_work_runs_off_the_event_loop(client, signer, monkeypatch):
    """The store is read and written in a worker thread (no running event loop there)."""
    import asyncio

    card = _card(client, signer)
    store = client.app.state.store
    on_loop: list[bool] = []

    def spying(method):
        def spy(*args, **kwargs):
            try:
                asyncio.get_running_loop()
                on_loop.append(True)
            except RuntimeError:
                on_loop.append(False)
            return method(*args, **kwargs)
        return spy

    monkeypatch.setattr(store, "record_feedback", spying(store.record_feedback))
    monkeypatch.setattr(store, "issued_card", spying(store.issued_card))
    assert _post(client, signer, [_overridden(card)]).status_code == 200
    assert on_loop == [False, False]
