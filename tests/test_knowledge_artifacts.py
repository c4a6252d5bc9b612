"""The FHIR knowledge layer against the contract (dak/) and itself."""

from __future__ import annotations

import base64
import io
import json
import re
import tarfile
import tempfile
from pathlib import Path

import fhirpathpy
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy.models import models

from knowledge_support import (
    ARTIFACTS, artifact, artifacts, by_url, codes_named_in_dak, concepts, english, local_codes,
)
from service.apply.plans import fhirpath_form
from tools import build_knowledge, generate_fsh
from tools.packaging import LOAD_ORDER, build_package_bytes, transaction_bundle, transaction_parts
from tools.sources import CANONICAL_BASE, LOCAL_SYSTEM, SNOMED, Sources

SRC = Sources()


# -- build: SUSHI compiles, the committed FSH and JSON are fresh -----------------

@pytest.fixture(scope="module")
def sushi_build():
    with tempfile.TemporaryDirectory() as tmp:
        result = build_knowledge.compile_fsh(Path(tmp) / "sushi")
        yield result


def test_sushi_compiles_without_errors(sushi_build):
    assert sushi_build.errors == 0, sushi_build.log
    assert build_knowledge.unexpected_warnings(sushi_build) == []


def test_committed_json_is_what_the_fsh_compiles_to(sushi_build):
    compiled = sorted(p.name for p in sushi_build.resources.glob("*.json"))
    committed = sorted(p.name for p in ARTIFACTS.glob("*.json"))
    assert compiled == committed
    for name in compiled:
        assert (sushi_build.resources / name).read_bytes() == (ARTIFACTS / name).read_bytes(), name


def test_generated_fsh_is_what_the_dak_generates():
    for path, text in generate_fsh.render_all().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `make knowledge`"


# -- every artifact ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(artifacts()))
def test_artifact_parses_with_r4b(name):
    resource = artifacts()[name]
    model = get_fhir_model_class(resource["resourceType"])
    model.model_validate(resource)


LIBRARY_VERSIONS = {"FHIRHelpers": "4.0.1", "NekpijnBeslisregels": "2.0.0", "NekpijnPlan": "2.0.0",
                    "NekpijnOrders": "2.0.0", "NekklachtenZelfcheck": "2.0.0"}


@pytest.mark.parametrize("name", sorted(artifacts()))
def test_artifact_identity_and_metadata(name):
    r = artifacts()[name]
    assert name == f"{r['resourceType']}-{r['id']}.json"
    assert r["url"] == f"{CANONICAL_BASE}/{r['resourceType']}/{r['id']}"
    # a CQL Library carries its CQL library's version (an engine resolves `include ... version` by it)
    expected = LIBRARY_VERSIONS[r["id"]] if r["resourceType"] == "Library" else "0.1.0"
    assert r["version"] == expected
    assert r["status"] == "active"
    assert r.get("publisher") == "Nekpijn CDS"


def test_expected_artifact_set():
    kinds = {}
    for r in artifacts().values():
        kinds.setdefault(r["resourceType"], set()).add(r["id"])
    assert {"nekpijn"} == kinds["CodeSystem"]
    assert {"nekpijn-intake"} <= kinds["Questionnaire"]
    assert {"nekpijn-behandelprofiel", "nekpijn-orders"} <= kinds["PlanDefinition"]
    assert {r["code"] for r in SRC.recommendations} <= kinds["ActivityDefinition"]
    assert {"nprs-observation", "psk-observation", "clinical-test-observation", "cervical-rotation-observation",
            "finding-observation", "instrument-score-observation", "case-feature-observation",
            "plan-variable"} <= kinds["StructureDefinition"]
    assert "nekpijn-to-snomed" in kinds["ConceptMap"]


# -- CodeSystem ----------------------------------------------------------------

