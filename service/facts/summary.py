"""One-line summary of the case features: the CarePlan title and the card summary.

e.g. "Behandelprofiel B — nekpijn graad II, afwijkend beloop" (outputs.md).
Displays come from the CodeSystem (Dutch display, English designation).
"""

from __future__ import annotations

from typing import Callable

from service.facts.model import CaseResult

PROVISIONAL = {"nl": "voorlopig", "en": "provisional"}
GRADE_IV = {"nl": "Mogelijke ernstige pathologie (nekpijn graad IV): verwijs naar de huisarts",
            "en": "Possible serious pathology (grade IV neck pain): refer to the GP"}
UNDETERMINED = {"nl": "Behandelprofiel nog niet te bepalen", "en": "Treatment profile not yet determined"}


def case_summary(result: CaseResult, lang: str, display: Callable[[str, str], str]) -> str:
    grade = result.feature("grade")
    if grade is not None and grade.value == "grade-iv":
        return GRADE_IV[lang]
    profile = result.feature("treatment-profile")
    course = result.feature("course")
    head = UNDETERMINED[lang] if profile is None or profile.value == "undetermined" else display(str(profile.value), lang)
    details = [display(str(f.value), lang) for f in (grade, course)
               if f is not None and f.value not in ("undetermined",)]
    text = head
    if details:
        text += " — " + ", ".join(d[:1].lower() + d[1:] for d in details)
    if profile is not None and profile.status == "preliminary":
        text += f" ({PROVISIONAL[lang]})"
    return text
