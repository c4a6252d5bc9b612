"""The patient self-check [dak/self-check.md; seed 000, the patient page].

Case feature `self-check-advice` from the answers to Questionnaire
`nekklachten-zelfcheck` (linkId = local code). First match wins:

| row | condition | advice |
|---|---|---|
| 1 | any red flag `sc-rf-*` yes (a red flag wins over everything) | `advice-gp` |
| 2 | `sc-after-accident` yes and `sc-accident-symptoms` yes | `advice-assessment` |
| 3 | any contact criterion yes | `advice-appointment` |
| 4 | otherwise | `advice-self-care` |

Row 1 is same-day (v2) when `sc-rf-both-limbs`, `sc-rf-bladder-bowel` or
`sc-rf-double-vision` is yes: these point to myelopathy or arterial
dysfunction (guideline tabel 2), which need same-day contact (decision-logic
§1: the grade IV referral is `stat`). The advice code stays `advice-gp`;
%case gets `self-check-same-day` = true, and the PlanDefinition picks the
same-day text ("bel vandaag nog je huisarts, buiten kantooruren de
huisartsenpost") with priority `stat`.

The explanation (the Observation note) is the patient's "Waarom?": it names
only the answers that decided the advice (self_check_why.py). Unanswered
items count as "no"; a shown item left unanswered is named when a "yes"
could have given another advice (`sc-accident-symptoms` is shown only after
`sc-after-accident` yes). An
`sc-accident-symptoms` answer while `sc-after-accident` is not yes is
ignored (the Questionnaire would not have shown it): it is left out of the
facts, with a note.

What each advice says, and its priority, are knowledge
(`knowledge/self-check.yaml`, `knowledge/plan-definitions.yaml`): this module
only decides which one applies.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Callable

from service.facts.answers import gather_answers
from service.facts.gather import ElementCodes
from service.facts.model import CaseResult, Facts, Feature, Note
from service.rules.common import evidence, feature
from service.rules.self_check_why import why

CODE = "self-check-advice"
QUESTIONNAIRE = "https://nekpijn-cds.org/fhir/Questionnaire/nekklachten-zelfcheck"

# self-check.md row 3 / seed 000 ("Neem contact op als je ..." and "Wat te doen bij nekpijn")
CONTACT_CRITERIA = (
    "sc-longer-than-3-weeks", "sc-movement-painful", "sc-radiating", "sc-tingling-weakness",
    "sc-headache-from-neck", "sc-daily-life", "sc-getting-worse", "sc-keeps-returning",
)
# self-check.md row 2 / seed 000 ("Moet ik hulp zoeken bij pijn in de nek na een val of ongeluk?")
ACCIDENT = "sc-after-accident"
ACCIDENT_SYMPTOMS = "sc-accident-symptoms"  # enableWhen sc-after-accident = true
# self-check.md row 1 / the guideline's red flags (tabel 2) in lay words
RED_FLAGS = (
    "sc-rf-fever", "sc-rf-weight-loss", "sc-rf-cancer", "sc-rf-both-limbs", "sc-rf-bladder-bowel",
    "sc-rf-swallowing", "sc-rf-double-vision",
)
# self-check.md row 1 (v2): same-day — tabel 2: bilateral neurological signs and bladder/bowel
# dysfunction (myelopathy), double vision (arterial dysfunction); §1 urgency `stat`
SAME_DAY_RED_FLAGS = ("sc-rf-both-limbs", "sc-rf-bladder-bowel", "sc-rf-double-vision")
SAME_DAY = "self-check-same-day"  # derived %case parameter (boolean)
#: every answerable item, in the order of the Questionnaire (all boolean)
ITEMS = (*CONTACT_CRITERIA, ACCIDENT, ACCIDENT_SYMPTOMS, *RED_FLAGS)
ITEM_TYPES = {code: "boolean" for code in ITEMS}

#: the CarePlan title of the same-day GP advice (the advice code's display says only "contact your GP")
SAME_DAY_TITLE = {"nl": "bel vandaag nog je huisarts, buiten kantooruren de huisartsenpost",
                  "en": "call your GP today, outside office hours the huisartsenpost"}


def gather(resources: list[dict], subject: str, today: date, codes: ElementCodes | None = None) -> Facts:
    """The self-check answers of `subject` (newest per item); NoDataError when there is no response."""
    return gather_answers(resources, subject, today, QUESTIONNAIRE, ITEM_TYPES)


# -- the decision table ----------------------------------------------------------------


def shown_items(facts: Facts) -> tuple[str, ...]:
    """The items the Questionnaire shows for these answers (enableWhen of sc-accident-symptoms)."""
    return tuple(c for c in ITEMS if c != ACCIDENT_SYMPTOMS or facts.present(ACCIDENT))


def without_hidden_answers(facts: Facts) -> Facts:
    """Drop an sc-accident-symptoms answer given while sc-after-accident is not yes (noted)."""
    fact = facts.fact(ACCIDENT_SYMPTOMS)
    if fact is None or facts.present(ACCIDENT):
        return facts
    answers = {code: f for code, f in facts.answers.items() if code != ACCIDENT_SYMPTOMS}
    note = Note(fact.source.reference,
                f"answer to {ACCIDENT_SYMPTOMS} ignored: {ACCIDENT} is not answered yes",
                f"antwoord op {ACCIDENT_SYMPTOMS} telt niet mee: {ACCIDENT} is niet met ja beantwoord")
    return replace(facts, answers=answers, ignored=[*facts.ignored, note])


def same_day_flags(facts: Facts) -> list[str]:
    """The red flags answered yes that make the GP advice same-day (self-check.md row 1, v2)."""
    return [c for c in SAME_DAY_RED_FLAGS if facts.present(c)]


def classify(facts: Facts, ignored_symptoms: bool = False) -> Feature:
    """`self-check-advice`, first match wins (facts: after `without_hidden_answers`)."""
    # row 1 [self-check.md / seed 000; guideline B.1, tabel 2]: any red flag — wins over everything
    flags = [c for c in RED_FLAGS if facts.present(c)]
    if flags:
        value, row, decisive = "advice-gp", 1, flags
    # row 2 [self-check.md / seed 000]: after an accident, with stiff muscles, headache or dizziness
    elif facts.present(ACCIDENT) and facts.present(ACCIDENT_SYMPTOMS):
        value, row, decisive = "advice-assessment", 2, [ACCIDENT, ACCIDENT_SYMPTOMS]
    # row 3 [self-check.md / seed 000]: any contact criterion
    elif criteria := [c for c in CONTACT_CRITERIA if facts.present(c)]:
        value, row, decisive = "advice-appointment", 3, criteria
    # row 4 [self-check.md / seed 000]: otherwise
    else:
        value, row, decisive = "advice-self-care", 4, []

    if decisive:
        ev = evidence([facts.fact(c) for c in decisive])
    else:  # every answer counted: they were all "no" (or missing)
        ev = evidence(list(facts.answers.values())) or tuple(facts.intakes[-1:])
    same_day = same_day_flags(facts) if value == "advice-gp" else []
    # unanswered items are named only when a "yes" could have given another advice (an earlier row,
    # or the same-day GP advice)
    could_change = {1: () if same_day else SAME_DAY_RED_FLAGS, 2: RED_FLAGS,
                    3: (*RED_FLAGS, ACCIDENT, ACCIDENT_SYMPTOMS), 4: ITEMS}[row]
    unanswered = [c for c in shown_items(facts) if c in could_change and not facts.answered(c)]
    texts = {lang: why(lang, value, decisive, same_day=same_day, unanswered=unanswered,
                       ignored_symptoms=ignored_symptoms) for lang in ("nl", "en")}
    rule = f"self-check.md row {row}" + (" (same-day, v2)" if same_day else "")
    return feature(CODE, value, rule, texts["nl"], texts["en"], ev)


def evaluate(facts: Facts, codes: ElementCodes | None = None) -> CaseResult:
    """The self-check's case: the one feature `self-check-advice`; %case also gets the answers
    and, for the GP advice, `self-check-same-day` (true: the same-day text, priority stat)."""
    kept = without_hidden_answers(facts)
    advice = classify(kept, ignored_symptoms=kept is not facts)
    derived = {SAME_DAY: bool(same_day_flags(kept))} if advice.value == "advice-gp" else {}
    return CaseResult(facts=kept, features=[advice], derived=derived)


def summary(result: CaseResult, lang: str, display: Callable[[str, str], str]) -> str:
    """CarePlan title, e.g. "Advies zelfcheck nekklachten: bel vandaag nog je huisarts, buiten kantooruren de
    huisartsenpost"."""
    advice = result.feature(CODE)
    head = display(CODE, lang)
    if advice is None:
        return head
    text = SAME_DAY_TITLE[lang] if result.derived.get(SAME_DAY) else display(str(advice.value), lang)
    return f"{head}: {text[:1].lower() + text[1:]}"
