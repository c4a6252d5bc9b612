"""Prompts — the assessment section while grade IV is excluded (outputs.md "CDS Hooks cards").

One card with every assessment prompt of the plan (on no other card): `warning` when it
blocks the profile (profile undetermined) or a prompt is urgent (decision-logic §9:
`rec-monitor-worsening` is a warning), otherwise `info`. A prompt with a due moment shows
its date (`rec-measure-week-4`, §9 v2). Detail ≤ 400 characters.
"""

from __future__ import annotations

from service.cds_hooks.cards.context import URGENT, CardContext, Item
from service.cds_hooks.cards.wording import CARD_LIMIT, SUMMARY_LIMIT, fit, lower_first, md, short_date

KIND = "section-assessment"

WORDS = {
    "nl": {"blocking": "Behandelprofiel nog niet te bepalen: vul eerst de beoordeling aan",
           "prompts": "Vul de beoordeling aan", "due": "uiterlijk"},
    "en": {"blocking": "Treatment profile not yet determined: complete the assessment first",
           "prompts": "Complete the assessment", "due": "by"},
}


def prompt_line(ctx: CardContext, item: Item, with_description: bool) -> str:
    line = f"- **{md(ctx.title(item))}**"
    if item.due is not None:
        line += f" ({WORDS[ctx.lang]['due']} {short_date(item.due, ctx.lang)})"
    if with_description and ctx.description(item):
        line += f": {md(ctx.description(item))}"
    return line


def blocking_reason(ctx: CardContext) -> str:
    """Why the profile cannot be set: the first sentence of the treatment-profile explanation."""
    feature = ctx.case.feature("treatment-profile")
    if feature is None:
        return ""
    return md(ctx.t(feature.explanation).split(". ")[0].rstrip(".") + ".")


def prompt_card(ctx: CardContext, prompts: list[Item], *, blocking: bool) -> dict:
    words = WORDS[ctx.lang]
    urgent = any(p.priority in URGENT for p in prompts)
    if blocking:
        summary = words["blocking"]
    else:
        summary = f"{words['prompts']}: " + ", ".join(lower_first(ctx.title(p)) for p in prompts)
        if len(summary) >= SUMMARY_LIMIT:
            summary = f"{words['prompts']} ({len(prompts)})"

    def build(level: int) -> list[str]:
        head = blocking_reason(ctx) if blocking and level < 2 else ""
        if level >= 2:
            return [head, md("; ".join(ctx.title(p) for p in prompts)) + "."]
        lines = [prompt_line(ctx, p, with_description=level == 0 and len(prompts) <= 2) for p in prompts]
        return [head, "\n".join(lines)]

    detail = fit(build, CARD_LIMIT, 3)
    indicator = "warning" if blocking or urgent else "info"
    return ctx.card(KIND, KIND, indicator, summary, detail, [], ctx.links(prompts[:1], prompts[0].code))
