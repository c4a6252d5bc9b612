"""CDS Hooks service requests: validation (request.py) and prefetch/fetch semantics (fetch.py).

The fetch tests run against tests/fhir_test_server.py, a FHIR server in a
separate process, holding the resources of every reference case of
tests/cases/cases.yaml (so that searches really have to filter by patient).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import time
import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings as hyp_settings, strategies as st

from fhir_test_server import fhir_server
from service.cds_hooks.fetch import (
    FetchResult,
    PrefetchUnavailable,
    TemplateError,
    expand_template,
    gather_resources,
)
from service.cds_hooks.request import HookRequest, HookRequestError, parse_hook_request
from service.config import Settings
from tools.case_bundles import QUESTIONNAIRE, build_case_bundle

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 2)
CASES = yaml.safe_load((ROOT / "tests" / "cases" / "cases.yaml").read_text(encoding="utf-8"))["cases"]
DATA_DICTIONARY = yaml.safe_load((ROOT / "dak" / "data-dictionary.yaml").read_text(encoding="utf-8"))
BUNDLES = {case["id"]: build_case_bundle(case, TODAY, DATA_DICTIONARY) for case in CASES}
ALL_RESOURCES = [e["resource"] for b in BUNDLES.values() for e in b["entry"]]
CASE = "a-normal-course"
MANY_OBS = "crs-excluded-in-principle"  # 5 Observations

TOKEN = "test-access-token-5f1c0f0e"
HOOKS = ["patient-view", "encounter-start", "order-select", "order-sign"]
# Test templates in the shape of the service's discovery document
TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "intake": "QuestionnaireResponse?subject=Patient/{{context.patientId}}&questionnaire=" + QUESTIONNAIRE,
    "observations": "Observation?subject=Patient/{{context.patientId}}",
    "conditions": "Condition?subject=Patient/{{context.patientId}}&clinical-status=active",
}
SETTINGS = dataclasses.replace(Settings(), fetch_timeout=2.0, fetch_budget=4.0, fetch_max_pages=5)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def resources_of(case_id: str) -> list[dict]:
    return [e["resource"] for e in BUNDLES[case_id]["entry"]]


def keyset(resources: list[dict]) -> set[tuple[str, str]]:
    return {(r["resourceType"], r["id"]) for r in resources}


def canonical(resources: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in resources)


def searchset(resources: list[dict], **extra) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources], **extra}


def full_prefetch(case_id: str) -> dict:
    res = resources_of(case_id)
    of = lambda t: [r for r in res if r["resourceType"] == t]  # noqa: E731
    return {"patient": of("Patient")[0], "intake": searchset(of("QuestionnaireResponse")),
            "observations": searchset(of("Observation")), "conditions": searchset(of("Condition"))}


def context_for(hook: str, patient: str = CASE) -> dict:
    context: dict = {"userId": "Practitioner/physio-1", "patientId": patient}
    if hook == "encounter-start":
        context["encounterId"] = "enc-1"
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "ServiceRequest", "id": "sr-draft-1", "status": "draft", "intent": "order",
                          "subject": {"reference": f"Patient/{patient}"}}}]}
    if hook == "order-select":
        context["selections"] = ["ServiceRequest/sr-draft-1"]
    if hook == "encounter-discharge":
        context["encounterId"] = "enc-1"
    if hook == "appointment-book":
        context["appointments"] = {"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Appointment", "id": "ap-1", "status": "proposed"}}]}
    if hook == "order-dispatch":
        del context["userId"]
        context.update(dispatchedOrders=["ServiceRequest/sr-1"], performer="Organization/physio-practice",
                       fulfillmentTasks=[{"resourceType": "Task", "id": "t-1", "status": "requested"}])
    return context


def body(hook: str = "patient-view", patient: str = CASE, *, server: str | None = None, token: str | None = TOKEN,
         prefetch: dict | None = None, **context) -> dict:
    out: dict = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": {**context_for(hook, patient), **context}}
    if server:
        out["fhirServer"] = server
        if token:
            out["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                        "scope": "user/*.read", "subject": "nekpijn-cds"}
    if prefetch is not None:
        out["prefetch"] = prefetch
    return out


def request(**kwargs) -> HookRequest:
    hook = kwargs.get("hook", "patient-view")
    return parse_hook_request(body(**kwargs), [hook])


def gather(req: HookRequest, templates: dict | None = None, settings: Settings = SETTINGS, **kw) -> FetchResult:
    return asyncio.run(gather_resources(req, TEMPLATES if templates is None else templates, settings, **kw))


def unavailable(req: HookRequest, templates: dict | None = None, settings: Settings = SETTINGS) -> PrefetchUnavailable:
    with pytest.raises(PrefetchUnavailable) as info:
        gather(req, templates, settings)
    assert TOKEN not in str(info.value)
    return info.value


def bad(payload: object, hooks: list[str] | None = None) -> HookRequestError:
    with pytest.raises(HookRequestError) as info:
        parse_hook_request(payload, hooks or HOOKS)
    assert info.value.status == 400
    return info.value


@pytest.fixture(scope="module")
def server():
    """The normal test server with every case's resources, bearer token required."""
    with fhir_server(ALL_RESOURCES, token=TOKEN) as srv:
        yield srv


