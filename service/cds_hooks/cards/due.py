"""The next due moment of the plan (outputs.md v2, profile card): "Evaluatie met NPRS en PSK:
14 jan 2027 (week 6)", from the RequestGroup actions' timingDateTime (recommendations.yaml
`due`). The earliest due moment today or later; none when all lie in the past (dak/README.md
interpretations: "the next due moment")."""

from __future__ import annotations

from datetime import date

from service.cds_hooks.cards.context import CardContext, Item
from service.cds_hooks.cards.wording import md, short_date

WORDS = {
    "nl": {"evaluate": "Evaluatie met NPRS en PSK", "measure": "Meting NPRS en PSK", "week": "week {n}",
           "today": "vandaag"},
    "en": {"evaluate": "Evaluation with NPRS and PSK", "measure": "NPRS and PSK measurement", "week": "week {n}",
           "today": "today"},
}
LABELS = {"rec-evaluate-end": "evaluate", "rec-evaluate-nprs-psk": "evaluate", "rec-measure-week-4": "measure"}


def next_due(ctx: CardContext) -> Item | None:
    today = ctx.today
    dated = [(day, i) for i in ctx.leaves() if (day := i.due) is not None and day >= today]  # each due read once
    return min(dated, key=lambda d: d[0])[1] if dated else None


def week_of(ctx: CardContext, day: date) -> int | None:
    start = ctx.derived("treatment-start")
    if not isinstance(start, date) or day <= start:
        return None
    return (day - start).days // 7


def due_text(ctx: CardContext, item: Item) -> str:
    """"14 jan 2027 (week 6)" / "vandaag (7 dec 2026)"."""
    words = WORDS[ctx.lang]
    day = short_date(item.due, ctx.lang)
    if item.due == ctx.today:
        return f"{words['today']} ({day})"
    week = week_of(ctx, item.due)
    return f"{day} ({words['week'].format(n=week)})" if week else day


def due_line(ctx: CardContext) -> str:
    item = next_due(ctx)
    if item is None:
        return ""
    words = WORDS[ctx.lang]
    label = words[LABELS[item.code]] if item.code in LABELS else ctx.title(item)
    return f"{md(label)}: {due_text(ctx, item)}."
