"""Layer 2b: facts → case features (decision-logic §1–§9), with evidence.

`evaluate(facts)` runs the decision tables in dependency order:

1. the episode's time line (§0.2: onset, treatment-start, baseline, follow-up)  — onset.py
2. the treatment effect (§8)                                                    — measurement.py
3. the derived red flag rf-no-improvement-4w (§9 row 1)                         — followup.py
4. serious pathology (§1), radicular syndrome (§2), grade (§3), course (§4),
   subgroup (§5), psychosocial-dominant (§6), treatment profile (§7)

and returns a CaseResult whose `features` follow outputs.md order:
serious-pathology, radicular-syndrome, grade, course, subgroup (one per
value), psychosocial-dominant (only when answered), treatment-profile
(absent for grade IV), treatment-effect (only when measured); and whose
`derived` holds the numbers and flags of docs/case-parameters.md (absent
keys mean unknown). The derived rf-no-improvement-4w, when it applies, is
added to (a copy of) the facts' answers, replacing an answered value.

Which decision tables a PlanDefinition runs on: `tables_for(plan id)`. The
patient self-check (PlanDefinition `nekklachten-zelfcheck`) has its own
table (self_check.py, dak/self-check.md) over its own Questionnaire; every
other plan runs the guideline's tables above. The $apply engine only asks
`tables_for` and stays free of clinical rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Callable

from service.facts.gather import ElementCodes, gather, whole_years
from service.facts.model import CaseResult, Facts, Feature
from service.facts.summary import case_summary
from service.rules import course, followup, grade, measurement, onset, profile, psychosocial, radicular, \
    self_check, serious_pathology, subgroup
from service.rules.common import codes_or_default

__all__ = ["DecisionTables", "evaluate", "tables_for"]


def evaluate(facts: Facts, codes: ElementCodes | None = None) -> CaseResult:
    codes = codes_or_default(codes)
    tl = onset.timeline(facts)
    effect = measurement.treatment_effect(tl)
    flag = followup.no_improvement_flag(tl, effect)
    if flag is not None:
        facts = replace(facts, answers={**facts.answers, flag.code: flag})

    serious = serious_pathology.classify(facts, codes)
    radicular_ = radicular.classify(facts, codes)
    grade_ = grade.classify(facts, serious, radicular_)
    course_ = course.classify(facts, tl)
    subgroups = subgroup.classify(facts)
    psychosocial_ = psychosocial.classify(facts, codes)
    profile_ = profile.classify(grade_, course_, psychosocial_, serious)

    features: list[Feature] = [serious, radicular_, grade_, course_, *subgroups]
    for optional in (psychosocial_, profile_, effect):
        if optional is not None:
            features.append(optional)

    derived: dict[str, int | float | bool] = {}
    if facts.birth_date is not None:
        derived["age"] = whole_years(facts.birth_date, facts.today)
    if tl.days_since_onset is not None:
        derived["days-since-onset"] = tl.days_since_onset
    if tl.days_since_treatment_start is not None:
        derived["days-since-treatment-start"] = tl.days_since_treatment_start
    for instrument in onset.INSTRUMENTS:
        if instrument in tl.baseline:
            derived[f"baseline-{instrument}"] = float(tl.baseline[instrument].value)
    derived["follow-up-measured"] = tl.follow_up_measured
    derived["neck-pain-episode"] = tl.neck_pain_episode
    return CaseResult(facts=facts, features=features, derived=derived)


# -- which tables a PlanDefinition runs on -------------------------------------------


@dataclass(frozen=True)
class DecisionTables:
    """How the case of one PlanDefinition is made: FHIR input → facts → case features,
    and the one-line summary of the result (the CarePlan title)."""

    gather: Callable[[list[dict], str, date, ElementCodes | None], Facts]  # NoDataError: nothing usable
    evaluate: Callable[[Facts, ElementCodes | None], CaseResult]
    summary: Callable[[CaseResult, str, Callable[[str, str], str]], str]  # (result, lang, display(code, lang))

    def case(self, resources: list[dict], subject: str, today: date, codes: ElementCodes | None = None) -> CaseResult:
        return self.evaluate(self.gather(resources, subject, today, codes), codes)


#: the guideline's decision tables (decision-logic §0–§8) over the intake and the findings
GUIDELINE = DecisionTables(gather=gather, evaluate=evaluate, summary=case_summary)
#: the patient self-check (dak/self-check.md) over Questionnaire nekklachten-zelfcheck
SELF_CHECK = DecisionTables(gather=self_check.gather, evaluate=self_check.evaluate, summary=self_check.summary)

#: PlanDefinition id → its decision tables; any other plan: GUIDELINE
BY_PLAN: dict[str, DecisionTables] = {"nekklachten-zelfcheck": SELF_CHECK}


def tables_for(plan_id: str | None) -> DecisionTables:
    return BY_PLAN.get(plan_id or "", GUIDELINE)
