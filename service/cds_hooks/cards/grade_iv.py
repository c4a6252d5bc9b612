"""Grade IV — serious-pathology `suspected` (outputs.md "CDS Hooks cards"; decision-logic §1).

One `critical` card, first and alone: "Mogelijke ernstige pathologie: verwijs naar de
huisarts" ("… vandaag nog …" when the referral is `stat`: a myelopathy or CAD flag, §1 v2),
the flags per pathology, and a recommended suggestion that creates the referral
ServiceRequest with the priority the plan gave it. Detail ≤ 700 characters [B.1, A.2].
"""

from __future__ import annotations

from service.cds_hooks.cards.context import GP_REFERRAL, CardContext
from service.cds_hooks.cards.flags import flag_block
from service.cds_hooks.cards.wording import RED_FLAG_LIMIT, fit, md, short_date

KIND = "grade-iv"

WORDS = {
    "nl": {
        "summary": "Mogelijke ernstige pathologie: verwijs naar de huisarts",
        "summary-stat": "Mogelijke ernstige pathologie: verwijs vandaag nog naar de huisarts",
        "why": "Het klachtenpatroon wijst op mogelijke ernstige pathologie (nekpijn graad IV{when}); "
               "fysiotherapie is niet geïndiceerd (B.1).",
        "when": ", beoordeeld op {day}",
        "stat": "Neem vandaag nog contact op met de huisarts, buiten kantooruren de huisartsenpost; "
                "bij acute uitval 112.",
        "urgent": "Verwijs de patiënt naar de huisarts of de verwijzend specialist (A.2, B.1).",
    },
    "en": {
        "summary": "Possible serious pathology: refer to the GP",
        "summary-stat": "Possible serious pathology: refer to the GP today",
        "why": "The complaint pattern points to possible serious pathology (grade IV neck pain{when}); "
               "physiotherapy is not indicated (B.1).",
        "when": ", judged on {day}",
        "stat": "Contact the GP today, outside office hours the GP out-of-hours service; "
                "with acute loss of function call 112.",
        "urgent": "Refer the patient to the GP or the referring specialist (A.2, B.1).",
    },
}


def grade_iv_card(ctx: CardContext) -> dict:
    words = WORDS[ctx.lang]
    referral = ctx.item(GP_REFERRAL)
    stat = (referral.priority if referral else ctx.derived("gp-referral-priority")) == "stat"
    day = short_date(ctx.derived("pattern-conclusion-date"), ctx.lang)
    why = md(words["why"].format(when=words["when"].format(day=day) if day else ""))
    act = words["stat"] if stat else words["urgent"]

    def build(level: int) -> list[str]:
        return [why if level == 0 else "", flag_block(ctx, compact=level > 1), act]

    detail = fit(build, RED_FLAG_LIMIT, 3)
    suggestions = [ctx.create("referral", referral, recommended=True)] if referral else []
    return ctx.card(KIND, KIND, "critical", words["summary-stat" if stat else "summary"], detail, suggestions,
                    ctx.links([referral] if referral else [], GP_REFERRAL))
