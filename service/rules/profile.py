"""§7 Treatment profile [B.5, tabel 4].

| grade | course | psychosocial-dominant | `treatment-profile` |
|---|---|---|---|
| grade-iv | – | – | none (referral) |
| grade-iii | – | – | profile-d |
| undetermined (grade III suspected or not assessed) | – | – | undetermined |
| I / II / I-II | normal | – | profile-a |
| I / II / I-II | abnormal | false | profile-b |
| I / II / I-II | abnormal | true | profile-c |
| I / II / I-II | abnormal | missing | undetermined (B or C) |
| I / II / I-II | undetermined | – | undetermined |

While serious-pathology is unresolved or not-assessed, grade IV has not been
excluded [B]: the profile is still computed and shown, with status
`preliminary` (outputs.md).
"""

from __future__ import annotations

from service.facts.model import Feature
from service.rules.common import evidence, feature

CODE = "treatment-profile"
PROVISIONAL = ("unresolved", "not-assessed")

GRADE_WORDS = {
    "grade-i": ("graad I", "grade I"),
    "grade-ii": ("graad II", "grade II"),
    "grade-i-ii": ("graad I of II", "grade I or II"),
}


def rule(row: int) -> str:
    return f"decision-logic §7 row {row} [B.5, tabel 4]"


def classify(grade: Feature, course: Feature, psychosocial: Feature | None, serious: Feature) -> Feature | None:
    ev = evidence(grade, course, psychosocial)
    g_nl, g_en = GRADE_WORDS.get(grade.value, ("", ""))
    psd = None if psychosocial is None else psychosocial.value

    # §7 row 1: grade IV — no profile, the referral only
    if grade.value == "grade-iv":
        return None
    # §7 row 2: grade III
    if grade.value == "grade-iii":
        row, value = 2, "profile-d"
        nl = "Behandelprofiel D: nekpijn graad III (cervicaal radiculair syndroom)."
        en = "Treatment profile D: neck pain grade III (cervical radicular syndrome)."
    # §7 row 3: grade undetermined (grade III suspected)
    elif grade.value == "undetermined":
        row, value = 3, "undetermined"
        nl = "Behandelprofiel nog niet te bepalen: graad III is nog niet beoordeeld, bevestigd of uitgesloten."
        en = "Treatment profile not yet determined: grade III has not yet been assessed, confirmed or excluded."
    # §7 row 4: grade I/II, normal course
    elif course.value == "normal":
        row, value = 4, "profile-a"
        nl = f"Behandelprofiel A: nekpijn {g_nl} met een normaal beloop."
        en = f"Treatment profile A: neck pain {g_en} with a normal course."
    # §7 row 5: abnormal course, psychosocial factors not dominant
    elif course.value == "abnormal" and psd is False:
        row, value = 5, "profile-b"
        nl = (f"Behandelprofiel B: nekpijn {g_nl} met een afwijkend beloop, zonder dominante "
              f"psychosociale herstelbelemmerende factoren.")
        en = (f"Treatment profile B: neck pain {g_en} with an abnormal course, without dominant "
              f"psychosocial factors hindering recovery.")
    # §7 row 6: abnormal course, psychosocial factors dominant
    elif course.value == "abnormal" and psd is True:
        row, value = 6, "profile-c"
        nl = (f"Behandelprofiel C: nekpijn {g_nl} met een afwijkend beloop en dominante "
              f"psychosociale herstelbelemmerende factoren.")
        en = (f"Treatment profile C: neck pain {g_en} with an abnormal course and dominant "
              f"psychosocial factors hindering recovery.")
    # §7 row 7: abnormal course, psychosocial judgement missing
    elif course.value == "abnormal":
        row, value = 7, "undetermined"
        nl = (f"Behandelprofiel B of C: nekpijn {g_nl} met een afwijkend beloop, maar het oordeel over "
              f"dominante psychosociale factoren ontbreekt. Beoordeel de psychosociale factoren.")
        en = (f"Treatment profile B or C: neck pain {g_en} with an abnormal course, but the judgement on "
              f"dominant psychosocial factors is missing. Assess the psychosocial factors.")
    # §7 row 8: course undetermined
    else:
        row, value = 8, "undetermined"
        nl = f"Behandelprofiel nog niet te bepalen: nekpijn {g_nl}, maar het beloop is nog onbekend."
        en = f"Treatment profile not yet determined: neck pain {g_en}, but the course is still unknown."

    status = "final"
    if serious.value in PROVISIONAL:  # grade IV not yet excluded [B]
        status = "preliminary"
        if serious.value == "unresolved":
            nl += " Voorlopig: er zijn rode vlaggen die nog niet met het klachtenpatroon zijn beoordeeld."
            en += " Preliminary: red flags present have not yet been assessed with the complaint pattern."
        else:
            nl += " Voorlopig: de rode vlaggen zijn nog niet (volledig) uitgevraagd."
            en += " Preliminary: the red flags have not been (fully) screened yet."
        ev = evidence(ev, serious)
    return feature(CODE, value, rule(row), nl, en, ev, status=status)
