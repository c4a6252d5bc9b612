"""The example case Bundles (examples/<case-id>.json, built by tools/make_examples.py).

1. the committed examples are fresh (a rebuild gives the same bytes);
2. there is one example per case of tests/cases/cases.yaml;
3. every example and every entry parses with fhir.resources (R4B models);
4. every example validates with pyrofile-validator against the project's
   profiles, ValueSets, CodeSystem and Questionnaire (service/knowledge/fhir/,
   or $NEKPIJN_VALIDATION_DIR) with 0 errors: the examples' intakes answer every
   required (v2) yes/no item of the groups they hold (tools.case_bundles
   answer_required_items), while the case tests keep the partial intakes of
   cases.yaml (e.g. only crs-arm-sensory answered: "radicular syndrome assessed");
4b. completing the intakes is outcome-neutral: each example, evaluated by the
   engine, meets every expectation of its case and gives the same case features
   and plan (CarePlan and order plan) as the case's partial input;
5. deliberately broken resources DO fail validation (the profiles are enforced);
6. unit tests of the case → Bundle rules (dates, time zones, PSK components).
"""

from __future__ import annotations

import copy
import json
import time
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path

import pytest
import yaml
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from support.validation import errors, format_issues, knowledge_dir, validate
from tools.case_bundles import (EVALUATION_DATE_URL, LOCAL_SYSTEM, Dictionary, answer_required_items, build_case_bundle,
                                build_draft_orders, order_reference)
from tools.make_examples import CASES, DATA_DICTIONARY, EVALUATION_DAY, EXAMPLES, example_texts, write_examples
from tools.self_check_bundles import EXAMPLES as SELF_CHECK_EXAMPLES

CASE_LIST: list[dict] = yaml.safe_load(CASES.read_text(encoding="utf-8"))["cases"]
CASE_IDS = [case["id"] for case in CASE_LIST]
DATA_DICT: dict = yaml.safe_load(DATA_DICTIONARY.read_text(encoding="utf-8"))
PROFILE = "https://nekpijn-cds.org/fhir/StructureDefinition/"


def load_example(case_id: str) -> dict:
    return json.loads((EXAMPLES / f"{case_id}.json").read_text(encoding="utf-8"))


def case(case_id: str) -> dict:
    return next(c for c in CASE_LIST if c["id"] == case_id)


def entry(bundle: dict, resource_id: str) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == resource_id)


# ---------------------------------------------------------------------------
# 1-2. fresh, one per case
# ---------------------------------------------------------------------------


