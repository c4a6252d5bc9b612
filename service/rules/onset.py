"""The episode's time line (decision-logic §0.2; data dictionary `context`).

* onset: the `onset-date` answer, or, when it is missing, the onset of the
  neck-pain Condition (the most recent onset when there are several: the
  current episode);
* days-since-onset = today − onset (calendar days, Europe/Amsterdam);
* treatment-start: the earliest intake QuestionnaireResponse authored on or
  after the onset day; v2: without an intake in the episode, the earliest
  NPRS / PSK Observation of the episode; with neither there is no
  treatment-start. Choice where the DAK is open: with the onset unknown,
  the earliest dated intake is the treatment start;
* baseline per instrument (NPRS, PSK): the earliest measurement by instant
  whose day is on or after the treatment-start day (any measurement when
  there is no treatment-start). Days, not instants, are compared, so an
  NPRS taken at 09:30 on the intake day counts even when the intake was
  authored at 10:00. On equal instants the Observation comes first;
* follow-up: a measurement of the same instrument whose day is after the
  baseline's day; the latest follow-up is the most recent one by instant
  (on equal instants the Observation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Mapping

from service.facts.model import Facts, Measurement, Source

INSTRUMENTS = ("nprs", "psk")


@dataclass(frozen=True)
class Timeline:
    today: date
    onset: date | None = None
    onset_evidence: tuple[Source, ...] = ()
    days_since_onset: int | None = None
    treatment_start: Source | None = None
    days_since_treatment_start: int | None = None
    baseline: Mapping[str, Measurement] = field(default_factory=dict)
    follow_ups: Mapping[str, tuple[Measurement, ...]] = field(default_factory=dict)
    neck_pain_episode: bool = False

    @property
    def treatment_start_day(self) -> date | None:
        return self.treatment_start.day if self.treatment_start else None

    def latest_follow_up(self, instrument: str) -> Measurement | None:
        follow_ups = self.follow_ups.get(instrument, ())
        if not follow_ups:
            return None
        return max(follow_ups, key=lambda m: (m.source.instant, m.source.kind == "observation"))

    def latest(self, instrument: str) -> Measurement | None:
        """The most recent measurement of the episode (data dictionary `latest`)."""
        return self.latest_follow_up(instrument) or self.baseline.get(instrument)

    @property
    def follow_up_measured(self) -> bool:
        return any(self.follow_ups.get(i) for i in INSTRUMENTS)

    def day_after_start(self, days: int) -> date | None:
        start = self.treatment_start_day
        return start + timedelta(days=days) if start else None

    def follow_up_from(self, days: int) -> bool:
        """§9 (v2): a follow-up measurement dated on or after treatment-start + `days`."""
        day = self.day_after_start(days)
        return day is not None and any(m.source.day >= day for i in INSTRUMENTS for m in self.follow_ups.get(i, ()))


def onset_of(facts: Facts) -> tuple[date | None, tuple[Source, ...]]:
    """The onset day and where it comes from."""
    answer = facts.fact("onset-date")
    if answer is not None and isinstance(answer.value, date):
        return answer.value, (answer.source,)
    dated = [c for c in facts.conditions if c.instant is not None]
    if dated:
        condition = dated[-1]  # sorted by onset: the most recent onset is the current episode
        return condition.day, (condition,)
    return None, ()


def timeline(facts: Facts) -> Timeline:
    today = facts.today
    onset, onset_evidence = onset_of(facts)

    # treatment-start: the earliest intake on or after the onset day; v2: without an intake in
    # the episode, the earliest NPRS / PSK Observation of the episode (§0.2)
    start = next((s for s in facts.intakes
                  if s.instant is not None and (onset is None or s.day >= onset)), None)
    if start is None:
        observed = [m.source for i in INSTRUMENTS for m in facts.measurements.get(i, ())
                    if m.source.kind == "observation" and (onset is None or m.source.day >= onset)]
        start = min(observed, key=lambda s: (s.instant, s.reference)) if observed else None
    start_day = start.day if start else None

    baseline: dict[str, Measurement] = {}
    follow_ups: dict[str, tuple[Measurement, ...]] = {}
    for instrument in INSTRUMENTS:
        # measurements are sorted by instant, Observation first on equal instants
        candidates = [m for m in facts.measurements.get(instrument, ())
                      if start_day is None or m.source.day >= start_day]
        if not candidates:
            continue
        first = candidates[0]
        baseline[instrument] = first
        later = tuple(m for m in candidates if m.source.day > first.source.day)
        if later:
            follow_ups[instrument] = later

    return Timeline(
        today=today,
        onset=onset,
        onset_evidence=onset_evidence,
        days_since_onset=(today - onset).days if onset else None,
        treatment_start=start,
        days_since_treatment_start=(today - start_day).days if start_day else None,
        baseline=baseline,
        follow_ups=follow_ups,
        neck_pain_episode=bool(facts.intakes or facts.conditions),
    )
