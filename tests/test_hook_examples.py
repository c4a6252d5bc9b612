"""The sample hook requests in examples/hooks/ (built by tools/make_hook_examples.py).

1. the committed files are exactly the generator's output (and nothing else is there);
2. each request fills every prefetch key the service's discovery entry advertises, with
   the answers of a FHIR server: together they hold every resource of the reference case;
3. every resource in a request parses as FHIR R4 (fhir.resources R4B models);
4. each request, posted as it is to the service that answers its hook (JWT on, the
   service's clock on the examples' evaluation day), gives 200 and the cards the reference
   case expects (the same checks as tests/test_case_hooks.py).
"""

from __future__ import annotations

import json
from datetime import datetime, time

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class

from apply_support import cases
from service.app import create_app
from service.config import Settings
from service.facts.model import AMSTERDAM
from test_case_hooks import assert_hook_case, assert_order_cards
from tools.make_examples import EVALUATION_DAY, EXAMPLES
from tools.make_hook_examples import OUT, REFERENCE_CASE, SERVICES, example_texts, stale

BASE = "http://testserver"
EXAMPLE_NOW = datetime.combine(EVALUATION_DAY, time(12, 0), AMSTERDAM)
HOOKS = list(SERVICES)


def example(hook: str) -> dict:
    return json.loads((OUT / f"{hook}.json").read_text(encoding="utf-8"))


def reference_case() -> dict:
    return next(c for c in cases() if c["id"] == REFERENCE_CASE)


def resources_in(value) -> list[dict]:
    if value is None:
        return []
    if value["resourceType"] == "Bundle":
        return [e["resource"] for e in value.get("entry", [])]
    return [value]


@pytest.fixture(scope="module")
def client(tmp_path_factory, signer):
    db = tmp_path_factory.mktemp("db") / "hook-examples.db"
    settings = Settings(auth="jwt", trusted_issuers_file=signer.issuers_file, database_url=f"sqlite:///{db}")
    return TestClient(create_app(settings=settings, clock=lambda: EXAMPLE_NOW), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def discovery(client, signer) -> dict[str, dict]:
    response = client.get("/cds-services", headers=signer.headers(f"{BASE}/cds-services"))
    assert response.status_code == 200, response.text
    return {s["id"]: s for s in response.json()["services"]}


def test_committed_examples_are_the_generators_output():
    assert not stale(), f"examples/hooks/ is stale, run `make examples`: {stale()}"
    assert sorted(p.name for p in OUT.iterdir()) == sorted(example_texts()), "files in examples/hooks/ the generator does not write"
    assert sorted(example_texts()) == sorted(f"{hook}.json" for hook in HOOKS)


def test_one_service_per_hook_in_discovery(discovery):
    assert {s["hook"]: sid for sid, s in discovery.items() if s["hook"] in SERVICES} == SERVICES


@pytest.mark.parametrize("hook", HOOKS)
def test_every_prefetch_key_of_discovery_is_filled(discovery, hook):
    body = example(hook)
    advertised = discovery[SERVICES[hook]]["prefetch"]
    assert body["hook"] == hook
    assert sorted(body["prefetch"]) == sorted(advertised), f"{hook}: prefetch keys differ from discovery"
    missing = [key for key, value in body["prefetch"].items() if value is None]
    assert not missing, f"{hook}: prefetch keys without an answer: {missing}"
    for key, template in advertised.items():
        value = body["prefetch"][key]
        expected_type = template.split("?")[0].split("/")[0]
        if "?" in template:
            assert value["resourceType"] == "Bundle" and value["type"] == "searchset", key
            assert value["total"] == len(value["entry"]), key
            assert all(r["resourceType"] == expected_type for r in resources_in(value)), key
        else:
            assert value["resourceType"] == expected_type, key
    # together the keys hold the whole reference case (what the case's example Bundle holds)
    bundle = json.loads((EXAMPLES / f"{REFERENCE_CASE}.json").read_text(encoding="utf-8"))
    case_resources = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    prefetched = {f"{r['resourceType']}/{r['id']}" for v in body["prefetch"].values() for r in resources_in(v)}
    assert prefetched == case_resources


@pytest.mark.parametrize("hook", HOOKS)
def test_every_resource_is_valid_fhir_r4(hook):
    body = example(hook)
    resources = [r for v in body["prefetch"].values() for r in resources_in(v)]
    resources += [v for v in body["prefetch"].values() if v and v["resourceType"] == "Bundle"]
    if "draftOrders" in body["context"]:
        resources += [body["context"]["draftOrders"], *resources_in(body["context"]["draftOrders"])]
    for resource in resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    collection = body["context"].get("draftOrders")
    if collection is not None:
        assert collection["type"] == "collection" and "total" not in collection  # bdl-1
        selections = body["context"].get("selections", [])
        drafts = {f"{r['resourceType']}/{r['id']}" for r in resources_in(collection)}
        assert set(selections) <= drafts


@pytest.mark.parametrize("hook", HOOKS)
def test_posted_example_gives_the_expected_cards(client, signer, hook):
    service = SERVICES[hook]
    response = client.post(f"/cds-services/{service}", content=(OUT / f"{hook}.json").read_bytes(),
                           headers=signer.headers(f"{BASE}/cds-services/{service}"))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    case = reference_case()
    if hook in ("order-select", "order-sign"):
        assert_order_cards(cards, case)
        assert len(cards) == len([o for o in case["expect_orders"].values() if o["indicator"] != "none"])
    else:
        plan = client.post(f"/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply",
                           json=apply_parameters_of_example(), headers={
                               **signer.headers(f"{BASE}/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply"),
                               "Content-Type": "application/fhir+json"})
        assert plan.status_code == 200, plan.text
        assert_hook_case(cards, case, plan.json())


def apply_parameters_of_example() -> dict:
    """$apply input for the reference case's example Bundle (the same resources and day)."""
    bundle = json.loads((EXAMPLES / f"{REFERENCE_CASE}.json").read_text(encoding="utf-8"))
    return {"resourceType": "Parameters", "parameter": [
        {"name": "subject", "valueString": f"Patient/{REFERENCE_CASE}"},
        {"name": "data", "resource": bundle}]}
