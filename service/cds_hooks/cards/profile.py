"""Treatment profile A–D (outputs.md "CDS Hooks cards" v2; decision-logic §7 [B.5, tabel 4]).

One `info` card, summary e.g. "Behandelprofiel B: nekpijn graad II met afwijkend beloop".
The detail shows, in this order: the profile and why (grade, course, psychosocial — one
sentence, each classification once with its reason); the baseline and the latest
measurement with the change; at most five plan items (recommended therapy and advice
titles; profile D first `rec-avoid-provoking` and `rec-d-timeline`); the next due moment.
No static lists (discouraged therapies, closure items): they are in the CarePlan, which the
recommended suggestion creates — the very CarePlan `$apply` returns. Detail ≤ 700 characters.
"""

from __future__ import annotations

import re

from service.cds_hooks.cards.context import CardContext, Item
from service.cds_hooks.cards.due import due_line
from service.cds_hooks.cards.measurements import baseline_line, episode_timeline, latest_line
from service.cds_hooks.cards.wording import RED_FLAG_LIMIT, fit, listing, lower_first, md, short_dates_in, upper_first

PROFILE_LIMIT = RED_FLAG_LIMIT  # outputs.md v2: the profile card, like the red-flag cards, ≤ 700
MAX_ITEMS = 5
FIRST_FOR_D = ("rec-avoid-provoking", "rec-d-timeline")
PLAN_SECTIONS = ("section-therapy", "section-advice", "section-work")
_REASON = re.compile(r"^[^:]*:\s*(?P<reason>[^(;.]*)")

WORDS = {
    "nl": {"with": "met", "why": "Waarom: {parts} (B.5, tabel 4).", "plan": "Plan",
           "label": "Behandelplan vastleggen", "action": "Leg het behandelplan vast"},
    "en": {"with": "with", "why": "Why: {parts} (B.5, table 4).", "plan": "Plan",
           "label": "Record the treatment plan", "action": "Record the treatment plan"},
}


def profile_summary(ctx: CardContext, profile: str) -> str:
    """"Behandelprofiel B: nekpijn graad II met afwijkend beloop"."""
    grade, course = ctx.feature_value("grade"), ctx.feature_value("course")
    text = ctx.display(profile)
    if grade and grade != "undetermined":
        text += ": " + lower_first(ctx.display(str(grade)))
        if course and course != "undetermined":
            text += f" {WORDS[ctx.lang]['with']} " + lower_first(ctx.display(str(course)))
    return text


def reason(ctx: CardContext, code: str) -> str:
    """The reason clause of a feature's explanation ("Graad II: <reason> (intake …)."), short dates."""
    feature = ctx.case.feature(code)
    if feature is None:
        return ""
    match = _REASON.match(ctx.t(feature.explanation))
    return short_dates_in(match.group("reason").strip(), ctx.lang) if match else ""


def why_sentence(ctx: CardContext, profile: str, with_reasons: bool) -> str:
    """"Waarom: nekpijn graad II (forse invloed …), afwijkend beloop (…) en psychosociale factoren …"."""
    parts = []
    for code in ("grade", "course"):
        value = ctx.feature_value(code)
        if value is None or value == "undetermined":
            continue
        text = lower_first(ctx.display(str(value)))
        why = reason(ctx, code) if with_reasons else ""
        parts.append(f"{text} ({why})" if why else text)
    psychosocial = ctx.case.feature("psychosocial-dominant")
    if psychosocial is not None and profile in ("profile-b", "profile-c"):
        parts.append(lower_first(short_dates_in(ctx.t(psychosocial.explanation).split(" (")[0].rstrip("."),
                                                ctx.lang)))
    return md(WORDS[ctx.lang]["why"].format(parts=listing(parts, ctx.lang)))


def is_patient_information(ctx: CardContext, item: Item) -> bool:
    """A text for the patient: the EHR shows it with the CarePlan (outputs.md: nothing extra on the card)."""
    return ctx.kind(item) == "patient-information"


def plan_items(ctx: CardContext, profile: str) -> list[Item]:
    """At most five therapy and advice items: therapy first; profile D: avoid provoking and the timeline first."""
    candidates = [i for section in PLAN_SECTIONS for i in ctx.leaves(section)
                  if not ctx.is_referral_or_consult(i) and not is_patient_information(ctx, i)]
    if profile == "profile-d":
        first = [i for code in FIRST_FOR_D for i in candidates if i.code == code]
        candidates = first + [i for i in candidates if i not in first]
    return candidates[:MAX_ITEMS]


def profile_card(ctx: CardContext, profile: str) -> dict:
    words = WORDS[ctx.lang]
    tl = episode_timeline(ctx)
    items = plan_items(ctx, profile)

    def build(level: int) -> list[str]:
        lines = []
        for item in items[:MAX_ITEMS if level < 3 else 3]:
            line = f"- {md(upper_first(ctx.title(item)))}"
            if level == 0 and ctx.guideline(item):
                line += f" ({md(ctx.guideline(item))})"
            lines.append(line)
        plan = f"**{words['plan']}**\n\n" + "\n".join(lines) if lines else ""
        return [why_sentence(ctx, profile, with_reasons=level < 2), baseline_line(ctx, tl), latest_line(ctx, tl),
                plan, due_line(ctx)]

    detail = fit(build, PROFILE_LIMIT, 4)
    careplan = ctx.result.careplan
    suggestion = {"key": "careplan", "label": words["label"], "isRecommended": True,
                  "actions": [{"type": "create",
                               "description": f"{words['action']}: {careplan.get('title') or ctx.display(profile)}",
                               "resource": careplan}]}  # as $apply made it: no empties (careplan.py)
    return ctx.card(profile, profile, "info", profile_summary(ctx, profile), detail, [suggestion],
                    ctx.links([], ctx.plan.id))