def test_codesystem_holds_every_code_named_in_the_dak():
    missing = codes_named_in_dak() - set(local_codes())
    assert not missing, f"codes named in dak/ but not in the CodeSystem: {sorted(missing)}"


def test_codesystem_displays_follow_the_data_dictionary():
    codes = local_codes()
    for e in SRC.elements:
        concept = codes[e.code]
        assert concept["display"] == e.nl
        assert {"language": "en", "value": e.en} in concept["designation"]
    for group in SRC.groups:
        assert codes[group["code"]]["display"] == group["nl"]


def test_codesystem_is_hierarchical_by_group():
    cs = artifact("CodeSystem", "nekpijn")
    assert cs["hierarchyMeaning"] == "grouped-by" and cs["content"] == "complete"
    parents = {c["code"]: p for c, p in concepts(cs)}
    for e in SRC.elements:
        assert e.group in parents[e.code], f"{e.code} not under {e.group}"
    assert parents["int-tens"][-1] == "int-electrotherapy"
    assert parents["int-high-cervical-manipulation"][-1] == "int-cervical-manipulation"
    assert parents["trend-decreasing"][-1] == "course-trend"
    for rec in SRC.recommendations:
        assert parents[rec["code"]][-1] == rec["section"]


def test_red_flags_carry_their_pathology_property():
    codes = local_codes()
    for e in SRC.elements:
        expected = set(e.raw.get("pathologies", []))
        got = {p["valueCode"] for p in codes[e.code].get("property", []) if p["code"] == "pathology"}
        assert got == expected, e.code
    assert {p["code"] for p in SRC.pathologies} <= set(codes)


def test_codes_are_unique():
    all_codes = [c["code"] for c, _ in concepts(artifact("CodeSystem", "nekpijn"))]
    assert len(all_codes) == len(set(all_codes))


# -- ValueSets and ConceptMap ---------------------------------------------------

def _members(vs):
    return {(inc["system"], c["code"]) for inc in vs["compose"]["include"] for c in inc.get("concept", [])}


def test_valueset_local_codes_exist():
    codes = local_codes()
    for r in artifacts().values():
        if r["resourceType"] == "ValueSet":
            for system, code in _members(r):
                if system == LOCAL_SYSTEM:
                    assert code in codes, f"{r['id']}: unknown local code {code}"


@pytest.mark.parametrize("vs_id, expected", [
    ("course-trend", {"trend-decreasing", "trend-unchanged", "trend-increasing"}),
    ("adl-impact", {"adl-hardly", "adl-substantial"}),
    ("pattern-assessment", {"pattern-recognisable", "pattern-serious", "pattern-unrecognisable"}),
    ("red-flags-fracture", {"rf-trauma-history", "rf-corticosteroids", "rf-osteoporosis"}),
    ("red-flags-cad", {"rf-dizziness", "rf-diplopia", "rf-nausea", "rf-vomiting", "rf-limb-weakness", "rf-pupil-changes"}),
    ("red-flags-myelopathy", {"rf-widespread-neuro", "rf-bowel-bladder"}),
    ("red-flags-infection", {"rf-fever", "rf-night-sweats", "rf-infection-risk"}),
    ("red-flags-malignancy", {"rf-vomiting", "rf-cancer-history", "rf-weight-loss", "rf-dysphagia", "rf-headache", "rf-no-improvement-4w"}),
    ("red-flags-systemic", {"rf-fever", "rf-headache", "rf-unilateral-rash", "rf-burning-pain", "rf-itching"}),
    ("crs-symptoms", {"crs-arm-sensory", "crs-limited-rotation", "crs-reduced-strength", "crs-radiating-arm-pain"}),
    ("crs-signs", {"crs-reduced-reflexes", "crs-muscle-weakness", "crs-sensibility-disorder"}),
    ("crs-tests", {"test-spurling", "test-traction-distraction", "test-ultt"}),
    ("discouraged-therapies", {"int-dry-needling", "int-electrotherapy", "int-tens", "int-ultrasound-therapy", "int-shockwave", "int-laser"}),
    ("imaging", {"int-imaging-xray", "int-imaging-mri", "int-imaging-ct", "int-imaging-ultrasound"}),
    ("treatment-profile-values", {"profile-a", "profile-b", "profile-c", "profile-d", "undetermined"}),
])
def test_valueset_local_members(vs_id, expected):
    members = {code for system, code in _members(artifact("ValueSet", vs_id)) if system == LOCAL_SYSTEM}
    assert members == expected


