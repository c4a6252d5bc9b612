"""The patient self-check in CQL, run by a generic engine, against ours (issue 16).

PlanDefinition nekklachten-zelfcheck names Library NekklachtenZelfcheck
(knowledge/cql/NekklachtenZelfcheck.cql): the decision table of dak/self-check.md and one
Boolean definition per applicability condition (text/cql-identifier), with the FHIRPath our
engine runs kept in the alternative-expression extension. interop/cql/runner/plan.js, a generic
PlanDefinition $apply (cql-execution + cql-exec-fhir), evaluates those conditions on the
patient's Bundle; our public $apply (HTTP: service/rules/self_check.py + the FHIRPath) returns a
CarePlan. On every self-check reference case and a few hundred generated answer sets both must
give the same actions (code, nesting, priority and text: the same-day variant of advice-gp has
its own priority and description), and the advice must be the decision table's
(service/rules/self_check.py, rules level). When no response can be read our $apply answers 422
and the generic engine finds no action.

plan.js reports an action's code and definitionCanonical only, and both advice-gp actions (soon /
same-day) have the same ones. The test therefore runs plan.js on a copy of the artifacts in which
each action's definitionCanonical carries the action's position (`#<i>.<j>`; the conditions are
untouched) and reads priority and description of the action found there; a run on the untouched
artifacts must give the same codes.

cql-exec-fhir takes one patient per Bundle from its Patient resource, so each Bundle holds a
Patient beside the QuestionnaireResponses; ours reads only the responses (service/facts/answers.py).

Every disagreement is a bug in one of the two: decide which against dak/self-check.md.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import shutil
import subprocess
from datetime import datetime, time
from functools import lru_cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from self_check_support import OUTCOMES
from service.app import create_app
from service.apply.plans import ALTERNATIVE, CQL_IDENTIFIER, CompiledPlan
from service.facts.gather import NoDataError
from service.facts.model import AMSTERDAM
from service.knowledge import KnowledgeBase
from service.rules import self_check
from test_self_check import ROWS
from tools.self_check_bundles import EXAMPLES, SELF_CHECK_QUESTIONNAIRE, self_check_response

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "interop" / "cql" / "runner"
ARTIFACTS = ROOT / "service" / "knowledge" / "fhir"
PLAN = "nekklachten-zelfcheck"
LIBRARY = "https://nekpijn-cds.org/fhir/Library/NekklachtenZelfcheck|2.0.0"
APPLY = f"/fhir/PlanDefinition/{PLAN}/$apply"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
TODAY = datetime(2026, 11, 2, 12, 0, tzinfo=AMSTERDAM)
AUTHORED = "2026-11-02T11:30:00+01:00"

ITEMS = self_check.ITEMS
RED_FLAGS = self_check.RED_FLAGS
CONTACT = self_check.CONTACT_CRITERIA
ACCIDENT, SYMPTOMS = self_check.ACCIDENT, self_check.ACCIDENT_SYMPTOMS
ALL_NO = {c: False for c in ITEMS if c != SYMPTOMS}


# ---------------------------------------------------------------------------
# The patients: a subject id and the resources of its Bundle (QuestionnaireResponses)
# ---------------------------------------------------------------------------

def _response(pid: str, answers: dict[str, bool], rid: str | None = None, **kwargs) -> dict:
    kwargs.setdefault("authored", AUTHORED)
    return self_check_response(answers, rid=rid or pid, subject=f"Patient/{pid}", **kwargs)


def _answers_case(name: str, answers: dict[str, bool]) -> tuple[str, list[dict]]:
    return name, [_response(name, answers)]


def reference_cases() -> list[tuple[str, list[dict]]]:
    """The self-check's reference cases: the rows of tests/test_self_check.py, the outcomes of
    tests/self_check_support.py and the examples (examples/self-check-*.json)."""
    out = [_answers_case(f"row-{name}", answers) for name, answers, _ in ROWS]
    out += [_answers_case(f"outcome-{name}", answers) for name, (answers, _) in OUTCOMES.items()]
    for name, (patient_id, answers, authored) in EXAMPLES.items():
        out.append((f"example-{name}", [_response(f"example-{name}", answers, authored=authored)]))
    return out


def _nested(pid: str, answers: dict[str, bool]) -> dict:
    """The same answers with sc-accident-symptoms below the accident answer (answer.item) and the
    red flags one group deeper (sc-red-flags > wrapper > flag)."""
    response = _response(pid, {})
    items = []
    for code in ITEMS:
        if code not in answers or code in RED_FLAGS or code == SYMPTOMS:
            continue
        item = {"linkId": code, "answer": [{"valueBoolean": answers[code]}]}
        if code == ACCIDENT and SYMPTOMS in answers:
            item["answer"][0]["item"] = [{"linkId": SYMPTOMS, "answer": [{"valueBoolean": answers[SYMPTOMS]}]}]
        items.append(item)
    if SYMPTOMS in answers and ACCIDENT not in answers:
        items.append({"linkId": SYMPTOMS, "answer": [{"valueBoolean": answers[SYMPTOMS]}]})
    flags = [{"linkId": c, "answer": [{"valueBoolean": answers[c]}]} for c in RED_FLAGS if c in answers]
    if flags:
        items.append({"linkId": "sc-red-flags", "item": [{"linkId": "sc-rf-wrapper", "item": flags}]})
    if items:
        response["item"] = items
    else:
        response.pop("item", None)
    return response


def _random_answers(rng: random.Random) -> dict[str, bool]:
    """Each item yes, no or unanswered; red flags rarer, so that the later rows are reached."""
    out = {}
    for code in ITEMS:
        p_yes = 0.08 if code in RED_FLAGS else 0.25
        r = rng.random()
        if r < p_yes:
            out[code] = True
        elif r < p_yes + (1 - p_yes) * 0.75:
            out[code] = False
    return out


@lru_cache
def generated_cases() -> tuple[tuple[str, list[dict]], ...]:
    """Answer sets for every row, every red flag alone and in pairs, with every contact criterion
    and with the accident answers, the accident answers in every combination, unanswered items,
    nested items, several responses and the reading rules (status, subject, Questionnaire,
    answer types, authored)."""
    out: list[tuple[str, list[dict]]] = []
    add = lambda name, answers: out.append(_answers_case(name, answers))  # noqa: E731
    tri = {"yes": True, "no": False, "missing": None}
    for flag in RED_FLAGS:
        add(f"gen-flag-{flag}-only", {flag: True})  # nothing else answered
        for criterion in CONTACT:
            add(f"gen-flag-{flag}-{criterion}", {**ALL_NO, flag: True, criterion: True})
        add(f"gen-flag-{flag}-accident", {**ALL_NO, flag: True, ACCIDENT: True, SYMPTOMS: True})
        add(f"gen-flag-{flag}-no-after-yes", {**ALL_NO, flag: False})
    for a, b in itertools.combinations(RED_FLAGS, 2):
        add(f"gen-flags-{a}-{b}", {**ALL_NO, a: True, b: True})
    for (an, av), (sn, sv), crit in itertools.product(tri.items(), tri.items(), (None, *CONTACT)):
        answers = {c: v for c, v in ALL_NO.items() if c != ACCIDENT}
        if av is not None:
            answers[ACCIDENT] = av
        if sv is not None:
            answers[SYMPTOMS] = sv
        if crit:
            answers[crit] = True
        add(f"gen-accident-{an}-symptoms-{sn}-{crit or 'none'}", answers)
    for a, b in itertools.combinations(CONTACT, 2):
        add(f"gen-criteria-{a}-{b}", {**ALL_NO, a: True, b: True})
    for code in ITEMS:
        add(f"gen-only-{code}-yes", {code: True})
        add(f"gen-only-{code}-no", {code: False})
    rng = random.Random(16)
    for i in range(240):
        add(f"gen-random-{i}", _random_answers(rng))
    # nested items (answer.item, a group in a group)
    for i in range(40):
        answers = _random_answers(rng) if i >= 4 else [
            {ACCIDENT: True, SYMPTOMS: True}, {ACCIDENT: False, SYMPTOMS: True}, {"sc-rf-double-vision": True},
            {**ALL_NO, "sc-rf-cancer": True, ACCIDENT: True, SYMPTOMS: True}][i]
        out.append((f"gen-nested-{i}", [_nested(f"gen-nested-{i}", answers)]))
    out += reading_cases()
    return tuple(out)


def reading_cases() -> list[tuple[str, list[dict]]]:
    """Several responses and the reading rules of service/facts/answers.py."""
    out = []

    def case(name: str, *responses: dict) -> None:
        for r in responses:
            r["subject"] = {"reference": f"Patient/{name}"} if r["subject"]["reference"] == "Patient/X" else r["subject"]
        out.append((name, list(responses)))

    r = lambda answers, rid="a", **kw: _response("X", answers, rid=rid, **kw)  # noqa: E731
    old, new = "2026-10-01T10:00:00+02:00", "2026-11-01T10:00:00+01:00"
    # newest authored wins per item, whatever the input order; items only in the older one count
    case("read-newest-wins", r({**ALL_NO, "sc-rf-fever": True, "sc-radiating": True}, "o", authored=old),
         r({c: v for c, v in ALL_NO.items() if c != "sc-radiating"}, "n", authored=new))
    case("read-newest-wins-reversed", r({c: v for c, v in ALL_NO.items() if c != "sc-radiating"}, "n", authored=new),
         r({**ALL_NO, "sc-rf-fever": True, "sc-radiating": True}, "o", authored=old))
    case("read-newer-flag", r(ALL_NO, "o", authored=old), r({"sc-rf-bladder-bowel": True}, "n", authored=new))
    # the same instant in another offset: neither is later, the first in the input wins
    case("read-equal-instants", r({"sc-rf-fever": True}, "p", authored="2026-11-01T10:00:00+01:00"),
         r({"sc-rf-fever": False}, "q", authored="2026-11-01T09:00:00Z"))
    case("read-equal-instants-reversed", r({"sc-rf-fever": False}, "q", authored="2026-11-01T09:00:00Z"),
         r({"sc-rf-fever": True}, "p", authored="2026-11-01T10:00:00+01:00"))
    # a date without a time is 00:00 Amsterdam time: later than the day before at 23:30 (UTC+1)
    case("read-date-only-later", r({"sc-rf-swallowing": False}, "p", authored="2026-10-31T23:30:00+01:00"),
         r({"sc-rf-swallowing": True}, "q", authored="2026-11-01"))
    case("read-date-only-earlier", r({"sc-rf-swallowing": True}, "p", authored="2026-11-01"),
         r({"sc-rf-swallowing": False}, "q", authored="2026-11-01T00:30:00+01:00"))
    # summer time: 2026-07-01 is 00:00+02:00 = 2026-06-30T22:00Z
    case("read-date-only-summer", r({"sc-getting-worse": True}, "p", authored="2026-07-01"),
         r({"sc-getting-worse": False}, "q", authored="2026-06-30T22:30:00Z"))
    # a response without authored loses against every dated one
    undated = r({"sc-rf-cancer": True}, "u")
    del undated["authored"]
    case("read-undated-loses", copy.deepcopy(undated), r({"sc-rf-cancer": False}, "d", authored=old))
    case("read-undated-only", copy.deepcopy(undated))
    # statuses: in-progress and amended are read, entered-in-error and stopped are not
    for status in ("in-progress", "amended", "entered-in-error", "stopped"):
        case(f"read-status-{status}", r({"sc-rf-fever": True}, "s", status=status))
        case(f"read-status-{status}-over-older", r({"sc-radiating": True}, "o", authored=old),
             r({"sc-rf-fever": True, "sc-radiating": False}, "s", status=status, authored=new))
    # another subject, another Questionnaire, a versioned canonical, a _history subject reference
    case("read-other-subject", r({"sc-rf-fever": True}, "s") | {"subject": {"reference": "Patient/someone-else"}})
    case("read-other-subject-beside", r({"sc-radiating": True}, "m"),
         r({"sc-rf-fever": True}, "s") | {"subject": {"reference": "Patient/someone-else"}})
    no_subject = r({"sc-rf-fever": True}, "s")
    del no_subject["subject"]
    out.append(("read-no-subject", [no_subject]))
    case("read-intake-questionnaire", r({"sc-rf-fever": True}, "s") | {
        "questionnaire": "https://nekpijn-cds.org/fhir/Questionnaire/nekpijn-intake"})
    case("read-versioned-canonical", r({"sc-rf-cancer": True}, "s") | {"questionnaire": SELF_CHECK_QUESTIONNAIRE + "|0.1.0"})
    # answer types and items: a string answer, an unknown linkId, two answers, an empty answer
    odd = r(ALL_NO, "odd")
    odd["item"][0]["answer"] = [{"valueString": "ja"}]  # sc-longer-than-3-weeks
    odd["item"].append({"linkId": "sc-unknown", "answer": [{"valueBoolean": True}]})
    case("read-non-boolean-and-unknown", odd)
    two = r({}, "two")
    two["item"] = [{"linkId": "sc-radiating", "answer": [{"valueBoolean": False}, {"valueBoolean": True}]}]
    case("read-first-of-two-answers", two)
    dup = r({}, "dup")
    dup["item"] = [{"linkId": "sc-radiating", "answer": []}, {"linkId": "sc-radiating", "answer": [{"valueBoolean": True}]},
                   {"linkId": "sc-daily-life", "answer": [{"valueString": "x"}]},
                   {"linkId": "sc-daily-life", "answer": [{"valueBoolean": True}]}]
    case("read-first-item-with-an-answer", dup)
    stale = r({"sc-rf-fever": True}, "o", authored=old)
    bad = r({}, "n", authored=new)
    bad["item"] = [{"linkId": "sc-red-flags", "item": [{"linkId": "sc-rf-fever", "answer": [{"valueInteger": 0}]}]}]
    case("read-newer-unusable-answer", stale, bad)
    case("read-empty-response", r({}, "e"))
    return out


def patients() -> list[tuple[str, list[dict]]]:
    return [*reference_cases(), *generated_cases()]


def bundle(pid: str, responses: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": {"resourceType": "Patient", "id": pid}},
                      *({"fullUrl": f"http://example.org/fhir/QuestionnaireResponse/{r['id']}", "resource": r}
                        for r in responses)]}


# ---------------------------------------------------------------------------
# The two engines
# ---------------------------------------------------------------------------

def node_modules() -> None:
    if not (RUNNER / "node_modules" / "cql-execution").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=RUNNER, check=True,
                       capture_output=True, text=True)


def _code(action: dict) -> str:
    return action["code"][0]["coding"][0]["code"]


def tagged_copy(artifacts: Path, out: Path, change=None) -> dict[str, dict]:
    """Copy the artifacts; in the copy's PlanDefinition every action's definitionCanonical ends in
    `#<position>` (conditions untouched). -> position -> the PlanDefinition action.
    `change(plan)` may alter the copy first (the control test)."""
    for path in artifacts.glob("*.json"):
        shutil.copy(path, out / path.name)
    path = out / f"PlanDefinition-{PLAN}.json"
    plan = json.loads(path.read_text(encoding="utf-8"))
    if change:
        change(plan)
    positions: dict[str, dict] = {}

    def walk(actions: list[dict], prefix: str) -> None:
        for i, action in enumerate(actions):
            position = f"{prefix}{i}"
            positions[position] = copy.deepcopy(action)
            action["definitionCanonical"] = f"{action.get('definitionCanonical', '')}#{position}"
            walk(action.get("action", []), position + ".")
    walk(plan["action"], "")
    path.write_text(json.dumps(plan), encoding="utf-8")
    return positions


def run_plan_js(artifacts: Path, cases: list[tuple[str, list[dict]]]) -> dict[str, list]:
    node_modules()
    bundles = [bundle(pid, responses) for pid, responses in cases]
    run = subprocess.run([shutil.which("node") or "node", str(RUNNER / "plan.js"), str(artifacts), PLAN,
                          TODAY.date().isoformat()], input=json.dumps(bundles), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _generic_actions(found: list[dict], positions: dict[str, dict]) -> list[dict]:
    out = []
    for item in found:
        action = positions[item["definitionCanonical"].rsplit("#", 1)[1]]
        out.append({"code": item["code"], "priority": action.get("priority"),
                    "description": action.get("description"),
                    "action": _generic_actions(item["action"], positions)})
    return out


def generic_of(artifacts: Path, tmp: Path, cases: list[tuple[str, list[dict]]], change=None) -> dict[str, list]:
    positions = tagged_copy(artifacts, tmp, change)
    found = run_plan_js(tmp, cases)
    return {pid: _generic_actions(found.get(pid, []), positions) for pid, _ in cases}


@lru_cache
def generic() -> dict[str, list]:
    """The generic engine's applicable actions of every patient (code, priority, description)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        return generic_of(ARTIFACTS, Path(tmp), patients())


