"""§9 row 1 [C.2 Afsluiting, tabel 2]: the derived red flag `rf-no-improvement-4w`.

| condition | result |
|---|---|
| days since treatment-start ≥ 28, the latest follow-up is dated ≥ 28 days after treatment-start, and treatment-effect is unchanged or worsened | derived red flag `rf-no-improvement-4w` (malignancy) → §1 |

The flag arises on treatment-start + 28 days (its Source instant is 00:00
Europe/Amsterdam on that day), so a pattern-assessment answered before that
day does not cover it (§1). When derived, it replaces an answered value.
"Latest follow-up" = the latest follow-up measurement of the instruments
that count in the treatment effect.

The other §9 rows (prompts, referrals) are PlanDefinition conditions.
"""

from __future__ import annotations

from datetime import timedelta

from service.facts.gather import day_start
from service.facts.model import Fact, Feature, Source
from service.rules.measurement import UNCHANGED, WORSENED
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
    arises = start_day + timedelta(days=FOUR_WEEKS)
    baselines = tuple(tl.baseline[m.instrument].source for m in latest)
    return Fact(
        code=CODE,
        value=True,
        source=Source("", day_start(arises), "derived"),
        derived_from=(start, *baselines, *(m.source for m in latest)),
        rule="decision-logic §9 row 1: no improvement (treatment-effect "
             f"{effect.value}) four weeks after treatment-start",
    )
