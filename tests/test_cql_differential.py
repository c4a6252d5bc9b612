"""Differential test: the CQL of knowledge/cql (its ELM, run by an independent engine,
cql-execution + cql-exec-fhir under Node.js) against the Python engine (service/facts +
service/rules) on every reference case of tests/cases/cases.yaml.

Covered features (COVERED): what NekpijnBeslisregels."CaseFeatures" defines (the case features
of decision-logic §1-§8, with the derived rf-no-improvement-4w inside serious-pathology, and the
derived numbers of §0.2 / §8). Not covered yet: the plan contents (§1 weighty flags and urgency,
§6 instruments, §7 plan, §9 rows 2-8, §10); see docs/knowledge-cql.md.
Every disagreement is a bug in one of the two engines: check it against dak/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from functools import lru_cache
from pathlib import Path

import pytest

from service.facts.gather import gather
from service.rules import evaluate
from tests.apply_support import TODAY as APPLY_TODAY, cases, data_dictionary
from tools.case_bundles import build_case_bundle
from tools.cql.generated_cases import generated_cases

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "interop" / "cql" / "runner"
ELM_DIR = ROOT / "knowledge" / "cql"
#: case features compared (decision-logic code → how the Python engine gives it)
FEATURES = ("serious-pathology", "radicular-syndrome", "grade", "course", "subgroup", "psychosocial-dominant",
            "treatment-profile", "treatment-effect")
#: derived numbers compared (CaseResult.derived)
DERIVED = ("age", "days-since-onset", "days-since-treatment-start", "baseline-nprs", "baseline-psk",
           "follow-up-measured")
COVERED = FEATURES + DERIVED
#: two evaluation days: that of tests/test_rules_cases.py and one whose history crosses the
#: switch to winter time (tests/apply_support.py)
DAYS = (date(2026, 3, 10), APPLY_TODAY)


def node_modules() -> None:
    if not (RUNNER / "node_modules" / "cql-execution").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=RUNNER, check=True,
                       capture_output=True, text=True)


GENERATED_SEED = 16


@lru_cache
def generated() -> tuple[dict, ...]:
    """≥ 200 generated patients (seeded variants of the reference cases)."""
    return tuple(generated_cases(cases(), per_case=8, seed=GENERATED_SEED))


def all_cases() -> list[dict]:
    return [*cases(), *generated()]


@lru_cache
def cql_results(today: date) -> dict[str, dict]:
    node_modules()
    bundles = [build_case_bundle(case, today, data_dictionary()) for case in all_cases()]
    run = subprocess.run([shutil.which("node") or "node", str(RUNNER / "run.js"), str(ELM_DIR), today.isoformat()],
                         input=json.dumps(bundles), capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def python_results(case: dict, today: date) -> dict:
    bundle = build_case_bundle(case, today, data_dictionary())
    result = evaluate(gather([e["resource"] for e in bundle["entry"]], f"Patient/{case['id']}", today))
    out: dict = {}
    for code in FEATURES:
        values = result.values(code)
        out[code] = sorted(values) if code == "subgroup" else (values[0] if values else None)
    for key in DERIVED:
        out[key] = result.derived.get(key)
    return out


def cql_case(case: dict, today: date) -> dict:
    got = dict(cql_results(today)[case["id"]])
    got["subgroup"] = sorted(got["subgroup"] or [])
    return {key: got.get(key) for key in COVERED}


def test_the_cql_defines_every_covered_feature() -> None:
    first = cases()[0]
    assert set(cql_results(DAYS[0])[first["id"]]) == set(COVERED)


@pytest.mark.parametrize("today", DAYS, ids=[d.isoformat() for d in DAYS])
@pytest.mark.parametrize("case", cases(), ids=[c["id"] for c in cases()])
def test_cql_and_python_agree(case: dict, today: date) -> None:
    assert cql_case(case, today) == python_results(case, today)


def test_cql_and_python_agree_on_generated_patients() -> None:
    today = DAYS[0]
    assert len(generated()) >= 200
    disagreements = {}
    for case in generated():
        cql, py = cql_case(case, today), python_results(case, today)
        diff = {key: (py[key], cql[key]) for key in COVERED if py[key] != cql[key]}
        if diff:
            disagreements[case["id"]] = diff  # feature: (python, cql)
    assert disagreements == {}


def test_the_cases_exercise_every_covered_feature() -> None:
    """The comparison is only worth something where the features take more than one value."""
    seen: dict[str, set] = {key: set() for key in COVERED}
    for today in DAYS:
        for case in cases():
            for key, value in cql_case(case, today).items():
                seen[key].add(json.dumps(value))
    thin = {key: values for key, values in seen.items() if len(values) < 2}
    assert thin == {}