@pytest.fixture
def fresh(server):
    server.clear()
    return server


# ---------------------------------------------------------------------------
# Request validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("hook", HOOKS)
def test_valid_request_of_each_hook(hook):
    req = parse_hook_request(body(hook, server="https://ehr.example.org/fhir/"), [hook])
    assert req.hook == hook and req.patient == f"Patient/{CASE}" and req.patient_reference == req.patient
    assert req.fhir_server == "https://ehr.example.org/fhir"
    assert req.fhir_authorization.access_token == TOKEN and req.practitioner == "Practitioner/physio-1"
    assert TOKEN not in repr(req) and TOKEN not in str(req.fhir_authorization)
    assert req.encounter == ("Encounter/enc-1" if hook == "encounter-start" else None)
    assert len(req.draft_orders) == (1 if hook.startswith("order") else 0)
    assert req.prefetch_tokens()["context.patientId"] == CASE
    assert req.prefetch_tokens()["userPractitionerId"] == "physio-1"


REQUIRED = {
    "patient-view": ["userId", "patientId"],
    "encounter-start": ["userId", "patientId", "encounterId"],
    "order-select": ["userId", "patientId", "selections", "draftOrders"],
    "order-sign": ["userId", "patientId", "draftOrders"],
    "order-dispatch": ["patientId", "dispatchedOrders", "performer"],
    "appointment-book": ["userId", "patientId", "appointments"],
    "encounter-discharge": ["userId", "patientId", "encounterId"],
}


@pytest.mark.parametrize("hook", ["order-dispatch", "appointment-book", "encounter-discharge"])
def test_further_library_hooks(hook):
    req = parse_hook_request(body(hook), [hook])
    assert req.patient == f"Patient/{CASE}"
    if hook == "order-dispatch":
        assert req.practitioner is None and req.prefetch_tokens() == {
            "context.patientId": CASE, "context.performer": "Organization/physio-practice"}
        for name, value in [("dispatchedOrders", "ServiceRequest/1"), ("performer", "physio"),
                            ("fulfillmentTasks", [{"id": "t"}])]:
            payload = body(hook)
            payload["context"][name] = value
            assert bad(payload, [hook]).expression[0].startswith(f"context.{name}")


@pytest.mark.parametrize("hook,name", [(h, n) for h, names in REQUIRED.items() for n in names])
def test_each_required_context_field(hook, name):
    payload = body(hook)
    del payload["context"][name]
    error = bad(payload, [hook])
    assert error.expression == [f"context.{name}"] and "required" in error.message


@pytest.mark.parametrize("name,value,where", [
    ("patientId", 123, "context.patientId"),
    ("patientId", "Patient/123", "context.patientId"),
    ("patientId", "", "context.patientId"),
    ("userId", "physio-1", "context.userId"),
    ("userId", "Device/1", "context.userId"),
    ("userId", ["Practitioner/1"], "context.userId"),
    ("encounterId", {"id": "1"}, "context.encounterId"),
    ("selections", "ServiceRequest/sr-draft-1", "context.selections"),
    ("selections", [1], "context.selections[0]"),
    ("selections", ["sr-draft-1"], "context.selections[0]"),
    ("draftOrders", [], "context.draftOrders"),
    ("draftOrders", {"resourceType": "ServiceRequest"}, "context.draftOrders.resourceType"),
    ("draftOrders", {"resourceType": "Bundle", "entry": [{"resource": {"id": "x"}}]},
     "context.draftOrders.entry[0].resource"),
])
def test_context_field_types(name, value, where):
    payload = body("order-select")
    payload["context"][name] = value
    assert bad(payload).expression == [where]