def test_valuesets_carry_the_verified_snomed_codes():
    assert (SNOMED, "404640003") in _members(artifact("ValueSet", "red-flags-cad"))
    assert {(SNOMED, "10828004"), (SNOMED, "260385009")} == _members(artifact("ValueSet", "test-result"))
    assert {(SNOMED, c) for c in ("231082000", "169430000", "169435005", "169436006")} <= _members(
        artifact("ValueSet", "discouraged-therapies"))
    assert (SNOMED, "363679005") in _members(artifact("ValueSet", "imaging"))
    assert {(SNOMED, c) for c in ("81680005", "279029001", "54404000", "202776005", "39848009")} == _members(
        artifact("ValueSet", "neck-pain-conditions"))


def test_conceptmap_maps_every_verified_snomed_code():
    cm = artifact("ConceptMap", "nekpijn-to-snomed")
    group = next(g for g in cm["group"] if g["target"] == SNOMED)
    mapped = {(el["code"], t.get("code")) for el in group["element"] for t in el["target"]}
    expected = set()
    for e in SRC.elements:
        refs = e.raw.get("snomed") or []
        for ref in [refs] if isinstance(refs, str) else refs:
            expected.add((e.code, ref.split("|")[0]))
        for ref in e.raw.get("also", []):
            expected.add((e.code, ref.split("|")[1]))
    for p in SRC.pathologies:
        expected.add((p["code"], p["snomed"].split("|")[0] if p["snomed"] else None))
    for code, refs in SRC.local_codes["imaging_snomed"].items():  # §11 (v2): neck imaging procedures
        expected.update((code, ref.split("|")[0]) for ref in refs)
    assert mapped == expected


def test_neck_imaging_procedures_map_narrower_to_the_local_imaging_codes():
    """§11 (v2): a SNOMED CT imaging procedure of the neck finds its local int-imaging-* code."""
    cm = artifact("ConceptMap", "nekpijn-to-snomed")
    group = next(g for g in cm["group"] if g["target"] == SNOMED)
    narrower = {(el["code"], t["code"]) for el in group["element"] for t in el["target"] if t["equivalence"] == "narrower"}
    assert {("int-imaging-mri", "571891000119109"), ("int-imaging-ct", "241578008"),
            ("int-imaging-xray", "712970008"), ("int-imaging-ultrasound", "431623007")} <= narrower
    assert set(SRC.local_codes["imaging_snomed"]) == {e.code for e in SRC.interventions if e.raw.get("imaging")}
    imaging = _members(artifact("ValueSet", "imaging"))
    assert {(SNOMED, "60443006"), (SNOMED, "169068008")} <= imaging


# -- Questionnaire ----------------------------------------------------------------

def _items(items, depth=0):
    for item in items:
        yield item, depth
        yield from _items(item.get("item", []), depth + 1)


def test_questionnaire_holds_every_input_element():
    q = artifact("Questionnaire", "nekpijn-intake")
    assert q["url"] == SRC.dictionary["questionnaire"]
    items = {i["linkId"]: (i, d) for i, d in _items(q["item"])}
    for group in SRC.groups:
        elements = [e for e in SRC.elements if e.group == group["code"] and e.in_questionnaire]
        if not elements:
            continue
        group_item, depth = items[group["code"]]
        assert depth == 0 and group_item["type"] == "group"
        assert [i["linkId"] for i in group_item["item"]] == [e.code for e in elements]
    expected = {e.code for e in SRC.elements if e.in_questionnaire}
    assert expected <= set(items)
    # observation-only elements and derived flags are not questions
    assert "cervical-rotation" not in items and "4dkl" not in items and "rf-age-over-50" not in items


