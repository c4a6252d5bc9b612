"""The order checks through a generic CQL engine against ours: the same actions per draft order.

PlanDefinition nekpijn-orders (decision-logic §11) is evaluated once per draft order. The generic
engine is interop/cql/runner/plan.js with `--each Order=ServiceRequest,Procedure`: for every
ServiceRequest / Procedure in the patient's Bundle it evaluates the CQL conditions of
Library/NekpijnOrders with the parameter "Order" = 'ServiceRequest/<id>' (the CQL itself decides
whether that resource is a draft order of this patient). Ours is the service's $apply (HTTP; the
Python decision tables + the FHIRPath alternatives of the same conditions) with the draft orders in
its `data`: its RequestGroup holds, order after order, the actions of each draft order, each
request naming its order (`about` / `supportingInfo`).

Patients: the reference cases with their draft orders, and every reference case (nine of them also
in three variants: trauma-related, a pathology-cad red flag, both) with generated draft orders: every
intervention code of the data dictionary as a local coding, every SNOMED CT code of ConceptMap
nekpijn-to-snomed, CPT radiology codes inside and just outside 70010-79999, imaging by category
only (ServiceRequest and Procedure), Procedures, orders that are no draft or of another patient,
an order without subject, codes the terminology does not know; plus a patient without a neck pain
episode; and every 4th generated patient of tools/cql/generated_cases.py (the case differential's)
with seven draft orders. Every disagreement is a bug in one of the two: decide which against dak/.

The CQL states the terminology as code lists (InterventionCodes, InterventionAncestors,
SnomedInterventions, DiscouragedInterventions): `terminology_drift` compares them with the packaged
CodeSystem, ConceptMap and ValueSets.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from datetime import datetime, time
from functools import lru_cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.apply.plans import ALTERNATIVE, CQL_IDENTIFIER
from service.apply.terminology import LOCAL_SYSTEM, SNOMED
from service.facts.model import AMSTERDAM
from tests.apply_support import TODAY, cases, data_dictionary, features, request_group
from tools.case_bundles import IMAGING_CATEGORY, OTHER_PATIENT, build_draft_orders
from tests.support.cql_actions import codes, same, with_changed_condition
from tests.test_cql_plan import generated
from tools.cql.generated_cases import case_bundle

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "interop" / "cql" / "runner"
ARTIFACTS = ROOT / "service" / "knowledge" / "fhir"
ORDERS_ELM = ROOT / "knowledge" / "cql" / "NekpijnOrders.json"
PLAN = "nekpijn-orders"
CPT = "http://www.ama-assn.org/go/cpt"
EACH = "Order=ServiceRequest,Procedure"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def node_modules() -> None:
    if not (RUNNER / "node_modules" / "cql-execution").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=RUNNER, check=True,
                       capture_output=True, text=True)


# ---------------------------------------------------------------------------
# Draft orders
# ---------------------------------------------------------------------------

def _intervention_codes() -> list[str]:
    group = next(g for g in data_dictionary()["groups"] if g["code"] == "interventions")
    return [item["code"] for item in group["items"]]


def _snomed_interventions(concept_map: dict) -> list[tuple[str, str]]:
    """(SNOMED CT code, local code) of every int-* element's target that is not unmatched."""
    out = []
    for group in concept_map["group"]:
        if group.get("source") == LOCAL_SYSTEM and group.get("target") == SNOMED:
            for element in group["element"]:
                if element["code"].startswith("int-"):
                    out += [(t["code"], element["code"]) for t in element.get("target", [])
                            if t.get("code") and t.get("equivalence") != "unmatched"]
    return out


def _artifact(name: str) -> dict:
    return json.loads((ARTIFACTS / name).read_text(encoding="utf-8"))