@lru_cache
def client() -> TestClient:
    return TestClient(create_app(clock=lambda: TODAY))


_OURS: dict[str, tuple] = {}


def ours(pid: str, responses: list[dict]) -> tuple[int, list[dict], str | None]:
    """Our public $apply: (HTTP status, RequestGroup actions, the advice Observation's code);
    once per patient (the patients are built deterministically)."""
    if pid not in _OURS:
        _OURS[pid] = _apply(pid, responses)
    return _OURS[pid]


def _apply(pid: str, responses: list[dict]) -> tuple[int, list[dict], str | None]:
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "subject", "valueString": f"Patient/{pid}"},
        {"name": "data", "resource": bundle(pid, responses)}]}
    response = client().post(APPLY, json=params, headers=FHIR_JSON)
    if response.status_code != 200:
        return response.status_code, [], None
    careplan = response.json()
    contained = careplan.get("contained", [])
    group = next(r for r in contained if r["resourceType"] == "RequestGroup")
    advice = [o["valueCodeableConcept"]["coding"][0]["code"] for o in contained if o["resourceType"] == "Observation"
              and o["code"]["coding"][0]["code"] == self_check.CODE]

    def walk(actions: list[dict]) -> list[dict]:
        return [{"code": _code(a), "priority": a.get("priority"), "description": a.get("description"),
                 "action": walk(a.get("action", []))} for a in actions]
    return 200, walk(group.get("action", [])), (advice[0] if len(advice) == 1 else None)