def test_questionnaire_items_are_complete():
    q = artifact("Questionnaire", "nekpijn-intake")
    urls = by_url()
    for item, _ in _items(q["item"]):
        assert item["code"][0] == {"code": item["linkId"], "system": LOCAL_SYSTEM,
                                   "display": item["code"][0]["display"]}
        assert item["text"] and english(item, "text"), item["linkId"]
        if item["type"] == "choice":
            # a contained, expanded copy of the published ValueSet (renderers need no terminology server)
            assert item["answerValueSet"].startswith("#"), item["linkId"]
            contained = next(c for c in q["contained"] if c["id"] == item["answerValueSet"][1:])
            published = urls[contained["url"]]
            assert {(c["system"], c["code"]) for c in contained["expansion"]["contains"]} == _members(published)
    items = {i["linkId"]: i for i, _ in _items(q["item"])}
    assert items["onset-date"]["required"] is True and items["onset-date"]["type"] == "date"
    # v2 (§2): the CRS symptom and sign items are required yes/no questions; rotation is not
    required = {e.code for e in SRC.elements if e.raw.get("required")}
    assert {"crs-arm-sensory", "crs-reduced-strength", "crs-radiating-arm-pain", "crs-reduced-reflexes",
            "crs-muscle-weakness", "crs-sensibility-disorder"} <= required
    for code in required:
        assert items[code]["required"] is True, code
    assert "required" not in items["crs-limited-rotation"]
    assert items["sick-leave"]["enableWhen"] == [{"question": "work-related", "operator": "=", "answerBoolean": True}]
    assert items["sick-leave-weeks"]["enableWhen"] == [{"question": "sick-leave", "operator": "=", "answerBoolean": True}]
    assert items["test-spurling"]["answerValueSet"] == "#test-result"
    assert items["nprs"]["type"] == "integer"
    bounds = {e["url"].rsplit("/", 1)[1]: e["valueInteger"] for e in items["nprs"]["extension"]}
    assert bounds == {"minValue": 0, "maxValue": 10}
    assert {"system": SNOMED, "code": "404640003"} in items["rf-dizziness"]["code"]


def test_enable_when_points_at_earlier_boolean_items():
    """que-7 style sanity: every enableWhen question exists and is answered before."""
    q = artifact("Questionnaire", "nekpijn-intake")
    order = [i["linkId"] for i, _ in _items(q["item"])]
    types = {i["linkId"]: i["type"] for i, _ in _items(q["item"])}
    for item, _ in _items(q["item"]):
        for ew in item.get("enableWhen", []):
            assert types[ew["question"]] == "boolean"
            assert order.index(ew["question"]) < order.index(item["linkId"])


# -- ActivityDefinitions and PlanDefinitions ------------------------------------

