"""Robustness: generated and broken input, a faulty FHIR server, an unavailable database.

* schemathesis against the service's own OpenAPI (ASGI, auth off): no 5xx,
  every answer matches the documented schema (errors: OperationOutcome);
* hypothesis: random cases, mangled hook requests and FHIR-ish garbage in the
  prefetch, POSTed to both CDS services → never a 5xx, the body is an
  OperationOutcome or ``{"cards": [...]}``; the same resources straight into
  the engine → a result or "no data", never another exception;
* the FHIR fetch end to end through the service, against
  tests/fhir_test_server.py in every fault mode (and a server that trickles
  its answer) → 412 OperationOutcome within ``fetch_budget`` + 1 s;
* the database unavailable (PostgreSQL behind a TCP proxy that the test
  switches off, refusing or black-holing connections): hook calls keep
  getting cards, the outage is in the service log (without patient ids or
  tokens) and, once the database is back, in the audit log; /health tells;
  writes are stored again after the outage.

The long load run is not here: ``python -m bench.robust_load`` (docs/robustness.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import json
import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager

import psycopg
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance
from sqlalchemy.engine import make_url

from apply_support import NOW, TODAY, cases
from case_strategies import random_case
from fhir_test_server import MODES, fhir_server
from hooks_support import Signer, hook_request, prefetch_for, resources_of
from service.app import create_app
from service.cds_hooks.discovery import PREFETCH_KEYS
from service.cds_hooks.fetch import FETCH_FAILED
from service.cds_hooks.validation import fhir_problem
from service.config import Settings
from service.facts.gather import NoDataError
from service.openapi import OPERATIONS
from service.store import Store

BEHANDELPROFIEL = "nekpijn-behandelprofiel"
ORDERS = "nekpijn-orders-sign"
# one CDS service per hook (outputs.md v2); the PlanDefinitions behind them
SERVICES = {BEHANDELPROFIEL: ["patient-view"], "nekpijn-behandelprofiel-encounter-start": ["encounter-start"],
            "nekpijn-orders-select": ["order-select"], ORDERS: ["order-sign"]}
PLANS = ("nekpijn-behandelprofiel", "nekpijn-orders")
HOOKS = [h for hooks in SERVICES.values() for h in hooks]
CLOSED_FHIR_SERVER = "http://127.0.0.1:9/fhir"  # discard port: nothing listens, the fetch fails at once
SNOMED = "http://snomed.info/sct"
LOCAL = "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn"
PG_URL = os.environ.get("NEKPIJN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
HYPOTHESIS = settings(max_examples=60, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                             HealthCheck.data_too_large])


def _app_settings(tmp_path_factory, **overrides) -> Settings:
    db = tmp_path_factory.mktemp("robust-db") / "service.db"
    return Settings(auth="off", database_url=f"sqlite:///{db}", **overrides)


# ---------------------------------------------------------------------------
# schemathesis against the OpenAPI document
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    return create_app(settings=_app_settings(tmp_path_factory), clock=lambda: NOW)


@pytest.fixture(scope="module")
def api_schema(api_app):
    return schemathesis.openapi.from_asgi("/openapi.json", api_app)


def test_the_openapi_document_describes_bodies_answers_and_errors(api_app):
    document = api_app.openapi()
    hook = document["paths"]["/cds-services/{service_id}"]["post"]
    assert hook["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HookRequest"}
    assert hook["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/HookResponse")
    assert hook["responses"]["default"]["content"]["application/fhir+json"]["schema"]["$ref"].endswith(
        "/OperationOutcome")
    assert hook["parameters"][0]["schema"]["enum"] == list(SERVICES)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            # FastAPI's 422 never appears: errors are the OperationOutcome default (+ 413/429 named)
            assert {"200", "default"} <= set(operation["responses"]) <= {"200", "default", "413", "429"}, \
                f"{method} {path}"
    assert "HTTPValidationError" not in document["components"]["schemas"]


# one test per documented operation; the cases come from the operation's own strategies
# (schemathesis' lazy pytest loader does not work with pytest 9, hence as_strategy)
@pytest.mark.parametrize("method,path", sorted(OPERATIONS), ids=[f"{m.upper()} {p}" for m, p in sorted(OPERATIONS)])
def test_openapi_no_server_error_and_answers_match_the_schema(api_schema, method, path):
    operation = api_schema[path][method.upper()]
    modes = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.path_parameters or operation.query or operation.body:
        modes.append(operation.as_strategy(GenerationMode.NEGATIVE))
    statuses: list[int] = []

    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(modes))
    def run(case):
        if isinstance(case.body, dict) and "fhirServer" in case.body:
            case.body["fhirServer"] = CLOSED_FHIR_SERVER  # never fetch from a generated host
        response = case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
        statuses.append(response.status_code)

    run()
    assert statuses and all(status < 500 for status in statuses)


# ---------------------------------------------------------------------------
# hypothesis: random and mangled hook calls, garbage in the engine
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(settings=_app_settings(tmp_path_factory), clock=lambda: NOW)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def engine(api_app):
    return api_app.state.engine


SCALARS = (st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["", "Patient/random", "2026-11-02", "2026-13-45T25:61:00Z", "final", "draft",
                              "http://loinc.org", SNOMED, LOCAL, "72514-3", "10828004", "pos"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=10)
RESOURCE_TYPES = ["Patient", "Observation", "QuestionnaireResponse", "Condition", "ServiceRequest", "Procedure",
                  "Bundle", "OperationOutcome", "Encounter", "Basic", "Xyz"]
CODINGS = st.fixed_dictionaries({}, optional={"system": st.sampled_from(["http://loinc.org", SNOMED, LOCAL]) | JSON,
                                              "code": st.sampled_from(["72514-3", "225908003", "81680005",
                                                                       "int-semi-rigid-collar"]) | JSON})


def _fhirish(patient: str):
    """A FHIR-looking resource of a random type, with plausible and implausible fields."""
    reference = st.fixed_dictionaries({"reference": st.sampled_from([f"Patient/{patient}", "Patient/other", ""])
                                       | JSON})
    return st.fixed_dictionaries(
        {"resourceType": st.sampled_from(RESOURCE_TYPES)},
        optional={
            "id": st.text("abc-.1", min_size=1, max_size=8) | JSON,
            "status": st.sampled_from(["final", "amended", "draft", "completed", "active", "preparation"]) | JSON,
            "subject": reference | JSON, "patient": reference,
            "code": st.fixed_dictionaries({"coding": st.lists(CODINGS, max_size=3) | JSON}) | JSON,
            "category": st.lists(st.fixed_dictionaries({"coding": st.lists(CODINGS, max_size=2)}), max_size=2) | JSON,
            "valueQuantity": st.fixed_dictionaries({"value": SCALARS}) | JSON,
            "valueInteger": SCALARS, "valueBoolean": SCALARS,
            "valueCodeableConcept": st.fixed_dictionaries({"coding": st.lists(CODINGS, max_size=2)}) | JSON,
            "effectiveDateTime": SCALARS, "authored": SCALARS, "onsetDateTime": SCALARS, "birthDate": SCALARS,
            "questionnaire": st.sampled_from(["https://nekpijn-cds.org/fhir/Questionnaire/nekpijn-intake"]) | JSON,
            "item": st.lists(st.fixed_dictionaries({"linkId": SCALARS}, optional={"answer": JSON, "item": JSON}),
                             max_size=3) | JSON,
            "component": JSON, "clinicalStatus": JSON, "entry": JSON, "extension": JSON,
        })


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _paths(value, prefix + (i,))


@st.composite
def _mangle(draw, doc):
    """Up to three random edits anywhere in a JSON document: replace by any JSON value, or delete."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(0, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()):
            parent[path[-1]] = draw(JSON)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    return doc