def rules(pid: str, responses: list[dict]) -> tuple[str | None, bool]:
    """service/rules/self_check.py: (self-check-advice, same-day); (None, False) without data."""
    try:
        facts = self_check.gather(list(responses), f"Patient/{pid}", TODAY.date())
    except NoDataError:
        return None, False
    result = self_check.evaluate(facts)
    return result.feature(self_check.CODE).value, bool(result.derived.get(self_check.SAME_DAY))


def leaves(actions: list[dict]) -> list[dict]:
    return [leaf for a in actions for leaf in (leaves(a["action"]) if a["action"] else [a])]


def disagreement(pid: str, responses: list[dict], theirs: list[dict]) -> dict | None:
    """What differs between the generic engine, our $apply and the decision table (None: nothing)."""
    status, mine, observed = ours(pid, responses)
    advice, same_day = rules(pid, responses)
    problems = {}
    if theirs != mine:
        problems["actions"] = {"generic": [(a["code"], a["priority"]) for a in leaves(theirs)],
                               "ours": [(a["code"], a["priority"]) for a in leaves(mine)]}
    if advice is None:
        if status != 422 or theirs:
            problems["no data"] = {"status": status, "generic": [a["code"] for a in leaves(theirs)]}
        return problems or None
    generic_advice = [a["code"] for a in leaves(theirs)]
    generic_same_day = [a["priority"] == "stat" for a in leaves(theirs)]
    if (generic_advice, observed) != ([advice], advice):
        problems["advice"] = {"rules": advice, "generic": generic_advice, "ours": observed}
    if generic_same_day != [same_day]:
        problems["same-day"] = {"rules": same_day, "generic": generic_same_day}
    return problems or None


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("pid, responses", reference_cases(), ids=[c[0] for c in reference_cases()])
def test_generic_apply_equals_ours_on_the_reference_cases(pid: str, responses: list[dict]) -> None:
    assert disagreement(pid, responses, generic()[pid]) is None