def test_examples_are_fresh(tmp_path: Path) -> None:
    written = write_examples(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{cid}.json" for cid in [*CASE_IDS, *SELF_CHECK_EXAMPLES])
    stale = [
        p.name for p in written
        if not (EXAMPLES / p.name).is_file()
        or (EXAMPLES / p.name).read_bytes() != p.read_bytes()
    ]
    assert not stale, f"examples/ is stale, run `make examples`: {stale}"


def test_build_is_deterministic() -> None:
    assert example_texts() == example_texts()


def test_one_example_per_case() -> None:
    assert len(CASE_IDS) == len(set(CASE_IDS)), "duplicate case ids in cases.yaml"
    for cid in CASE_IDS:
        assert (EXAMPLES / f"{cid}.json").is_file(), f"missing examples/{cid}.json"
    # every case Bundle in examples/ belongs to a case (no leftovers of renamed cases)
    for path in EXAMPLES.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        extensions = data.get("meta", {}).get("extension", []) if data.get("resourceType") == "Bundle" else []
        if any(ext.get("url") == EVALUATION_DATE_URL for ext in extensions):
            assert path.stem in CASE_IDS, f"{path.name} is not a case of cases.yaml"


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_example_shape(case_id: str) -> None:
    bundle = load_example(case_id)
    assert bundle["id"] == case_id
    assert bundle["type"] == "collection"
    assert bundle["timestamp"] == "2026-06-15T12:00:00+02:00"
    assert bundle["meta"] == {"extension": [{"url": EVALUATION_DATE_URL, "valueDate": "2026-06-15"}]}
    resources = [e["resource"] for e in bundle["entry"]]
    for e in bundle["entry"]:
        r = e["resource"]
        assert e["fullUrl"] == f"http://example.org/fhir/{r['resourceType']}/{r['id']}"
        if "subject" in r:
            assert r["subject"] == {"reference": f"Patient/{case_id}"}
    patient = resources[0]
    assert patient["resourceType"] == "Patient" and patient["id"] == case_id
    assert set(patient) == {"resourceType", "id", "birthDate"}
    for r in resources:
        if r["resourceType"] == "Observation":
            assert r["status"] == "final"
            assert r["effectiveDateTime"].endswith("T00:05:00+02:00")  # the v2 default time, summer time
        if r["resourceType"] == "QuestionnaireResponse":  # an earlier episode's intake may be in winter time
            assert r["authored"][10:] in ("T00:05:00+02:00", "T00:05:00+01:00")
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    assert len(conditions) == (1 if case(case_id).get("condition") else 0)
    intakes = [r for r in resources if r["resourceType"] == "QuestionnaireResponse"]
    assert len(intakes) == 1 + len(case(case_id).get("extra_qrs", []))


ALL_EXAMPLES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


def patient_references(resource: dict) -> set[str]:
    """Every `Patient/<id>` reference anywhere in a resource."""
    if isinstance(resource, dict):
        found = {resource["reference"]} if str(resource.get("reference", "")).startswith("Patient/") else set()
        return found.union(*(patient_references(v) for v in resource.values()))
    if isinstance(resource, list):
        return set().union(*(patient_references(v) for v in resource))
    return set()


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_example_holds_the_patients_it_refers_to(name: str) -> None:
    """Every example is complete: a FHIR server that checks references (HAPI) takes it as it is."""
    bundle = load_example(name)
    held = {f"Patient/{e['resource']['id']}" for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"}
    wanted = set().union(*(patient_references(e["resource"]) for e in bundle["entry"]))
    assert wanted and wanted <= held, f"{name}: refers to {sorted(wanted - held)} it does not hold"


@pytest.mark.parametrize("name", list(SELF_CHECK_EXAMPLES))
def test_self_check_example_patient_is_anonymous(name: str) -> None:
    """The self-check knows no one (dak/self-check.md): its patient is an id and nothing else,
    after the response (what the page sends comes first)."""
    bundle = load_example(name)
    response, patient = (e["resource"] for e in bundle["entry"])
    assert response["resourceType"] == "QuestionnaireResponse"
    assert patient == {"resourceType": "Patient", "id": SELF_CHECK_EXAMPLES[name][0]}
    assert response["subject"] == {"reference": f"Patient/{patient['id']}"}


# ---------------------------------------------------------------------------
# 3. fhir.resources
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_example_parses_with_fhir_resources(case_id: str) -> None:
    bundle = load_example(case_id)
    Bundle.model_validate(bundle)
    for e in bundle["entry"]:
        resource = e["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


# ---------------------------------------------------------------------------
# 4. pyrofile-validator
# ---------------------------------------------------------------------------

REQUIRED_ITEMS = {item["code"]: group["code"] for group in DATA_DICT["groups"] for item in group.get("items", [])
                  if item.get("required")}


def unanswered_required(bundle: dict) -> set[tuple[str, str]]:
    """(QuestionnaireResponse id, linkId) of every required item missing from a group a
    completed / amended intake answers."""
    gaps = set()
    for e in bundle["entry"]:
        r = e["resource"]
        if r["resourceType"] != "QuestionnaireResponse" or r["status"] not in ("completed", "amended"):
            continue
        answered = {g["linkId"]: {i["linkId"] for i in g.get("item", [])} for g in r.get("item", [])}
        for code, group in REQUIRED_ITEMS.items():
            if group in answered and code not in answered[group]:
                gaps.add((r["id"], code))
    return gaps


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_example_validates(case_id: str) -> None:
    bundle = load_example(case_id)
    found = errors(validate(bundle))
    assert not found, f"validated against {knowledge_dir()}:\n" + format_issues(found)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_example_intakes_answer_every_required_item(case_id: str) -> None:
    assert not unanswered_required(load_example(case_id))


def test_case_inputs_stay_partial() -> None:
    """The case tests' inputs are what cases.yaml says: partial intakes (the service must
    handle those); only the examples are completed."""
    partial = [c for c in CASE_LIST if unanswered_required(build_case_bundle(c, EVALUATION_DAY, DATA_DICT))]
    assert len(partial) >= 20


# ---------------------------------------------------------------------------
# 4b. completing the intakes is outcome-neutral
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine():
    from service.apply.engine import Engine
    from service.knowledge import KnowledgeBase
    return Engine(KnowledgeBase.load())


def _outcome(careplan: dict) -> dict:
    """The CarePlan without what names the sources: its id (a hash of the inputs), the
    narrative and each case feature's evidence (derivedFrom and the note naming the dated
    sources) — a carried-forward answer is read from the later intake that repeats it."""
    careplan = copy.deepcopy(careplan)
    careplan.pop("id")
    careplan.pop("text", None)
    for resource in careplan["contained"]:
        if resource["resourceType"] == "Observation":
            resource.pop("derivedFrom", None)
            resource.pop("note", None)
    return careplan


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_example_gives_the_case_outcome(engine, case_id: str) -> None:
    from apply_support import assert_case
    from service.facts.model import AMSTERDAM

    spec = case(case_id)
    now = datetime.combine(EVALUATION_DAY, dt_time(12, 0), AMSTERDAM)
    example = [e["resource"] for e in load_example(case_id)["entry"]]
    partial = [e["resource"] for e in build_case_bundle(spec, EVALUATION_DAY, DATA_DICT)["entry"]]
    subject = f"Patient/{case_id}"
    lang = spec.get("language", "nl")
    plan = engine.apply("nekpijn-behandelprofiel", example, subject, now=now, lang=lang).careplan
    assert_case(plan, spec, EVALUATION_DAY)
    assert _outcome(plan) == _outcome(engine.apply("nekpijn-behandelprofiel", partial, subject, now=now, lang=lang).careplan)
    if spec.get("orders"):
        orders = build_draft_orders(spec, DATA_DICT)
        by_example = engine.apply("nekpijn-orders", example, subject, now=now, lang=lang, orders=orders).careplan
        by_case = engine.apply("nekpijn-orders", partial, subject, now=now, lang=lang, orders=orders).careplan
        assert _outcome(by_example) == _outcome(by_case)


def _qr(rid: str, authored: str, groups: dict[str, dict[str, bool]], status: str = "completed") -> dict:
    return {"resourceType": "QuestionnaireResponse", "id": rid, "status": status, "authored": authored,
            "item": [{"linkId": g, "item": [{"linkId": k, "answer": [{"valueBoolean": v}]} for k, v in items.items()]}
                     for g, items in groups.items()]}


def _answers(qr: dict) -> dict[str, dict[str, bool]]:
    return {g["linkId"]: {i["linkId"]: i["answer"][0]["valueBoolean"] for i in g["item"]} for g in qr["item"]}


def test_answer_required_items_carries_the_latest_answer_forward() -> None:
    """A later intake repeats the newest earlier answer (an earlier `true` is not overridden
    by a filled-in `false`), an earlier Observation counts as a source, a first intake gets
    `false`, a group the intake does not hold stays absent, an unread intake is left alone."""
    first = _qr("q1", "2026-06-01T00:05:00+02:00", {"radicular": {"crs-radiating-arm-pain": True}})
    later = _qr("q2", "2026-06-10T00:05:00+02:00", {"radicular": {"crs-worse-motor": True}})
    draft = _qr("q3", "2026-06-12T00:05:00+02:00", {"radicular": {"crs-worse-motor": True}}, status="in-progress")
    flags = _qr("q4", "2026-06-13T00:05:00+02:00", {"red-flags": {"rf-fever": False}})
    observation = {"resourceType": "Observation", "id": "o", "status": "final",
                   "code": {"coding": [{"system": LOCAL_SYSTEM, "code": "crs-muscle-weakness"}]},
                   "effectiveDateTime": "2026-06-05T00:05:00+02:00", "valueBoolean": True}
    answer_required_items([later, draft, flags, observation, first], Dictionary(DATA_DICT))  # any order
    crs = ["crs-arm-sensory", "crs-reduced-strength", "crs-radiating-arm-pain",
           "crs-reduced-reflexes", "crs-muscle-weakness", "crs-sensibility-disorder"]
    assert list(_answers(first)["radicular"]) == crs  # data-dictionary order
    assert _answers(first)["radicular"] == {**dict.fromkeys(crs, False), "crs-radiating-arm-pain": True}
    assert _answers(later)["radicular"] == {**dict.fromkeys(crs, False), "crs-radiating-arm-pain": True,
                                            "crs-muscle-weakness": True, "crs-worse-motor": True}
    assert _answers(draft) == {"radicular": {"crs-worse-motor": True}}
    assert list(_answers(flags)) == ["red-flags"]


def test_validation_time_of_all_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """Validating every example (validator already loaded) stays well under a minute."""
    validate(load_example(CASE_IDS[0]))  # load + warm up (cached afterwards)
    started = time.perf_counter()
    for cid in CASE_IDS:
        validate(load_example(cid))
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n[validation] {len(CASE_IDS)} example Bundles in {elapsed:.2f} s (warm validator)")
    assert elapsed < 60


# ---------------------------------------------------------------------------
# 5. broken resources fail
# ---------------------------------------------------------------------------

CRS_CASE = "crs-excluded-in-principle"  # has tests, rotation, NPRS and PSK


@pytest.fixture(scope="module")
def crs_bundle() -> dict:
    return build_case_bundle(case(CRS_CASE), EVALUATION_DAY, DATA_DICT)


def _nprs_11(b):
    r = entry(b, f"{CRS_CASE}-nprs-d0"); r["valueInteger"] = 11; return r


def _nprs_negative(b):
    r = entry(b, f"{CRS_CASE}-nprs-d0"); r["valueInteger"] = -1; return r


def _nprs_other_loinc(b):
    r = entry(b, f"{CRS_CASE}-nprs-d0"); r["code"]["coding"][0]["code"] = "38208-5"; return r


def _nprs_no_effective(b):
    r = entry(b, f"{CRS_CASE}-nprs-d0"); del r["effectiveDateTime"]; return r


def _psk_activity_without_text(b):
    r = entry(b, f"{CRS_CASE}-psk-d0"); del r["component"][1]["code"]["text"]; return r


def _psk_activity_11(b):
    r = entry(b, f"{CRS_CASE}-psk-d0"); r["component"][0]["valueInteger"] = 11; return r


def _psk_score_10_5(b):
    r = entry(b, f"{CRS_CASE}-psk-d0"); r["valueQuantity"]["value"] = 10.5; return r


def _psk_decimal(b):
    r = entry(b, f"{CRS_CASE}-psk-d0"); r["valueDecimal"] = r.pop("valueQuantity")["value"]; return r


def _psk_foreign_component(b):
    r = entry(b, f"{CRS_CASE}-psk-d0")
    r["component"].append({"code": {"coding": [{"system": LOCAL_SYSTEM, "code": "nprs"}]}, "valueInteger": 3})
    return r


def _test_maybe(b):
    r = entry(b, f"{CRS_CASE}-test-spurling")
    r["valueCodeableConcept"] = {"coding": [{"system": "http://snomed.info/sct", "code": "maybe"}], "text": "maybe"}
    return r


def _test_not_a_crs_test(b):
    r = entry(b, f"{CRS_CASE}-test-spurling")
    r["code"] = {"coding": [{"system": LOCAL_SYSTEM, "code": "rf-fever"}]}
    return r


def _test_no_value(b):
    r = entry(b, f"{CRS_CASE}-test-spurling"); del r["valueCodeableConcept"]; return r


def _rotation_one_side(b):
    r = entry(b, f"{CRS_CASE}-cervical-rotation-d0"); del r["component"][1]; return r


def _rotation_radians(b):
    r = entry(b, f"{CRS_CASE}-cervical-rotation-d0"); r["component"][0]["valueQuantity"]["code"] = "rad"; return r


def _rotation_negative(b):
    r = entry(b, f"{CRS_CASE}-cervical-rotation-d0"); r["component"][1]["valueQuantity"]["value"] = -10; return r


def _rotation_with_value(b):
    r = entry(b, f"{CRS_CASE}-cervical-rotation-d0"); r["valueInteger"] = 50; return r


def _qr_unknown_link_id(b):
    r = entry(b, f"{CRS_CASE}-intake"); r["item"][0]["item"][1]["linkId"] = "course"; return r


def _qr_wrong_answer_type(b):
    r = entry(b, f"{CRS_CASE}-intake"); r["item"][0]["item"][1]["answer"] = [{"valueString": "afnemend"}]; return r


def _qr_unknown_answer_code(b):
    r = entry(b, f"{CRS_CASE}-intake"); r["item"][0]["item"][1]["answer"][0]["valueCoding"]["code"] = "trend-better"; return r


def _qr_missing_required_onset(b):
    r = entry(b, f"{CRS_CASE}-intake"); del r["item"][0]["item"][0]; return r


def _bundle_with_bad_entry(b):
    _nprs_11(b); return b


def _bundle_evaluation_date_as_string(b):
    b["meta"]["extension"][0] = {"url": EVALUATION_DATE_URL, "valueString": "vandaag"}; return b


def _observation(profile: str, **fields) -> dict:
    return {
        "resourceType": "Observation", "id": "x", "meta": {"profile": [PROFILE + profile]},
        "status": "final", "subject": {"reference": "Patient/p"},
        "effectiveDateTime": "2026-06-15T09:30:00+02:00", **fields,
    }


def _local(code: str) -> dict:
    return {"coding": [{"system": LOCAL_SYSTEM, "code": code}]}


def _finding_not_boolean_code(b):
    return _observation("finding-observation", code=_local("nprs"), valueBoolean=True)


def _instrument_tsk_out_of_range(b):
    return _observation("instrument-score-observation", code=_local("tsk"), valueInteger=12)


def _instrument_without_score(b):
    return _observation("instrument-score-observation", code=_local("ndi"))


def _instrument_components_on_ndi(b):
    return _observation("instrument-score-observation", code=_local("ndi"), valueInteger=20,
                        component=[{"code": _local("4dkl-distress"), "valueInteger": 4}])


def _case_feature(**overrides) -> dict:
    resource = _observation(
        "case-feature-observation",
        category=[_local("case-feature")], code=_local("treatment-profile"),
        valueCodeableConcept=_local("profile-b"), note=[{"text": "Regel: ..."}],
    )
    resource.update(overrides)
    return {k: v for k, v in resource.items() if v is not None}


def _case_feature_amended(b):
    return _case_feature(status="amended")


def _case_feature_without_note(b):
    return _case_feature(note=None)


def _case_feature_without_category(b):
    return _case_feature(category=[{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "exam"}]}])


def _case_feature_unknown_feature(b):
    return _case_feature(code=_local("nprs"))


def _case_feature_component_not_a_pathology(b):
    return _case_feature(code=_local("serious-pathology"), valueCodeableConcept=_local("suspected"),
                         component=[{"code": _local("rf-fever"), "valueString": "Koorts"}])


BROKEN = {
    # name: (mutation, an issue code that must be among the errors)
    "nprs-value-11": (_nprs_11, "profile.invariant.nk-nprs-1"),
    "nprs-value-negative": (_nprs_negative, "profile.invariant.nk-nprs-1"),
    "nprs-other-loinc-code": (_nprs_other_loinc, "profile.slice.cardinality.min"),
    "nprs-no-effective": (_nprs_no_effective, "profile.required"),
    "psk-activity-without-text": (_psk_activity_without_text, "profile.invariant.nk-psk-3"),
    "psk-activity-11": (_psk_activity_11, "profile.invariant.nk-psk-2"),
    "psk-score-10.5": (_psk_score_10_5, "profile.invariant.nk-psk-1"),
    "psk-valueDecimal": (_psk_decimal, "element.unknown"),
    "psk-foreign-component": (_psk_foreign_component, "profile.slice.closed"),
    "test-result-maybe": (_test_maybe, "profile.binding.required"),
    "test-code-not-a-crs-test": (_test_not_a_crs_test, "profile.binding.required"),
    "test-without-result": (_test_no_value, "profile.required"),
    "rotation-one-side": (_rotation_one_side, "profile.slice.cardinality.min"),
    "rotation-radians": (_rotation_radians, "profile.slice.element.pattern"),
    "rotation-negative": (_rotation_negative, "profile.invariant.nk-rot-1"),
    "rotation-with-value": (_rotation_with_value, "profile.element.cardinality.max"),
    "qr-unknown-linkid": (_qr_unknown_link_id, "questionnaire.item.unknown"),
    "qr-wrong-answer-type": (_qr_wrong_answer_type, "questionnaire.answer.type"),
    "qr-unknown-answer-code": (_qr_unknown_answer_code, "terminology.code-system"),
    "qr-missing-onset-date": (_qr_missing_required_onset, "questionnaire.item.required"),
    "bundle-with-broken-entry": (_bundle_with_bad_entry, "profile.invariant.nk-nprs-1"),
    "bundle-evaluation-date-string": (_bundle_evaluation_date_as_string, "extension.value.type"),
    "finding-code-not-boolean": (_finding_not_boolean_code, "profile.binding.required"),
    "instrument-tsk-12": (_instrument_tsk_out_of_range, "profile.invariant.nk-ins-4"),
    "instrument-without-score": (_instrument_without_score, "profile.invariant.nk-ins-1"),
    "instrument-components-on-ndi": (_instrument_components_on_ndi, "profile.invariant.nk-ins-2"),
    "case-feature-amended": (_case_feature_amended, "profile.invariant.nk-cf-1"),
    "case-feature-without-note": (_case_feature_without_note, "profile.required"),
    "case-feature-without-category": (_case_feature_without_category, "profile.slice.cardinality.min"),
    "case-feature-unknown-feature": (_case_feature_unknown_feature, "profile.binding.required"),
    "case-feature-component-not-a-pathology": (_case_feature_component_not_a_pathology, "profile.element.binding.required"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_resource_fails(name: str, crs_bundle: dict) -> None:
    mutate, expected_code = BROKEN[name]
    resource = mutate(copy.deepcopy(crs_bundle))
    found = errors(validate(resource))
    assert expected_code in {issue.code for issue in found}, (
        f"{name}: expected an error {expected_code}, got:\n{format_issues(found) or '(no errors)'}"
    )


def test_valid_case_feature_passes() -> None:
    good = [
        _case_feature(),
        _case_feature(status="preliminary"),
        _case_feature(code=_local("psychosocial-dominant"), valueCodeableConcept=None, valueBoolean=True),
        _case_feature(code=_local("serious-pathology"), valueCodeableConcept=_local("suspected"),
                      derivedFrom=[{"reference": "QuestionnaireResponse/q"}, {"reference": "Observation/o"}],
                      component=[{"code": _local("pathology-malignancy"),
                                  "valueString": "Kanker in de voorgeschiedenis; Onverklaarbaar gewichtsverlies"}]),
    ]
    for resource in good:
        found = errors(validate(resource))
        assert not found, format_issues(found)


def test_valid_instrument_scores_pass() -> None:
    good = [
        _observation("instrument-score-observation", code=_local("tsk"), valueInteger=40),
        _observation("instrument-score-observation",
                     code={"coding": [{"system": LOCAL_SYSTEM, "code": "ndi"}, {"system": "http://loinc.org", "code": "82237-9"}]},
                     valueInteger=18),
        _observation("instrument-score-observation", code=_local("4dkl"),
                     component=[{"code": _local("4dkl-distress"), "valueInteger": 12},
                                {"code": _local("4dkl-somatisation"), "valueInteger": 5}]),
        _observation("finding-observation", code={"coding": [{"system": "http://snomed.info/sct", "code": "386661006"}]},
                     valueBoolean=True),
    ]
    for resource in good:
        found = errors(validate(resource))
        assert not found, format_issues(found)


# Type restrictions of a profile (value[x], effective[x], Reference targets).
# pyrofile-validator 0.3.0 does not enforce them; support/type_rules.py does,
# as `profile.type` errors.
TYPE_VIOLATIONS = {
    "finding-valueString": lambda: _observation("finding-observation", code=_local("rf-fever"), valueString="ja"),
    "nprs-subject-group": lambda: _observation(
        "nprs-observation", code={"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
        valueInteger=3, subject={"reference": "Group/g"}),
    "nprs-effectivePeriod": lambda: {
        **{k: v for k, v in _observation(
            "nprs-observation", code={"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            valueInteger=3).items() if k != "effectiveDateTime"},
        "effectivePeriod": {"start": "2026-06-15"},
    },
    "rotation-with-value": lambda: {
        **_observation("cervical-rotation-observation", code=_local("cervical-rotation"), valueInteger=50),
    },
}


@pytest.mark.parametrize("name", list(TYPE_VIOLATIONS))
def test_profile_type_restrictions_are_enforced(name: str) -> None:
    found = errors(validate(TYPE_VIOLATIONS[name]()))
    assert "profile.type" in {issue.code for issue in found}, format_issues(found)


# ---------------------------------------------------------------------------
# 6. case → Bundle rules
# ---------------------------------------------------------------------------


def test_birth_date_and_dates() -> None:
    bundle = load_example("follow-up-d-improved")  # age 45, onset 60, intake 45, tests default intake
    assert entry(bundle, "follow-up-d-improved")["birthDate"] == "1981-03-07"  # 2026-06-15 - 45 y - 100 d
    qr = entry(bundle, "follow-up-d-improved-intake")
    assert qr["authored"] == "2026-05-01T00:05:00+02:00"
    onset = next(i for g in qr["item"] for i in g["item"] if i["linkId"] == "onset-date")
    assert onset["answer"] == [{"valueDate": "2026-04-16"}]
    assert entry(bundle, "follow-up-d-improved-test-spurling")["effectiveDateTime"] == "2026-05-01T00:05:00+02:00"
    assert entry(bundle, "follow-up-d-improved-nprs-d1")["effectiveDateTime"] == "2026-06-14T00:05:00+02:00"
    # intake_days defaults to onset_days
    grade_iv = load_example("grade-iv-malignancy")
    assert entry(grade_iv, "grade-iv-malignancy-intake")["authored"] == "2026-05-11T00:05:00+02:00"


def test_winter_time_offset() -> None:
    spec = {"id": "w", "age": 40, "onset_days": 30, "answers": {"rf-fever": False},
            "tests": {"test-ultt": "neg"}, "tests_days": 3, "obs": [{"code": "nprs", "value": 4, "days": 1}]}
    bundle = build_case_bundle(spec, date(2026, 3, 30), DATA_DICT)  # DST started 2026-03-29
    assert entry(bundle, "w-intake")["authored"] == "2026-02-28T00:05:00+01:00"
    assert entry(bundle, "w-test-ultt")["effectiveDateTime"] == "2026-03-27T00:05:00+01:00"
    # 00:05 on the day of the switch is still winter time (the clocks go forward at 02:00)
    assert entry(bundle, "w-nprs-d1")["effectiveDateTime"] == "2026-03-29T00:05:00+01:00"
    assert bundle["timestamp"] == "2026-03-30T12:00:00+02:00"


def test_questionnaire_response_structure() -> None:
    qr = entry(load_example("b-work-sick-leave"), "b-work-sick-leave-intake")
    assert qr["questionnaire"] == "https://nekpijn-cds.org/fhir/Questionnaire/nekpijn-intake"
    assert qr["status"] == "completed"
    assert [g["linkId"] for g in qr["item"]] == ["episode", "red-flags", "radicular", "prognosis"]
    episode = qr["item"][0]
    assert [i["linkId"] for i in episode["item"]] == ["onset-date", "work-related", "adl-impact", "sick-leave", "sick-leave-weeks"]
    assert episode["item"][4] == {"linkId": "sick-leave-weeks", "text": "Duur van verzuim of productieverlies (weken)",
                                  "answer": [{"valueInteger": 6}]}
    assert episode["item"][2]["answer"][0]["valueCoding"] == {
        "system": LOCAL_SYSTEM, "code": "adl-substantial", "display": "Forse invloed"}


def test_answer_types_and_relative_dates() -> None:
    spec = {"id": "t", "age": 30, "answers": {"onset-date": "-10d", "sick-leave-weeks": 2, "comorbidities": "astma"}}
    bundle = build_case_bundle(spec, EVALUATION_DAY, DATA_DICT)
    items = {i["linkId"]: i["answer"][0] for g in entry(bundle, "t-intake")["item"] for i in g["item"]}
    assert items == {"onset-date": {"valueDate": "2026-06-05"}, "sick-leave-weeks": {"valueInteger": 2},
                     "comorbidities": {"valueString": "astma"}}
    assert not [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"]


def test_no_onset_answer_keeps_condition() -> None:
    spec = {"id": "n", "age": 30, "onset_days": 20, "no_onset_answer": True, "condition": True,
            "answers": {"adl-impact": "adl-hardly"}}
    bundle = build_case_bundle(spec, EVALUATION_DAY, DATA_DICT)
    qr = entry(bundle, "n-intake")
    assert "onset-date" not in {i["linkId"] for g in qr["item"] for i in g["item"]}
    assert qr["authored"] == "2026-05-26T00:05:00+02:00"
    condition = entry(bundle, "n-neck-pain")
    assert condition["onsetDateTime"] == "2026-05-26"
    assert condition["clinicalStatus"]["coding"][0]["code"] == "active"
    assert condition["code"]["coding"][0]["code"] == "81680005"


def test_condition_only_on_request_and_its_own_onset() -> None:
    base = {"id": "c", "age": 30, "onset_days": 20, "answers": {"adl-impact": "adl-hardly"}}
    assert not [e for e in build_case_bundle(base, EVALUATION_DAY, DATA_DICT)["entry"]
                if e["resource"]["resourceType"] == "Condition"]
    bundle = build_case_bundle({**base, "condition": True, "condition_onset_days": 50}, EVALUATION_DAY, DATA_DICT)
    assert entry(bundle, "c-neck-pain")["onsetDateTime"] == "2026-04-26"
    onset = next(i for g in entry(bundle, "c-intake")["item"] for i in g["item"] if i["linkId"] == "onset-date")
    assert onset["answer"] == [{"valueDate": "2026-05-26"}]  # the answer keeps onset_days


def test_intake_time_status_and_tests_in_the_intake() -> None:
    spec = {"id": "i", "age": 30, "onset_days": 10, "intake_days": 2, "intake_time": "23:30", "intake_status": "in-progress",
            "answers": {"rf-fever": False}, "tests": {"test-ultt": "neg"}, "tests_in_qr": {"test-spurling": "pos"},
            "obs": [{"code": "nprs", "value": 4}, {"code": "psk", "value": 3.0, "time": "08:15"},
                    {"code": "nprs", "value": 3, "days": 1}, {"code": "nprs", "value": 2, "days": 1, "time": "18:00"}]}
    bundle = build_case_bundle(spec, EVALUATION_DAY, DATA_DICT)
    qr = entry(bundle, "i-intake")
    assert qr["status"] == "in-progress"
    assert qr["authored"] == "2026-06-13T23:30:00+02:00"
    answers = {i["linkId"]: i["answer"][0] for g in qr["item"] for i in g["item"]}
    assert answers["test-spurling"] == {"valueCoding": {"system": "http://snomed.info/sct", "code": "10828004", "display": "Positive"}}
    assert entry(bundle, "i-test-ultt")["effectiveDateTime"] == "2026-06-13T23:30:00+02:00"  # tests: the intake's time
    assert entry(bundle, "i-nprs-d2")["effectiveDateTime"] == "2026-06-13T23:30:00+02:00"   # without days: with the intake
    assert entry(bundle, "i-psk-d2")["effectiveDateTime"] == "2026-06-13T08:15:00+02:00"
    assert entry(bundle, "i-nprs-d1")["effectiveDateTime"] == "2026-06-14T00:05:00+02:00"   # days, no time: 00:05
    assert entry(bundle, "i-nprs-d1-2")["effectiveDateTime"] == "2026-06-14T18:00:00+02:00"


def test_extra_intakes_empty_intake_and_future_dates() -> None:
    spec = {"id": "e", "age": 44, "onset_days": 14, "intake_days": 0, "empty_qr": True,
            "extra_qrs": [{"days": 200, "answers": {"onset-date": "-230d", "pattern-assessment": "pattern-recognisable"}},
                          {"days": 3, "time": "14:45", "status": "amended", "answers": {"rf-fever": True}}],
            "obs": [{"code": "psychosocial-dominant", "value": True, "days": -5},
                    {"code": "pattern-assessment", "value": "pattern-recognisable", "days": 2},
                    {"code": "crs-worse-motor", "value": True, "days": 1}]}
    bundle = build_case_bundle(spec, EVALUATION_DAY, DATA_DICT)
    intake = entry(bundle, "e-intake")
    assert "item" not in intake and intake["status"] == "completed" and intake["authored"] == "2026-06-15T00:05:00+02:00"
    earlier = entry(bundle, "e-intake-d200")
    assert earlier["authored"] == "2025-11-27T00:05:00+01:00" and earlier["status"] == "completed"
    items = {i["linkId"]: i["answer"][0] for g in earlier["item"] for i in g["item"]}
    assert items["onset-date"] == {"valueDate": "2025-10-28"}
    assert items["pattern-assessment"]["valueCoding"]["code"] == "pattern-recognisable"
    follow_up = entry(bundle, "e-intake-d3")
    assert follow_up["status"] == "amended" and follow_up["authored"] == "2026-06-12T14:45:00+02:00"
    assert [i["linkId"] for g in follow_up["item"] for i in g["item"]] == ["rf-fever"]  # no onset answer of its own
    assert entry(bundle, "e-psychosocial-dominant-d-5")["effectiveDateTime"] == "2026-06-20T00:05:00+02:00"
    pattern = entry(bundle, "e-pattern-assessment-d2")
    assert pattern["valueCodeableConcept"]["coding"][0] == {"system": LOCAL_SYSTEM, "code": "pattern-recognisable",
                                                           "display": "Herkenbaar klachtenpatroon, geen aanwijzing voor ernstige pathologie"}
    assert entry(bundle, "e-crs-worse-motor-d1")["valueBoolean"] is True
    for e in bundle["entry"]:
        Bundle.model_validate({"resourceType": "Bundle", "type": "collection", "entry": [e]})


def test_draft_orders() -> None:
    spec = {"id": "o", "age": 40, "orders": [
        {"id": "o1", "code": "int-dry-needling"},
        {"id": "o2", "category": "imaging", "text": "Röntgenfoto cervicale wervelkolom"},
        {"id": "o3", "snomed": "231082000"},
        {"id": "o4", "coding": {"system": "http://www.ama-assn.org/go/cpt", "code": "72141", "display": "MRI neck"}, "type": "Procedure",
         "category": "imaging"},
        {"id": "o5", "code": "int-semi-rigid-collar", "subject": "other"},
    ]}
    orders = {o["id"]: o for o in build_draft_orders(spec, DATA_DICT)}
    assert orders["o1"] == {"resourceType": "ServiceRequest", "id": "o1", "status": "draft", "intent": "order",
                            "code": {"coding": [{"system": LOCAL_SYSTEM, "code": "int-dry-needling", "display": "Dry needling"}]},
                            "subject": {"reference": "Patient/o"}}
    assert orders["o2"]["category"] == [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}]}]
    assert orders["o2"]["code"] == {"text": "Röntgenfoto cervicale wervelkolom"}
    assert orders["o3"]["code"]["coding"] == [{"system": "http://snomed.info/sct", "code": "231082000", "display": "Dry needling"}]
    assert orders["o4"]["resourceType"] == "Procedure" and orders["o4"]["status"] == "preparation" and "intent" not in orders["o4"]
    assert orders["o4"]["category"] == {"coding": [{"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}]}
    assert orders["o5"]["subject"] == {"reference": "Patient/other-patient"}
    assert order_reference(orders["o4"]) == "Procedure/o4"
    for order in orders.values():
        get_fhir_model_class(order["resourceType"]).model_validate(order)


def test_every_case_builds_its_orders() -> None:
    for spec in CASE_LIST:
        orders = build_draft_orders(spec, DATA_DICT)
        assert [o["id"] for o in orders] == [o["id"] for o in spec.get("orders", [])]
        assert set(spec.get("expect_orders", {})) == {o["id"] for o in orders}, spec["id"]


@pytest.mark.parametrize("score, components", [(4.0, [4, 4, 4]), (4.5, [5, 5, 4]), (5.5, [6, 6, 5]), (3.0, [3, 3, 3]), (0.0, [0, 0, 0]), (10.0, [10, 10, 10])])
def test_psk_components_closest_to_recorded_score(score: float, components: list[int]) -> None:
    spec = {"id": "p", "age": 30, "obs": [{"code": "psk", "value": score, "days": 0}]}
    psk = entry(build_case_bundle(spec, EVALUATION_DAY, DATA_DICT), "p-psk-d0")
    assert psk["valueQuantity"] == {"value": score, "unit": "score", "system": "http://unitsofmeasure.org", "code": "{score}"}
    assert [c["valueInteger"] for c in psk["component"]] == components
    assert all(c["code"]["text"] for c in psk["component"])


def test_painscore_and_generic_observations() -> None:
    spec = {"id": "g", "age": 30, "obs": [
        {"code": "nprs", "value": 3, "days": 0, "painscore": True},
        {"code": "rf-fever", "value": True, "days": 2},
        {"code": "tsk", "value": 41, "days": 2},
        {"code": "4dkl", "value": {"4dkl-distress": 12, "4dkl-anxiety": 3}, "days": 2},
        {"code": "test-ultt", "value": "neg", "days": 1},
    ]}
    bundle = build_case_bundle(spec, EVALUATION_DAY, DATA_DICT)
    painscore = entry(bundle, "g-nprs-d0")
    assert "meta" not in painscore
    assert painscore["code"]["coding"][0]["code"] == "225908003"
    assert painscore["method"]["coding"][0] == {"system": "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.9.1", "code": "NRS"}
    assert entry(bundle, "g-rf-fever-d2")["meta"]["profile"] == [PROFILE + "finding-observation"]
    assert entry(bundle, "g-tsk-d2")["valueInteger"] == 41
    assert len(entry(bundle, "g-4dkl-d2")["component"]) == 2
    assert entry(bundle, "g-test-ultt-d1")["meta"]["profile"] == [PROFILE + "clinical-test-observation"]
    for e in bundle["entry"][1:]:
        found = errors(validate(e["resource"]))
        assert not found, format_issues(found)


@pytest.mark.parametrize("bad", [
    {"id": "x", "code": "int-dry-needling", "type": "MedicationRequest"},
    {"code": "int-dry-needling"},
    {"id": "x", "code": "rf-fever"},
    {"id": "x", "code": "int-dry-needling", "subject": "me"},
])
def test_invalid_order_is_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        build_draft_orders({"id": "x", "age": 30, "orders": [bad]}, DATA_DICT)


@pytest.mark.parametrize("bad", [
    {"answers": {"no-such-item": True}},
    {"answers": {"rf-fever": "ja"}},
    {"answers": {"course-trend": "trend-sideways"}},
    {"answers": {"cervical-rotation": 40}},
    {"tests": {"test-spurling": "maybe"}},
    {"obs": [{"code": "nprs", "value": 4.5, "days": 0}]},
    {"intake_time": "25:00", "answers": {"rf-fever": True}},
    {"intake_status": "done", "answers": {"rf-fever": True}},
    {"extra_qrs": [{"answers": {"rf-fever": True}}]},
    {"obs": [{"code": "pattern-assessment", "value": "pattern-maybe", "days": 0}]},
    {"tests_in_qr": {"rf-fever": "pos"}},
])
def test_invalid_case_input_is_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        build_case_bundle({"id": "x", "age": 30, **bad}, EVALUATION_DAY, DATA_DICT)