def test_optional_encounter_and_unknown_context_fields_are_accepted():
    req = parse_hook_request(body(encounterId="enc-9", somethingElse={"x": 1}), ["patient-view"])
    assert req.encounter == "Encounter/enc-9" and req.context["somethingElse"] == {"x": 1}


@pytest.mark.parametrize("payload", [None, [], "x", 3])
def test_body_must_be_an_object(payload):
    bad(payload)


def test_hook_missing_wrong_type_or_not_of_the_service():
    payload = body()
    del payload["hook"]
    assert bad(payload).expression == ["hook"]
    assert bad({**body(), "hook": 7}).expression == ["hook"]
    error = bad(body("order-sign"), ["patient-view"])
    assert error.expression == ["hook"] and "order-sign" in error.message and "patient-view" in error.message
    bad({**body(), "hook": "unknown-hook"})


@pytest.mark.parametrize("value", ["<missing>", None, "", "   ", 42, ["x"]])
def test_hook_instance(value):
    payload = body()
    if value == "<missing>":
        del payload["hookInstance"]
    else:
        payload["hookInstance"] = value
    assert bad(payload).expression == ["hookInstance"]


def test_hook_instance_need_not_be_a_uuid():
    assert parse_hook_request({**body(), "hookInstance": "abc"}, ["patient-view"]).hook_instance == "abc"


@pytest.mark.parametrize("url", ["ftp://ehr.example.org/fhir", "/fhir", "ehr.example.org", "https://", 42,
                                 "https://ehr.example.org/fhir?x=1", "https://user:pw@ehr.example.org",
                                 "http://ehr.example.org:99999/fhir"])
def test_fhir_server_must_be_an_absolute_http_url(url):
    assert bad({**body(), "fhirServer": url}).expression == ["fhirServer"]


def test_fhir_authorization_without_fhir_server():
    payload = body(server="https://ehr.example.org/fhir")
    del payload["fhirServer"]
    error = bad(payload)
    assert error.expression == ["fhirServer"] and "cds-r-1" in error.message


@pytest.mark.parametrize("name,value", [
    ("token_type", "MAC"), ("token_type", None), ("access_token", ""), ("access_token", 5),
    ("access_token", "a b"), ("expires_in", "300"), ("expires_in", True), ("expires_in", -1), ("expires_in", None),
    ("scope", ["user/*.read"]), ("subject", None), ("patient", 7),
])
def test_fhir_authorization_fields(name, value):
    payload = body(server="https://ehr.example.org/fhir")
    payload["fhirAuthorization"][name] = value
    error = bad(payload)
    assert error.expression == [f"fhirAuthorization.{name}"]
    assert TOKEN not in error.message


def test_fhir_authorization_token_type_is_case_insensitive_and_cds_r_2_is_a_warning():
    payload = body(server="https://ehr.example.org/fhir")
    payload["fhirAuthorization"].update(token_type="bearer", scope="patient/*.read", expires_in=299.5)
    req = parse_hook_request(payload, ["patient-view"])
    assert req.fhir_authorization.token_type == "Bearer"
    assert any("cds-r-2" in w for w in req.warnings)


@pytest.mark.parametrize("prefetch,where", [
    ([], "prefetch"),
    ({"patient": "123"}, "prefetch.patient"),
    ({"patient": [{"resourceType": "Patient"}]}, "prefetch.patient"),
    ({"patient": {"id": "x"}}, "prefetch.patient.resourceType"),
    ({"patient": {"resourceType": "patient"}}, "prefetch.patient.resourceType"),
    ({"observations": {"resourceType": "Bundle", "type": "searchset", "entry": {}}}, "prefetch.observations.entry"),
])
def test_prefetch_values_must_be_resources_or_null(prefetch, where):
    assert bad({**body(), "prefetch": prefetch}).expression == [where]


def test_prefetch_null_values_and_absent_prefetch():
    req = request(prefetch={"patient": None, "observations": searchset([])})
    assert req.prefetch == {"patient": None, "observations": searchset([])}
    assert request().prefetch == {}


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
FIELDS = st.sampled_from(["hook", "hookInstance", "fhirServer", "fhirAuthorization", "context", "prefetch"])