def test_generic_apply_equals_ours_on_generated_answers() -> None:
    cases = generated_cases()
    assert len(cases) >= 500
    found = {pid: d for pid, responses in cases if (d := disagreement(pid, responses, generic()[pid]))}
    assert found == {}


def test_the_answers_reach_every_row_and_both_gp_variants() -> None:
    """Every advice, the same-day GP advice, and the 422 case occur, each several times."""
    counts: dict[str, int] = {}
    for pid, responses in generated_cases():
        advice, same_day = rules(pid, responses)
        key = "no data" if advice is None else advice + (" same-day" if same_day else "")
        counts[key] = counts.get(key, 0) + 1
    expected = {"advice-gp", "advice-gp same-day", "advice-assessment", "advice-appointment", "advice-self-care",
                "no data"}
    assert set(counts) == expected and min(counts.values()) >= 5, counts


def test_every_action_applies_to_some_patient_and_not_to_all() -> None:
    plan = json.loads((ARTIFACTS / f"PlanDefinition-{PLAN}.json").read_text(encoding="utf-8"))
    every = [(_code(a), a.get("priority")) for s in plan["action"] for a in s["action"]]
    results = [[(a["code"], a["priority"]) for a in leaves(actions)] for actions in generic().values()]
    never = [e for e in every if not any(e in r for r in results)]
    always = [e for e in every if all(e in r for r in results)]
    assert (len(every), never, always) == (5, [], [])


