"""Flags judged recognisable — serious-pathology `excluded` with clinical red flags present
(outputs.md "CDS Hooks cards" v2; decision-logic §1 row 3).

One card that keeps the flags in view: `warning` on the day of the pattern conclusion,
`info` afterwards; "Rode vlaggen aanwezig; klachtenpatroon als herkenbaar beoordeeld op
3 dec 2026", the flags per pathology, and the GP referral as a suggestion that is NOT
recommended — a card suggestion only, not an action of the plan (dak/README.md
interpretations). The treatment card follows it. Detail ≤ 700 characters [B.1].
"""

from __future__ import annotations

from service.cds_hooks.cards.context import CardContext
from service.cds_hooks.cards.flags import flag_block
from service.cds_hooks.cards.wording import RED_FLAG_LIMIT, fit, md, parse_day, short_date

KIND = "flags-judged-recognisable"
TOPIC = "serious-pathology"

WORDS = {
    "nl": {
        "summary": "Rode vlaggen aanwezig; klachtenpatroon als herkenbaar beoordeeld op {day}",
        "summary-undated": "Rode vlaggen aanwezig; klachtenpatroon als herkenbaar beoordeeld",
        "keep": "Graad IV is uitgesloten op grond van de conclusie over het klachtenpatroon. Beoordeel opnieuw "
                "bij een nieuwe rode vlag of als de klachten anders verlopen dan verwacht (B.1).",
        "gp": "Bij twijfel: verwijs alsnog naar de huisarts.",
    },
    "en": {
        "summary": "Red flags present; complaint pattern judged recognisable on {day}",
        "summary-undated": "Red flags present; complaint pattern judged recognisable",
        "keep": "Grade IV is ruled out on the conclusion on the complaint pattern. Assess again with a new "
                "red flag or when the complaints do not follow the expected course (B.1).",
        "gp": "When in doubt, refer to the GP after all.",
    },
}


def applies(ctx: CardContext) -> bool:
    """§1: excluded while clinical red flags are present (%case `flags-judged-recognisable`)."""
    flag = ctx.derived("flags-judged-recognisable")
    if flag is not None:
        return bool(flag)
    feature = ctx.case.feature("serious-pathology")
    return feature is not None and feature.value == "excluded" and any(
        ctx.case.facts.present(code) for code in ctx.codes.red_flags)


def recognisable_card(ctx: CardContext) -> dict:
    words = WORDS[ctx.lang]
    concluded = ctx.derived("pattern-conclusion-date")
    if isinstance(concluded, str):
        concluded = parse_day(concluded)
    day = short_date(concluded, ctx.lang)
    title = words["summary"].format(day=day) if day else words["summary-undated"]
    indicator = "warning" if concluded is not None and concluded == ctx.today else "info"

    def build(level: int) -> list[str]:
        return [flag_block(ctx, compact=level > 0), md(words["keep"]) if level < 2 else "", md(words["gp"])]

    detail = fit(build, RED_FLAG_LIMIT, 3)
    suggestion = ctx.gp_referral("referral", recommended=False, intent="option")
    return ctx.card(KIND, TOPIC, indicator, title, detail, [suggestion], [])