@pytest.mark.parametrize("rec", SRC.recommendations, ids=lambda r: r["code"])
def test_activitydefinition_is_shaped_by_kind(rec):
    ad = artifact("ActivityDefinition", rec["code"])
    assert ad["title"] and english(ad, "title") and ad["description"] == rec["nl"] and english(ad, "description") == rec["en"]
    assert ad["relatedArtifact"][0]["label"] == rec["guideline"]
    kind = rec["kind"]
    uzi = {r["code"] for r in SRC.uzi_roles.values()}
    if kind in ("therapy", "consider", "discouraged"):
        assert ad["kind"] == "ServiceRequest"
        interventions = rec.get("interventions") or SRC.local_codes["therapy_interventions"][rec["code"]]
        assert [c["code"] for c in ad["code"]["coding"]] == interventions
        assert ad["intent"] == ("option" if kind == "consider" else "proposal")
        assert ad.get("doNotPerform", False) is (kind == "discouraged")
    elif kind == "referral":
        assert ad["kind"] == "ServiceRequest"
        assert ad["code"]["coding"] == [{"code": "3457005", "system": SNOMED, "display": "Patient referral"}]
        assert ad["participant"][0]["role"]["coding"][0]["code"] in uzi
        assert ad["intent"] in ("proposal", "option")
    elif kind == "consult":
        assert ad["kind"] == "CommunicationRequest"
        assert ad["participant"][0]["role"]["coding"][0]["code"] in uzi
        assert ad["topic"][0]["coding"][0]["code"] == "consult"
    elif kind == "prompt":
        assert ad["kind"] == "Task" and ad["code"]["coding"][0]["code"] == rec["code"]
        focus = [a["resource"] for a in ad["relatedArtifact"] if a["type"] == "depends-on"]
        assert focus and all(f in by_url() for f in focus), "a prompt names what to record"
    else:
        assert ad["kind"] == "CommunicationRequest"


def _actions(plan):
    for section in plan["action"]:
        for action in section.get("action", []):
            yield section, action


# the one recommendation with a second action: §9 (v2), the §1 GP referral in the place of
# rec-stop-contact-gp, with its own text (the treatment ends, the red flag, the consent)
IN_PLACE_OF_STOP = "rec-refer-gp-serious-pathology"


def test_behandelprofiel_has_one_action_per_recommendation():
    plan = artifact("PlanDefinition", "nekpijn-behandelprofiel")
    codes = [a["code"][0]["coding"][0]["code"] for _, a in _actions(plan)]
    assert sorted(codes) == sorted([r["code"] for r in SRC.recommendations] + [IN_PLACE_OF_STOP])
    for section, action in _actions(plan):
        rec = SRC.recommendation_by_code[action["code"][0]["coding"][0]["code"]]
        assert section["code"][0]["coding"][0]["code"] == rec["section"]
        if action["description"] != rec["nl"]:
            assert rec["code"] == IN_PLACE_OF_STOP
            assert "na akkoord van de patiënt" in action["description"] and "rode vlag" in action["description"]
            assert "consent" in english(action, "description")
        else:
            assert english(action, "description") == rec["en"]


def test_due_moments_and_priorities_are_dynamic_values():
    """v2: due moments on the RequestGroup action and the request's own date; case priorities."""
    plan = artifact("PlanDefinition", "nekpijn-behandelprofiel")
    paths = {}
    for _, action in _actions(plan):
        code = action["code"][0]["coding"][0]["code"]
        paths.setdefault(code, set()).update(d["path"] for d in action.get("dynamicValue", []))
    assert {"%action.timingDateTime", "restriction.period.end"} <= paths["rec-measure-week-4"]
    assert {"%action.timingDateTime", "occurrenceDateTime"} <= paths["rec-evaluate-end"]
    for code in ("rec-refer-gp-serious-pathology", "rec-refer-back-gp"):
        assert {"%action.priority", "priority"} <= paths[code]
    dated = {c for c, p in paths.items() if "%action.timingDateTime" in p}
    assert dated == {r["code"] for r in SRC.recommendations if r.get("due")}


def test_orders_plan_covers_the_order_checks():
    plan = artifact("PlanDefinition", "nekpijn-orders")
    codes = {a["code"][0]["coding"][0]["code"] for _, a in _actions(plan)}
    assert codes == {"dis-dry-needling", "dis-electrotherapy", "dis-ultrasound-shockwave", "dis-laser", "dis-imaging",
                     "rec-refer-gp-serious-pathology"} | {c["code"] for c in SRC.order_checks}
    assert {c["code"] for c in SRC.order_checks} == {
        "chk-no-additional-therapy", "chk-imaging-assess-flags", "chk-grade-iv-not-excluded", "chk-collar-trauma",
        "chk-collar-not-grade-iii", "chk-collar", "chk-manipulation-cad", "chk-manipulation",
        "chk-high-cervical-manipulation"}


