"""A generic-engine PlanDefinition $apply against ours: the same plan contents.

interop/cql/runner/plan.js is a generic $apply driver (cql-execution + cql-exec-fhir under
Node.js): it reads the PlanDefinition from the knowledge artifacts (service/knowledge/fhir),
its Library (PlanDefinition.library) with the ELM inside and the Libraries that one depends on,
evaluates each action's CQL applicability condition (text/cql-identifier) on the patient's FHIR
data and returns the applicable actions, nested. Our $apply (HTTP, the service's own engine:
Python decision tables + the FHIRPath alternatives of the same conditions) returns a CarePlan
whose RequestGroup holds the actions. Both must hold the same actions (code and
ActivityDefinition, in order, nested) on every reference case (two evaluation days) and on the
generated patients of tools/cql/generated_cases.py.

Every disagreement is a bug in one of the two: decide which against dak/.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.apply.plans import ALTERNATIVE, CQL_IDENTIFIER, CompiledPlan, PlanError
from service.facts.model import AMSTERDAM
from service.knowledge import KnowledgeBase
from tests.apply_support import TODAY as APPLY_TODAY, cases, data_dictionary, request_group
from tests.support.cql_actions import codes, same, with_changed_condition
from tools.cql.generated_cases import case_bundle, generated_cases

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "interop" / "cql" / "runner"
ARTIFACTS = ROOT / "service" / "knowledge" / "fhir"
PLAN = "nekpijn-behandelprofiel"
#: the evaluation days of the case differential (tests/test_cql_differential.py)
DAYS = (date(2026, 3, 10), APPLY_TODAY)
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def node_modules() -> None:
    if not (RUNNER / "node_modules" / "cql-execution").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=RUNNER, check=True,
                       capture_output=True, text=True)


#: the generated patients of the case differential (tests/test_cql_differential.py): variants of
#: the reference cases and the v2 scenario patients (a quarter of them again with UTC timestamps)
GENERATED_PER_CASE, GENERATED_SEED = 2, 16


@lru_cache
def generated() -> tuple[dict, ...]:
    return tuple(generated_cases(cases(), per_case=GENERATED_PER_CASE, seed=GENERATED_SEED))


def _variant(base: str, new_id: str, answers: dict | None = None, obs: list | None = None,
             extra_qrs: list | None = None) -> dict:
    case = copy.deepcopy(next(c for c in cases() if c["id"] == base))
    case["id"] = new_id
    case.pop("expect", None)
    case.pop("expect_orders", None)
    case["answers"] = {**case.get("answers", {}), **(answers or {})}
    case["obs"] = [*case.get("obs", []), *(obs or [])]
    if extra_qrs is not None:
        case["extra_qrs"] = extra_qrs
    return case


@lru_cache
def plan_cases() -> tuple[dict, ...]:
    """Patients for the plan items no reference case or generated patient reaches: the FABQ and
    SF-36 suggestions (§6, with and without a score), profile D worsening before week 6 (§9)."""
    follow_up = [{"days": 1, "answers": {"crs-worse-motor": False, "crs-worse-sensory": True}}]
    return (
        _variant("c-psychosocial-kinesiophobia", "plan-fabq-sf36",
                 {"pf-pain-related-fear": True, "pf-poor-health-perception": True, "pf-anxiety": True}),
        _variant("c-psychosocial-kinesiophobia", "plan-instruments-scored",
                 {"pf-pain-related-fear": True, "pf-poor-health-perception": True},
                 obs=[{"code": "fabq", "value": 40, "days": 0}, {"code": "sf36", "value": 55, "days": 0},
                      {"code": "tsk", "value": 41, "days": 0}]),
        _variant("v2-d-motor-loss-week-3", "plan-d-more-sensory-week-3", extra_qrs=follow_up),
        _variant("v2-d-motor-loss-week-3", "plan-d-worsened-week-3",
                 extra_qrs=[{"days": 1, "answers": {"crs-worse-motor": False}}],
                 obs=[{"code": "nprs", "value": 9, "days": 0}, {"code": "psk", "value": 9.0, "days": 0}]),
    )


def patients() -> list[dict]:
    """The reference cases and the plan patients (both evaluation days)."""
    return [*cases(), *plan_cases()]


def bundle(case: dict, today: date) -> dict:
    return case_bundle(case, today, data_dictionary())


def run_driver(artifacts: Path, plan_id: str, today: date, patients: list[dict]) -> dict[str, list]:
    node_modules()
    bundles = [bundle(case, today) for case in patients]
    run = subprocess.run([shutil.which("node") or "node", str(RUNNER / "plan.js"), str(artifacts), plan_id,
                          today.isoformat()], input=json.dumps(bundles), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@lru_cache
def generic(today: date) -> dict[str, list]:
    """The generic engine's applicable actions of every reference case (and, on the first day,
    of every generated patient)."""
    return run_driver(ARTIFACTS, PLAN, today, [*patients(), *generated()] if today == DAYS[0] else patients())


@lru_cache
def client(today: date) -> TestClient:
    now = datetime.combine(today, time(12, 0), AMSTERDAM)
    return TestClient(create_app(clock=lambda: now))


def ours(case: dict, today: date) -> list[dict]:
    """Our $apply's RequestGroup actions: code, the request's type and the ActivityDefinition it
    instantiates (R4 CommunicationRequest has no instantiatesCanonical: None), nested."""
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "subject", "valueString": f"Patient/{case['id']}"},
        {"name": "data", "resource": bundle(case, today)}]}
    response = client(today).post(f"/fhir/PlanDefinition/{PLAN}/$apply", json=params, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    careplan = response.json()
    contained = {r["id"]: r for r in careplan.get("contained", [])}

    def walk(actions: list[dict]) -> list[dict]:
        out = []
        for action in actions:
            ref = action.get("resource", {}).get("reference", "")
            request = contained.get(ref[1:]) if ref.startswith("#") else None
            canonical = (request or {}).get("instantiatesCanonical")
            canonical = canonical[0] if isinstance(canonical, list) else canonical
            out.append({"code": action["code"][0]["coding"][0]["code"],
                        "definitionCanonical": canonical.split("|")[0] if canonical else None,
                        "request": (request or {}).get("resourceType"),
                        "action": walk(action.get("action", []))})
        return out
    return walk(request_group(careplan).get("action", []))


@pytest.mark.parametrize("today", DAYS, ids=[d.isoformat() for d in DAYS])
@pytest.mark.parametrize("case", patients(), ids=[c["id"] for c in patients()])
def test_generic_apply_equals_ours_on_the_reference_cases(case: dict, today: date) -> None:
    theirs, mine = generic(today)[case["id"]], ours(case, today)
    assert same(theirs, mine), (codes(theirs), codes(mine))


def test_generic_apply_equals_ours_on_generated_patients() -> None:
    today = DAYS[0]
    assert len(generated()) >= 200
    disagreements = {}
    for case in generated():
        theirs, mine = generic(today)[case["id"]], ours(case, today)
        if not same(theirs, mine):
            a, b = codes(mine), codes(theirs)
            disagreements[case["id"]] = {"only ours": [c for c in a if c not in b],
                                         "only generic": [c for c in b if c not in a]}
    assert disagreements == {}


def test_the_patients_exercise_every_action() -> None:
    """Every action of the plan applies to some patient and not to all (the comparison means something)."""
    plan = json.loads((ARTIFACTS / f"PlanDefinition-{PLAN}.json").read_text(encoding="utf-8"))
    every = codes([{"code": s["code"][0]["coding"][0]["code"],
                    "action": [{"code": a["code"][0]["coding"][0]["code"], "action": []} for a in s["action"]]}
                   for s in plan["action"]])
    results = [codes(actions) for today in DAYS for actions in generic(today).values()]
    never = [c for c in every if not any(c in r for r in results)]
    always = [c for c in every if all(c in r for r in results)]
    assert (never, always) == ([], [])


def test_every_condition_is_cql_with_a_fhirpath_alternative() -> None:
    plan = json.loads((ARTIFACTS / f"PlanDefinition-{PLAN}.json").read_text(encoding="utf-8"))
    assert plan["library"] == ["https://nekpijn-cds.org/fhir/Library/NekpijnPlan|2.0.0"]
    elm = json.loads((ROOT / "knowledge" / "cql" / "NekpijnPlan.json").read_text(encoding="utf-8"))
    defined = {d["name"] for d in elm["library"]["statements"]["def"]}
    count = 0

    def walk(actions):
        nonlocal count
        for action in actions:
            for condition in action.get("condition", []):
                expression = condition["expression"]
                assert expression["language"] == CQL_IDENTIFIER
                assert expression["expression"] in defined
                alternatives = [e["valueExpression"] for e in expression.get("extension", [])
                                if e["url"] == ALTERNATIVE]
                assert [a["language"] for a in alternatives] == ["text/fhirpath"]
                count += 1
            walk(action.get("action", []))
    walk(plan["action"])
    assert count == 65


def test_a_changed_condition_gives_disagreements(tmp_path: Path) -> None:
    """The comparison can fail: point one condition at another definition in a copy of the artifacts."""
    with_changed_condition(ARTIFACTS, tmp_path, PLAN, "section-advice", "rec-reassure",
                           "Stay active")  # profile D as well
    changed = run_driver(tmp_path, PLAN, DAYS[0], list(cases()))
    differ = [c["id"] for c in cases() if not same(changed[c["id"]], ours(c, DAYS[0]))]
    mark = "section-advice/rec-reassure"
    assert differ and all(mark in codes(changed[i]) and mark not in codes(generic(DAYS[0])[i]) for i in differ)


def test_our_engine_runs_the_fhirpath_alternative_and_refuses_cql_alone() -> None:
    knowledge = KnowledgeBase.load()
    plan = copy.deepcopy(knowledge.get("PlanDefinition", PLAN))
    CompiledPlan(plan, knowledge)  # CQL conditions with their FHIRPath alternative: accepted
    condition = plan["action"][0]["condition"][0]["expression"]
    condition.pop("extension")
    with pytest.raises(PlanError, match="text/cql-identifier"):
        CompiledPlan(plan, knowledge)
