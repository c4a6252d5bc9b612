"""A real FHIR server: our artifacts and patients in HAPI FHIR JPA server, hooks served from it.

One HAPI FHIR JPA server (R4, H2 in memory; tools/hapi_server.py, interop/hapi/) for the
module, with HAPI's default storage settings (referential integrity on write):

1. the knowledge: the split transaction Bundles (≤ 50 entries, as dist/fhir/bundle-transaction-
   <n>.json, written from the committed artifacts by the knowledge build's own function) are
   posted in order; every artifact is then on the server (count per resource type, read back
   by id unchanged, found by canonical URL);
2. the example patients (examples/*.json, collection Bundles, posted as transactions of PUTs),
   then the patients of every reference case (tests/cases/cases.yaml, built for the test's
   fixed day like tests/test_case_hooks.py) over them;
3. every reference case as a patient-view call (and order-select / order-sign for a case with
   draft orders) WITHOUT prefetch, `fhirServer` = HAPI, gives the same cards as the same call
   WITH the full prefetch (cards compared whole, after numbering the random UUIDs in order of
   appearance); the call without prefetch really fetched every template from HAPI. HAPI runs
   with a default page size of PAGE_SIZE, so that every search with more results comes in
   pages: the service follows HAPI's own `next` links (`?_getpages=...`);
4. a control: with a case's intake deleted from HAPI, the cards differ (the comparison can fail).

Timings (start-up, loading, calls) are written to build/hapi/timings.json.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from xml.etree.ElementTree import canonicalize

import httpx
import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, TODAY, case_bundle, cases, data_dictionary
from hooks_support import ehr_prefetch, hook_request, resources_of
from service.app import create_app
from service.cds_hooks.discovery import PREFETCH_KEYS
from service.config import Settings
from tools import hapi_server
from tools.case_bundles import build_draft_orders, order_reference
from tools.sources import ROOT

BASE = "http://testserver"
SERVICES = {"patient-view": "nekpijn-behandelprofiel", "order-select": "nekpijn-orders-select",
            "order-sign": "nekpijn-orders-sign"}
CASES = cases()
CALLS = [(case, "patient-view") for case in CASES] + \
    [(case, hook) for case in CASES if case.get("orders") for hook in ("order-select", "order-sign")]
TIMINGS = ROOT / "build" / "hapi" / "timings.json"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
PAGE_SIZE = 2  # the most Observations of one prefetch key in a case is 5: up to 3 pages, within fetch_max_pages


@pytest.fixture(scope="module")
def timings():
    figures: dict[str, float] = {}
    yield figures
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text(json.dumps({k: round(v, 2) for k, v in figures.items()}, indent=1), encoding="utf-8")


@pytest.fixture(scope="module")
def hapi(timings):
    with hapi_server.hapi_server(page_size=PAGE_SIZE) as server:
        timings["hapi_startup_s"] = server.startup_seconds
        yield server


@pytest.fixture(scope="module")
def fhir(hapi):
    with hapi.client() as client:
        yield client


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return hapi_server.knowledge_parts(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def artifacts() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(hapi_server.ARTIFACTS.glob("*.json"))]


@pytest.fixture(scope="module")
def knowledge_loaded(fhir, parts, timings) -> list[dict]:
    started = time.monotonic()
    responses = hapi_server.load_knowledge(fhir, parts)
    timings["load_knowledge_s"] = time.monotonic() - started
    return responses


@pytest.fixture(scope="module")
def patients_loaded(fhir, knowledge_loaded, timings) -> list[str]:
    """Examples first, as they are, then the reference cases over them (same ids: the cases'
    data wins). The example files loaded."""
    started = time.monotonic()
    loaded = hapi_server.load_examples(fhir, EXAMPLES)
    timings["load_examples_s"] = time.monotonic() - started
    started = time.monotonic()
    for case in CASES:
        hapi_server.post_transaction(fhir, hapi_server.as_transaction(case_bundle(case, TODAY)))
    timings["load_cases_s"] = time.monotonic() - started
    return loaded


# -- the knowledge ------------------------------------------------------------------------

def test_the_parts_are_small_transactions_of_every_artifact(parts, artifacts):
    bundles = [json.loads(p.read_text(encoding="utf-8")) for p in parts]
    assert all(b["type"] == "transaction" and len(b["entry"]) <= 50 for b in bundles)
    posted = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for b in bundles for e in b["entry"]]
    assert sorted(posted) == sorted(f"{a['resourceType']}/{a['id']}" for a in artifacts)
    assert len(bundles) > 1, "fewer artifacts than one transaction holds: the split is not exercised"


def test_every_part_loads(knowledge_loaded, parts):
    assert len(knowledge_loaded) == len(parts)
    for part, response in zip(parts, knowledge_loaded):
        assert response["type"] == "transaction-response"
        statuses = [e["response"]["status"] for e in response["entry"]]
        assert len(statuses) == len(json.loads(part.read_text(encoding="utf-8"))["entry"])
        assert all(s.startswith(("200", "201")) for s in statuses), (part.name, Counter(statuses))


def test_the_server_holds_every_artifact(fhir, knowledge_loaded, artifacts):
    for rtype, count in Counter(a["resourceType"] for a in artifacts).items():
        response = fhir.get(rtype, params={"_summary": "count"})
        assert response.status_code == 200, hapi_server.outcome_text(response)
        assert response.json()["total"] == count, rtype


def _content(resource: dict) -> dict:
    """What a server may not change: all but meta (versionId, lastUpdated are the server's),
    the narrative as canonical XML (HAPI writes the div's attributes in another order)."""
    content = {k: v for k, v in resource.items() if k != "meta"}
    if "div" in content.get("text", {}):
        content["text"] = {**content["text"], "div": canonicalize(content["text"]["div"])}
    return content


def test_every_artifact_reads_back_unchanged(fhir, knowledge_loaded, artifacts):
    changed = []
    for artifact in artifacts:
        response = fhir.get(f"{artifact['resourceType']}/{artifact['id']}")
        assert response.status_code == 200, hapi_server.outcome_text(response)
        if _content(response.json()) != _content(artifact):
            changed.append(f"{artifact['resourceType']}/{artifact['id']}")
    assert not changed, f"{len(changed)} artifacts read back changed: {changed[:10]}"


def test_artifacts_are_found_by_canonical_url(fhir, knowledge_loaded, artifacts):
    canonical = [a for a in artifacts if "url" in a]
    assert {"PlanDefinition", "ActivityDefinition", "Questionnaire", "CodeSystem", "ValueSet",
            "StructureDefinition"} <= {a["resourceType"] for a in canonical}
    for artifact in canonical:
        response = fhir.get(artifact["resourceType"], params={"url": artifact["url"]})
        assert response.status_code == 200, hapi_server.outcome_text(response)
        found = [e["resource"]["id"] for e in response.json().get("entry", [])]
        assert found == [artifact["id"]], (artifact["url"], found)


def test_hapi_also_takes_the_whole_bundle_in_one_transaction(fhir, knowledge_loaded, artifacts):
    """HAPI has no 50-entry limit (Medplum has, hence the parts): the single Bundle of
    dist/fhir/bundle-transaction.json loads too, over the parts (identical PUTs: no change)."""
    from tools.packaging import transaction_bundle

    whole = transaction_bundle(hapi_server.ARTIFACTS)
    assert len(whole["entry"]) == len(artifacts) > 50
    response = hapi_server.post_transaction(fhir, whole)
    assert all(e["response"]["status"].startswith("200") for e in response["entry"])
    assert fhir.get("PlanDefinition", params={"_summary": "count"}).json()["total"] == \
        sum(a["resourceType"] == "PlanDefinition" for a in artifacts)


# -- the patients -------------------------------------------------------------------------

def test_the_examples_and_cases_load(fhir, patients_loaded):
    # every example as it is (HAPI checks references on write: each holds its patient)
    assert patients_loaded == [p.name for p in EXAMPLES]
    for path in EXAMPLES:
        for entry in json.loads(path.read_text(encoding="utf-8"))["entry"]:
            subject = (entry["resource"].get("subject") or {}).get("reference")
            if subject and path.name.startswith("self-check-"):  # the anonymous self-check patient
                response = fhir.get(subject)
                assert response.status_code == 200, hapi_server.outcome_text(response)
                assert set(response.json()) <= {"resourceType", "id", "meta"}
    for case in CASES:
        for resource in resources_of(case, TODAY):
            response = fhir.get(f"{resource['resourceType']}/{resource['id']}")
            assert response.status_code == 200, hapi_server.outcome_text(response)
            assert _content(response.json()) == _content(resource), f"{resource['resourceType']}/{resource['id']}"


# -- hooks without prefetch ---------------------------------------------------------------

@pytest.fixture(scope="module")
def service(signer, tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "hooks.db"
    # generous fetch bounds: a JVM on a shared 2-core machine; the figures are in timings.json
    settings = Settings(auth="jwt", trusted_issuers_file=signer.issuers_file, database_url=f"sqlite:///{db}",
                        max_body_bytes=2_000_000, fetch_timeout=30.0, fetch_budget=60.0)
    return TestClient(create_app(settings=settings, clock=lambda: NOW), raise_server_exceptions=False)


@pytest.fixture
def fetches(monkeypatch) -> list[tuple[str, int]]:
    """(URL, status) of every request the service's fetch layer sends (httpx.AsyncClient)."""
    seen: list[tuple[str, int]] = []
    original = httpx.AsyncClient.send

    async def send(self, request, *args, **kwargs):
        response = await original(self, request, *args, **kwargs)
        seen.append((str(request.url), response.status_code))
        return response

    monkeypatch.setattr(httpx.AsyncClient, "send", send)
    return seen


def normalised(cards: list[dict]) -> list[dict]:
    """The cards with every UUID (card and suggestion uuids, ids of new resources and the
    references to them) numbered in order of appearance: equal cards compare equal."""
    numbers: dict[str, str] = {}
    text = UUID.sub(lambda m: numbers.setdefault(m.group(0), f"uuid-{len(numbers)}"), json.dumps(cards))
    return json.loads(text)


def hook_body(case: dict, hook: str, **extra) -> dict:
    drafts = build_draft_orders(case, data_dictionary()) if hook != "patient-view" else None
    selections = [order_reference(o) for o in drafts] if hook == "order-select" else None
    return hook_request(hook, case["id"], draft_orders=drafts, selections=selections, **extra)


def call(service, signer, hook: str, body: dict, lang: str | None):
    url = f"{BASE}/cds-services/{SERVICES[hook]}"
    headers = signer.headers(url)
    if lang:
        headers["Accept-Language"] = lang
    return service.post(f"/cds-services/{SERVICES[hook]}", content=json.dumps(body), headers=headers)


@pytest.mark.parametrize("case, hook", CALLS, ids=[f"{c['id']}-{h}" for c, h in CALLS])
def test_hook_without_prefetch_gives_the_cards_of_the_prefetch(service, signer, hapi, patients_loaded, fetches,
                                                               timings, case, hook):
    templates = PREFETCH_KEYS[hook]
    with_prefetch = hook_body(case, hook, prefetch=ehr_prefetch(resources_of(case, TODAY), templates, case["id"]))
    response = call(service, signer, hook, with_prefetch, case.get("language"))
    assert response.status_code == 200, response.text
    assert not fetches, f"a full prefetch, yet the service fetched {fetches}"
    expected = response.json()["cards"]

    started = time.monotonic()
    response = call(service, signer, hook, hook_body(case, hook, fhir_server=hapi.base_url), case.get("language"))
    seconds = time.monotonic() - started
    assert response.status_code == 200, response.text
    timings["hook_calls_without_prefetch"] = timings.get("hook_calls_without_prefetch", 0) + 1
    timings["hook_seconds_without_prefetch_total"] = timings.get("hook_seconds_without_prefetch_total", 0.0) + seconds
    timings["hook_seconds_without_prefetch_max"] = max(timings.get("hook_seconds_without_prefetch_max", 0.0), seconds)
    asked = [url for url, _status in fetches]
    assert all(url.startswith(hapi.base_url) for url in asked), asked
    assert all(status == 200 for _url, status in fetches), fetches
    pages = [url for url in asked if "_getpages=" in url]
    timings["hapi_next_pages_followed"] = timings.get("hapi_next_pages_followed", 0) + len(pages)
    assert len(asked) - len(pages) == len(templates), f"{len(asked)} requests for {len(templates)} templates: {asked}"
    assert normalised(response.json()["cards"]) == normalised(expected)
    if hook == "patient-view":  # every case has a patient-view card (tests/test_case_hooks.py)
        assert expected, f"{case['id']}: no card at all (the comparison would be empty)"


def test_hapi_paged_and_the_service_followed(timings):
    """Runs after the hook calls (file order): some search had more than PAGE_SIZE results."""
    assert timings.get("hook_calls_without_prefetch") == len(CALLS)
    assert timings.get("hapi_next_pages_followed", 0) > 0


def test_control_the_cards_follow_the_server_data(service, signer, hapi, fhir, patients_loaded):
    """The comparison can fail: without the case's intake on the server, other cards."""
    case = next(c for c in CASES if c["id"] == "a-normal-course")
    intake = next(r for r in resources_of(case, TODAY) if r["resourceType"] == "QuestionnaireResponse")
    with_prefetch = hook_body(case, "patient-view",
                              prefetch=ehr_prefetch(resources_of(case, TODAY), PREFETCH_KEYS["patient-view"], case["id"]))
    expected = call(service, signer, "patient-view", with_prefetch, None).json()["cards"]
    deleted = fhir.delete(f"QuestionnaireResponse/{intake['id']}")
    assert deleted.status_code in (200, 204), hapi_server.outcome_text(deleted)
    try:
        response = call(service, signer, "patient-view", hook_body(case, "patient-view", fhir_server=hapi.base_url),
                        None)
        assert response.status_code == 200, response.text
        assert normalised(response.json()["cards"]) != normalised(expected)
    finally:
        hapi_server.post_transaction(fhir, hapi_server.as_transaction({"entry": [{"resource": intake}]}))
    response = call(service, signer, "patient-view", hook_body(case, "patient-view", fhir_server=hapi.base_url), None)
    assert normalised(response.json()["cards"]) == normalised(expected)