def _variable(plan_id: str, name: str) -> str:
    plan = artifact("PlanDefinition", plan_id)
    return next(e["valueExpression"]["expression"] for e in plan["extension"] if e["valueExpression"]["name"] == name)


def test_orders_plan_lists_follow_the_data_dictionary():
    """The discouraged interventions and the CAD flags the order checks name are the data dictionary's."""
    discouraged = set(re.findall(r"'(int-[a-z-]+)'", _variable("nekpijn-orders", "discouragedTherapy")))
    assert discouraged == {e.code for e in SRC.interventions if e.raw.get("discouraged")}
    cad = set(re.findall(r"'(rf-[a-z0-9-]+)'", _variable("nekpijn-orders", "cadFlags")))
    assert cad == {e.code for e in SRC.clinical_red_flags if "pathology-cad" in e.raw.get("pathologies", [])}


def test_history_flags_carry_the_history_property():
    """decision-logic §0 (v2): the rules read `history` from the CodeSystem."""
    codes = local_codes()
    flagged = {c for c, concept in codes.items()
               if {"code": "history", "valueBoolean": True} in concept.get("property", [])}
    assert flagged == {"rf-cancer-history", "rf-trauma-history", "rf-corticosteroids", "rf-osteoporosis",
                       "rf-infection-risk"}
    assert flagged == {e.code for e in SRC.elements if e.raw.get("history")}


@pytest.mark.parametrize("plan_id, triggers", [
    ("nekpijn-behandelprofiel", ["patient-view", "encounter-start"]),
    ("nekpijn-orders", ["order-select", "order-sign"]),
])
def test_plan_actions_are_complete(plan_id, triggers):
    plan = artifact("PlanDefinition", plan_id)
    assert english(plan, "title") and english(plan, "description")
    urls = by_url()
    for section in plan["action"]:
        assert [t["name"] for t in section["trigger"]] == triggers
        assert all(t["type"] == "named-event" for t in section["trigger"])
        assert english(section, "title")
    for section, action in _actions(plan):
        code = action["code"][0]["coding"][0]["code"]
        assert action["title"] and english(action, "title"), code
        assert action["description"] and english(action, "description"), code
        assert action["documentation"][0]["label"] == SRC.guideline_of(code)
        assert action["priority"] in ("routine", "urgent", "stat")
        assert action["condition"][0]["kind"] == "applicability"
        assert fhirpath_form(action["condition"][0]["expression"])["language"] == "text/fhirpath"
        target = urls[action["definitionCanonical"]]
        assert target["resourceType"] == "ActivityDefinition" and target["id"] == code


def _expressions(plan):
    for ext in plan.get("extension", []):
        yield ext["valueExpression"]["expression"]
    for section in plan["action"]:
        for cond in section.get("condition", []):
            yield fhirpath_form(cond["expression"])["expression"]
    for _, action in _actions(plan):
        for cond in action["condition"]:
            yield fhirpath_form(cond["expression"])["expression"]
        for dyn in action.get("dynamicValue", []):
            yield dyn["expression"]["expression"]


@pytest.mark.parametrize("plan_id", ["nekpijn-behandelprofiel", "nekpijn-orders"])
def test_every_fhirpath_expression_compiles(plan_id):
    plan = artifact("PlanDefinition", plan_id)
    exprs = list(_expressions(plan))
    assert len(exprs) > 10
    for expr in exprs:
        fhirpathpy.compile(expr, model=models["r4"])


@pytest.mark.parametrize("plan_id", ["nekpijn-behandelprofiel", "nekpijn-orders"])
def test_conditions_use_only_declared_variables(plan_id):
    plan = artifact("PlanDefinition", plan_id)
    declared = {"case"} | {e["valueExpression"]["name"] for e in plan["extension"]}
    for expr in _expressions(plan):
        used = set(re.findall(r"%([A-Za-z][A-Za-z0-9]*)", expr))
        assert used <= declared, f"{expr}: undeclared {used - declared}"