def _draft(rid: str, system: str, code: str, patient: str) -> dict:
    return {"resourceType": "ServiceRequest", "id": rid, "status": "draft", "intent": "order",
            "code": {"coding": [{"system": system, "code": code}]}, "subject": {"reference": f"Patient/{patient}"}}


@st.composite
def hook_calls(draw):
    """(service, body): a well-formed call from a random case, then random FHIR-ish resources and edits."""
    case = draw(random_case())
    service = draw(st.sampled_from(sorted(SERVICES)))
    hook = draw(st.sampled_from(SERVICES[service]) | st.sampled_from(HOOKS))  # sometimes a hook of the other one
    resources = resources_of(case, TODAY)
    prefetch = prefetch_for(resources, PREFETCH_KEYS[hook])
    for key in draw(st.lists(st.sampled_from(sorted(prefetch)), max_size=3, unique=True)):
        extra = draw(st.lists(_fhirish(case["id"]), min_size=1, max_size=3))
        if isinstance(prefetch[key], dict) and prefetch[key].get("resourceType") == "Bundle":
            prefetch[key]["entry"] += [{"resource": r} for r in extra]
        else:
            prefetch[key] = extra[0]
    drafts = [_draft("d1", SNOMED, "231082000", case["id"]), _draft("d2", LOCAL, "int-semi-rigid-collar", case["id"])]
    body = hook_request(hook, case["id"], prefetch=prefetch, draft_orders=drafts)
    if "draftOrders" in body["context"]:
        body["context"]["draftOrders"]["entry"] += [{"resource": r}
                                                    for r in draw(st.lists(_fhirish(case["id"]), max_size=2))]
    body = draw(_mangle(body))
    if isinstance(body, dict) and "fhirServer" in body:
        body["fhirServer"] = CLOSED_FHIR_SERVER
    return service, body