def _request(oid: str, patient: str, codings: list[dict] | None = None, *, kind: str = "ServiceRequest",
             category: dict | None = None, status: str | None = None, subject: str | None = "self",
             text: str | None = None) -> dict:
    order: dict = {"resourceType": kind, "id": oid,
                   "status": status or ("draft" if kind == "ServiceRequest" else "preparation")}
    if kind == "ServiceRequest":
        order["intent"] = "order"
    if category is not None:
        # ServiceRequest.category is a list; Procedure.category one CodeableConcept (R4)
        order["category"] = [{"coding": [category]}] if kind == "ServiceRequest" else {"coding": [category]}
    code: dict = {}
    if codings:
        code["coding"] = codings
    if text:
        code["text"] = text
    if code:
        order["code"] = code
    if subject is not None:
        order["subject"] = {"reference": f"Patient/{patient if subject == 'self' else subject}"}
    return order


def _local(code: str) -> dict:
    return {"system": LOCAL_SYSTEM, "code": code}


def _sct(code: str) -> dict:
    return {"system": SNOMED, "code": code}


def _cpt(code: str) -> dict:
    return {"system": CPT, "code": code}


def generated_orders(patient: str) -> list[dict]:
    """The generated draft orders of one patient (ids g-...), in Bundle order."""
    out = [_request(f"g-local-{code}", patient, [_local(code)]) for code in _intervention_codes()]
    sct = _snomed_interventions(_artifact("ConceptMap-nekpijn-to-snomed.json"))
    out += [_request(f"g-sct-{s}", patient, [_sct(s)]) for s, _ in sct]
    # CPT: the radiology section is 70010-79999 (e.g. 72141 MRI of the cervical spine)
    out += [_request(f"g-cpt-{c}", patient, [_cpt(c)]) for c in ("72141", "70010", "79999", "70009", "80000", "7214", "721410")]
    out += [
        _request("g-category-imaging", patient, category=dict(IMAGING_CATEGORY), text="MRI cervicale wervelkolom"),
        _request("g-category-other", patient, [_local("int-massage")], category=_sct("409063005")),
        _request("g-proc-category-imaging", patient, kind="Procedure", category=dict(IMAGING_CATEGORY),
                 text="Röntgenfoto cervicale wervelkolom"),
        _request("g-proc-collar", patient, [_local("int-semi-rigid-collar")], kind="Procedure"),
        _request("g-proc-manipulation", patient, [_sct("118745001")], kind="Procedure"),
        _request("g-proc-in-progress", patient, [_local("int-dry-needling")], kind="Procedure", status="in-progress"),
        _request("g-active", patient, [_local("int-imaging-mri")], status="active"),
        _request("g-no-subject", patient, [_local("int-laser")], subject=None),
        _request("g-other-patient", patient, [_local("int-cervical-manipulation")], subject=OTHER_PATIENT),
        _request("g-unknown-local", patient, [_local("int-unknown"), _local("rf-dizziness")]),
        _request("g-unknown-sct", patient, [_sct("404640003")]),  # dizziness: mapped, no intervention
        _request("g-other-system", patient, [{"system": "urn:example:codes", "code": "int-laser"}]),
        _request("g-two-codings", patient, [_local("int-tens"), _sct("118745001")]),
        _request("g-high-cervical-and-cpt", patient, [_local("int-high-cervical-manipulation"), _cpt("72141")]),
        _request("g-no-code", patient),
    ]
    return out


def with_orders(bundle: dict, orders: list[dict]) -> dict:
    bundle = copy.deepcopy(bundle)
    bundle["entry"] = [*bundle["entry"], *({"fullUrl": f"urn:uuid:{o['resourceType']}-{o['id']}", "resource": o}
                                         for o in orders)]
    return bundle


# ---------------------------------------------------------------------------
# Patients
# ---------------------------------------------------------------------------

#: the trauma / CAD variants of every reference case (§11: chk-collar-trauma, chk-manipulation-cad)
VARIANTS = {"": {}, "-trauma": {"trauma-related": True}, "-cad": {"rf-dizziness": True},
            "-trauma-cad": {"trauma-related": True, "rf-vomiting": True}}


#: the reference cases that get the trauma / CAD variants as well: one per state of serious
#: pathology × treatment profile that the variants can change (every case gets the plain variant;
#: the generic engine takes ~1.5 s per patient with the generated orders)
VARIED = ("a-normal-course", "b-abnormal-duration", "c-psychosocial-kinesiophobia", "d-radicular-confirmed",
          "grade-iv-malignancy", "red-flag-unresolved", "red-flags-not-assessed", "b-or-c-undetermined",
          "missing-baseline")