def test_plan_variables_select_the_plan_contents():
    """Spot check of the applicability logic on two hand-made cases."""
    plan = artifact("PlanDefinition", "nekpijn-behandelprofiel")

    def applicable(params):
        case = {"resourceType": "Parameters", "parameter": params}
        env = {"case": case}
        for ext in plan["extension"]:
            env[ext["valueExpression"]["name"]] = fhirpathpy.evaluate(
                case, ext["valueExpression"]["expression"], env, model=models["r4"])
        out = []
        for section in plan["action"]:
            conds = [fhirpath_form(c["expression"])["expression"] for c in section.get("condition", [])]
            if not all(fhirpathpy.evaluate(case, c, env, model=models["r4"]) == [True] for c in conds):
                continue
            for action in section["action"]:
                if fhirpathpy.evaluate(case, fhirpath_form(action["condition"][0]["expression"])["expression"], env,
                                       model=models["r4"]) == [True]:
                    out.append(action["code"][0]["coding"][0]["code"])
        return out

    profile_b = [{"name": "serious-pathology", "valueCode": "excluded"}, {"name": "grade", "valueCode": "grade-ii"},
                 {"name": "course", "valueCode": "abnormal"}, {"name": "treatment-profile", "valueCode": "profile-b"},
                 {"name": "subgroup", "valueCode": "general-population"},
                 {"name": "baseline-nprs", "valueDecimal": 6}, {"name": "baseline-psk", "valueDecimal": 5}]
    recs = applicable(profile_b)
    assert {"rec-exercise-mobilisation", "con-massage", "dis-laser", "rec-evaluate-end"} <= set(recs)
    assert not {"rec-max-3-sessions", "con-kinesiotape", "rec-measure-baseline", "rec-refer-gp-serious-pathology"} & set(recs)
    grade_iv = [{"name": "serious-pathology", "valueCode": "suspected"}, {"name": "grade", "valueCode": "grade-iv"}]
    assert applicable(grade_iv) == ["rec-refer-gp-serious-pathology"]


# -- distribution: FHIR package and transaction Bundle ---------------------------

def test_fhir_package_builds_and_indexes_every_artifact():
    data = build_package_bytes(ARTIFACTS, Path(__file__).resolve().parent.parent / "examples")
    assert data == build_package_bytes(ARTIFACTS, Path(__file__).resolve().parent.parent / "examples")  # reproducible
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("package/package.json"))
        index = json.load(tar.extractfile("package/.index.json"))
    assert manifest["name"] == "nekpijn-cds.fhir" and manifest["version"] == "0.1.0"
    assert manifest["fhirVersions"] == ["4.0.1"]
    assert manifest["dependencies"] == {"hl7.fhir.r4.core": "4.0.1"}
    indexed = {f["filename"] for f in index["files"]}
    assert indexed == set(artifacts())
    assert {f"package/{n}" for n in artifacts()} <= names
    for entry in index["files"]:
        r = artifacts()[entry["filename"]]
        assert (entry["resourceType"], entry["id"], entry["url"]) == (r["resourceType"], r["id"], r["url"])


def test_transaction_bundle_puts_every_artifact_by_id():
    bundle = transaction_bundle(ARTIFACTS)
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert bundle["type"] == "transaction"
    requests = {(e["request"]["method"], e["request"]["url"]) for e in bundle["entry"]}
    assert requests == {("PUT", f"{r['resourceType']}/{r['id']}") for r in artifacts().values()}