def _assert_clean_answer(response):
    assert response.status_code < 500, response.text[:2000]
    body = response.json()
    if response.status_code == 200:
        assert set(body) == {"cards"} and isinstance(body["cards"], list), body
        for card in body["cards"]:
            assert card["summary"] and len(card["summary"]) < 140 and card["indicator"] in ("info", "warning",
                                                                                          "critical")
    else:
        assert body["resourceType"] == "OperationOutcome" and body["issue"], body


@settings(HYPOTHESIS, max_examples=120)
@given(call=hook_calls(), lang=st.sampled_from([None, "en", "nl;q=0.5, en;q=0.9", "*", "xx;q=abc"]))
def test_random_and_mangled_hook_calls_never_give_a_server_error(client, call, lang):
    service, body = call
    headers = {"Content-Type": "application/json", **({"Accept-Language": lang} if lang else {})}
    response = client.post(f"/cds-services/{service}", content=json.dumps(body), headers=headers)
    _assert_clean_answer(response)


@HYPOTHESIS
@given(service=st.sampled_from(sorted(SERVICES)), body=JSON,
       content_type=st.sampled_from(["application/json", "application/fhir+json", "text/plain", ""]))
def test_any_json_body_gives_a_clean_answer(client, service, body, content_type):
    response = client.post(f"/cds-services/{service}", content=json.dumps(body),
                           headers={"Content-Type": content_type} if content_type else {})
    _assert_clean_answer(response)
    feedback = client.post(f"/cds-services/{service}/feedback", content=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert feedback.status_code < 500 and (feedback.status_code == 200) == (feedback.json() == {})


@HYPOTHESIS
@given(raw=st.binary(max_size=200) | st.sampled_from([b"", b"{", b"NaN", b'{"hook": NaN}', b"[" * 5000,
                                                     b'{"a": ' * 3000, b"\xff\xfe{}", b'"\\ud800"']))
def test_any_bytes_give_a_clean_answer(client, raw):
    response = client.post(f"/cds-services/{BEHANDELPROFIEL}", content=raw, headers={"Content-Type": "application/json"})
    _assert_clean_answer(response)


@HYPOTHESIS
@given(case=random_case(), extra=st.lists(_fhirish("random"), max_size=4), data=st.data(),
       plan=st.sampled_from(PLANS))
def test_engine_gives_a_result_or_no_data_for_any_valid_fhir_input(engine, case, extra, data, plan):
    """The engine's input is valid FHIR R4 ($apply validates it first, a hook call when the engine fails):
    any valid resources, however odd, give a CarePlan or "no data about this patient"."""
    resources = [r for r in data.draw(_mangle(resources_of(case, TODAY) + extra)) if fhir_problem(r) is None]
    try:
        result = engine.apply(plan, resources, "Patient/random", now=NOW,
                              orders=[r for r in resources if r.get("resourceType") == "ServiceRequest"])
    except NoDataError:
        return
    assert result.careplan["resourceType"] == "CarePlan"
    json.dumps(result.careplan, allow_nan=False)  # answerable as JSON


def test_null_elements_the_screening_accepts_are_read_as_absent(engine):
    """The R4 screening (like the R4 models) takes a JSON null as an absent element; the facts layer must
    read it so too. Found by the property test above: an Observation with `"code": {"coding": null}` made
    service/facts/gather.py iterate over None (a TypeError inside the engine)."""
    case = next(c for c in cases() if any(r["resourceType"] == "Observation" for r in resources_of(c, TODAY)))
    plain = resources_of(case, TODAY)
    nulled = copy.deepcopy(plain)
    for resource in nulled:
        if resource["resourceType"] == "Observation":
            resource.setdefault("component", None)
            resource.setdefault("category", None)
        if resource["resourceType"] == "QuestionnaireResponse":
            for item in resource.get("item") or []:
                item.setdefault("item", None)
        if resource["resourceType"] == "Condition":
            resource.setdefault("category", None)
    nulled.append({"resourceType": "Observation", "id": "null-coding", "status": "final",
                   "code": {"coding": None, "text": "pijn"}, "subject": {"reference": "Patient/" + case["id"]}})
    assert all(fhir_problem(r) is None for r in nulled)  # what a hook call lets through to the engine
    for plan in PLANS:
        expected = engine.apply(plan, plain, "Patient/" + case["id"], now=NOW).careplan
        got = engine.apply(plan, nulled, "Patient/" + case["id"], now=NOW).careplan
        assert got["activity"] == expected["activity"]
        assert [r["id"] for r in got["contained"]] == [r["id"] for r in expected["contained"]]


def test_a_client_that_disconnects_mid_request_is_no_error(api_app, caplog):
    """A client that times out and goes away while its body is read (seen under overload)."""
    caplog.set_level(logging.INFO, logger="nekpijn_cds")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": f"/cds-services/{BEHANDELPROFIEL}", "raw_path": f"/cds-services/{BEHANDELPROFIEL}".encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                         (b"content-length", b"100000")]}
    messages = iter([{"type": "http.request", "body": b'{"hook": "patient-', "more_body": True},
                     {"type": "http.disconnect"}])
    sent: list[dict] = []

    async def receive():
        return next(messages, {"type": "http.disconnect"})

    async def send(message):
        sent.append(message)

    asyncio.run(api_app(scope, receive, send))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    assert any("client disconnected" in r.getMessage() for r in caplog.records)
    assert not any(m.get("status") == 500 for m in sent)


# ---------------------------------------------------------------------------
# the FHIR fetch through the service: a faulty FHIR server → 412 in time
# ---------------------------------------------------------------------------

# fetch_timeout stays above 1 s: the test server listens with a backlog of 5, and 8 concurrent fetches can
# cost a SYN retransmit (1 s) when it overflows
FETCH = dict(fetch_timeout=2.0, fetch_budget=3.0, fetch_max_pages=5)
FAULTS = [m for m in MODES if m not in ("normal", "slow")]
ALL_RESOURCES = [r for c in cases() for r in resources_of(c, TODAY)]
FETCH_CASE = "crs-excluded-in-principle"


@pytest.fixture(scope="module")
def fetch_client(tmp_path_factory):
    app = create_app(settings=_app_settings(tmp_path_factory, **FETCH), clock=lambda: NOW)
    return TestClient(app, raise_server_exceptions=False)


def _timed_call(client, body, limit: float):
    """POST a hook call in a thread; (response, seconds). Fails (rather than hangs) after `limit` + 5 s."""
    def post():
        started = time.perf_counter()
        response = client.post(f"/cds-services/{BEHANDELPROFIEL}", content=json.dumps(body),
                               headers={"Content-Type": "application/json"})
        return response, time.perf_counter() - started

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(post)
        try:
            return future.result(timeout=limit + 5)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"the hook call hung (no answer after {limit + 5:g} s)")


