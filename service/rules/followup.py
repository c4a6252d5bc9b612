"""§9 row 1 [C.2 Afsluiting, tabel 2]: the derived red flag `rf-no-improvement-4w`.

| condition | result |
|---|---|
| days since treatment-start ≥ 28, the latest follow-up is dated ≥ 28 days after treatment-start, and treatment-effect is unchanged or worsened | derived red flag `rf-no-improvement-4w` (malignancy) → §1 |

v2: the flag's onset day is the earliest follow-up day D ≥ treatment-start +
28 such that the treatment effect (§8) up to D, and up to every later
follow-up day, is unchanged or worsened (its Source instant is 00:00
Europe/Amsterdam on D), so a pattern-assessment answered before D does not
cover it (§1). When derived, it replaces an answered value.
"Latest follow-up" = the latest follow-up measurement of the instruments
that count in the treatment effect.

The other §9 rows (prompts, referrals) are PlanDefinition conditions.
"""

from __future__ import annotations

from datetime import date, timedelta

from service.facts.gather import day_start
from service.facts.model import Fact, Feature, Source
from service.rules.measurement import UNCHANGED, WORSENED, change
from service.rules.onset import INSTRUMENTS, Timeline

FOUR_WEEKS = 28  # tabel 2: "geen verbetering van klachten na behandeling van vier weken"
CODE = "rf-no-improvement-4w"


def no_improvement_flag(tl: Timeline, effect: Feature | None) -> Fact | None:
    """§9 row 1: the derived flag, or None when the row does not apply."""
    start = tl.treatment_start
    if start is None or tl.days_since_treatment_start is None:  # no §9 rule without treatment-start
        return None
    if tl.days_since_treatment_start < FOUR_WEEKS:
        return None
    if effect is None or effect.value not in (UNCHANGED, WORSENED):
        return None
    latest = [tl.latest_follow_up(i) for i in INSTRUMENTS]
    latest = [m for m in latest if m is not None]
    start_day = start.day
    if (max(m.source.day for m in latest) - start_day).days < FOUR_WEEKS:
        return None
    arises = onset_day(tl, start_day + timedelta(days=FOUR_WEEKS))
    baselines = tuple(tl.baseline[m.instrument].source for m in latest)
    return Fact(
        code=CODE,
        value=True,
        source=Source("", day_start(arises), "derived"),
        derived_from=(start, *baselines, *(m.source for m in latest)),
        rule="decision-logic §9 row 1: no improvement (treatment-effect "
             f"{effect.value}) four weeks after treatment-start",
    )


def effect_up_to(tl: Timeline, day: date) -> str | None:
    """§8 change baseline → the latest follow-up measured on or before `day`."""
    pairs = {}
    for instrument in INSTRUMENTS:
        upto = [m for m in tl.follow_ups.get(instrument, ()) if m.source.day <= day]
        if upto:
            last = max(upto, key=lambda m: (m.source.instant, m.source.kind == "observation"))
            pairs[instrument] = (tl.baseline[instrument].value, last.value)
    return change(pairs)


def onset_day(tl: Timeline, four_weeks: date) -> date:
    """§1 (v2): the earliest follow-up day D >= treatment-start + 28 such that the effect up to
    D, and up to every later follow-up day, is unchanged or worsened."""
    days = sorted({m.source.day for i in INSTRUMENTS for m in tl.follow_ups.get(i, ())
                   if m.source.day >= four_weeks})
    onset = days[-1]
    for day in reversed(days):
        if effect_up_to(tl, day) in (UNCHANGED, WORSENED):
            onset = day
        else:
            break
    return onset
