"""§2 Cervical radicular syndrome — grade III [A.2, B.1, B.2, tabel 3, Bijlage 1 §3].

S  = at least one CRS symptom or sign present other than crs-limited-rotation
     (the follow-up items crs-worse-* do not count; grade III is neck pain with
     neurological signs or symptoms [A.2], limited rotation is supporting
     evidence only).
T+ = test-spurling positive or test-traction-distraction positive.
Assessed = at least one CRS symptom/sign item other than crs-limited-rotation
     answered (v2: a rotation measurement or a test result alone cannot tell S).

| S | inclusion tests | ULTT | `radicular-syndrome` |
|---|---|---|---|
| not assessed | – | – | not-assessed (v2: blocks the profile, grade undetermined) |
| no | at least one positive | any | suspected (v2: the positive test reproduces radiating symptoms that were not recorded) |
| no | none positive | any | absent |
| yes | at least one positive | any | confirmed |
| yes | both negative | negative | excluded |
| yes | both negative | missing | excluded-in-principle |
| yes | both negative | positive | excluded-in-principle |
| yes | none positive, at least one missing | negative | excluded |
| yes | none positive, at least one missing | missing or positive | suspected |

The symptoms and signs are the items with CodeSystem property crs-kind
symptom or sign.
"""

from __future__ import annotations

from service.facts.gather import ElementCodes
from service.facts.model import Facts, Feature
from service.rules.common import evidence, feature, labels, listing, paren

CODE = "radicular-syndrome"
LIMITED_ROTATION = "crs-limited-rotation"
INCLUSION_TESTS = ("test-spurling", "test-traction-distraction")
ULTT = "test-ultt"
POSITIVE, NEGATIVE = "positive", "negative"

TEST_NAMES = {
    "test-spurling": ("Spurling's test", "Spurling's test"),
    "test-traction-distraction": ("tractie-/distractietest", "traction/distraction test"),
    "test-ultt": ("ULTT", "ULTT"),
}


def rule(row: int) -> str:
    return f"decision-logic §2 row {row} [A.2, B.2, tabel 3]"


def tests(codes_: list[str], lang: str) -> str:
    i = 1 if lang == "en" else 0
    return listing([TEST_NAMES[t][i] for t in codes_], lang)


def symptoms_present(facts: Facts, codes: ElementCodes) -> bool:
    """S: a CRS symptom or sign present other than limited rotation."""
    return any(kind in ("symptom", "sign") and c != LIMITED_ROTATION and facts.present(c)
               for c, kind in codes.crs_kinds.items())