def _assert_412_in_time(client, server_url: str, limit: float) -> dict:
    body = hook_request("patient-view", FETCH_CASE, fhir_server=server_url, token="fhir-token-7d1e")
    response, elapsed = _timed_call(client, body, limit)
    assert response.status_code == 412, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] in ("incomplete",
                                                                                             "structure")
    assert "fhir-token-7d1e" not in response.text
    assert elapsed < limit, f"412 after {elapsed:.2f} s (limit {limit:g} s)"
    return outcome


def test_fetch_works_end_to_end_against_the_normal_server(fetch_client):
    with fhir_server(ALL_RESOURCES) as srv:
        body = hook_request("patient-view", FETCH_CASE, fhir_server=srv.base_url)
        response, _ = _timed_call(fetch_client, body, FETCH["fetch_budget"] + 1)
    assert response.status_code == 200 and response.json()["cards"], response.text


@pytest.mark.parametrize("mode", FAULTS)
def test_faulty_fhir_server_gives_412_within_the_budget(fetch_client, mode):
    with fhir_server(ALL_RESOURCES, mode=mode, fault_on="Observation") as srv:
        _assert_412_in_time(fetch_client, srv.base_url, FETCH["fetch_budget"] + 1)


def _fetch_log(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "nekpijn_cds.hooks.fetch")