@hyp_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=FIELDS, value=JSON, hook=st.sampled_from(HOOKS), drop=st.booleans())
def test_any_mangled_request_is_accepted_or_a_400(field, value, hook, drop):
    payload = body(hook, server="https://ehr.example.org/fhir")
    if drop:
        payload.pop(field, None)
    else:
        payload[field] = value
    try:
        parse_hook_request(payload, [hook])
    except HookRequestError as exc:
        assert exc.status == 400 and exc.expression and TOKEN not in exc.message


@hyp_settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(["userId", "patientId", "encounterId", "selections", "draftOrders"]), value=JSON)
def test_any_mangled_context_is_accepted_or_a_400(name, value):
    payload = body("order-select")
    payload["context"][name] = value
    try:
        parse_hook_request(payload, ["order-select"])
    except HookRequestError as exc:
        assert exc.status == 400 and exc.expression[0].startswith("context.")


# ---------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------


def test_expand_template_tokens_and_encoding():
    req = request(encounterId="enc-1")
    assert expand_template("p", "Patient/{{context.patientId}}", req).url == f"Patient/{CASE}"
    query = expand_template("o", "Observation?subject={{context.patientId}}&encounter={{ context.encounterId }}", req)
    assert query.url == f"Observation?subject={CASE}&encounter=enc-1" and query.read_id is None
    user = expand_template("u", "{{context.userId}}", req)
    assert (user.url, user.resource_type, user.read_id) == ("Practitioner/physio-1", "Practitioner", "physio-1")
    assert expand_template("r", "PractitionerRole?practitioner={{userPractitionerId}}", req).url == \
        "PractitionerRole?practitioner=physio-1"
    # values are percent-encoded (a hook outside the library: any primitive context field is a token)
    custom = parse_hook_request({**body(), "hook": "custom-hook", "context": {"patientId": "p1", "mrn": "a&b c/d"}},
                                ["custom-hook"])
    assert expand_template("m", "Patient?identifier={{context.mrn}}", custom).url == "Patient?identifier=a%26b%20c%2Fd"


def test_tokens_without_a_value_in_the_call_skip_the_key():
    req = request()  # patient-view without encounter, user is a Practitioner
    assert expand_template("e", "Encounter/{{context.encounterId}}", req) is None
    assert expand_template("r", "PractitionerRole?_id={{userPractitionerRoleId}}", req) is None


@pytest.mark.parametrize("template", [
    "Condition?subject={{context.draftOrders}}", "Observation?subject={{context.foo}}",
    "Observation?subject={{context.selections}}", "Observation?subject={{patientId}}",
    "https://evil.example.org/Patient/{{context.patientId}}", "/Patient/{{context.patientId}}",
    "Patient/{{context.patientId}", "../Patient/{{context.patientId}}", "", "Patient/{{context.patientId}}?_elements=id",
])
def test_invalid_templates(template):
    with pytest.raises(TemplateError):
        expand_template("k", template, request(hook="order-select"))


# ---------------------------------------------------------------------------
# Prefetch semantics against the test FHIR server
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", list(BUNDLES))
def test_full_prefetch_makes_no_http_call(fresh, case_id):
    req = request(patient=case_id, server=fresh.base_url, prefetch=full_prefetch(case_id))
    result = gather(req)
    assert fresh.requests() == [] and result.requests == 0
    assert result.prefetched_keys == list(TEMPLATES) and result.fetched_keys == [] and result.null_keys == []
    assert canonical(result.resources) == canonical(resources_of(case_id))


def test_full_prefetch_needs_no_fhir_server():
    result = gather(request(prefetch=full_prefetch(CASE)))
    assert keyset(result.resources) == keyset(resources_of(CASE))


@pytest.mark.parametrize("case_id", list(BUNDLES))
def test_no_prefetch_fetches_everything_with_the_bearer_token(fresh, case_id):
    result = gather(request(patient=case_id, server=fresh.base_url))
    assert canonical(result.resources) == canonical(resources_of(case_id))
    assert result.fetched_keys == list(TEMPLATES) and result.prefetched_keys == []
    seen = fresh.requests()
    assert len(seen) == 4 == result.requests and {r["auth"] for r in seen} == {"ok"}
    assert sorted(r["path"] for r in seen) == sorted(f"/fhir/{t}" for t in (
        f"Patient/{case_id}", "QuestionnaireResponse", "Observation", "Condition"))
    assert set(result.timings) == {"total"} | {f"fetch.{k}" for k in TEMPLATES}