def _variant(case: dict, suffix: str, answers: dict) -> dict:
    out = copy.deepcopy(case)
    out["id"] = case["id"] + suffix
    out["answers"] = {**case.get("answers", {}), **answers}
    out.pop("orders", None)
    return out


#: every 4th generated patient of the case differential (tools/cql/generated_cases.py: later red
#: flags, pattern conclusions around them, earlier episodes, carried history flags, UTC timestamps,
#: ...), each with a few draft orders whose checks read the case
SCENARIO_STEP = 4


def scenario_patients() -> list[dict]:
    return list(generated()[::SCENARIO_STEP])


def scenario_orders(patient: str) -> list[dict]:
    return [
        _request("s-collar", patient, [_local("int-semi-rigid-collar")]),
        _request("s-manipulation", patient, [_sct("118745001")]),
        _request("s-high-cervical", patient, [_local("int-high-cervical-manipulation")]),
        _request("s-dry-needling", patient, [_sct("231082000")]),
        _request("s-tens", patient, [_local("int-tens")], kind="Procedure"),
        _request("s-mri", patient, [_cpt("72141")]),
        _request("s-exercise", patient, [_local("int-exercise-therapy")]),
    ]


@lru_cache
def bundles() -> tuple[tuple[str, str, dict], ...]:
    """(kind, patient id, Bundle with the draft orders): the reference cases with their own
    orders, every reference case (those of VARIED × VARIANTS) with the generated orders, a patient
    without episode."""
    dd = data_dictionary()
    out = []
    for case in cases():
        if case.get("orders"):
            out.append(("reference", case["id"], with_orders(case_bundle(case, TODAY, dd), build_draft_orders(case, dd))))
    for case in cases():
        for suffix, answers in VARIANTS.items():
            if suffix and case["id"] not in VARIED:
                continue
            variant = _variant(case, suffix + "-g", answers)
            out.append(("generated", variant["id"],
                        with_orders(case_bundle(variant, TODAY, dd), generated_orders(variant["id"]))))
    for case in scenario_patients():
        out.append(("scenario", case["id"], with_orders(case_bundle(case, TODAY, dd), scenario_orders(case["id"]))))
    no_episode = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"fullUrl": "urn:uuid:Patient-no-episode",
                             "resource": {"resourceType": "Patient", "id": "no-episode", "birthDate": "1980-01-01"}}]}
    out.append(("generated", "no-episode", with_orders(no_episode, generated_orders("no-episode"))))
    return tuple(out)