@pytest.mark.parametrize("fault_on", ["Observation", None])
def test_slow_fhir_server_beyond_the_request_timeout_gives_412_in_time(fetch_client, fault_on, caplog):
    caplog.set_level(logging.INFO, "nekpijn_cds.hooks.fetch")
    with fhir_server(ALL_RESOURCES, mode="slow", delay=30, fault_on=fault_on) as srv:
        outcome = _assert_412_in_time(fetch_client, srv.base_url, FETCH["fetch_budget"] + 1)
    # the answer has one neutral text (issue 14); the reason is in the log only
    assert outcome["issue"][0]["diagnostics"] == FETCH_FAILED
    assert "no answer within" in _fetch_log(caplog) or "budget" in _fetch_log(caplog)


def test_slow_fhir_server_beyond_the_budget_gives_412_in_time(tmp_path_factory, caplog):
    caplog.set_level(logging.INFO, "nekpijn_cds.hooks.fetch")
    settings = dict(fetch_timeout=10.0, fetch_budget=1.5)  # the budget, not the request timeout, must end it
    client = TestClient(create_app(settings=_app_settings(tmp_path_factory, **settings), clock=lambda: NOW),
                        raise_server_exceptions=False)
    with fhir_server(ALL_RESOURCES, mode="slow", delay=30) as srv:
        outcome = _assert_412_in_time(client, srv.base_url, settings["fetch_budget"] + 1)
    assert outcome["issue"][0]["diagnostics"] == FETCH_FAILED and "budget of 1.5 s" in _fetch_log(caplog)