def test_partial_prefetch_fetches_only_the_absent_keys(fresh):
    prefetch = full_prefetch(CASE)
    del prefetch["observations"], prefetch["conditions"]
    result = gather(request(server=fresh.base_url, prefetch=prefetch))
    assert result.prefetched_keys == ["patient", "intake"] and result.fetched_keys == ["observations", "conditions"]
    assert sorted(r["path"] for r in fresh.requests()) == ["/fhir/Condition", "/fhir/Observation"]
    assert canonical(result.resources) == canonical(resources_of(CASE))


def test_null_keys_are_not_fetched(fresh):
    prefetch = full_prefetch(CASE)
    prefetch["conditions"] = None
    del prefetch["observations"]
    result = gather(request(server=fresh.base_url, prefetch=prefetch))
    assert result.null_keys == ["conditions"] and result.fetched_keys == ["observations"]
    assert [r["path"] for r in fresh.requests()] == ["/fhir/Observation"]
    assert keyset(result.resources) == keyset(r for r in resources_of(CASE) if r["resourceType"] != "Condition")
    assert result.by_key["conditions"] == []


def test_all_null_without_fhir_server_is_no_data_not_an_error():
    result = gather(request(prefetch={key: None for key in TEMPLATES}))
    assert result.resources == [] and result.null_keys == list(TEMPLATES)


@pytest.mark.parametrize("value", [
    {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]},
    searchset([{"resourceType": "OperationOutcome", "issue": [{"severity": "fatal", "code": "exception"}]}]),
    {"resourceType": "Observation", "id": "x"},  # not the Bundle a search gives
    {"resourceType": "Bundle", "type": "transaction", "entry": []},
])
def test_unusable_prefetch_value_is_fetched(fresh, value):
    prefetch = full_prefetch(CASE)
    prefetch["intake"] = value
    result = gather(request(server=fresh.base_url, prefetch=prefetch))
    assert result.fetched_keys == ["intake"] and "intake" in result.unusable_prefetch
    assert [r["path"] for r in fresh.requests()] == ["/fhir/QuestionnaireResponse"]
    assert canonical(result.resources) == canonical(resources_of(CASE))


def test_prefetched_patient_of_another_id_is_fetched(fresh):
    prefetch = full_prefetch(CASE)
    prefetch["patient"] = resources_of("b-abnormal-duration")[0]
    result = gather(request(server=fresh.base_url, prefetch=prefetch))
    assert result.fetched_keys == ["patient"] and keyset(result.by_key["patient"]) == {("Patient", CASE)}


def test_outcome_in_prefetch_without_fhir_server_is_unavailable():
    prefetch = full_prefetch(CASE)
    prefetch["observations"] = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]}
    error = unavailable(request(prefetch=prefetch))
    assert error.key == "observations" and "fhirServer" in error.reason


def test_informational_outcomes_in_a_bundle_are_dropped():
    prefetch = full_prefetch(CASE)
    prefetch["observations"]["entry"].append({"resource": {"resourceType": "OperationOutcome", "issue": [
        {"severity": "warning", "code": "informational"}]}, "search": {"mode": "outcome"}})
    result = gather(request(prefetch=prefetch))
    assert "OperationOutcome" not in {r["resourceType"] for r in result.resources}


def test_absent_key_without_fhir_server_is_unavailable():
    prefetch = full_prefetch(CASE)
    del prefetch["conditions"]
    error = unavailable(request(prefetch=prefetch))
    assert error.key == "conditions" and error.status == 412


def test_extra_prefetch_keys_are_ignored_and_duplicates_removed():
    prefetch = full_prefetch(CASE)
    prefetch["unasked"] = {"resourceType": "Practitioner", "id": "x"}
    templates = {**TEMPLATES, "observations-again": "Observation?subject=Patient/{{context.patientId}}&status=final"}
    prefetch["observations-again"] = prefetch["observations"]
    result = gather(request(prefetch=prefetch), templates)
    assert result.ignored_keys == ["unasked"]
    assert len(result.resources) == len(resources_of(CASE)) == len(keyset(result.resources))


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_draft_orders_are_part_of_the_result_and_win_over_stored_copies(hook):
    stored = {"resourceType": "ServiceRequest", "id": "sr-draft-1", "status": "active", "intent": "order",
              "subject": {"reference": f"Patient/{CASE}"}}
    with fhir_server(ALL_RESOURCES + [stored], token=TOKEN) as srv:
        templates = {**TEMPLATES, "orders": "ServiceRequest?subject=Patient/{{context.patientId}}"}
        result = gather(request(hook=hook, server=srv.base_url), templates)
    assert [o["id"] for o in result.draft_orders] == ["sr-draft-1"]
    (order,) = [r for r in result.resources if r["resourceType"] == "ServiceRequest"]
    assert order["status"] == "draft"
    assert keyset(result.resources) == keyset(resources_of(CASE)) | {("ServiceRequest", "sr-draft-1")}