def test_transaction_parts_hold_every_artifact_once_in_at_most_50_entries_in_load_order():
    """A FHIR server may limit a transaction (Medplum: 50 entries); the parts load in order."""
    whole = transaction_bundle(ARTIFACTS)
    parts = transaction_parts(ARTIFACTS)
    assert len(whole["entry"]) > 50 and len(parts) > 1
    for part in parts:
        get_fhir_model_class("Bundle").model_validate(part)
        assert part["type"] == "transaction" and 0 < len(part["entry"]) <= 50
    entries = [e for part in parts for e in part["entry"]]
    urls = [e["request"]["url"] for e in entries]
    assert len(urls) == len(set(urls))
    assert sorted(entries, key=lambda e: e["request"]["url"]) == sorted(whole["entry"], key=lambda e: e["request"]["url"])
    ranks = [LOAD_ORDER.index(e["resource"]["resourceType"]) for e in entries]
    assert ranks == sorted(ranks), "terminology and profiles before what uses them"
    # a smaller limit gives more, still complete parts
    assert sum(len(p["entry"]) for p in transaction_parts(ARTIFACTS, max_entries=7)) == len(whole["entry"])


# -- the CQL Libraries (issue 16) ------------------------------------------------

CQL_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "cql"


def _content(library: dict, content_type: str) -> bytes | None:
    found = [c for c in library.get("content", []) if c["contentType"] == content_type]
    return base64.b64decode(found[0]["data"]) if found else None


@pytest.mark.parametrize("name,elm_file,cql_file", [
    ("NekpijnBeslisregels", "NekpijnBeslisregels.json", "NekpijnBeslisregels.cql"),
    ("NekpijnPlan", "NekpijnPlan.json", "NekpijnPlan.cql"),
    ("NekpijnOrders", "NekpijnOrders.json", "NekpijnOrders.cql"),
    ("NekklachtenZelfcheck", "NekklachtenZelfcheck.json", "NekklachtenZelfcheck.cql"),
    ("FHIRHelpers", "FHIRHelpers-4.0.1.json", None),
])
def test_library_holds_the_committed_cql_and_elm(name, elm_file, cql_file):
    library = artifact("Library", name)
    assert library["type"]["coding"][0] == {"system": "http://terminology.hl7.org/CodeSystem/library-type",
                                            "code": "logic-library", "display": "Logic Library"}
    assert library["name"] == name and library["language"] == "nl" and library["copyright"]
    assert _content(library, "application/elm+json") == (CQL_DIR / elm_file).read_bytes()
    assert _content(library, "text/cql") == ((CQL_DIR / cql_file).read_bytes() if cql_file else None)
    elm = json.loads(_content(library, "application/elm+json"))["library"]
    assert (elm["identifier"]["id"], elm["identifier"]["version"]) == (name, library["version"])


def test_library_dependencies_resolve_to_the_included_libraries():
    urls = by_url()
    for name in ("NekpijnBeslisregels", "NekpijnPlan", "NekpijnOrders", "NekklachtenZelfcheck"):
        library = artifact("Library", name)
        elm = json.loads(_content(library, "application/elm+json"))["library"]
        wanted = {(i["path"], i["version"]) for i in elm["includes"]["def"]}
        got = set()
        for related in library["relatedArtifact"]:
            assert related["type"] == "depends-on"
            url, version = related["resource"].split("|")
            target = urls[url]
            assert target["resourceType"] == "Library" and target["version"] == version
            got.add((target["name"], version))
        assert got == wanted


@pytest.mark.parametrize("plan_id,name", [("nekpijn-behandelprofiel", "NekpijnPlan"), ("nekpijn-orders", "NekpijnOrders")])
def test_the_plan_names_its_library(plan_id, name):
    plan = artifact("PlanDefinition", plan_id)
    library = artifact("Library", name)
    assert plan["library"] == [f"{library['url']}|{library['version']}"]


def test_the_self_check_names_its_library():
    plan = artifact("PlanDefinition", "nekklachten-zelfcheck")
    library = artifact("Library", "NekklachtenZelfcheck")
    assert plan["library"] == [f"{library['url']}|{library['version']}"]
