"""The facts of one evaluation (decision-logic §0) and the case features (§1–§8).

Layer 2 of the service: FHIR input → facts → case features. These types are
the interface between gathering (service/facts/gather.py), the decision
tables (service/rules/) and the $apply engine (service/apply/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Literal, Union
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

Value = Union[bool, str, int, float, date]


class _computed_once:
    """functools.cached_property without its lock (Python 3.11 takes an RLock on every first
    access, ~1 µs; measured 1.8 % of a hook call for Source.day): the value is computed on
    first access and kept in the instance's __dict__, where later lookups find it directly.
    The computation is pure, so two threads computing it at once store the same value."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.fn(instance)
        return value


@dataclass(frozen=True)
class Source:
    """Where a fact comes from: a FHIR resource (or a derivation) and when.

    `instant` is timezone-aware (QuestionnaireResponse.authored,
    Observation.effective[x] / issued, Condition.onsetDateTime); it decides
    which of two sources is *later*. `day` is its calendar date in
    Europe/Amsterdam; day counts compare days.
    """

    reference: str  # "QuestionnaireResponse/x", "Observation/y", "Patient/p", "Condition/c"; "" when derived
    instant: datetime | None
    kind: Literal["answer", "observation", "patient", "condition", "derived"] = "answer"

    @_computed_once  # asked ~300 times per evaluation (episode rules, timelines); frozen, so computed once
    def day(self) -> date | None:
        return self.instant.astimezone(AMSTERDAM).date() if self.instant else None

    @_computed_once  # the sort key of "later" (gather.py): every answer of an intake shares its Source
    def timestamp(self) -> float:
        """POSIX seconds of `instant`; minus infinity without one (undated sorts first)."""
        return self.instant.timestamp() if self.instant is not None else float("-inf")


@dataclass(frozen=True)
class Fact:
    """The value of one data element (code = the data-dictionary code).

    Values: booleans for yes/no elements; the local answer code (str) for
    choice elements; "positive" / "negative" for clinical tests; int / float
    for numbers; date for dates; str for free text.
    """

    code: str
    value: Value
    source: Source
    derived_from: tuple[Source, ...] = ()  # for derived facts: the sources of the derivation
    rule: str | None = None                # for derived facts: the rule, e.g. "§0: cervical rotation < 60°"


@dataclass(frozen=True)
class Note:
    """Why a resource (or part of it) was not used: shown with the evidence."""

    reference: str  # "Observation/x"
    en: str
    nl: str

    def text(self, lang: str) -> str:
        return f"{self.reference}: {self.nl if lang == 'nl' else self.en}"

    def __contains__(self, fragment: str) -> bool:
        return fragment in self.en

    def __str__(self) -> str:
        return self.text("en")


@dataclass(frozen=True)
class Measurement:
    """One NPRS or PSK measurement (an Observation or an intake answer)."""

    instrument: Literal["nprs", "psk"]
    value: float
    source: Source


@dataclass
class Facts:
    """Everything the decision tables read, after §0 gathering."""

    subject: str                    # "Patient/<id>"
    today: date                     # evaluation day, Europe/Amsterdam
    birth_date: date | None = None
    answers: dict[str, Fact] = field(default_factory=dict)  # winning fact per element code (incl. derived flags)
    measurements: dict[str, list[Measurement]] = field(default_factory=dict)  # "nprs"/"psk", sorted by instant
    # the QuestionnaireResponses read (intake; for the self-check: its responses), sorted by authored
    intakes: list[Source] = field(default_factory=list)
    conditions: list[Source] = field(default_factory=list)  # neck-pain Conditions (instant = onset)
    ignored: list[Note] = field(default_factory=list)  # what was not used and why (shown with the evidence)
    # decision-logic §0 (v2): the onsets of the episodes found (oldest first; the last is the
    # current episode's), and per flag present its onset day (§1: the earliest source in which it
    # is present with no later source in which it is absent; None: no dated source)
    episode_onsets: tuple[date, ...] = ()
    flag_onsets: dict[str, date | None] = field(default_factory=dict)

    def fact(self, code: str) -> Fact | None:
        return self.answers.get(code)

    def value(self, code: str) -> Value | None:
        fact = self.answers.get(code)
        return None if fact is None else fact.value

    def present(self, code: str) -> bool:
        """Answered true / Observation valueBoolean true."""
        return self.value(code) is True

    def answered(self, code: str) -> bool:
        return code in self.answers


@dataclass(frozen=True)
class Feature:
    """One inferred case feature (outputs.md), with its evidence.

    `value` is a local code (str) or, for psychosocial-dominant, a bool.
    `rule` names the decision-table row (e.g. "decision-logic §3 row 5");
    `explanation` is the human-readable note ({"nl": ..., "en": ...}) saying
    which rule applied to which evidence; `evidence` becomes derivedFrom.
    """

    code: str
    value: str | bool
    rule: str
    explanation: dict[str, str]
    evidence: tuple[Source, ...] = ()
    status: Literal["final", "preliminary"] = "final"
    # serious-pathology only: (pathology code, (flag codes present ...)) per pathology
    components: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass
class CaseResult:
    """The outcome of the decision tables for one evaluation."""

    facts: Facts
    features: list[Feature]  # in the order of outputs.md; `subgroup` once per applicable value
    # derived numbers and flags for the PlanDefinition conditions (docs/case-parameters.md):
    # age, days-since-onset, days-since-treatment-start, baseline-nprs, baseline-psk,
    # follow-up-measured, neck-pain-episode — absent keys mean "unknown"
    derived: dict[str, int | float | bool] = field(default_factory=dict)

    def feature(self, code: str) -> Feature | None:
        return next((f for f in self.features if f.code == code), None)

    def values(self, code: str) -> list[str | bool]:
        return [f.value for f in self.features if f.code == code]
