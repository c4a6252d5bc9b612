"""X-Evaluation-Date: an evaluation day for tests and examples, off unless enabled (issue 13)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PLAN = "/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
EXAMPLE = json.loads((ROOT / "examples" / "b-abnormal-duration.json").read_text(encoding="utf-8"))
EXAMPLE_DAY = next(e["valueDate"] for e in EXAMPLE["meta"]["extension"] if e["url"].endswith("evaluation-date"))
BODY = {"resourceType": "Parameters", "parameter": [
    {"name": "subject", "valueString": "Patient/b-abnormal-duration"}, {"name": "data", "resource": EXAMPLE}]}


def client(tmp_path, allowed: bool) -> TestClient:
    settings = Settings(auth="off", database_url=f"sqlite:///{tmp_path / 'store.db'}", allow_evaluation_date=allowed)
    return TestClient(create_app(settings))


def days_since_onset(careplan: dict) -> str:
    course = next(r for r in careplan["contained"] if r["id"] == "cf-course")
    return course["note"][0]["text"]


def test_the_header_sets_the_evaluation_day_when_enabled(tmp_path):
    c = client(tmp_path, allowed=True)
    on_day = c.post(PLAN, json=BODY, headers={**FHIR_JSON, "X-Evaluation-Date": EXAMPLE_DAY})
    assert on_day.status_code == 200, on_day.text
    today = c.post(PLAN, json=BODY, headers=FHIR_JSON)
    assert "63 dagen" in days_since_onset(on_day.json())  # the example's own day, as the CLI says
    assert date.today().isoformat() != EXAMPLE_DAY and "63 dagen" not in days_since_onset(today.json())
    assert on_day.json()["contained"][0]["authoredOn"].startswith(EXAMPLE_DAY)


def test_the_header_is_refused_unless_enabled(tmp_path):
    r = client(tmp_path, allowed=False).post(PLAN, json=BODY, headers={**FHIR_JSON, "X-Evaluation-Date": EXAMPLE_DAY})
    assert r.status_code == 400
    assert "NEKPIJN_ALLOW_EVALUATION_DATE" in r.json()["issue"][0]["diagnostics"]


def test_a_bad_date_is_a_400(tmp_path):
    r = client(tmp_path, allowed=True).post(PLAN, json=BODY, headers={**FHIR_JSON, "X-Evaluation-Date": "gisteren"})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


def test_setting_from_env():
    assert Settings.from_env({"NEKPIJN_ALLOW_EVALUATION_DATE": "true"}).allow_evaluation_date is True
    assert Settings.from_env({}).allow_evaluation_date is False


# -- the same header on hook calls (issue 13: one evaluation date) -----------------------------

HOOK = "/cds-services/nekpijn-behandelprofiel"


def _hook_body() -> dict:
    import uuid

    resources = [e["resource"] for e in EXAMPLE["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    by_type = lambda t: {"resourceType": "Bundle", "type": "searchset",  # noqa: E731
                         "entry": [{"resource": r} for r in resources if r["resourceType"] == t]}
    from service.cds_hooks.discovery import PREFETCH_KEYS
    prefetch = {}
    for key, template in PREFETCH_KEYS["patient-view"].items():
        rtype = template.split("?")[0].split("/")[0]
        prefetch[key] = patient if rtype == "Patient" else by_type(rtype)
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "prefetch": prefetch,
            "context": {"userId": "Practitioner/physio-1", "patientId": patient["id"]}}


def _profile_careplan(response) -> dict:
    for card in response.json()["cards"]:
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                if action.get("resource", {}).get("resourceType") == "CarePlan":
                    return action["resource"]
    raise AssertionError("no CarePlan card")


def test_the_header_sets_the_evaluation_day_of_a_hook_call_when_enabled(tmp_path):
    c = client(tmp_path, allowed=True)
    on_day = c.post(HOOK, json=_hook_body(), headers={"X-Evaluation-Date": EXAMPLE_DAY})
    assert on_day.status_code == 200, on_day.text
    today = c.post(HOOK, json=_hook_body())
    assert "63 dagen" in days_since_onset(_profile_careplan(on_day))  # the same day as $apply and the CLI
    assert "63 dagen" not in days_since_onset(_profile_careplan(today))
    # the same answer as $apply on that day
    applied = c.post(PLAN, json=BODY, headers={**FHIR_JSON, "X-Evaluation-Date": EXAMPLE_DAY}).json()
    assert days_since_onset(_profile_careplan(on_day)) == days_since_onset(applied)


def test_the_header_on_a_hook_call_is_refused_unless_enabled(tmp_path):
    r = client(tmp_path, allowed=False).post(HOOK, json=_hook_body(), headers={"X-Evaluation-Date": EXAMPLE_DAY})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    assert "NEKPIJN_ALLOW_EVALUATION_DATE" in r.json()["issue"][0]["diagnostics"]
    bad = client(tmp_path, allowed=True).post(HOOK, json=_hook_body(), headers={"X-Evaluation-Date": "gisteren"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
