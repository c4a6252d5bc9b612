"""§4 Course [A.3, B.1, Bijlage 1 §1].

| condition | `course` |
|---|---|
| recurrent present | abnormal |
| days-since-onset > 42 | abnormal |
| course-trend = trend-decreasing | normal |
| course-trend = trend-unchanged or trend-increasing | abnormal |
| an instrument (NPRS, PSK) has ≥ 2 measurements on/after onset whose first and last are ≥ 7 calendar days apart; first → last of each such instrument is *improved* (§8) | normal |
| same, change not improved | abnormal |
| otherwise | undetermined |

v2: when both a course-trend answer and a measured course (rows 5–6) exist,
the one from the later source wins (the measured course's source is its last
measurement; on equal instants an Observation wins, and within one intake the
trend answer).

With the onset unknown the row needing days-since-onset does not apply and
all measurements count. The course is judged on the trend so far:
unchanged or increasing pain in the first weeks already counts as abnormal;
the 2-point rule of B.3 is also used for a measured course
(operationalisations of the DAK).
"""

from __future__ import annotations

from service.facts.model import Fact, Facts, Feature, Measurement
from service.rules.common import evidence, feature, fmt_day, paren, when
from service.rules.measurement import IMPROVED, change, describe
from service.rules.onset import INSTRUMENTS, Timeline

CODE = "course"
SIX_WEEKS = 42        # A.3: "de eerste zes weken"; > 42 days is abnormal
MEASURED_SPAN = 7     # days between the first and last measurement of a measured course


def rule(row: int) -> str:
    return f"decision-logic §4 row {row} [A.3, B.1]"


def measured_course(facts: Facts, tl: Timeline) -> dict[str, tuple[Measurement, Measurement]]:
    """Per instrument with ≥ 2 measurements on/after onset, first and last ≥ 7 days apart: (first, last)."""
    pairs = {}
    for instrument in INSTRUMENTS:
        series = [m for m in facts.measurements.get(instrument, ())
                  if tl.onset is None or m.source.day >= tl.onset]
        if len(series) < 2:
            continue
        first = series[0]
        last = max(series, key=lambda m: (m.source.instant, m.source.kind == "observation"))
        if (last.source.day - first.source.day).days >= MEASURED_SPAN:
            pairs[instrument] = (first, last)
    return pairs


def measured_is_later(trend: Fact, pairs: dict[str, tuple[Measurement, Measurement]]) -> bool:
    """§4 (v2): the later source wins; the measured course's source is its last measurement. On
    equal instants an Observation wins; within one intake the clinician's trend answer wins."""
    last = max((b for _, b in pairs.values()), key=lambda m: (m.source.instant, m.source.kind == "observation"))
    if trend.source.instant is None:
        return True
    if last.source.instant != trend.source.instant:
        return last.source.instant > trend.source.instant
    return last.source.kind == "observation" and last.source.reference != trend.source.reference


