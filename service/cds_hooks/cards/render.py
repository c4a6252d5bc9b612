"""Which cards a call gets (outputs.md "CDS Hooks cards") and the one-card rule.

Whole-case plans (`nekpijn-behandelprofiel`):

* `suspected` → the grade IV card alone (the plan holds only the referral).
* `unresolved` / `not-assessed` → the red-flag card with every assessment prompt and, while
  unresolved, the §1 GP option; no treatment card.
* `excluded` with flags present → the flags-judged-recognisable card, then the rest.
* profile A–D → the profile card; the prompts on one prompt card.
* profile undetermined → the prompt card, a warning (it blocks the profile).
* `rec-stop-contact-gp`, `rec-refer-back-gp` or the §1 GP referral in the consult's place →
  the follow-up card (that referral on this card only).
* every other referral or consult of the plan → a card of its own with its suggestion.

Each prompt, referral and consult is handed to exactly one card (`assigned`); order plans
(`nekpijn-orders`) get one card per flagged draft order. Cards are ordered critical,
warning, info (stable: within an indicator, the order above).
"""

from __future__ import annotations

from service.apply.engine import ORDER_HOOKS
from service.cds_hooks.cards.context import GP_REFERRAL, CardContext, Item
from service.cds_hooks.cards.follow_up import CODES as FOLLOW_UP, follow_up_card, takes_the_consults_place
from service.cds_hooks.cards.grade_iv import grade_iv_card
from service.cds_hooks.cards.orders import order_cards
from service.cds_hooks.cards.profile import profile_card
from service.cds_hooks.cards.prompts import prompt_card
from service.cds_hooks.cards.recognisable import applies as flags_recognisable, recognisable_card
from service.cds_hooks.cards.red_flags import PROFILES, red_flag_card
from service.cds_hooks.cards.referrals import referral_card

INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}
ASSESSMENT = "section-assessment"


def case_cards(ctx: CardContext) -> list[dict]:
    serious = ctx.feature_value("serious-pathology")
    if serious == "suspected":
        return [grade_iv_card(ctx)]
    profile = ctx.feature_value("treatment-profile")
    prompts = ctx.leaves(ASSESSMENT)
    assigned: set[int] = {id(p) for p in prompts}
    follow_ups = [i for i in ctx.leaves() if i.code in FOLLOW_UP or takes_the_consults_place(i)]
    assigned |= {id(i) for i in follow_ups}
    cards: list[dict] = []
    if serious in ("unresolved", "not-assessed"):
        gp = next((i for i in ctx.leaves() if i.code == GP_REFERRAL and id(i) not in assigned), None)
        if gp is not None:
            assigned.add(id(gp))
        if prompts or gp is not None or not follow_ups:
            # §7/§9: when the treatment ends on the derived no-improvement flag alone, the
            # follow-up card names the flag and carries the referral: no second GP card
            cards.append(red_flag_card(ctx, str(serious), prompts, gp))
    else:
        if flags_recognisable(ctx):
            cards.append(recognisable_card(ctx))
        if profile in PROFILES:
            cards.append(profile_card(ctx, str(profile)))
            if prompts:
                cards.append(prompt_card(ctx, prompts, blocking=False))
        elif prompts:
            cards.append(prompt_card(ctx, prompts, blocking=True))
    cards += [follow_up_card(ctx, item) for item in follow_ups]
    cards += [referral_card(ctx, item) for item in others(ctx, assigned)]
    return cards


def others(ctx: CardContext, assigned: set[int]) -> list[Item]:
    """The referrals and consults no card carries yet."""
    return [i for i in ctx.leaves() if ctx.is_referral_or_consult(i) and id(i) not in assigned]


def render(ctx: CardContext) -> list[dict]:
    per_order = bool(ORDER_HOOKS & set(ctx.plan.triggers()))
    cards = order_cards(ctx) if per_order else case_cards(ctx)
    return sorted(cards, key=lambda c: INDICATOR_RANK[c["indicator"]])