@contextmanager
def _raw_server(handler):
    """A TCP server on 127.0.0.1 whose connections `handler(conn)` serves, each in a thread."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=handler, args=(conn, stop), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/fhir"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _trickle(conn, stop):
    """Answers 200 and then a chunk of one byte every 0.1 s, forever (each socket read is quick)."""
    with conn:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            while not stop.is_set():
                conn.sendall(b"1\r\n \r\n")
                time.sleep(0.1)
        except OSError:
            pass


def _silent(conn, stop):
    """Accepts the connection and never answers."""
    with conn:
        stop.wait(60)


def _reset(conn, stop):
    """Reads the request and resets the connection."""
    conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


@pytest.mark.parametrize("handler", [_trickle, _silent, _reset], ids=["trickle", "silent", "reset"])
def test_misbehaving_tcp_peer_gives_412_within_the_budget(fetch_client, handler):
    with _raw_server(handler) as url:
        _assert_412_in_time(fetch_client, url, FETCH["fetch_budget"] + 1)


def test_fetched_patient_that_is_not_valid_fhir_gives_412(fetch_client):
    """The FHIR server answers, but with a Patient that is not valid R4: the call cannot be judged.
    (Any other invalid resource is left out and named in the CarePlan note: test_invalid_data_policy.py.)"""
    def broken(resource):
        if resource["resourceType"] == "Patient" and resource["id"] == FETCH_CASE:
            resource = copy.deepcopy(resource) | {"birthDate": "1990-13-45"}
        return resource

    with fhir_server([broken(r) for r in ALL_RESOURCES]) as srv:
        outcome = _assert_412_in_time(fetch_client, srv.base_url, FETCH["fetch_budget"] + 1)
    issue = outcome["issue"][0]
    assert issue["code"] == "structure" and issue["expression"] == ["prefetch.patient"], issue
    assert "fetched from the FHIR server" in issue["diagnostics"]


def test_fetched_intake_that_is_not_valid_fhir_is_left_out(fetch_client):
    """An intake the R4 models refuse (an answer that is a string) is left out, the call still answers."""
    def broken(resource):
        if resource["resourceType"] == "QuestionnaireResponse" and resource["subject"]["reference"].endswith(
                f"/{FETCH_CASE}"):
            resource = copy.deepcopy(resource)
            resource["item"][0]["item"][0]["answer"] = "not-an-array"
        return resource

    with fhir_server([broken(r) for r in ALL_RESOURCES]) as srv:
        body = hook_request("patient-view", FETCH_CASE, fhir_server=srv.base_url)
        response, _ = _timed_call(fetch_client, body, FETCH["fetch_budget"] + 1)
    assert response.status_code == 200, response.text


def test_prefetched_patient_that_is_not_valid_fhir_gives_400(fetch_client):
    case = next(c for c in cases() if c["id"] == FETCH_CASE)
    prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"])
    prefetch["patient"]["birthDate"] = "1990-13-45"
    response, _ = _timed_call(fetch_client, hook_request("patient-view", FETCH_CASE, prefetch=prefetch), 5)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["prefetch.patient"]


def test_unreachable_fhir_server_gives_412_at_once(fetch_client):
    _assert_412_in_time(fetch_client, CLOSED_FHIR_SERVER, 1.0)


# ---------------------------------------------------------------------------
# the database unavailable: PostgreSQL behind a proxy the test switches off
# ---------------------------------------------------------------------------


class DatabaseProxy:
    """A TCP proxy on 127.0.0.1 in front of the database, switched by the test.

    ``up``: forwards; ``refuse``: every connection is closed at once (a database
    that is down); ``blackhole``: connections are accepted and never answered
    (a database host that hangs). Leaving ``up`` cuts every open connection.
    """

    def __init__(self, host: str, port: int, mode: str = "up"):
        self.target = (host, port)
        self.mode = mode
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def set(self, mode: str) -> None:
        with self.lock:
            self.mode = mode
            if mode != "up":
                for sock in self.sockets:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    sock.close()
                self.sockets.clear()

    def close(self) -> None:
        self.stop.set()
        self.set("refuse")
        self.thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            with self.lock:
                mode = self.mode
                if mode == "refuse":
                    client.close()
                    continue
                self.sockets.add(client)
            if mode == "blackhole":
                continue  # held open, never answered, until the mode changes
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.add(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def pg_schema():
    url = make_url(PG_URL)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"nekpijn_robust_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for this test ({PG_URL}): {exc}")
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield url.update_query_dict({"options": f"-csearch_path={schema}"})
        finally:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def proxied_db(pg_schema):
    """(proxy, database URL through the proxy, direct URL); the proxy starts switched off."""
    proxy = DatabaseProxy(pg_schema.host or "127.0.0.1", pg_schema.port or 5432, mode="refuse")
    through = pg_schema.set(host="127.0.0.1", port=proxy.port).update_query_dict({"connect_timeout": "1"})
    try:
        yield proxy, through.render_as_string(hide_password=False), pg_schema.render_as_string(hide_password=False)
    finally:
        proxy.close()


AUDIENCE = "http://testserver/cds-services/" + BEHANDELPROFIEL
FHIR_TOKEN = "fhir-access-token-0b9e"
DB_CASE = "b-abnormal-duration"


def _db_app(tmp_path, database_url):
    signer = Signer.create(tmp_path)
    settings = Settings(auth="jwt", trusted_issuers_file=signer.issuers_file, database_url=database_url)
    return signer, create_app(settings=settings, clock=lambda: NOW)


def _hook_call(client, signer, *, token: str | None = None):
    case = next(c for c in cases() if c["id"] == DB_CASE)
    body = hook_request("patient-view", DB_CASE, prefetch=prefetch_for(resources_of(case, TODAY),
                                                                       PREFETCH_KEYS["patient-view"]))
    token = token or signer.token(AUDIENCE)
    response = client.post(f"/cds-services/{BEHANDELPROFIEL}", content=json.dumps(body),
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return body, token, response


def _assert_cards(response):
    assert response.status_code == 200, response.text
    assert response.json()["cards"], "advice while the database is down"


def _store_log(caplog) -> list[str]:
    return [r.getMessage() + (r.exc_text or "") for r in caplog.records if r.name.startswith("nekpijn_cds")]


def _wait_for_store(client, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/health").json()["store"] != "ok":
        assert time.monotonic() < deadline, "the store did not come back"
        time.sleep(0.1)


def test_database_down_hook_calls_get_cards_and_the_outage_is_logged_and_audited(tmp_path, proxied_db, caplog):
    proxy, url, direct = proxied_db
    caplog.set_level(logging.INFO, logger="nekpijn_cds")
    signer, app = _db_app(tmp_path, url)  # the database is down from the start: migration fails, logged
    with TestClient(app, raise_server_exceptions=False) as client:
        tokens, bodies = [], []
        for _ in range(3):
            body, token, response = _hook_call(client, signer)
            _assert_cards(response)
            tokens.append(token)
            bodies.append(body)
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["store"] == "unavailable"
        # a replayed token is still refused (the replay check falls back to this process)
        _, _, replay = _hook_call(client, signer, token=tokens[0])
        assert replay.status_code == 401 and "replay" in replay.text
        # feedback cannot be stored: the client is told to retry (not a 500)
        feedback = client.post(f"/cds-services/{BEHANDELPROFIEL}/feedback",
                               content=json.dumps({"feedback": [{"card": "x", "outcome": "overridden",
                                                                 "outcomeTimestamp": "2026-11-02T11:00:00Z"}]}),
                               headers=signer.headers(AUDIENCE + "/feedback"))
        assert feedback.status_code == 503 and feedback.json()["resourceType"] == "OperationOutcome"

        log = _store_log(caplog)
        assert any("store unavailable" in line for line in log), log
        assert sum("store unavailable (" in line for line in log) == 1, "one error per outage, not per write"
        for line in log:
            assert DB_CASE not in line and FHIR_TOKEN not in line
            assert not any(token in line for token in tokens)

        # the database is back: once the probe has seen it, calls are stored, and so is the outage report
        proxy.set("up")
        _wait_for_store(client)
        body, _, response = _hook_call(client, signer)
        _assert_cards(response)
        assert any("store available again" in line for line in _store_log(caplog))

        # down again while connections are pooled, and back
        proxy.set("refuse")
        lost, _, response = _hook_call(client, signer)
        _assert_cards(response)
        proxy.set("up")
        _wait_for_store(client)
        after, _, response = _hook_call(client, signer)
        _assert_cards(response)

    store = Store.from_url(direct)
    try:
        entries = store.audit(limit=100)
        instances = {e.hook_instance for e in entries}
        assert body["hookInstance"] in instances and after["hookInstance"] in instances
        assert not {b["hookInstance"] for b in bodies} & instances and lost["hookInstance"] not in instances
        outages = [e for e in entries if e.outcome == "store-outage"]
        assert len(outages) == 2, [(e.service, e.outcome) for e in entries]
        first, latest = sorted(outages, key=lambda e: e.at)
        # not stored: the 3 hook calls (audit entry, cards, jti), the jti of the refused replay and of the feedback
        assert first.card_summaries[1] == ("not stored: 3 audit entries, 3 issued-card records, "
                                           "5 replay-cache records"), first.card_summaries
        assert first.status == 503 and first.duration_ms > 0 and first.patient_hash is None
        assert latest.card_summaries[1] == "not stored: 1 audit entries, 1 issued-card records, " \
                                           "1 replay-cache records", latest.card_summaries
    finally:
        store.close()


def test_unreachable_postgresql_from_the_environment_still_gives_cards(caplog):
    """NEKPIJN_DATABASE_URL at a closed port: the service starts, answers with cards, says so in /health."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    caplog.set_level(logging.INFO, logger="nekpijn_cds")
    settings = Settings.from_env({"NEKPIJN_AUTH": "off", "NEKPIJN_DATABASE_URL":
                                  f"postgresql+psycopg://postgres@127.0.0.1:{closed}/test?connect_timeout=1"})
    with TestClient(create_app(settings=settings, clock=lambda: NOW), raise_server_exceptions=False) as client:
        case = next(c for c in cases() if c["id"] == DB_CASE)
        for hook, service in (("patient-view", BEHANDELPROFIEL), ("order-sign", ORDERS)):
            prefetch = prefetch_for(resources_of(case, TODAY), PREFETCH_KEYS[hook])
            drafts = [_draft("d1", SNOMED, "231082000", DB_CASE)]
            body = hook_request(hook, DB_CASE, prefetch=prefetch, draft_orders=drafts)
            _assert_cards(client.post(f"/cds-services/{service}", json=body))
        assert client.get("/health").json()["store"] == "unavailable"
        summary = client.get(f"/cds-services/{BEHANDELPROFIEL}/feedback/summary")
        assert summary.status_code == 503 and summary.json()["resourceType"] == "OperationOutcome"
    log = _store_log(caplog)
    assert any("store unavailable" in line and "Connection refused" in line for line in log), log
    assert not any(DB_CASE in line for line in log)