def test_user_and_encounter_templates(fresh):
    extra = [{"resourceType": "Practitioner", "id": "physio-1"}, {"resourceType": "Encounter", "id": "enc-1",
                                                                  "status": "in-progress"}]
    templates = {"user": "{{context.userId}}", "encounter": "Encounter/{{context.encounterId}}",
                 "role": "PractitionerRole?_id={{userPractitionerRoleId}}"}
    with fhir_server(extra, token=TOKEN) as srv:
        without = gather(request(server=srv.base_url), templates)
        with_encounter = gather(request(server=srv.base_url, encounterId="enc-1"), templates)
    assert keyset(without.resources) == {("Practitioner", "physio-1")}
    assert set(without.skipped_keys) == {"encounter", "role"}
    assert keyset(with_encounter.resources) == {("Practitioner", "physio-1"), ("Encounter", "enc-1")}


# ---------------------------------------------------------------------------
# Paging
# ---------------------------------------------------------------------------


def test_paging_across_several_pages(fresh):
    templates = {**TEMPLATES, "observations": TEMPLATES["observations"] + "&_count=2"}
    result = gather(request(patient=MANY_OBS, server=fresh.base_url), templates)
    assert canonical(result.resources) == canonical(resources_of(MANY_OBS))
    pages = [r for r in fresh.requests() if r["path"] == "/fhir/Observation"]
    assert len(pages) == 3 and len(result.by_key["observations"]) == 5


def test_server_side_paging_of_every_search():
    with fhir_server(ALL_RESOURCES, token=TOKEN, page_size=1) as srv:
        result = gather(request(patient=MANY_OBS, server=srv.base_url))
        assert canonical(result.resources) == canonical(resources_of(MANY_OBS))
        assert len([r for r in srv.requests() if r["path"] == "/fhir/Observation"]) == 5


def test_more_pages_than_allowed_is_unavailable(fresh):
    templates = {"observations": TEMPLATES["observations"] + "&_count=2"}
    error = unavailable(request(patient=MANY_OBS, server=fresh.base_url), templates,
                        dataclasses.replace(SETTINGS, fetch_max_pages=1))
    assert error.key == "observations" and "more than 1 further pages" in error.reason
    assert len(fresh.requests()) == 2