def test_the_position_tags_change_nothing(tmp_path: Path) -> None:
    """plan.js on the untouched artifacts gives the same action codes as on the tagged copy."""
    cases = [*reference_cases(), *generated_cases()[::10]]
    plain = run_plan_js(ARTIFACTS, cases)

    def codes(found: list[dict]) -> list:
        return [(a["code"], codes(a["action"])) for a in found]
    assert {pid: codes(plain.get(pid, [])) for pid, _ in cases} == {
        pid: codes([{"code": a["code"], "action": a["action"]} for a in generic()[pid]]) for pid, _ in cases}


def test_a_changed_condition_gives_disagreements(tmp_path: Path) -> None:
    """The comparison can fail: the same-day GP action pointed at the definition of the other GP
    action gives disagreements on exactly the patients with a red flag."""
    def change(plan: dict) -> None:
        gp = [a for a in plan["action"][0]["action"] if _code(a) == "advice-gp"]
        assert [a["priority"] for a in gp] == ["urgent", "stat"]
        gp[1]["condition"][0]["expression"]["expression"] = "Contact the GP soon"
    cases = [*reference_cases(), *generated_cases()[:200]]
    changed = generic_of(ARTIFACTS, tmp_path, cases, change)
    differ = {pid for pid, responses in cases if disagreement(pid, responses, changed[pid])}
    red_flag = {pid for pid, responses in cases if rules(pid, responses)[0] == "advice-gp"}
    assert differ and differ == red_flag