def classify(facts: Facts, tl: Timeline) -> Feature:
    recurrent = facts.fact("recurrent")
    # §4 row 1 [A.3]: recurrent neck pain
    if recurrent is not None and recurrent.value is True:
        nl = f"Afwijkend beloop: recidiverende nekpijn{paren(recurrent, 'nl')}."
        en = f"Abnormal course: recurrent neck pain{paren(recurrent, 'en')}."
        return feature(CODE, "abnormal", rule(1), nl, en, evidence(recurrent))

    days = tl.days_since_onset
    # §4 row 2 [A.3]: longer than six weeks
    if days is not None and days > SIX_WEEKS:
        ev = evidence(tl.onset_evidence)
        source_nl = "".join(f", volgens {w}" for w in [when(ev, "nl")] if w)
        source_en = "".join(f", according to {w}" for w in [when(ev, "en")] if w)
        nl = (f"Afwijkend beloop: de nekpijn bestaat {days} dagen, langer dan zes weken "
              f"(ontstaan {fmt_day(tl.onset, 'nl')}{source_nl}).")
        en = (f"Abnormal course: the neck pain has lasted {days} days, longer than six weeks "
              f"(onset {fmt_day(tl.onset, 'en')}{source_en}).")
        return feature(CODE, "abnormal", rule(2), nl, en, ev)

    trend = facts.fact("course-trend")
    pairs = measured_course(facts, tl)
    if trend is not None and pairs and measured_is_later(trend, pairs):
        trend = None  # v2: the measured course (rows 5–6) comes from a later source and wins
    since_nl = f"{days} dagen sinds ontstaan" if days is not None else ""
    since_en = f"{days} days since onset" if days is not None else ""
    # §4 row 3 [A.3]: decreasing within the first six weeks
    if trend is not None and trend.value == "trend-decreasing":
        ev = evidence(trend, tl.onset_evidence)
        nl = f"Normaal beloop: pijn en/of beperkingen nemen af in de eerste zes weken{paren(trend, 'nl', since_nl)}."
        en = f"Normal course: pain and/or limitations decrease within the first six weeks{paren(trend, 'en', since_en)}."
        return feature(CODE, "normal", rule(3), nl, en, ev)
    # §4 row 4 [A.3]: unchanged or increasing (judged on the trend so far)
    if trend is not None and trend.value in ("trend-unchanged", "trend-increasing"):
        ev = evidence(trend, tl.onset_evidence)
        how_nl = "blijven onveranderd" if trend.value == "trend-unchanged" else "nemen toe"
        how_en = "remain unchanged" if trend.value == "trend-unchanged" else "increase"
        nl = (f"Afwijkend beloop: pijn en beperkingen {how_nl}{paren(trend, 'nl', since_nl)}; "
              f"in de eerste zes weken telt dat al als afwijkend.")
        en = (f"Abnormal course: pain and limitations {how_en}{paren(trend, 'en', since_en)}; "
              f"within the first six weeks this already counts as abnormal.")
        return feature(CODE, "abnormal", rule(4), nl, en, ev)

    if pairs:
        value = change({i: (a.value, b.value) for i, (a, b) in pairs.items()})
        ev = evidence([m for pair in pairs.values() for m in pair], tl.onset_evidence)
        first = min(a.source.day for a, _ in pairs.values())
        last = max(b.source.day for _, b in pairs.values())
        span_nl = f"tussen {fmt_day(first, 'nl')} en {fmt_day(last, 'nl')}"
        span_en = f"between {fmt_day(first, 'en')} and {fmt_day(last, 'en')}"
        # §4 row 5 [B.3]: measured improvement
        if value == IMPROVED:
            nl = (f"Normaal beloop volgens de metingen: {describe(pairs, 'nl')} {span_nl}, "
                  f"een verbetering van ten minste 2 punten (B.3).")
            en = (f"Normal course according to the measurements: {describe(pairs, 'en')} {span_en}, "
                  f"an improvement of at least 2 points (B.3).")
            return feature(CODE, "normal", rule(5), nl, en, ev)
        # §4 row 6 [B.3]: measured, not improved
        nl = (f"Afwijkend beloop volgens de metingen: {describe(pairs, 'nl')} {span_nl}, "
              f"geen verbetering van ten minste 2 punten (B.3).")
        en = (f"Abnormal course according to the measurements: {describe(pairs, 'en')} {span_en}, "
              f"no improvement of at least 2 points (B.3).")
        return feature(CODE, "abnormal", rule(6), nl, en, ev)

    # §4 row 7: otherwise
    nl = ("Beloop nog niet te bepalen: geen antwoord over het beloop en geen NPRS- of PSK-metingen die "
          "ten minste 7 dagen uit elkaar liggen")
    en = ("Course not yet determined: no answer on the course and no NPRS or PSK measurements at least "
          "7 days apart")
    if tl.onset is None:
        nl += "; de datum van ontstaan is onbekend"
        en += "; the date of onset is unknown"
    nl += ". Vraag het beloop uit."
    en += ". Ask about the course."
    return feature(CODE, "undetermined", rule(7), nl, en, evidence(tl.onset_evidence))
