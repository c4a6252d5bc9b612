"""§8 Measurement [B.3, C.5]: the 2-point change rule and the case feature `treatment-effect`.

* Change between two measurements (per instrument: later − earlier), the
  difference rounded to one decimal (4.1 → 2.1 is a drop of 2.0):
  *improved* when NPRS or PSK dropped by ≥ 2 and neither rose by ≥ 2;
  *worsened* when NPRS or PSK rose by ≥ 2 and neither dropped by ≥ 2;
  otherwise *unchanged*. An instrument without both values does not count.
* `treatment-effect` = the change baseline → latest follow-up; only when at
  least one follow-up measurement exists.

The difference is computed in decimal arithmetic on the recorded values and
rounded half away from zero (choice: 1.95 counts as 2.0; binary floating
point would give 1.9 or 2.0 depending on the values).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Mapping

from service.facts.model import Feature, Measurement
from service.rules.common import evidence, feature, fmt_day, fmt_num, fmt_signed, listing
from service.rules.onset import INSTRUMENTS, Timeline

THRESHOLD = Decimal(2)  # B.3: "ten minste 2 punten verschil"
TENTH = Decimal("0.1")
NAMES = {"nprs": "NPRS", "psk": "PSK"}

IMPROVED, UNCHANGED, WORSENED = "improved", "unchanged", "worsened"


def difference(earlier: float, later: float) -> Decimal:
    """later − earlier, rounded to one decimal (exact decimal arithmetic on the recorded values)."""
    return (Decimal(repr(float(later))) - Decimal(repr(float(earlier)))).quantize(TENTH, ROUND_HALF_UP)


def change(pairs: Mapping[str, tuple[float, float]]) -> str | None:
    """§8: the change over (earlier, later) per instrument; None when no instrument has both."""
    if not pairs:
        return None
    diffs = [difference(earlier, later) for earlier, later in pairs.values()]
    dropped = any(d <= -THRESHOLD for d in diffs)
    rose = any(d >= THRESHOLD for d in diffs)
    if dropped and not rose:
        return IMPROVED
    if rose and not dropped:
        return WORSENED
    return UNCHANGED


def describe(pairs: Mapping[str, tuple[Measurement, Measurement]], lang: str) -> str:
    """"NPRS 7 → 4 (−3,0) en PSK 6,0 → 5,0 (−1,0)"."""
    parts = []
    for instrument, (first, last) in pairs.items():
        decimals = None if instrument == "nprs" else 1
        diff = float(difference(first.value, last.value))
        parts.append(f"{NAMES[instrument]} {fmt_num(first.value, lang, decimals)} → "
                     f"{fmt_num(last.value, lang, decimals)} ({fmt_signed(diff, lang)})")
    return listing(parts, lang)


WORDS = {
    IMPROVED: ("Verbeterd", "Improved"),
    UNCHANGED: ("Onveranderd", "Unchanged"),
    WORSENED: ("Verslechterd", "Worsened"),
}


def treatment_effect(tl: Timeline) -> Feature | None:
    """§8 case feature `treatment-effect`: baseline → latest follow-up (None without a follow-up)."""
    pairs: dict[str, tuple[Measurement, Measurement]] = {}
    for instrument in INSTRUMENTS:
        last = tl.latest_follow_up(instrument)
        if last is not None:
            pairs[instrument] = (tl.baseline[instrument], last)
    if not pairs:
        return None
    value = change({i: (a.value, b.value) for i, (a, b) in pairs.items()})
    first_day = min(a.source.day for a, _ in pairs.values())
    last_day = max(b.source.day for _, b in pairs.values())
    missing = [NAMES[i] for i in INSTRUMENTS if i not in pairs]
    nl_word, en_word = WORDS[value]
    nl = (f"{nl_word}: {describe(pairs, 'nl')} tussen de nulmeting van {fmt_day(first_day, 'nl')} "
          f"en de vervolgmeting van {fmt_day(last_day, 'nl')}; een verschil telt vanaf 2 punten (B.3).")
    en = (f"{en_word}: {describe(pairs, 'en')} between the baseline of {fmt_day(first_day, 'en')} "
          f"and the follow-up of {fmt_day(last_day, 'en')}; a change counts from 2 points (B.3).")
    if missing:
        nl += f" {listing(missing, 'nl')} zonder vervolgmeting telt niet mee."
        en += f" {listing(missing, 'en')} without a follow-up does not count."
    return feature("treatment-effect", value, "decision-logic §8 [B.3, C.5]", nl, en,
                   evidence([m for pair in pairs.values() for m in pair]))
