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
    derived.update(v2_parameters(facts, codes, tl, serious, radicular_))
    return CaseResult(facts=facts, features=features, derived=derived)


def v2_parameters(facts: Facts, codes: ElementCodes, tl: onset.Timeline, serious: Feature,
                  radicular_: Feature) -> dict[str, int | float | bool | str | date]:
    """The case parameters contract v2 adds for the plan conditions (docs/case-parameters.md):
    dates for the due moments, the week-4 follow-up of §9, the §1 GP referral's urgency and
    weight, which red flags are open, and whether prognostic factors were taken stock of."""
    out: dict[str, int | float | bool | str | date] = {"today": facts.today}
    start = tl.treatment_start_day
    if start is not None:
        out["treatment-start"] = start
        out["due-week-4"] = tl.day_after_start(followup.FOUR_WEEKS)    # §9 rec-measure-week-4 [B.3]
        out["due-week-6"] = tl.day_after_start(course.SIX_WEEKS)       # §9 week-6 evaluation [C.2, C.5]
    out["follow-up-week-4"] = tl.follow_up_from(followup.FOUR_WEEKS)  # §9 (v2) week-6 decisions
    open_ = serious_pathology.open_flags(facts, codes)
    out["red-flag-open"] = any(f != serious_pathology.NO_IMPROVEMENT for f in open_)
    out["no-improvement-open"] = serious_pathology.NO_IMPROVEMENT in open_
    out["gp-referral-priority"] = serious_pathology.urgency(facts, codes)
    out["gp-referral-recommended"] = serious.value == serious_pathology.SUSPECTED or (
        serious.value == serious_pathology.UNRESOLVED and serious_pathology.weighty(facts, open_))
    present_flags = any(facts.present(f) for f in codes.red_flags)
    out["flags-judged-recognisable"] = serious.value == serious_pathology.EXCLUDED and present_flags
    pattern = facts.fact("pattern-assessment")
    if pattern is not None and pattern.source.day is not None:
        out["pattern-conclusion-date"] = pattern.source.day
    # rec-inventory-prognostic-factors [B.5, tabel 1]: a pf-* input item answered (not the derived age)
    out["prognosis-answered"] = any(code.startswith("pf-") and code in codes.types
                                    for code in facts.answers)
    out["radicular-symptoms"] = radicular.symptoms_present(facts, codes)
    return out


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