def test_every_condition_is_cql_with_a_fhirpath_alternative() -> None:
    plan = json.loads((ARTIFACTS / f"PlanDefinition-{PLAN}.json").read_text(encoding="utf-8"))
    assert plan["library"] == [LIBRARY]
    library = json.loads((ARTIFACTS / "Library-NekklachtenZelfcheck.json").read_text(encoding="utf-8"))
    assert library["url"] + "|" + library["version"] == LIBRARY
    assert [c["contentType"] for c in library["content"]] == ["text/cql", "application/elm+json"]
    elm = json.loads((ROOT / "knowledge" / "cql" / "NekklachtenZelfcheck.json").read_text(encoding="utf-8"))
    defined = {d["name"]: d for d in elm["library"]["statements"]["def"]}
    conditions = []

    def walk(actions):
        for action in actions:
            for condition in action.get("condition", []):
                expression = condition["expression"]
                assert expression["language"] == CQL_IDENTIFIER
                assert expression["expression"] in defined
                alternatives = [e["valueExpression"] for e in expression.get("extension", []) if e["url"] == ALTERNATIVE]
                assert [a["language"] for a in alternatives] == ["text/fhirpath"]
                conditions.append(expression["expression"])
            walk(action.get("action", []))
    walk(plan["action"])
    assert len(conditions) == len(set(conditions)) == 6
    CompiledPlan(copy.deepcopy(KnowledgeBase.load().get("PlanDefinition", PLAN)), KnowledgeBase.load())
