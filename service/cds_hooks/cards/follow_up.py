"""Follow-up referrals (outputs.md "CDS Hooks cards"; decision-logic §7, §9 [C.2, C.4, C.5]).

`rec-stop-contact-gp` (consult), `rec-refer-back-gp` (referral), or the §1 GP referral that
takes the place of the consult when the only open red flag is the derived
`rf-no-improvement-4w` (§9 v2: intent `proposal`, on this card only). One `warning` card
with a recommended suggestion that creates the request (its priority as the plan made it).
The treatment ends with every one of them (§7), so the detail starts with "Beëindig de
behandeling: …" and the reason; the §1 referral keeps the consult's "na akkoord van de
patiënt" and names the red flag. Detail ≤ 400 characters.
"""

from __future__ import annotations

from service.cds_hooks.cards.context import GP_REFERRAL, CardContext, Item
from service.cds_hooks.cards.measurements import change_phrase, episode_timeline
from service.cds_hooks.cards.wording import CARD_LIMIT, fit, md

CODES = ("rec-stop-contact-gp", "rec-refer-back-gp")

WORDS = {
    "nl": {
        "end": "Beëindig de behandeling: {reason}.",
        "six-weeks": "zes weken behandeld zonder voldoende effect",
        "motor": "toenemend verlies van motorische controle",
        "sensory": "meer sensorische symptomen",
        "worsened": "verslechtering",
        "flag": "Geen verbetering na vier weken is een rode vlag (maligniteit, B.1, tabel 2).",
        "stop": "Neem na akkoord van de patiënt contact op met de huisarts of bedrijfsarts over verdere "
                "behandelmogelijkheden (C.2).",
        "refer-back": "Verwijs terug naar de huisarts (C.4).",
        "gp": "Verwijs na akkoord van de patiënt naar de huisarts (B.1, C.2).",
        "summary-stop": "Beëindig de behandeling: overleg met de huisarts of bedrijfsarts",
        "summary-refer-back": "Beëindig de behandeling: verwijs terug naar de huisarts",
        "summary-gp": "Beëindig de behandeling: verwijs naar de huisarts (rode vlag)",
    },
    "en": {
        "end": "End the treatment: {reason}.",
        "six-weeks": "six weeks of treatment without sufficient effect",
        "motor": "increasing loss of motor control",
        "sensory": "more sensory symptoms",
        "worsened": "deterioration",
        "flag": "No improvement after four weeks is a red flag (malignancy, B.1, table 2).",
        "stop": "With the patient's consent, contact the GP or occupational physician about other options (C.2).",
        "refer-back": "Refer back to the GP (C.4).",
        "gp": "With the patient's consent, refer to the GP (B.1, C.2).",
        "summary-stop": "End the treatment: consult the GP or occupational physician",
        "summary-refer-back": "End the treatment: refer back to the GP",
        "summary-gp": "End the treatment: refer to the GP (red flag)",
    },
}


def takes_the_consults_place(item: Item) -> bool:
    """§9 v2: the §1 GP referral in the place of `rec-stop-contact-gp` has intent `proposal`
    while grade IV is not suspected (as the §1 option, while unresolved, it is an `option`)."""
    return item.code == GP_REFERRAL and (item.resource or {}).get("intent") == "proposal"


def end_reason(ctx: CardContext, item: Item) -> str:
    words = WORDS[ctx.lang]
    facts = ctx.case.facts
    reasons = []
    if item.code == "rec-refer-back-gp" and facts.present("crs-worse-motor"):
        reasons.append(words["motor"])
    if item.code == "rec-refer-back-gp" and facts.present("crs-worse-sensory"):
        reasons.append(words["sensory"])
    measured = change_phrase(ctx, episode_timeline(ctx))
    effect = ctx.feature_value("treatment-effect")
    days = ctx.derived("days-since-treatment-start") or 0
    base = None
    if effect in ("unchanged", "worsened"):
        base = words["six-weeks"] if days >= 42 else (words["worsened"] if effect == "worsened" else None)
    if base is None and not reasons:
        base = words["six-weeks"]
    if base is not None:
        reasons.append(f"{base} ({measured})" if measured else base)
    return "; ".join(reasons)


def follow_up_card(ctx: CardContext, item: Item) -> dict:
    words = WORDS[ctx.lang]
    if item.code == "rec-stop-contact-gp":
        act, title = words["stop"], words["summary-stop"]
    elif item.code == "rec-refer-back-gp":
        act, title = words["refer-back"], words["summary-refer-back"]
    else:
        act, title = words["gp"], words["summary-gp"]
    flag = words["flag"] if item.code == GP_REFERRAL or ctx.derived("no-improvement-open") else ""
    opening = md(words["end"].format(reason=end_reason(ctx, item)))

    def build(level: int) -> list[str]:
        return [opening if level == 0 else md(words["end"].format(reason=words["six-weeks"])), flag, act]

    detail = fit(build, CARD_LIMIT, 2)
    suggestion = ctx.create("follow-up", item, recommended=True)
    return ctx.card(item.code, item.code, "warning", title, detail, [suggestion], ctx.links([item], item.code))
