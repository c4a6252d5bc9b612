"""Other referrals and consults of the plan (outputs.md v2: "every referral and consult of the
plan appears on some card with its suggestion, also while the plan is restricted").

`rec-psychosocial-refer` (§9, C.3), `rec-consider-occupational-physio` (§10, C.1),
`rec-absence-over-4-weeks` (§10, C.2) and any further referral / consult that no other card
carries: one `info` card each, the recommendation and its reason in the detail, a suggestion
that creates the request — recommended only when the plan proposes it (intent `proposal`;
an `option` or a consult the clinician weighs is offered, not recommended). ≤ 400 characters.
"""

from __future__ import annotations

from service.cds_hooks.cards.context import CardContext, Item
from service.cds_hooks.cards.wording import CARD_LIMIT, fit, md

PROPOSAL = "proposal"


def referral_card(ctx: CardContext, item: Item) -> dict:
    description = md(ctx.description(item))
    guideline = md(ctx.guideline(item))

    def build(level: int) -> list[str]:
        text = description if level == 0 else description[: CARD_LIMIT - 20].rsplit(" ", 1)[0] + " …"
        return [f"{text} ({guideline})" if guideline and level == 0 else text]

    detail = fit(build, CARD_LIMIT, 2) or md(ctx.title(item))
    recommended = (item.resource or {}).get("intent") == PROPOSAL
    suggestion = ctx.create("request", item, recommended=recommended)
    return ctx.card(item.code, item.code, "info", ctx.title(item), detail, [suggestion], ctx.links([item], item.code))
