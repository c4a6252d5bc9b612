"""§6 Psychosocial factors [B.5, tabel 4, Bijlage 1 §4].

Case feature `psychosocial-dominant` = the clinician's answer (absent when
not answered). The psychosocial factors present (pf-* with CodeSystem
property psychosocial: true) are listed as evidence: they inform, but do
not decide, the answer. The prompt and instrument rows of §6 are
PlanDefinition conditions.
"""

from __future__ import annotations

from service.facts.gather import ElementCodes
from service.facts.model import Facts, Feature
from service.rules.common import evidence, feature, labels, when

CODE = "psychosocial-dominant"


def classify(facts: Facts, codes: ElementCodes) -> Feature | None:
    answer = facts.fact(CODE)
    if answer is None or not isinstance(answer.value, bool):
        return None
    factors = [c for c in codes.psychosocial if facts.present(c)]
    ev = evidence(answer, [facts.fact(c) for c in factors])
    judged_nl = ", ".join(filter(None, ("oordeel fysiotherapeut", when(evidence(answer), "nl"))))
    judged_en = ", ".join(filter(None, ("physiotherapist's judgement", when(evidence(answer), "en"))))
    # §6 [B.5]: the clinician's answer
    if answer.value:
        nl = f"Psychosociale herstelbelemmerende factoren dominant aanwezig ({judged_nl})."
        en = f"Psychosocial factors hindering recovery dominantly present ({judged_en})."
        if factors:
            nl += f" Aanwezig: {labels(factors, 'nl', codes)}."
            en += f" Present: {labels(factors, 'en', codes)}."
    else:
        nl = f"Psychosociale herstelbelemmerende factoren niet dominant aanwezig ({judged_nl})."
        en = f"Psychosocial factors hindering recovery not dominantly present ({judged_en})."
        if factors:
            nl += f" Wel aanwezig, niet dominant: {labels(factors, 'nl', codes)}."
            en += f" Present but not dominant: {labels(factors, 'en', codes)}."
    return feature(CODE, answer.value, "decision-logic §6 [B.5, tabel 4]", nl, en, ev)
