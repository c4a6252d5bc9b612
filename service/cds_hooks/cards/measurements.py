"""NPRS / PSK on a card (outputs.md v2, profile card): "Nulmeting: NPRS 7 (3 dec 2026), PSK 6,0"
and the latest follow-up with the change (decision-logic §8, the 2-point rule [B.3])."""

from __future__ import annotations

from service.cds_hooks.cards.context import CardContext
from service.cds_hooks.cards.wording import md, number, short_date, signed
from service.facts.model import Measurement
from service.rules.measurement import difference
from service.rules.onset import INSTRUMENTS, Timeline, timeline

NAMES = {"nprs": "NPRS", "psk": "PSK"}
DECIMALS = {"nprs": None, "psk": 1}

WORDS = {
    "nl": {"baseline": "Nulmeting", "latest": "Laatste meting", "none": "nog niet vastgelegd"},
    "en": {"baseline": "Baseline", "latest": "Latest measurement", "none": "not yet recorded"},
}


def episode_timeline(ctx: CardContext) -> Timeline:
    return timeline(ctx.case.facts)


def _values(ctx: CardContext, measured: dict[str, Measurement]) -> str:
    """"NPRS 7 (3 dec 2026), PSK 6,0": a date after the first value and after a value of another day."""
    parts, last_day = [], None
    for instrument in INSTRUMENTS:
        m = measured.get(instrument)
        if m is None:
            continue
        text = f"{NAMES[instrument]} {number(m.value, DECIMALS[instrument], ctx.lang)}"
        if m.source.day != last_day:
            text += f" ({short_date(m.source.day, ctx.lang)})"
            last_day = m.source.day
        parts.append(text)
    return ", ".join(parts)


def baseline_line(ctx: CardContext, tl: Timeline) -> str:
    words = WORDS[ctx.lang]
    return f"{words['baseline']}: {md(_values(ctx, dict(tl.baseline)) or words['none'])}."


def latest_line(ctx: CardContext, tl: Timeline) -> str:
    """"Laatste meting (30 nov 2026): NPRS 4 (−3,0), PSK 4,5 (−1,5), verbeterd." ('' without a follow-up)."""
    latest = {i: m for i in INSTRUMENTS if (m := tl.latest_follow_up(i)) is not None}
    if not latest:
        return ""
    day = max(m.source.day for m in latest.values())
    parts = [f"{NAMES[i]} {number(m.value, DECIMALS[i], ctx.lang)} "
             f"({signed(float(difference(tl.baseline[i].value, m.value)), ctx.lang)})" for i, m in latest.items()]
    text = f"{WORDS[ctx.lang]['latest']} ({short_date(day, ctx.lang)}): {', '.join(parts)}"
    effect = ctx.feature_value("treatment-effect")
    if effect:
        text += f", {ctx.display(str(effect)).lower()}"
    return md(text) + "."


def change_phrase(ctx: CardContext, tl: Timeline) -> str:
    """"NPRS 7 → 6, PSK 6,0 → 5,5" from the baseline to the latest follow-up ('' without one)."""
    parts = []
    for instrument in INSTRUMENTS:
        last = tl.latest_follow_up(instrument)
        if last is None:
            continue
        first = tl.baseline[instrument]
        parts.append(f"{NAMES[instrument]} {number(first.value, DECIMALS[instrument], ctx.lang)} → "
                     f"{number(last.value, DECIMALS[instrument], ctx.lang)}")
    return ", ".join(parts)