def test_prefetched_first_page_is_continued_from_the_server(fresh):
    first = httpx.get(f"{fresh.base_url}/Observation", params={"subject": f"Patient/{MANY_OBS}", "_count": 2},
                      headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert len(first["entry"]) == 2
    fresh.clear()
    prefetch = {**full_prefetch(MANY_OBS), "observations": first}
    result = gather(request(patient=MANY_OBS, server=fresh.base_url, prefetch=prefetch))
    assert "observations" in result.prefetched_keys and result.fetched_keys == ["observations"]
    assert len(fresh.requests()) == 2 and len(result.by_key["observations"]) == 5
    assert canonical(result.resources) == canonical(resources_of(MANY_OBS))


# ---------------------------------------------------------------------------
# Failures → PrefetchUnavailable (412)
# ---------------------------------------------------------------------------


def test_wrong_token_is_unavailable_and_the_token_is_never_logged(fresh, caplog):
    caplog.set_level(logging.DEBUG)
    error = unavailable(request(server=fresh.base_url, token="not-the-token"))
    assert "HTTP 401" in error.reason and {r["auth"] for r in fresh.requests()} == {"wrong"}
    assert "not-the-token" not in str(error) and "not-the-token" not in caplog.text
    caplog.clear()
    gather(request(server=fresh.base_url))
    assert TOKEN not in caplog.text


def test_no_token_against_a_server_that_needs_one(fresh):
    error = unavailable(request(server=fresh.base_url, token=None))
    assert "HTTP 401" in error.reason and {r["auth"] for r in fresh.requests()} == {"missing"}


def test_open_server_without_fhir_authorization():
    with fhir_server(ALL_RESOURCES) as srv:
        result = gather(request(server=srv.base_url, token=None))
        assert {r["auth"] for r in srv.requests()} == {"not-required"}
    assert canonical(result.resources) == canonical(resources_of(CASE))


@pytest.mark.parametrize("mode,reason", [
    ("error", "HTTP 500"), ("garbage", "not JSON"), ("not-fhir", "not a FHIR resource"),
    ("collection", "not a searchset Bundle"), ("outcome", "OperationOutcome"), ("huge", "larger than"),
    ("endless", "further pages"), ("foreign", "outside the FHIR server"),
])
def test_faulty_server_is_unavailable(mode, reason):
    with fhir_server(ALL_RESOURCES, token=TOKEN, mode=mode, fault_on="Observation") as srv:
        started = time.perf_counter()
        error = unavailable(request(patient=MANY_OBS, server=srv.base_url))
        elapsed = time.perf_counter() - started
        observation_calls = [r for r in srv.requests() if r["path"] == "/fhir/Observation"]
    assert error.key == "observations" and reason in error.reason, error.reason
    assert len(observation_calls) <= SETTINGS.fetch_max_pages + 1 and elapsed < SETTINGS.fetch_budget


def test_missing_patient_is_unavailable(fresh):
    error = unavailable(request(patient="no-such-patient", server=fresh.base_url), {"patient": TEMPLATES["patient"]})
    assert "HTTP 404" in error.reason


def test_connection_refused_is_unavailable():
    with fhir_server([], token=TOKEN) as srv:
        url = srv.base_url
    error = unavailable(request(server=url))
    assert "ConnectError" in error.reason


def test_slow_server_hits_the_request_timeout():
    settings = dataclasses.replace(SETTINGS, fetch_timeout=0.5, fetch_budget=3.0)
    with fhir_server(ALL_RESOURCES, token=TOKEN, mode="slow", delay=5, fault_on="Observation") as srv:
        started = time.perf_counter()
        error = unavailable(request(server=srv.base_url), settings=settings)
        elapsed = time.perf_counter() - started
    assert error.key == "observations" and "no answer within 0.5 s" in error.reason
    assert elapsed < settings.fetch_timeout + 1


def test_slow_server_stays_within_the_budget():
    settings = dataclasses.replace(SETTINGS, fetch_timeout=5.0, fetch_budget=1.0)
    with fhir_server(ALL_RESOURCES, token=TOKEN, mode="slow", delay=5) as srv:
        started = time.perf_counter()
        error = unavailable(request(server=srv.base_url), settings=settings)
        elapsed = time.perf_counter() - started
    assert "budget of 1 s" in error.reason and set(error.key.split(", ")) == set(TEMPLATES)
    assert elapsed < settings.fetch_budget + 1


def test_keys_are_fetched_concurrently():
    settings = dataclasses.replace(SETTINGS, fetch_timeout=3.0, fetch_budget=3.0)
    with fhir_server(ALL_RESOURCES, token=TOKEN, mode="slow", delay=0.6) as srv:
        started = time.perf_counter()
        result = gather(request(server=srv.base_url), settings=settings)
        elapsed = time.perf_counter() - started
    assert canonical(result.resources) == canonical(resources_of(CASE))
    assert elapsed < 4 * 0.6  # four keys, not one after the other


def test_an_own_client_can_be_passed(fresh):
    async def run():
        async with httpx.AsyncClient() as client:
            return await gather_resources(request(server=fresh.base_url), TEMPLATES, SETTINGS, client)
    result = asyncio.run(run())
    assert canonical(result.resources) == canonical(resources_of(CASE))


def test_page_size_guard_is_configurable(fresh):
    with pytest.raises(PrefetchUnavailable) as info:
        asyncio.run(gather_resources(request(server=fresh.base_url), TEMPLATES, SETTINGS, max_page_bytes=200))
    assert "larger than 200 bytes" in info.value.reason


def test_prefetch_is_not_modified():
    prefetch = full_prefetch(CASE)
    req = request(prefetch=prefetch)
    before = copy.deepcopy(req.prefetch)
    gather(req)
    assert req.prefetch == before


# ---------------------------------------------------------------------------
# 412 texts: one neutral text, the details only in the log (issue 14, finding 5)
# ---------------------------------------------------------------------------


def test_the_412_text_does_not_tell_a_closed_port_from_an_open_one(tmp_path, caplog):
    """Refused (closed port), silent (open port, no answer) and an HTTP error all get the same
    answer, without host or port; the log has the reason, without the token."""
    import socket

    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.cds_hooks.fetch import FETCH_FAILED
    from tools.hook_requests import hook_request

    caplog.set_level(logging.INFO, "nekpijn_cds.hooks.fetch")
    settings = Settings(auth="off", database_url=f"sqlite:///{tmp_path / 'store.db'}", fetch_timeout=0.5,
                        fetch_budget=1.0)
    client = TestClient(create_app(settings=settings), raise_server_exceptions=False)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    silent = socket.create_server(("127.0.0.1", 0))  # listens, never answers
    silent_port = silent.getsockname()[1]
    texts = {}
    try:
        with fhir_server([], mode="error") as erroring:
            servers = {"closed": f"http://127.0.0.1:{closed_port}/fhir", "silent": f"http://127.0.0.1:{silent_port}/fhir",
                       "http-error": erroring.base_url}
            for name, url in servers.items():
                body = hook_request("patient-view", "p1", fhir_server=url, token="secret-fhir-token-1")
                response = client.post("/cds-services/nekpijn-behandelprofiel", json=body)
                assert response.status_code == 412, (name, response.text)
                texts[name] = response.json()["issue"][0]["diagnostics"]
                port = url.rsplit(":", 1)[1].split("/")[0]
                assert "127.0.0.1" not in response.text and port not in response.text
    finally:
        silent.close()
    assert set(texts.values()) == {FETCH_FAILED}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "unavailable" in logged and "secret-fhir-token-1" not in logged


# -- the template expansion as it was before issue 17 (TOKEN.sub with a callback): the
# reference of the differential test below

def _reference_expand(key, template, request):
    import re
    from urllib.parse import quote

    from service.cds_hooks import fetch as f
    if not isinstance(template, str) or not template.strip():
        raise TemplateError(f"prefetch template {key!r} is empty")
    valid, values, missing = request.valid_tokens(), request.prefetch_tokens(), []
    query_start = template.find("?")

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if valid is not None and name not in valid:
            raise TemplateError(f"prefetch template {key!r} uses {{{{{name}}}}}, which is not a prefetch token "
                                f"of hook {request.hook!r}")
        if name not in values:
            missing.append(name)
            return ""
        return quote(values[name], safe="" if 0 <= query_start < match.start() else "/")

    url = f.TOKEN.sub(substitute, template.strip())
    if "{{" in url or "}}" in url:
        raise TemplateError(f"prefetch template {key!r} has an unbalanced or empty token")
    if missing:
        return None
    path = url.partition("?")[0]
    read = f.READ_PATH.match(path)
    if read:
        if "?" in url:
            raise TemplateError(f"prefetch template {key!r}: a read takes no search parameters")
        return f.Query(key, url, read.group("type"), read.group("id"))
    if f.RESOURCE_TYPE.match(path):
        return f.Query(key, url, path, None)
    raise TemplateError(f"prefetch template {key!r} is neither a relative read ('Type/id') nor a type search "
                        f"('Type?params')")


def _outcome(fn, *args):
    try:
        return fn(*args)
    except TemplateError as exc:
        return ("TemplateError", str(exc))


_PIECES = ["Patient", "Observation", "/", "?", "&", "=", " ", "  ", "{", "}", "{{", "}}", "x", "_id", "subject=",
           "{{context.patientId}}", "{{ context.encounterId }}", "{{context.userId}}", "{{userPractitionerId}}",
           "{{userPractitionerRoleId}}", "{{context.bogus}}", "{{}}", "{{ }}", "{{{context.patientId}}}"]


@hyp_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["", " ", "Patient", "Observation", " Patient?"]), st.sampled_from(["", "/", "?", "?x="]),
       st.lists(st.sampled_from(_PIECES), max_size=6), st.sampled_from([None, "enc-1", "a b/c&d"]),
       st.sampled_from(["patient-view", "custom-hook"]))
def test_template_expansion_equals_the_regex_substitution(head, glue, pieces, encounter, hook):
    """Differential: the precompiled template parts give the URL, None or the TemplateError the
    TOKEN.sub expansion gave, for any template of tokens, literals and stray braces."""
    context = {**body()["context"], **({"encounterId": encounter} if encounter else {})}
    req = HookRequest(hook=hook, hook_instance=str(uuid.uuid4()), context=context)  # (not validated: any value)
    template = head + glue + "".join(pieces)
    assert _outcome(expand_template, "k", template, req) == _outcome(_reference_expand, "k", template, req)
