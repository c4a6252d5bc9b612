"""The patient self-check [dak/self-check.md; seed 000, the patient page].

Case feature `self-check-advice` from the answers to Questionnaire
`nekklachten-zelfcheck` (linkId = local code). First match wins:

| row | condition | advice |
|---|---|---|
| 1 | any red flag `sc-rf-*` yes (a red flag wins over everything) | `advice-gp` |
| 2 | `sc-after-accident` yes and `sc-accident-symptoms` yes | `advice-assessment` |
| 3 | any contact criterion yes | `advice-appointment` |
| 4 | otherwise | `advice-self-care` |

Unanswered items count as "no"; the explanation lists the items that were
shown but not answered (`sc-accident-symptoms` is shown only after
`sc-after-accident` yes). An `sc-accident-symptoms` answer while
`sc-after-accident` is not yes is ignored (the Questionnaire would not have
shown it): it is left out of the facts, with a note.

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
from service.facts.model import CaseResult, Facts, Feature, Note, Source
from service.rules.common import codes_or_default, evidence, feature, fmt_day, label

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
#: every answerable item, in the order of the Questionnaire (all boolean)
ITEMS = (*CONTACT_CRITERIA, ACCIDENT, ACCIDENT_SYMPTOMS, *RED_FLAGS)
ITEM_TYPES = {code: "boolean" for code in ITEMS}

WORDS = {
    "source": {"nl": "zelfcheck", "en": "self-check"},
    "and": {"nl": " en ", "en": " and "},
    "unanswered": {"nl": "Niet beantwoord (telt als nee)", "en": "Not answered (counts as no)"},
}


def gather(resources: list[dict], subject: str, today: date, codes: ElementCodes | None = None) -> Facts:
    """The self-check answers of `subject` (newest per item); NoDataError when there is no response."""
    return gather_answers(resources, subject, today, QUESTIONNAIRE, ITEM_TYPES)


# -- wording -------------------------------------------------------------------------


def _quoted(items: list[str], lang: str, codes: ElementCodes) -> str:
    """"Koorts of nachtelijk zweten?" en "Dubbelzien?" — the items' CodeSystem displays (the questions)."""
    names = [f"\u201c{label(c, lang, codes, short=False, lower=False)}?\u201d" for c in items]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + WORDS["and"][lang] + names[-1]


def _when(sources: tuple[Source, ...], lang: str) -> str:
    days: list[str] = []
    for source in sources:
        day = fmt_day(source.day, lang)
        if day not in days:
            days.append(day)
    return f"{WORDS['source'][lang]} {', '.join(days)}" if days else WORDS["source"][lang]


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


def classify(facts: Facts, codes: ElementCodes, ignored_symptoms: bool = False) -> Feature:
    """`self-check-advice`, first match wins (facts: after `without_hidden_answers`)."""
    # row 1 [self-check.md / seed 000; guideline tabel 2]: any red flag — wins over everything
    flags = [c for c in RED_FLAGS if facts.present(c)]
    if flags:
        value, row, decisive = "advice-gp", 1, flags
        reason = {"nl": "rode vlag", "en": "red flag"}
    # row 2 [self-check.md / seed 000]: after an accident, with stiff muscles, headache or dizziness
    elif facts.present(ACCIDENT) and facts.present(ACCIDENT_SYMPTOMS):
        value, row, decisive = "advice-assessment", 2, [ACCIDENT, ACCIDENT_SYMPTOMS]
        reason = {"nl": "klachten na een ongeluk", "en": "complaints after an accident"}
    # row 3 [self-check.md / seed 000]: any contact criterion
    elif criteria := [c for c in CONTACT_CRITERIA if facts.present(c)]:
        value, row, decisive = "advice-appointment", 3, criteria
        reason = {"nl": "reden om contact op te nemen", "en": "reason to make contact"}
    # row 4 [self-check.md / seed 000]: otherwise
    else:
        value, row, decisive = "advice-self-care", 4, []
        reason = {"nl": "geen rode vlag, geen ongeluk met klachten en geen reden om contact op te nemen",
                  "en": "no red flag, no accident with complaints and no reason to make contact"}

    if decisive:
        ev = evidence([facts.fact(c) for c in decisive])
    else:  # every answer counted: they were all "no" (or missing)
        ev = evidence(list(facts.answers.values())) or tuple(facts.intakes[-1:])
    unanswered = [c for c in shown_items(facts) if not facts.answered(c)]
    texts = {}
    for lang in ("nl", "en"):
        head = (f"Zelfcheck regel {row} ({reason['nl']})" if lang == "nl"
                else f"Self-check row {row} ({reason['en']})")
        if decisive:
            answered = (f"ja op {_quoted(decisive, 'nl', codes)}" if lang == "nl"
                        else f"yes to {_quoted(decisive, 'en', codes)}")
        else:
            answered = "geen enkele vraag met ja beantwoord" if lang == "nl" else "no question answered yes"
        advice = label(value, lang, codes, short=False)
        text = f"{head}: {answered} ({_when(ev, lang)}). " + \
            (f"Advies: {advice}." if lang == "nl" else f"Advice: {advice}.")
        if unanswered:
            text += f" {WORDS['unanswered'][lang]}: {_quoted(unanswered, lang, codes)}."
        if ignored_symptoms:
            text += (f" Het antwoord op {_quoted([ACCIDENT_SYMPTOMS], 'nl', codes)} telt niet mee: "
                     f"die vraag hoort alleen bij klachten na een ongeluk." if lang == "nl" else
                     f" The answer to {_quoted([ACCIDENT_SYMPTOMS], 'en', codes)} does not count: "
                     f"that question belongs only to complaints after an accident.")
        texts[lang] = text
    return feature(CODE, value, f"self-check.md row {row}", texts["nl"], texts["en"], ev)


def evaluate(facts: Facts, codes: ElementCodes | None = None) -> CaseResult:
    """The self-check's case: the one feature `self-check-advice`; %case also gets the answers."""
    codes = codes_or_default(codes)
    kept = without_hidden_answers(facts)
    advice = classify(kept, codes, ignored_symptoms=kept is not facts)
    return CaseResult(facts=kept, features=[advice], derived={})


def summary(result: CaseResult, lang: str, display: Callable[[str, str], str]) -> str:
    """CarePlan title, e.g. "Advies zelfcheck nekklachten: neem binnenkort contact op met de huisarts"."""
    advice = result.feature(CODE)
    head = display(CODE, lang)
    if advice is None:
        return head
    text = display(str(advice.value), lang)
    return f"{head}: {text[:1].lower() + text[1:]}"
