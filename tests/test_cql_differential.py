"""Differential test: the CQL of knowledge/cql (its ELM, run by an independent engine,
cql-execution + cql-exec-fhir under Node.js) against the Python engine (service/facts +
service/rules) on every reference case of tests/cases/cases.yaml and on the generated patients
of tools/cql/generated_cases.py (seeded variants of the reference cases plus the v2 scenario
patients: later-dated flags, earlier episodes, radicular not assessed, motor loss, dated inputs).

Compared (COVERED): everything NekpijnBeslisregels."CaseFeatures" defines — the case features of
decision-logic §1-§8, the derived numbers of §0.2 / §8, the v2 case parameters of
docs/case-parameters.md (§1 urgency and weight, open flags, §9 week-4 follow-up, dates) and
`answers`: every boolean / choice / test element's value after the §0 reading rules, derived
ones included. The plan contents are compared by tests/test_cql_plan.py.
Every disagreement is a bug in one of the two engines: check it against dak/.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import lru_cache
from pathlib import Path

import pytest

from service.facts.gather import gather, load_element_codes
from service.rules import evaluate
from tests.apply_support import TODAY as APPLY_TODAY, cases, data_dictionary
from tools.cql.generated_cases import case_bundle, generated_cases

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "interop" / "cql" / "runner"
ELM_DIR = ROOT / "knowledge" / "cql"
#: case features compared (decision-logic code → how the Python engine gives it)
FEATURES = ("serious-pathology", "radicular-syndrome", "grade", "course", "subgroup", "psychosocial-dominant",
            "treatment-profile", "treatment-effect")
#: derived numbers and v2 case parameters compared (CaseResult.derived; dates as ISO text)
DERIVED = ("age", "days-since-onset", "days-since-treatment-start", "baseline-nprs", "baseline-psk",
           "follow-up-measured", "neck-pain-episode", "treatment-start", "due-week-4", "due-week-6",
           "follow-up-week-4", "red-flag-open", "no-improvement-open", "gp-referral-priority",
           "gp-referral-recommended", "flags-judged-recognisable", "pattern-conclusion-date",
           "prognosis-answered", "radicular-symptoms")
#: the element values after §0 (CaseResult.facts.answers: booleans, choice and test answers)
ANSWERS = "answers"
COVERED = FEATURES + DERIVED + (ANSWERS,)
#: two evaluation days: that of tests/test_rules_cases.py and one whose history crosses the
#: switch to winter time (tests/apply_support.py); the generated patients on the first
DAYS = (date(2026, 3, 10), APPLY_TODAY)
GENERATED_SEED = 16
#: variants per reference case (the v2 scenario patients come on top): 2 x 30 + 268 patients
GENERATED_PER_CASE = 2
#: every value each feature must take over the generated patients (the coverage the generator
#: must reach; None = no value); printed with the counts when one is missing
MUST_OCCUR = {
    "serious-pathology": {"suspected", "unresolved", "excluded", "not-assessed"},
    "radicular-syndrome": {"not-assessed", "suspected", "absent", "confirmed", "excluded", "excluded-in-principle"},
    "grade": {"grade-iv", "grade-iii", "undetermined", "grade-i", "grade-ii", "grade-i-ii"},
    "course": {"normal", "abnormal", "undetermined"},
    "subgroup": {("general-population",), ("trauma-related",), ("work-related",), ("trauma-related", "work-related")},
    "psychosocial-dominant": {True, False, None},
    "treatment-profile": {"profile-a", "profile-b", "profile-c", "profile-d", "undetermined", None},
    "treatment-effect": {"improved", "unchanged", "worsened", None},
    "age": {None},
    "days-since-onset": {None},
    "treatment-start": {None},
    "follow-up-measured": {True, False},
    "neck-pain-episode": {True, False},
    "follow-up-week-4": {True, False},
    "red-flag-open": {True, False},
    "no-improvement-open": {True, False},
    "gp-referral-priority": {"stat", "urgent"},
    "gp-referral-recommended": {True, False},
    "flags-judged-recognisable": {True, False},
    "pattern-conclusion-date": {None},
    "prognosis-answered": {True, False},
    "radicular-symptoms": {True, False},
}
#: answers that must occur (code: value) over the generated patients: derived and carried ones
MUST_ANSWER = {("recurrent", "true"), ("rf-no-improvement-4w", "true"), ("crs-limited-rotation", "true"),
               ("crs-limited-rotation", "false"), ("rf-trauma-history", "true"), ("crs-worse-motor", "true"),
               ("rf-cancer-history", "true"), ("rf-infection-risk", "true"), ("rf-osteoporosis", "true")}
#: the rows of each classification table (decision-logic §1-§5, §7) the generated patients must
#: reach (§7 row 1, grade IV, gives no treatment-profile Observation)
TABLE_ROWS = {"serious-pathology": range(1, 6), "radicular-syndrome": range(1, 10), "grade": range(1, 7),
              "course": range(1, 8), "subgroup": range(1, 4), "treatment-profile": range(2, 9)}
ROWS = "_rows"  # not compared: the table rows the Python engine applied
ROW = re.compile(r"§\d+ row (\d+)")
#: the v2 situations of issue 16 the scenario patients must cover, each at least twice
SITUATIONS = ("later-flag-qr", "later-flag-obs", "flag-present-then-absent", "pattern-before-flag",
              "pattern-after-flag", "pattern-same-day", "flag-restated", "earlier-episode",
              "history-flag-carried", "non-history-flag-earlier", "three-onsets", "onset-42-boundary",
              "radicular-not-assessed", "rotation-only", "test-only", "positive-test-without-symptoms",
              "crs-worse-motor", "strength-loss-at-follow-up", "same-day-flag", "input-tomorrow",
              "input-future", "intake-tomorrow", "birthdate-future", "onset-after-own-intake",
              "intake-in-progress", "observations-only", "utc-timestamps", "observation-status-preliminary",
              "observation-status-entered-in-error", "observation-status-amended", "observation-case-feature",
              "observation-also-coding")


def node_modules() -> None:
    if not (RUNNER / "node_modules" / "cql-execution").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=RUNNER, check=True,
                       capture_output=True, text=True)


@lru_cache
def generated() -> tuple[dict, ...]:
    """≥ 200 generated patients (variants of the reference cases, v2 scenario patients)."""
    return tuple(generated_cases(cases(), per_case=GENERATED_PER_CASE, seed=GENERATED_SEED))


def run_cql(batch: list[dict], today: date) -> dict[str, dict]:
    bundles = [case_bundle(case, today, data_dictionary()) for case in batch]
    run = subprocess.run([shutil.which("node") or "node", str(RUNNER / "run.js"), str(ELM_DIR), today.isoformat()],
                         input=json.dumps(bundles), capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


@lru_cache
def cql_all() -> dict[date, dict[str, dict]]:
    """The reference cases and the generated patients on the first day in two node processes
    of equal size, run side by side; the reference cases on the second day after the smaller."""
    node_modules()
    first = [*cases(), *generated()]
    half = (len(first) + len(cases())) // 2
    jobs = [(first[:half], DAYS[0]), (first[half:], DAYS[0]), (list(cases()), DAYS[1])]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: run_cql(*job), jobs))
    out: dict[date, dict[str, dict]] = {day: {} for day in DAYS}
    for (_, day), result in zip(jobs, results):
        out[day].update(result)
    return out


def answer_text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def python_results(case: dict, today: date) -> dict:
    return _python_results(case["id"], today)


@lru_cache(maxsize=None)
def _python_results(case_id: str, today: date) -> dict:
    case = next(c for c in (*cases(), *generated()) if c["id"] == case_id)
    bundle = case_bundle(case, today, data_dictionary())
    result = evaluate(gather([e["resource"] for e in bundle["entry"]], f"Patient/{case['id']}", today))
    out: dict = {}
    for code in FEATURES:
        values = result.values(code)
        out[code] = sorted(values) if code == "subgroup" else (values[0] if values else None)
    for key in DERIVED:
        value = result.derived.get(key)
        out[key] = value.isoformat() if isinstance(value, date) else value
    out[ROWS] = {(f.code, int(m.group(1))) for f in result.features if (m := ROW.search(f.rule or ""))}
    types = load_element_codes().types
    out[ANSWERS] = {code: answer_text(fact.value) for code, fact in result.facts.answers.items()
                    if isinstance(fact.value, bool) or (isinstance(fact.value, str) and types.get(code) in ("choice", "test"))}
    return out


def cql_case(case: dict, today: date) -> dict:
    got = dict(cql_all()[today][case["id"]])
    got["subgroup"] = sorted(got["subgroup"] or [])
    got[ANSWERS] = {a["code"]: a["value"] for a in got.get(ANSWERS) or []}
    return {key: got.get(key) for key in COVERED}


def differences(cql: dict, py: dict) -> dict:
    diff = {key: (py[key], cql[key]) for key in COVERED if key != ANSWERS and py[key] != cql[key]}
    answers = {code: (py[ANSWERS].get(code), cql[ANSWERS].get(code))
               for code in set(py[ANSWERS]) | set(cql[ANSWERS]) if py[ANSWERS].get(code) != cql[ANSWERS].get(code)}
    if answers:
        diff[ANSWERS] = answers
    return diff  # key: (python, cql)


def test_the_cql_defines_every_covered_feature() -> None:
    first = cases()[0]
    assert set(cql_all()[DAYS[0]][first["id"]]) == set(COVERED)


@pytest.mark.parametrize("today", DAYS, ids=[d.isoformat() for d in DAYS])
@pytest.mark.parametrize("case", cases(), ids=[c["id"] for c in cases()])
def test_cql_and_python_agree(case: dict, today: date) -> None:
    assert differences(cql_case(case, today), python_results(case, today)) == {}


def test_cql_and_python_agree_on_generated_patients() -> None:
    today = DAYS[0]
    assert len(generated()) >= 200
    disagreements = {}
    for case in generated():
        diff = differences(cql_case(case, today), python_results(case, today))
        if diff:
            disagreements[case["id"]] = diff
    assert disagreements == {}


def coverage() -> tuple[dict[str, Counter], Counter, Counter, Counter]:
    """Per covered feature, how often each value occurs over the generated patients; the
    answers (code, value), the scenario situations and the table rows (feature, row)."""
    values: dict[str, Counter] = {key: Counter() for key in COVERED if key != ANSWERS}
    answers: Counter = Counter()
    rows: Counter = Counter()
    for case in generated():
        result = python_results(case, DAYS[0])
        rows.update(result[ROWS])
        for key, counter in values.items():
            value = result[key]
            counter[tuple(value) if isinstance(value, list) else value] += 1
        answers.update(result[ANSWERS].items())
    situations = Counter(tag for case in generated() for tag in case.get("situations", ()))
    return values, answers, situations, rows


def test_the_generated_patients_reach_every_value() -> None:
    """Every value of every covered feature occurs, and every v2 situation at least twice
    (the counts are in the message when one is missing)."""
    values, answers, situations, rows = coverage()
    missing = {key: sorted(map(str, wanted - set(values[key]))) for key, wanted in MUST_OCCUR.items()
               if wanted - set(values[key])}
    missing_answers = sorted(MUST_ANSWER - set(answers))
    thin = [tag for tag in SITUATIONS if situations[tag] < 2]
    missing_rows = sorted((code, row) for code, wanted in TABLE_ROWS.items() for row in wanted
                          if not rows[(code, row)])
    report = {key: dict(counter.most_common(8)) for key, counter in values.items()}
    assert (missing, missing_answers, thin, missing_rows) == ({}, [], [], []), json.dumps(
        {"counts": report, "situations": dict(situations), "rows": {f"{c} {r}": n for (c, r), n in sorted(rows.items())}},
        indent=1, default=str)


def test_the_cases_exercise_every_covered_feature() -> None:
    """The comparison is only worth something where the features take more than one value."""
    seen: dict[str, set] = {key: set() for key in COVERED}
    for today in DAYS:
        for case in [*cases(), *generated()]:
            if case["id"] not in cql_all()[today]:
                continue
            for key, value in cql_case(case, today).items():
                seen[key].add(json.dumps(value, sort_keys=True))
    thin = {key: values for key, values in seen.items() if len(values) < 2}
    assert thin == {}
