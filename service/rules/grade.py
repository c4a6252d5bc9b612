"""§3 Grade [A.2].

| condition | `grade` |
|---|---|
| serious-pathology = suspected | grade-iv |
| radicular-syndrome = confirmed | grade-iii |
| radicular-syndrome = suspected or not-assessed (v2) | undetermined |
| adl-impact = adl-hardly | grade-i |
| adl-impact = adl-substantial | grade-ii |
| adl-impact missing | grade-i-ii (I or II; both lead to the same profiles) |
"""

from __future__ import annotations

from service.facts.model import Facts, Feature
from service.rules.common import feature, paren

CODE = "grade"


def rule(row: int) -> str:
    return f"decision-logic §3 row {row} [A.2]"


def classify(facts: Facts, serious: Feature, radicular: Feature) -> Feature:
    # §3 row 1 [A.2]: grade IV
    if serious.value == "suspected":
        nl = "Graad IV: mogelijke ernstige pathologie; verwijs naar de huisarts (geen fysiotherapeutische behandeling)."
        en = "Grade IV: possible serious pathology; refer to the GP (no physiotherapy treatment)."
        return feature(CODE, "grade-iv", rule(1), nl, en, serious.evidence)
    # §3 row 2 [A.2]: grade III
    if radicular.value == "confirmed":
        nl = f"Graad III: nekpijn met neurologische tekenen of symptomen (cervicaal radiculair syndroom){paren(radicular, 'nl')}."
        en = f"Grade III: neck pain with neurological signs or symptoms (cervical radicular syndrome){paren(radicular, 'en')}."
        return feature(CODE, "grade-iii", rule(2), nl, en, radicular.evidence)
    # §3 row 3: grade III suspected, or (v2) the radicular syndrome not assessed [B]: grade I, II
    # and III must be told apart before the treatment is chosen
    if radicular.value == "suspected":
        nl = (f"Graad nog niet te bepalen: verdenking op graad III (cervicaal radiculair syndroom)"
              f"{paren(radicular, 'nl')}.")
        en = (f"Grade not yet determined: grade III (cervical radicular syndrome) is suspected"
              f"{paren(radicular, 'en')}.")
        return feature(CODE, "undetermined", rule(3), nl, en, radicular.evidence)
    if radicular.value == "not-assessed":
        nl = ("Graad nog niet te bepalen: het cervicaal radiculair syndroom (graad III) is nog niet beoordeeld; "
              "graad I, II en III moeten eerst worden onderscheiden.")
        en = ("Grade not yet determined: cervical radicular syndrome (grade III) has not been assessed yet; "
              "grade I, II and III must be told apart first.")
        return feature(CODE, "undetermined", rule(3), nl, en, radicular.evidence)
    adl = facts.fact("adl-impact")
    # §3 row 4 [A.2]: grade I
    if adl is not None and adl.value == "adl-hardly":
        nl = f"Graad I: de nekpijn heeft niet of nauwelijks invloed op het dagelijks leven{paren(adl, 'nl')}."
        en = f"Grade I: the neck pain has little or no influence on daily life{paren(adl, 'en')}."
        return feature(CODE, "grade-i", rule(4), nl, en, (adl.source,))
    # §3 row 5 [A.2]: grade II
    if adl is not None and adl.value == "adl-substantial":
        nl = f"Graad II: de nekpijn heeft een forse invloed op het dagelijks leven{paren(adl, 'nl')}."
        en = f"Grade II: the neck pain has a substantial influence on daily life{paren(adl, 'en')}."
        return feature(CODE, "grade-ii", rule(5), nl, en, (adl.source,))
    # §3 row 6: adl-impact missing
    nl = ("Graad I of II: de invloed op het dagelijks leven is niet vastgelegd; "
          "beide graden leiden tot dezelfde behandelprofielen.")
    en = ("Grade I or II: the influence on daily life has not been recorded; "
          "both grades lead to the same treatment profiles.")
    return feature(CODE, "grade-i-ii", rule(6), nl, en)