def run_driver(artifacts: Path, items: list[dict]) -> dict[str, dict[str, list]]:
    node_modules()
    run = subprocess.run([shutil.which("node") or "node", str(RUNNER / "plan.js"), str(artifacts), PLAN,
                          TODAY.isoformat(), "--each", EACH], input=json.dumps(items), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@lru_cache
def generic() -> dict[str, dict[str, list]]:
    return run_driver(ARTIFACTS, [b for _, _, b in bundles()])


@lru_cache
def client() -> TestClient:
    now = datetime.combine(TODAY, time(12, 0), AMSTERDAM)
    return TestClient(create_app(clock=lambda: now))


def _apply(patient: str, bundle: dict) -> dict:
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "subject", "valueString": f"Patient/{patient}"}, {"name": "data", "resource": bundle}]}
    response = client().post(f"/fhir/PlanDefinition/{PLAN}/$apply", json=params, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    return response.json()


def ours_of(careplan: dict) -> tuple[dict[str, list], list[str]]:
    """Our RequestGroup split per draft order: {order reference: actions (code, ActivityDefinition,
    nested)}, and the order references in the order the RequestGroup holds them."""
    contained = {r["id"]: r for r in careplan.get("contained", [])}

    def request(action: dict) -> dict:
        ref = action.get("resource", {}).get("reference", "")
        return contained.get(ref[1:], {}) if ref.startswith("#") else {}

    def about(action: dict) -> str:
        req = request(action)
        refs = [r["reference"] for r in [*req.get("about", []), *req.get("supportingInfo", [])]]
        refs += [about(child) for child in action.get("action", [])]
        assert refs, f"action {action['code'][0]['coding'][0]['code']} names no draft order"
        return refs[0]

    def walk(actions: list[dict]) -> list[dict]:
        out = []
        for action in actions:
            canonical = request(action).get("instantiatesCanonical")
            canonical = canonical[0] if isinstance(canonical, list) else canonical
            out.append({"code": action["code"][0]["coding"][0]["code"],
                        "definitionCanonical": canonical.split("|")[0] if canonical else None,
                        "request": request(action).get("resourceType"),
                        "action": walk(action.get("action", []))})
        return out

    per_order: dict[str, list] = {}
    sequence: list[str] = []
    for action in request_group(careplan).get("action", []):
        ref = about(action)
        if not sequence or sequence[-1] != ref:
            sequence.append(ref)
        per_order.setdefault(ref, []).extend(walk([action]))
    return per_order, sequence


@lru_cache
def ours() -> dict[str, tuple[dict[str, list], list[str], dict]]:
    """Per patient: our actions per order, the order sequence of the RequestGroup, the case features."""
    out = {}
    for _, patient, bundle in bundles():
        careplan = _apply(patient, bundle)
        per_order, sequence = ours_of(careplan)
        out[patient] = (per_order, sequence, features(careplan))
    return out


def disagreements(theirs: dict[str, dict[str, list]], kind: str | None = None) -> dict:
    out = {}
    for k, patient, _ in bundles():
        if kind is not None and k != kind:
            continue
        per_order, sequence, _ = ours()[patient]
        generic_orders = theirs[patient]
        assert set(per_order) <= set(generic_orders), (patient, set(per_order) - set(generic_orders))
        for ref, actions in generic_orders.items():
            mine = per_order.get(ref, [])
            if not same(actions, mine):
                out[f"{patient} {ref}"] = {"ours": codes(mine), "generic": codes(actions)}
        # our RequestGroup keeps the draft orders in Bundle order
        with_actions = [ref for ref, actions in generic_orders.items() if actions]
        if sequence != [ref for ref in with_actions if ref in per_order]:
            out[f"{patient} order sequence"] = {"ours": sequence, "generic": with_actions}
    return out


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

def test_generic_engine_equals_ours_on_the_reference_orders() -> None:
    reference = [p for k, p, _ in bundles() if k == "reference"]
    assert len(reference) == 4
    assert disagreements(generic(), "reference") == {}
    # the reference orders the service judges (o5 is another patient's) all got actions
    judged = sum(1 for p in reference for actions in generic()[p].values() if actions)
    assert judged == 11


def test_generic_engine_equals_ours_on_generated_orders() -> None:
    generated = [p for k, p, _ in bundles() if k == "generated"]
    assert len(generated) == len(cases()) + 3 * len(VARIED) + 1
    assert all(len(generic()[p]) == len(generated_orders(p)) for p in generated)
    assert disagreements(generic(), "generated") == {}


def test_generic_engine_equals_ours_on_the_generated_patients() -> None:
    scenario = [p for k, p, _ in bundles() if k == "scenario"]
    assert len(scenario) >= 60
    assert disagreements(generic(), "scenario") == {}


def test_the_patients_reach_every_state_and_every_action() -> None:
    """The comparison means something: every serious-pathology state, every profile (and none),
    trauma / CAD present and absent, with a collar and a manipulation order; every action of
    the plan applies to some order and not to all."""
    states = {(f.get("serious-pathology", [None])[0], f.get("treatment-profile", [None])[0])
              for _, _, f in ours().values()}
    assert {s for s, _ in states} >= {"excluded", "suspected", "unresolved", "not-assessed"}
    assert {p for _, p in states} >= {"profile-a", "profile-b", "profile-c", "profile-d", "undetermined", None}
    plan = _artifact(f"PlanDefinition-{PLAN}.json")
    every = [s["code"][0]["coding"][0]["code"] for s in plan["action"]]
    every += [f"{s['code'][0]['coding'][0]['code']}/{a['code'][0]['coding'][0]['code']}"
              for s in plan["action"] for a in s["action"]]
    results = [codes(actions) for orders in generic().values() for actions in orders.values()]
    never = [c for c in every if not any(c in r for r in results)]
    always = [c for c in every if all(c in r for r in results)]
    assert (never, always) == ([], [])
    # chk-collar-trauma and chk-manipulation-cad each with and without the flag
    for check, order in (("chk-collar-trauma", "ServiceRequest/g-local-int-semi-rigid-collar"),
                         ("chk-manipulation-cad", "ServiceRequest/g-local-int-cervical-manipulation")):
        hits = {f"section-order-checks/{check}" in codes(generic()[p][order])
                for k, p, _ in bundles() if k == "generated" and p != "no-episode"}
        assert hits == {True, False}, check


def test_a_changed_condition_gives_disagreements(tmp_path: Path) -> None:
    """The comparison can fail: point the collar warning at the collar info in a copy of the artifacts."""
    with_changed_condition(ARTIFACTS, tmp_path, PLAN, "section-order-checks", "chk-collar-not-grade-iii",
                           "Collar only in grade III")
    reference = [b for k, _, b in bundles() if k == "reference"]
    changed = run_driver(tmp_path, reference)
    found = disagreements({**generic(), **changed}, "reference")
    assert found, "the changed condition went unnoticed"
    mark = "section-order-checks/chk-collar-not-grade-iii"
    assert all(mark in d["ours"] and mark not in d["generic"] for d in found.values())


def _elm_literal(node: dict):
    """A literal list (of strings or of tuples of strings) of the ELM, as Python values."""
    if node["type"] == "List":
        return [_elm_literal(e) for e in node.get("element", [])]
    if node["type"] == "Tuple":
        return {e["name"]: _elm_literal(e["value"]) for e in node["element"]}
    if node["type"] == "Literal":
        return node["value"]
    raise AssertionError(f"not a literal: {node['type']}")


def terminology_drift(elm: dict, concept_map: dict, code_system: dict, value_sets: dict[str, dict]) -> list[str]:
    """Where the CQL code lists and the packaged terminology differ (empty: none)."""
    defs = {d["name"]: d["expression"] for d in elm["library"]["statements"]["def"]}
    problems = []
    parents: dict[str, str | None] = {}

    def walk(concepts, parent):
        for c in concepts:
            parents[c["code"]] = parent
            walk(c.get("concept", []), c["code"])
    walk(code_system["concept"], None)
    interventions = sorted(c for c in parents if c.startswith("int-"))
    if sorted(_elm_literal(defs["InterventionCodes"])) != interventions:
        problems.append("InterventionCodes != the int-* codes of CodeSystem nekpijn")
    ancestors = set()
    for code in interventions:
        parent = parents[code]
        while parent:
            if parent.startswith("int-"):
                ancestors.add((code, parent))
            parent = parents.get(parent)
    if {(t["code"], t["ancestor"]) for t in _elm_literal(defs["InterventionAncestors"])} != ancestors:
        problems.append("InterventionAncestors != the CodeSystem hierarchy")
    cql_map = sorted((t["sct"], t["code"]) for t in _elm_literal(defs["SnomedInterventions"]))
    if cql_map != sorted(_snomed_interventions(concept_map)):
        problems.append("SnomedInterventions != ConceptMap nekpijn-to-snomed")
    for name, vs in (("DiscouragedInterventions", "discouraged-therapies"), (None, "imaging")):
        local = {c["code"] for inc in value_sets[vs]["compose"]["include"] if inc["system"] == LOCAL_SYSTEM
                 for c in inc["concept"]}
        sct = {c["code"] for inc in value_sets[vs]["compose"]["include"] if inc["system"] == SNOMED
               for c in inc["concept"]}
        cql_local = set(_elm_literal(defs[name])) if name else {c for c in interventions if c.startswith("int-imaging-")}
        mapped = {s for s, c in cql_map if c in cql_local}
        if name is None:  # ValueSet imaging also holds the category code SNOMED CT 363679005 |Imaging|
            mapped.add(_elm_literal(defs["ImagingCategory"]))
        if local != cql_local or sct != mapped:
            problems.append(f"ValueSet {vs} != the CQL's {name or 'int-imaging-* codes'} (with their SNOMED CT codes)")
    return problems


def _terminology() -> tuple[dict, dict, dict, dict[str, dict]]:
    return (json.loads(ORDERS_ELM.read_text(encoding="utf-8")), _artifact("ConceptMap-nekpijn-to-snomed.json"),
            _artifact("CodeSystem-nekpijn.json"),
            {vs: _artifact(f"ValueSet-{vs}.json") for vs in ("discouraged-therapies", "imaging")})


def test_the_cql_code_lists_are_the_packaged_terminology() -> None:
    assert terminology_drift(*_terminology()) == []


@pytest.mark.parametrize("change", ["concept-map-target", "concept-map-unmatched", "new-intervention", "value-set"])
def test_terminology_drift_is_found(change: str) -> None:
    """The check fails when the ConceptMap, CodeSystem or a ValueSet changes without the CQL."""
    elm, concept_map, code_system, value_sets = copy.deepcopy(_terminology())
    element = next(e for g in concept_map["group"] for e in g["element"] if e["code"] == "int-dry-needling")
    if change == "concept-map-target":
        element["target"].append({"code": "1234567", "equivalence": "narrower"})
    elif change == "concept-map-unmatched":
        element["target"][0]["equivalence"] = "unmatched"
    elif change == "new-intervention":
        interventions = next(c for c in code_system["concept"] if c["code"] == "interventions")
        interventions["concept"].append({"code": "int-cupping", "display": "Cupping"})
    else:
        value_sets["discouraged-therapies"]["compose"]["include"][0]["concept"].append({"code": "int-massage"})
    assert terminology_drift(elm, concept_map, code_system, value_sets) != []


def test_every_condition_is_cql_with_a_fhirpath_alternative() -> None:
    plan = _artifact(f"PlanDefinition-{PLAN}.json")
    assert plan["library"] == ["https://nekpijn-cds.org/fhir/Library/NekpijnOrders|2.0.0"]
    elm = json.loads(ORDERS_ELM.read_text(encoding="utf-8"))
    defined = {d["name"] for d in elm["library"]["statements"]["def"]}
    assert {p["name"] for p in elm["library"]["parameters"]["def"]} == {"Today", "Order"}
    seen = []
    for action in [*plan["action"], *(a for s in plan["action"] for a in s["action"])]:
        for condition in action.get("condition", []):
            expression = condition["expression"]
            assert expression["language"] == CQL_IDENTIFIER and expression["expression"] in defined
            alternatives = [e["valueExpression"] for e in expression.get("extension", []) if e["url"] == ALTERNATIVE]
            assert [a["language"] for a in alternatives] == ["text/fhirpath"]
            seen.append(expression["expression"])
    assert len(seen) == 18 and len(set(seen)) == 18
    library = _artifact("Library-NekpijnOrders.json")
    assert [(p["name"], p["type"]) for p in library["parameter"]] == [("Today", "date"), ("Order", "string")]
    assert {r["resource"] for r in library["relatedArtifact"]} == {
        "https://nekpijn-cds.org/fhir/Library/FHIRHelpers|4.0.1",
        "https://nekpijn-cds.org/fhir/Library/NekpijnBeslisregels|2.0.0"}


def test_the_driver_refuses_a_plan_without_the_parameter(tmp_path: Path) -> None:
    node_modules()
    run = subprocess.run([shutil.which("node") or "node", str(RUNNER / "plan.js"), str(ARTIFACTS), PLAN,
                          TODAY.isoformat(), "--each", "Draft=ServiceRequest"], input="[]", capture_output=True, text=True)
    assert run.returncode == 1 and 'no parameter "Draft"' in run.stderr


def test_a_procedure_with_category_imaging_is_imaging_for_our_engine() -> None:
    """The disagreement this comparison found (dak §11 v2: imaging by category, on every draft
    ServiceRequest / Procedure): R4 Procedure.category is one CodeableConcept, not a list."""
    _, sequence, _ = ours()["a-normal-course-g"]
    per_order, _, _ = ours()["a-normal-course-g"]
    assert "Procedure/g-proc-category-imaging" in sequence
    assert "section-discouraged/dis-imaging" in codes(per_order["Procedure/g-proc-category-imaging"])