def test_hung_database_neither_stalls_the_service_nor_costs_the_answer(tmp_path, proxied_db):
    """A database host that accepts connections and never answers (connect_timeout 1 s here, 5 s by default).

    Finding out costs the calls in flight about one connect timeout; from then on (a known outage)
    nothing waits for the database until the probe finds it answering again.
    """
    proxy, url, direct = proxied_db
    proxy.set("up")
    signer, app = _db_app(tmp_path, url)
    with TestClient(app, raise_server_exceptions=False) as client:
        _assert_cards(_hook_call(client, signer)[2])  # migrated, pool warm
        proxy.set("blackhole")

        def timed(fn):
            started = time.perf_counter()
            result = fn()
            return result, time.perf_counter() - started

        def metadata():
            return client.get("/fhir/metadata", headers=signer.headers("http://testserver/fhir/metadata"))

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            finding_out = [pool.submit(timed, lambda: _hook_call(client, signer)[2]) for _ in range(4)]
            finding_out.append(pool.submit(timed, metadata))
            for future in finding_out:
                response, seconds = future.result(timeout=30)
                assert response.status_code == 200 and seconds < 5, (response.status_code, seconds)
            known = [pool.submit(timed, lambda: _hook_call(client, signer)[2]) for _ in range(8)]
            known += [pool.submit(timed, metadata) for _ in range(4)]
            for future in known:
                response, seconds = future.result(timeout=30)
                assert response.status_code == 200, response.text
                assert seconds < 0.5, f"a call waited {seconds:.1f} s for a database known to be down"
        assert client.get("/health").json()["store"] == "unavailable"
        proxy.set("up")
        _wait_for_store(client)
        body, _, response = _hook_call(client, signer)
        _assert_cards(response)
    store = Store.from_url(direct)
    try:
        entries = store.audit(limit=20)
        assert body["hookInstance"] in {e.hook_instance for e in entries}
        assert [e.outcome for e in entries].count("store-outage") == 1
    finally:
        store.close()