def classify(facts: Facts, codes: ElementCodes) -> Feature:
    items = [c for c, kind in codes.crs_kinds.items() if kind in ("symptom", "sign")]
    s_present = [c for c in items if c != LIMITED_ROTATION and facts.present(c)]
    rotation = facts.fact(LIMITED_ROTATION) if facts.present(LIMITED_ROTATION) else None
    result = {t: facts.value(t) for t in (*INCLUSION_TESTS, ULTT)}
    test_facts = [facts.fact(t) for t in (*INCLUSION_TESTS, ULTT) if result[t] is not None]
    assessed = any(facts.answered(c) for c in items if c != LIMITED_ROTATION)
    positive = [t for t in INCLUSION_TESTS if result[t] == POSITIVE]
    missing = [t for t in INCLUSION_TESTS if result[t] is None]
    ultt = result[ULTT]

    # §2 row 1: nothing assessed — blocks the profile (v2) [B]
    if not assessed:
        ev = evidence(test_facts, rotation)
        nl = ("Niet beoordeeld: de symptomen en tekenen van een cervicaal radiculair syndroom (tabel 3) zijn "
              "nog niet uitgevraagd. Graad I, II en III moeten worden onderscheiden voordat de behandeling "
              "wordt gekozen; tot dan zijn graad en behandelprofiel niet te bepalen.")
        en = ("Not assessed: the symptoms and signs of cervical radicular syndrome (table 3) have not been asked "
              "yet. Grade I, II and III must be told apart before the treatment is chosen; until then grade and "
              "treatment profile cannot be determined.")
        return feature(CODE, "not-assessed", rule(1), nl, en, ev)

    # §2 row 2 (v2): S no, but an inclusion test positive — symptoms not recorded [B.2]
    if not s_present and positive:
        ev = evidence([facts.fact(c) for c in items if facts.answered(c)], test_facts)
        nl = (f"Verdenking graad III: {tests(positive, 'nl')} positief, maar geen uitstralende of neurologische "
              f"armklachten vastgelegd{paren(ev, 'nl')}. Vraag de symptomen opnieuw uit; tot dan is het "
              f"behandelprofiel niet te bepalen.")
        en = (f"Grade III suspected: positive {tests(positive, 'en')}, but no radiating or neurological arm "
              f"symptoms recorded{paren(ev, 'en')}. Ask about the symptoms again; until then the treatment "
              f"profile cannot be determined.")
        return feature(CODE, "suspected", rule(2), nl, en, ev)

    # §2 row 3: S no
    if not s_present:
        answered = [facts.fact(c) for c in items if facts.answered(c)]
        ev = evidence(answered, test_facts)
        nl = f"Geen cervicaal radiculair syndroom: geen neurologische symptomen of tekenen aanwezig{paren(ev, 'nl')}."
        en = f"No cervical radicular syndrome: no neurological symptoms or signs present{paren(ev, 'en')}."
        if rotation is not None:
            nl += " Een beperkte rotatie alleen wijst niet op graad III (A.2)."
            en += " Limited rotation alone does not indicate grade III (A.2)."
        return feature(CODE, "absent", rule(3), nl, en, ev)

    symptoms_nl = labels(s_present, "nl", codes)
    symptoms_en = labels(s_present, "en", codes)
    ev = evidence([facts.fact(c) for c in s_present], test_facts, rotation)
    ultt_fact = facts.fact(ULTT)

    # §2 row 4: S yes, at least one inclusion test positive
    if positive:
        nl = f"Graad III: {symptoms_nl} met een positieve {tests(positive, 'nl')}{paren(ev, 'nl')}."
        en = f"Grade III: {symptoms_en} with a positive {tests(positive, 'en')}{paren(ev, 'en')}."
        if ultt == NEGATIVE:
            nl += " Een positieve insluittest weegt zwaarder dan de negatieve ULTT (B.2)."
            en += " A positive inclusion test outweighs the negative ULTT (B.2)."
        return feature(CODE, "confirmed", rule(4), nl, en, ev)

    if not missing:  # both inclusion tests negative
        # §2 row 5
        if ultt == NEGATIVE:
            nl = (f"Graad III uitgesloten: {symptoms_nl} aanwezig, maar beide insluittests en de ULTT "
                  f"zijn negatief{paren(ev, 'nl')}.")
            en = (f"Grade III excluded: {symptoms_en} present, but both inclusion tests and the ULTT "
                  f"are negative{paren(ev, 'en')}.")
            return feature(CODE, "excluded", rule(5), nl, en, ev)
        # §2 row 6
        if ultt is None:
            nl = (f"Graad III in principe uitgesloten: {symptoms_nl} aanwezig, maar beide insluittests zijn "
                  f"negatief{paren(ev, 'nl')}. Overweeg bij twijfel de ULTT.")
            en = (f"Grade III excluded in principle: {symptoms_en} present, but both inclusion tests are "
                  f"negative{paren(ev, 'en')}. Consider the ULTT when in doubt.")
            return feature(CODE, "excluded-in-principle", rule(6), nl, en, ev)
        # §2 row 7: ULTT positive
        nl = (f"Graad III in principe uitgesloten: {symptoms_nl} aanwezig en beide insluittests zijn "
              f"negatief{paren(ev, 'nl')}; de ULTT is positief, maar de ULTT dient alleen om uit te "
              f"sluiten (B.2).")
        en = (f"Grade III excluded in principle: {symptoms_en} present and both inclusion tests are "
              f"negative{paren(ev, 'en')}; the ULTT is positive, but the ULTT only serves to exclude (B.2).")
        return feature(CODE, "excluded-in-principle", rule(7), nl, en, ev)

    # none positive, at least one inclusion test missing
    # §2 row 8
    if ultt == NEGATIVE:
        nl = (f"Graad III uitgesloten: {symptoms_nl} aanwezig, geen insluittest positief ({tests(missing, 'nl')} "
              f"niet uitgevoerd) en de ULTT is negatief{paren(ev, 'nl')}.")
        en = (f"Grade III excluded: {symptoms_en} present, no inclusion test positive ({tests(missing, 'en')} "
              f"not done) and the ULTT is negative{paren(ev, 'en')}.")
        return feature(CODE, "excluded", rule(8), nl, en, ev)
    # §2 row 9
    nl = (f"Verdenking graad III: {symptoms_nl} aanwezig{paren(ev, 'nl')}, maar {tests(missing, 'nl')} nog niet "
          f"uitgevoerd. Voer de insluittest(s) uit; tot dan is het behandelprofiel niet te bepalen.")
    en = (f"Grade III suspected: {symptoms_en} present{paren(ev, 'en')}, but the {tests(missing, 'en')} not "
          f"done yet. Perform the inclusion test(s); until then the treatment profile cannot be determined.")
    if ultt_fact is not None:
        nl += " Een positieve ULTT sluit niet in (B.2)."
        en += " A positive ULTT does not confirm (B.2)."
    return feature(CODE, "suspected", rule(9), nl, en, ev)
