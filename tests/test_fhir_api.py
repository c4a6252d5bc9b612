"""FHIR REST API: metadata, read, search and OperationOutcome errors."""

from __future__ import annotations

from dataclasses import replace

import json
import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from test_knowledge_loader import BASE, FIXTURE_ARTIFACTS, INTAKE_URL, write_artifacts

from service.app import create_app
from service.config import Settings
from service.knowledge import DEFAULT_DIR, SEARCH_PARAMS, KnowledgeBase

FHIR_JSON = "application/fhir+json; charset=utf-8"
SERVER = "http://testserver/fhir"


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    return KnowledgeBase.load(write_artifacts(tmp_path / "fhir"))


@pytest.fixture
def app(kb: KnowledgeBase) -> FastAPI:
    return create_app(Settings.from_env(), kb)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def assert_outcome(response, status: int, code: str, *words: str) -> dict:
    """The response is a FHIR OperationOutcome error with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON
    body = response.json()
    OperationOutcome.model_validate(body)
    issue = body["issue"][0]
    assert (issue["severity"], issue["code"]) == ("error", code)
    for word in words:
        assert word in issue["diagnostics"]
    return issue


def canonical(res: dict) -> str:
    return f"{res['url']}|{res['version']}" if res.get("version") else res["url"]


# --- metadata ---------------------------------------------------------------


def test_metadata_is_a_valid_capability_statement(client: TestClient, kb) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON
    cs = response.json()
    CapabilityStatement.model_validate(cs)
    assert (cs["status"], cs["kind"], cs["fhirVersion"]) == ("active", "instance", "4.0.1")
    assert "json" in cs["format"]
    assert cs["software"] == {"name": "Nekpijn CDS", "version": kb.version}
    assert cs["implementation"]["url"] == SERVER
    rest = cs["rest"][0]
    assert rest["mode"] == "server"
    assert [r["type"] for r in rest["resource"]] == kb.resource_types()
    for entry in rest["resource"]:
        assert [i["code"] for i in entry["interaction"]] == ["read", "search-type"]
        assert {p["name"]: p["type"] for p in entry["searchParam"]} == {
            "_id": "token", "url": "uri", "version": "token", "name": "string",
            "status": "token",
        } == SEARCH_PARAMS


def test_metadata_lists_every_artifact_canonical(client: TestClient) -> None:
    resources = {r["type"]: r for r in client.get("/fhir/metadata").json()["rest"][0]["resource"]}
    for res in FIXTURE_ARTIFACTS:
        assert canonical(res) in resources[res["resourceType"]]["documentation"]


def test_metadata_supported_profiles(client: TestClient) -> None:
    rest = client.get("/fhir/metadata").json()["rest"][0]
    resources = {r["type"]: r for r in rest["resource"]}
    assert resources["Questionnaire"]["supportedProfile"] == [
        f"{BASE}/StructureDefinition/nekpijn-questionnaire"
    ]
    assert "supportedProfile" not in resources["ValueSet"]
    # Observation is not served, but its profile is still advertised.
    assert "Observation" not in resources
    assert f"{BASE}/StructureDefinition/nekpijn-observation" in rest["documentation"]


def test_metadata_uses_configured_public_base(kb: KnowledgeBase) -> None:
    app = create_app(replace(Settings.from_env(), base_url="https://cds.example.org"), kb)
    client = TestClient(app)
    cs = client.get("/fhir/metadata").json()
    assert cs["implementation"]["url"] == "https://cds.example.org/fhir"
    bundle = client.get("/fhir/ValueSet").json()
    assert bundle["entry"][0]["fullUrl"] == "https://cds.example.org/fhir/ValueSet/nekpijn-grade"


# --- read -------------------------------------------------------------------


def test_read_returns_the_artifact_as_packaged(client: TestClient) -> None:
    response = client.get("/fhir/Questionnaire/nekpijn-intake")
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON
    expected = next(r for r in FIXTURE_ARTIFACTS if r["id"] == "nekpijn-intake")
    assert response.json() == expected
    assert response.json()["url"] == INTAKE_URL
    assert "—" in response.content.decode("utf-8")  # UTF-8, not \u escapes


def test_read_unknown_id_is_404_not_found(client: TestClient) -> None:
    issue = assert_outcome(client.get("/fhir/Questionnaire/nope"), 404, "not-found", "nope")
    assert "Questionnaire/nope" in issue["diagnostics"]


@pytest.mark.parametrize("path", ["/fhir/Patient/123", "/fhir/Patient", "/fhir/Bogus"])
def test_unsupported_type_is_404(client: TestClient, path: str) -> None:
    name = path.split("/")[2]
    issue = assert_outcome(client.get(path), 404, "not-supported", name, "not supported")
    assert "Questionnaire" in issue["diagnostics"]  # lists the supported types


# --- search -----------------------------------------------------------------


def test_search_by_url_returns_searchset_bundle(client: TestClient) -> None:
    response = client.get("/fhir/Questionnaire", params={"url": INTAKE_URL})
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON
    bundle = response.json()
    Bundle.model_validate(bundle)
    assert (bundle["type"], bundle["total"]) == ("searchset", 1)
    assert bundle["link"][0]["relation"] == "self"
    assert bundle["link"][0]["url"].startswith(f"{SERVER}/Questionnaire?url=https")
    [entry] = bundle["entry"]
    assert entry["fullUrl"] == f"{SERVER}/Questionnaire/nekpijn-intake"
    assert entry["search"] == {"mode": "match"}
    assert entry["resource"]["id"] == "nekpijn-intake"


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("", ["nekpijn-followup", "nekpijn-intake"]),
        (f"url={INTAKE_URL}|0.1.0", ["nekpijn-intake"]),
        ("_id=nekpijn-followup", ["nekpijn-followup"]),
        ("version=0.1.0&status=active", ["nekpijn-intake"]),
        ("name=nekpijnfollow", ["nekpijn-followup"]),
        ("status=draft,active", ["nekpijn-followup", "nekpijn-intake"]),
        ("_format=json&status=draft", ["nekpijn-followup"]),
        ("_format=application/fhir%2Bjson", ["nekpijn-followup", "nekpijn-intake"]),
    ],
)
def test_search_parameters(client: TestClient, query: str, ids: list[str]) -> None:
    bundle = client.get(f"/fhir/Questionnaire?{query}").json()
    assert bundle["total"] == len(ids)
    assert [e["resource"]["id"] for e in bundle["entry"]] == ids


def test_search_without_match_has_no_entries(client: TestClient) -> None:
    bundle = client.get("/fhir/Questionnaire", params={"url": f"{INTAKE_URL}|9.9"}).json()
    Bundle.model_validate(bundle)
    assert bundle["total"] == 0
    assert "entry" not in bundle  # FHIR JSON forbids empty arrays


def test_search_paging_and_summary_count(client: TestClient) -> None:
    first = client.get("/fhir/Questionnaire?_count=1").json()
    assert first["total"] == 2
    assert [e["resource"]["id"] for e in first["entry"]] == ["nekpijn-followup"]
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(next_url).json()
    assert [e["resource"]["id"] for e in second["entry"]] == ["nekpijn-intake"]
    assert {link["relation"] for link in second["link"]} == {"self", "previous"}
    counted = client.get("/fhir/Questionnaire?_summary=count").json()
    assert counted["total"] == 2 and "entry" not in counted


@pytest.mark.parametrize("param", ["title", "name:exact", "_sort", "_summary"])
def test_unknown_search_parameter_is_400(client: TestClient, param: str) -> None:
    issue = assert_outcome(
        client.get(f"/fhir/Questionnaire?{param}=text"), 400, "not-supported", f"'{param}'"
    )
    assert issue["expression"] == [param]


@pytest.mark.parametrize("value", ["-1", "abc", "²"])
def test_invalid_count_is_400(client: TestClient, value: str) -> None:
    assert_outcome(client.get("/fhir/Questionnaire", params={"_count": value}), 400, "invalid")


@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "turtle"])
def test_format_other_than_json_is_406(client: TestClient, fmt: str) -> None:
    for path in ["/fhir/metadata", "/fhir/Questionnaire", "/fhir/Questionnaire/nekpijn-intake"]:
        assert_outcome(client.get(path, params={"_format": fmt}), 406, "not-supported", fmt)


def test_accept_header_negotiation(client: TestClient) -> None:
    xml_only = {"accept": "application/fhir+xml"}
    assert_outcome(client.get("/fhir/metadata", headers=xml_only), 406, "not-supported")
    browser = {"accept": "text/html,application/xml;q=0.9,*/*;q=0.8"}
    assert client.get("/fhir/metadata", headers=browser).status_code == 200
    fhir = {"accept": "application/fhir+json; fhirVersion=4.0"}
    assert client.get("/fhir/metadata", headers=fhir).status_code == 200
    # _format overrides Accept
    ok = client.get("/fhir/metadata", params={"_format": "json"}, headers=xml_only)
    assert ok.status_code == 200


# --- generic errors ---------------------------------------------------------


def test_write_interactions_are_405_outcome(client: TestClient) -> None:
    response = client.post("/fhir/Questionnaire", json={"resourceType": "Questionnaire"})
    assert_outcome(response, 405, "not-supported")
    assert_outcome(client.delete("/fhir/Questionnaire/nekpijn-intake"), 405, "not-supported")


def test_unknown_endpoint_is_404_outcome(client: TestClient) -> None:
    assert_outcome(client.get("/fhir/Questionnaire/nekpijn-intake/_history"), 404, "not-found")
    assert_outcome(client.get("/nothing-here"), 404, "not-found")


def test_request_validation_error_is_400_outcome(app: FastAPI) -> None:
    @app.get("/typed/{number}")
    def typed(number: int) -> dict:  # pragma: no cover - never reached
        return {}

    issue = assert_outcome(TestClient(app).get("/typed/abc"), 400, "invalid", "number")
    assert issue["expression"] == ["path.number"]


def test_unhandled_exception_is_500_outcome_without_internals(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError("secret-patient-bsn-123456782")

    caplog.set_level(logging.INFO)
    client = TestClient(app, raise_server_exceptions=False)
    issue = assert_outcome(client.get("/boom?token=abc"), 500, "exception")
    assert "secret" not in issue["diagnostics"]
    assert "RuntimeError" not in issue["diagnostics"]
    server_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("nekpijn_cds")
    )
    assert "secret" not in server_log  # not even in the server log
    assert "token=abc" not in server_log
    assert "Unhandled RuntimeError" in server_log
    assert "test_fhir_api.py" in server_log  # stack locations are kept
    assert "GET /boom 500" in server_log


def test_access_log_has_no_query_string(client: TestClient, caplog) -> None:
    caplog.set_level(logging.INFO, logger="nekpijn_cds.access")
    client.get("/fhir/Questionnaire", params={"url": INTAKE_URL, "name": "patient-jansen"})
    [record] = [r for r in caplog.records if r.name == "nekpijn_cds.access"]
    message = record.getMessage()
    assert message.startswith("GET /fhir/Questionnaire 200 ")
    assert message.endswith("ms")
    assert "jansen" not in message and "nekpijn-intake" not in message


def test_health(client: TestClient, kb: KnowledgeBase) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": kb.version, "artifacts": len(kb), "store": "ok"}


def test_openapi_document(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["info"]["title"] == "Nekpijn CDS"
    assert "/fhir/metadata" in doc["paths"]
    apply = doc["paths"]["/fhir/PlanDefinition/{plan_id}/$apply"]["post"]["responses"]
    assert "Retry-After" in apply["429"]["headers"]  # the public self-check's rate limit (issue 14)
    assert "413" in doc["paths"]["/cds-services/{service_id}"]["post"]["responses"]


# --- real packaged artifacts ------------------------------------------------

PACKAGED = sorted(DEFAULT_DIR.glob("*.json"))


@pytest.fixture(scope="module")
def packaged_client() -> TestClient:
    if not PACKAGED:
        pytest.skip(f"no compiled knowledge artifacts in {DEFAULT_DIR} yet (run SUSHI)")
    return TestClient(create_app(Settings.from_env()))


def test_packaged_intake_questionnaire_is_served(packaged_client: TestClient) -> None:
    response = packaged_client.get("/fhir/Questionnaire/nekpijn-intake")
    assert response.status_code == 200
    assert response.json()["url"] == INTAKE_URL
    bundle = packaged_client.get("/fhir/Questionnaire", params={"url": INTAKE_URL}).json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["nekpijn-intake"]


def test_packaged_metadata_lists_every_file(packaged_client: TestClient) -> None:
    cs = packaged_client.get("/fhir/metadata").json()
    CapabilityStatement.model_validate(cs)
    docs = {r["type"]: r["documentation"] for r in cs["rest"][0]["resource"]}
    for path in PACKAGED:
        res = json.loads(path.read_text(encoding="utf-8"))
        expected = canonical(res) if res.get("url") else f"{res['resourceType']}/{res['id']}"
        assert expected in docs[res["resourceType"]], path.name


def test_packaged_artifacts_are_all_readable(packaged_client: TestClient) -> None:
    assert packaged_client.get("/health").json()["artifacts"] == len(PACKAGED)
    for path in PACKAGED:
        res = json.loads(path.read_text(encoding="utf-8"))
        response = packaged_client.get(f"/fhir/{res['resourceType']}/{res['id']}")
        assert response.json() == res, path.name
