"""§5 Subgroup [A.3, B.5 vraag 3].

Case feature `subgroup`, one per applicable value: trauma-related when
trauma-related is present, work-related when work-related is present,
otherwise general-population.
"""

from __future__ import annotations

from service.facts.model import Facts, Feature
from service.rules.common import evidence, feature, paren

CODE = "subgroup"


def classify(facts: Facts) -> list[Feature]:
    out: list[Feature] = []
    # §5 row 1 [A.3]: trauma-related neck pain
    if facts.present("trauma-related"):
        fact = facts.fact("trauma-related")
        out.append(feature(
            CODE, "trauma-related", "decision-logic §5 row 1 [A.3]",
            f"Traumagerelateerde nekpijn: de klachten zijn ontstaan na een trauma{paren(fact, 'nl')}.",
            f"Trauma-related neck pain: the complaints started after trauma{paren(fact, 'en')}.",
            evidence(fact)))
    # §5 row 2 [A.3]: work-related neck pain
    if facts.present("work-related"):
        fact = facts.fact("work-related")
        out.append(feature(
            CODE, "work-related", "decision-logic §5 row 2 [A.3]",
            f"Werkgerelateerde nekpijn: de patiënt schrijft de klachten toe aan het werk{paren(fact, 'nl')}.",
            f"Work-related neck pain: the patient attributes the complaints to work{paren(fact, 'en')}.",
            evidence(fact)))
    # §5 row 3: otherwise
    if not out:
        answered = evidence(facts.fact("trauma-related"), facts.fact("work-related"))
        out.append(feature(
            CODE, "general-population", "decision-logic §5 row 3 [A.3]",
            f"Algemene populatie: de nekpijn is niet als trauma- of werkgerelateerd vastgelegd{paren(answered, 'nl')}.",
            f"General population: the neck pain is not recorded as trauma- or work-related{paren(answered, 'en')}.",
            answered))
    return out
