"""Gathering the facts of one evaluation (decision-logic §0) from plain FHIR JSON.

`gather(resources, subject, today)` reads the patient's resources (already
structurally valid FHIR R4 dicts; no pydantic on this path) and returns the
`Facts` the decision tables read:

* the winning value per data element (`Facts.answers`): the latest answer per
  linkId over all intake QuestionnaireResponses (newest `authored` wins) and
  the latest Observation per element; an Observation later than the answer
  wins, and on equal instants the Observation wins (instants compared with
  their time zones);
* the derived facts of §0.2 that need no decision table: `rf-trauma-history`
  from `trauma-related`, `crs-limited-rotation` from a cervical-rotation
  Observation (competing like any Observation), and the age context flags
  `rf-age-over-50`, `rf-older-age` and `pf-older-age`;
* every NPRS / PSK measurement (Observations and the `nprs` / `psk` answers of
  every intake QuestionnaireResponse), sorted by instant;
* the intake QuestionnaireResponses and the neck-pain Conditions as Sources;
* `ignored`: what was not used and why (English).

The element codes, their data types and the codings that count as an
element (the data dictionary's `also` codes) come from the packaged
knowledge (CodeSystem `nekpijn` property `data-type`, Questionnaire
`nekpijn-intake` item.code): `load_element_codes()`, read once and cached.
The service never reads dak/ at run time.

Choices where the DAK is open (documented here, tested in
tests/test_rules_tables.py):

* Time of a source: QuestionnaireResponse.authored; Observation
  effectiveDateTime, effectivePeriod.start, effectiveInstant, else issued;
  Condition onsetDateTime, else onsetPeriod.start. A date without a time
  ("2026-06-15", or the partial "2026-06" / "2026") is read as 00:00
  Europe/Amsterdam on its (first) day; a time without a zone as Amsterdam
  time.
* A source without a usable time (no authored / effective / issued) still
  answers, but loses against every dated source; it cannot be a
  measurement (a measurement must be placed in time) nor the
  treatment start.
* Patient.birthDate must be a full date for the age: a partial birthDate
  ("1970", "1970-05") gives no age and no age flags (noted in `ignored`).
  The age flags are set true or false whenever the age is known.
* A partial `onset-date` answer ("2026-01") stands for the first day of its
  period.
* Subject references: exactly "Patient/<id>", optionally with
  "/_history/<v>" (a hook call's "<fhirServer>/Patient/<id>" is made relative
  before, service/cds_hooks/subjects.py; "x/Patient/<id>" or another server's
  URL is another subject). A resource without a subject is not read (it
  cannot be attributed to the patient).
* QuestionnaireResponses with status entered-in-error or stopped are not
  read; in-progress, completed and amended are.
* Conditions: SNOMED CT 81680005, 279029001, 54404000, 202776005 or 39848009;
  not read when verificationStatus is entered-in-error or refuted, or when
  clinicalStatus is inactive, remission or resolved (a past episode, whose
  onset must not stand in for the current one). A missing clinicalStatus
  counts as current.
* Clinical tests answered with another coding than SNOMED CT 10828004 /
  260385009, choice answers outside the local CodeSystem, and values of the
  wrong type for the element are not read (noted).
* NPRS / PSK values outside 0..10 are not read (noted).
* A PSK Observation without a value but with activity components counts
  with the mean of the components. A 4DKL Observation with only subscale
  components gets a string value listing them ("4dkl-distress=12; ...") so
  that the instrument counts as scored.
* A cervical-rotation Observation with one side missing is judged on the
  side measured (true when it is below 60 deg, false otherwise); without any
  side it is not read. Components in another unit than UCUM "deg" do not count.
* Two sources of the same kind with the same instant: the first one in the
  input wins (deterministic for a given input).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from service.facts.model import AMSTERDAM, Fact, Facts, Measurement, Note, Source

__all__ = [
    "ElementCodes",
    "NoDataError",
    "element_codes_from",
    "gather",
    "day_start",
    "load_element_codes",
    "parse_instant",
    "whole_years",
]

LOCAL_SYSTEM = "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn"
INTAKE_QUESTIONNAIRE = "https://nekpijn-cds.org/fhir/Questionnaire/nekpijn-intake"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ZIB_PAIN_METHOD = "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.9.1"  # zib PijnMeetmethode

#: The packaged knowledge (= service.knowledge.DEFAULT_DIR; not imported, to keep
#: this layer free of the fhir.resources import cost).
KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "fhir"

TEST_RESULTS = {"10828004": "positive", "260385009": "negative"}
PAIN_SCORE = (SNOMED, "225908003")
NECK_PAIN_CONDITIONS = frozenset({"81680005", "279029001", "54404000", "202776005", "39848009"})
USABLE_OBSERVATION_STATUS = frozenset({"final", "amended", "corrected"})
IGNORED_QR_STATUS = frozenset({"entered-in-error", "stopped"})
READ_INTAKE_STATUS = frozenset({"completed", "amended"})  # decision-logic §0 (v2)
PAST_CONDITION_STATUS = frozenset({"inactive", "remission", "resolved"})
INVALID_CONDITION_VERIFICATION = frozenset({"entered-in-error", "refuted"})
MEASURED = ("nprs", "psk")
MEASUREMENT_RANGE = (0.0, 10.0)
ROTATION_LIMIT_DEG = 60  # tabel 3: "rotatie < 60 graden"
AGE_OVER_50 = 50         # tabel 2 malignancy: "leeftijd > 50 jaar"
OLDER_AGE = 65           # operationalisation of "oudere leeftijd" (Canadian C-spine rule)
SAME_EPISODE_DAYS = 42   # A.3: "binnen zes weken na aanvang van de eerste klachten ... dezelfde nekpijnepisode"
RECURRENT_WINDOW = 365   # A.3: "meerdere recidieven binnen een jaar"
RECURRENT_ONSETS = 3     # §0 (v2): three episode onsets within a year make `recurrent`
FUTURE_TOLERANCE_DAYS = 1  # §0: more than one day in the future is not read


class NoDataError(LookupError):
    """Nothing usable about the subject: no Patient, no intake, no Observation or Condition."""

    def __init__(self, subject: str, ignored: Iterable[Note] = ()):
        self.subject = subject
        self.ignored = list(ignored)
        detail = f" ({'; '.join(map(str, self.ignored))})" if self.ignored else ""
        super().__init__(f"No usable data about {subject}{detail}")


# ---------------------------------------------------------------------------
# Element codes (from the packaged knowledge)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ElementCodes:
    """Lookup tables over the local CodeSystem and the intake Questionnaire.

    types:        element code -> data-dictionary type (boolean, date, integer,
                  decimal, string, choice, test, observation-only)
    codings:      (system, code) -> element code, for the local code and the
                  `also` codings of each element (LOINC NPRS / NDI, SNOMED red flags)
    groups:       element code -> data-dictionary group code
    red_flags:    clinical red flag (rf-* input item) -> its pathologies (tabel 2)
    context_flags: derived age flag -> its pathologies
    pathologies:  pathology codes in CodeSystem order
    psychosocial: prognostic factors with psychosocial: true (CodeSystem order)
    crs_kinds:    radicular item -> symptom / sign / follow-up
    test_roles:   clinical test -> inclusion / exclusion
    labels:       every code -> (nl, en)
    choices:      choice element -> its answer codes
    history:      red flags that describe the person, not the episode (read across
                  episodes, decision-logic §0 v2; CodeSystem property `history`)
    """

    types: Mapping[str, str]
    codings: Mapping[tuple[str, str], str]
    groups: Mapping[str, str] = field(default_factory=dict)
    red_flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    context_flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    pathologies: tuple[str, ...] = ()
    psychosocial: tuple[str, ...] = ()
    crs_kinds: Mapping[str, str] = field(default_factory=dict)
    test_roles: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    choices: Mapping[str, frozenset[str]] = field(default_factory=dict)
    history: frozenset[str] = frozenset()

    def label(self, code: str, lang: str = "nl") -> str:
        nl, en = self.labels.get(code, (code, code))
        return en if lang == "en" else nl


def _properties(concept: dict) -> dict[str, list[Any]]:
    props: dict[str, list[Any]] = {}
    for prop in concept.get("property", ()):
        value = next((v for k, v in prop.items() if k.startswith("value")), None)
        props.setdefault(prop["code"], []).append(value)
    return props


def element_codes_from(codesystem: dict, questionnaire: dict | None = None) -> ElementCodes:
    """Build the lookup tables from CodeSystem `nekpijn` and Questionnaire `nekpijn-intake`."""
    types: dict[str, str] = {}
    codings: dict[tuple[str, str], str] = {}
    groups: dict[str, str] = {}
    red_flags: dict[str, tuple[str, ...]] = {}
    context_flags: dict[str, tuple[str, ...]] = {}
    pathologies: list[str] = []
    psychosocial: list[str] = []
    crs_kinds: dict[str, str] = {}
    test_roles: dict[str, str] = {}
    labels: dict[str, tuple[str, str]] = {}
    choices: dict[str, frozenset[str]] = {}
    history: set[str] = set()

    def walk(concepts: list[dict], group: str | None, parent: str | None) -> None:
        for concept in concepts:
            code = concept["code"]
            en = next((d["value"] for d in concept.get("designation", ()) if d.get("language") == "en"),
                      concept.get("display", code))
            labels[code] = (concept.get("display", code), en)
            props = _properties(concept)
            if parent == "pathologies":
                pathologies.append(code)
            if "data-type" in props:
                types[code] = props["data-type"][0]
                codings[(LOCAL_SYSTEM, code)] = code
                if group:
                    groups[code] = group
                if "pathology" in props and group == "red-flags":
                    red_flags[code] = tuple(props["pathology"])
                if props.get("psychosocial") == [True]:
                    psychosocial.append(code)
                if props.get("history") == [True]:
                    history.add(code)
                if "crs-kind" in props:
                    crs_kinds[code] = props["crs-kind"][0]
                if "test-role" in props:
                    test_roles[code] = props["test-role"][0]
                if types[code] == "choice":
                    choices[code] = frozenset(c["code"] for c in concept.get("concept", ()))
            elif "pathology" in props:  # derived context flags (age)
                context_flags[code] = tuple(props["pathology"])
            walk(concept.get("concept", ()), group or code, code)

    walk(codesystem.get("concept", ()), None, None)

    def walk_items(items: list[dict]) -> None:
        for item in items:
            link_id = item.get("linkId")
            if link_id in types:
                for coding in item.get("code", ()):
                    system, code = coding.get("system"), coding.get("code")
                    if system and code and system != LOCAL_SYSTEM:
                        codings.setdefault((system, code), link_id)
            walk_items(item.get("item", ()))

    if questionnaire:
        walk_items(questionnaire.get("item", ()))
    # The data dictionary's Observation codes for NPRS and NDI (also in item.code).
    if "nprs" in types:
        codings.setdefault((LOINC, "72514-3"), "nprs")
    if "ndi" in types:
        codings.setdefault((LOINC, "82237-9"), "ndi")
    return ElementCodes(
        types=types, codings=codings, groups=groups, red_flags=red_flags,
        context_flags=context_flags, pathologies=tuple(pathologies),
        psychosocial=tuple(psychosocial), crs_kinds=crs_kinds, test_roles=test_roles,
        labels=labels, choices=choices, history=frozenset(history),
    )


@lru_cache(maxsize=4)
def load_element_codes(directory: str | Path | None = None) -> ElementCodes:
    """The lookup tables of the packaged knowledge (read once, cached)."""
    root = Path(directory) if directory is not None else KNOWLEDGE_DIR
    codesystem = json.loads((root / "CodeSystem-nekpijn.json").read_text(encoding="utf-8"))
    questionnaire_path = root / "Questionnaire-nekpijn-intake.json"
    questionnaire = (json.loads(questionnaire_path.read_text(encoding="utf-8"))
                     if questionnaire_path.is_file() else None)
    return element_codes_from(codesystem, questionnaire)


# ---------------------------------------------------------------------------
# Dates and instants
# ---------------------------------------------------------------------------


def _partial_date(text: str) -> tuple[date, bool] | None:
    """FHIR date (YYYY, YYYY-MM, YYYY-MM-DD) -> (first day, is a full date)."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text), True
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:7]), 1), False
        if len(text) == 4:
            return date(int(text), 1, 1), False
    except ValueError:
        return None
    return None


@lru_cache(maxsize=8192)
def parse_instant(text: str) -> datetime | None:
    """FHIR dateTime / instant -> aware datetime in Europe/Amsterdam (the same instant).

    Dates: 00:00 Amsterdam on the (first) day; a time without a zone: Amsterdam time.
    """
    if not isinstance(text, str):
        return None
    if len(text) <= 10:
        parsed = _partial_date(text)
        if parsed is None:
            return None
        day = parsed[0]
        return datetime(day.year, day.month, day.day, tzinfo=AMSTERDAM)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=AMSTERDAM)
    # The same instant, expressed in Amsterdam time: Source.day is then cheap.
    return moment.astimezone(AMSTERDAM)


def _day_of(text: str) -> date | None:
    """A date or dateTime value as a calendar date (dateTime: its Amsterdam day)."""
    if len(text) <= 10:
        parsed = _partial_date(text)
        return parsed[0] if parsed else None
    moment = parse_instant(text)
    return moment.astimezone(AMSTERDAM).date() if moment else None


def whole_years(birth: date, today: date) -> int:
    """Age in whole years on `today`."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _ts(source: Source) -> float:
    return source.timestamp


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _answer_value(kind: str, answer: dict) -> Any:
    """The value of a QuestionnaireResponse answer for an element of type `kind` (None: unusable)."""
    if kind == "boolean":
        value = answer.get("valueBoolean")
        return value if isinstance(value, bool) else None
    if kind in ("choice", "test"):
        coding = answer.get("valueCoding")
        return _coding_value(kind, coding) if isinstance(coding, dict) else None
    if kind == "integer":
        value = _number(answer.get("valueInteger"))
        if value is None:
            value = _number(answer.get("valueDecimal"))
        return value
    if kind == "decimal":
        value = _number(answer.get("valueDecimal"))
        if value is None:
            value = _number(answer.get("valueInteger"))
        return None if value is None else float(value)
    if kind == "date":
        text = answer.get("valueDate") or answer.get("valueDateTime")
        return _day_of(text) if isinstance(text, str) else None
    if kind == "string":
        value = answer.get("valueString")
        return value if isinstance(value, str) else None
    return None


def _coding_value(kind: str, coding: dict) -> str | None:
    system, code = coding.get("system"), coding.get("code")
    if not isinstance(code, str):
        return None
    if kind == "test":
        return TEST_RESULTS.get(code) if system == SNOMED else None
    return code if system in (LOCAL_SYSTEM, None) else None


def _observation_value(kind: str, code: str, obs: dict) -> Any:
    """The value of an Observation for an element of type `kind` (None: unusable)."""
    if kind == "boolean":
        value = obs.get("valueBoolean")
        return value if isinstance(value, bool) else None
    if kind in ("choice", "test"):
        concept = obs.get("valueCodeableConcept")
        if not isinstance(concept, dict):
            return None
        for coding in concept.get("coding") or ():
            value = _coding_value(kind, coding)
            if value is not None:
                return value
        return None
    if kind in ("integer", "decimal", "observation-only"):
        value = _number(obs.get("valueInteger"))
        if value is None:
            quantity = obs.get("valueQuantity")
            if isinstance(quantity, dict):
                value = _number(quantity.get("value"))
        if value is None and code == "psk":
            scores = [_number(c.get("valueInteger")) for c in obs.get("component") or ()]
            scores = [s for s in scores if s is not None]
            value = round(sum(scores) / len(scores), 1) if scores else None
        if value is None and kind == "observation-only":
            parts = []
            for component in obs.get("component") or ():
                score = _number(component.get("valueInteger"))
                if score is None and isinstance(component.get("valueQuantity"), dict):
                    score = _number(component["valueQuantity"].get("value"))
                sub = next((c.get("code") for c in (component.get("code") or {}).get("coding") or ()
                            if c.get("system") == LOCAL_SYSTEM), None)
                if score is not None and sub:
                    parts.append(f"{sub}={score}")
            return "; ".join(parts) or None
        if value is None:
            return None
        if kind == "decimal":
            return float(value)
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if kind == "date":
        text = obs.get("valueDateTime")
        if not isinstance(text, str):
            period = obs.get("valuePeriod")
            text = period.get("start") if isinstance(period, dict) else None
        return _day_of(text) if isinstance(text, str) else None
    if kind == "string":
        value = obs.get("valueString")
        return value if isinstance(value, str) else None
    return None


def _rotation_limited(obs: dict) -> bool | None:
    """crs-limited-rotation from a cervical-rotation Observation (None: no side measured)."""
    degrees = []
    for component in obs.get("component") or ():
        sides = [c.get("code") for c in (component.get("code") or {}).get("coding") or ()
                 if c.get("system") == LOCAL_SYSTEM]
        if not {"cervical-rotation-left", "cervical-rotation-right"} & set(sides):
            continue
        quantity = component.get("valueQuantity")
        if not isinstance(quantity, dict):
            continue
        value = _number(quantity.get("value"))
        unit = quantity.get("code")
        if value is None or (unit is not None and unit != "deg"):
            continue
        degrees.append(value)
    if not degrees:
        return None
    return any(d < ROTATION_LIMIT_DEG for d in degrees)


# ---------------------------------------------------------------------------
# Gathering
# ---------------------------------------------------------------------------


def _concept_codes(concept: Any) -> list[tuple[str | None, str | None]]:
    if not isinstance(concept, dict):
        return []
    return [(c.get("system"), c.get("code")) for c in concept.get("coding") or ()]


def _first_code(concept: Any, system: str) -> str | None:
    return next((code for sys, code in _concept_codes(concept) if sys == system), None)


class _Gatherer:
    """One gathering pass (kept small: all lookups are precomputed in ElementCodes)."""

    #: the Questionnaire whose responses are read (canonical URL, any version)
    questionnaire = INTAKE_QUESTIONNAIRE
    #: note on an answered linkId that `item_type` does not know (en, nl)
    unknown_item = ("is not a data element", "is geen gegevenselement")
    #: QuestionnaireResponse statuses read (decision-logic §0 v2: completed / amended intakes);
    #: None: every status but entered-in-error and stopped
    read_statuses: frozenset[str] | None = READ_INTAKE_STATUS
    #: decision-logic §0 (v2): only the current episode is read
    episodes = True

    def item_type(self, link_id: str) -> str | None:
        """The answer type of a linkId (boolean, integer, choice, ...), None when unknown."""
        return self.codes.types.get(link_id)

    def __init__(self, subject: str, today: date, codes: ElementCodes):
        if not subject.startswith("Patient/") or len(subject) <= len("Patient/"):
            raise ValueError(f"subject must be 'Patient/<id>', got {subject!r}")
        self.subject = subject
        self.patient_id = subject[len("Patient/"):]
        self.today = today
        self.codes = codes
        self.facts = Facts(subject=subject, today=today)
        # every usable value in input order: (code, fact, rank); rank 1 = Observation (wins on equal instants)
        self.candidates: list[tuple[str, Fact, int]] = []
        self.measurements: list[Measurement] = []
        self.usable = False
        self.seen: set[tuple[str, str]] = set()
        self.patient_source: Source | None = None

    # -- helpers ---------------------------------------------------------
    def note(self, reference: str, en: str, nl: str) -> None:
        self.facts.ignored.append(Note(reference, en, nl))

    def is_subject(self, reference: Any) -> bool:
        if not isinstance(reference, dict):
            return False
        ref = reference.get("reference")
        if not isinstance(ref, str):
            return False
        if "/_history/" in ref:
            ref = ref.split("/_history/", 1)[0]
        # exact (issue 14): `x/Patient/<id>` or another server's URL is another subject; a hook
        # call's `<fhirServer>/Patient/<id>` was made relative before (cds_hooks/subjects.py)
        return ref == self.subject

    def of_subject(self, resource: dict, name: str) -> bool:
        subject = resource.get("subject")
        if self.is_subject(subject):
            return True
        if subject is None:
            self.note(name, f"no subject, cannot be attributed to {self.subject}", f"geen subject; niet toe te wijzen aan {self.subject}")
        else:
            # neither the other patient nor their resource id goes into this patient's plan
            self.note(name.split("/")[0], "belongs to another patient", "hoort bij een andere patiënt")
        return False

    def offer(self, code: str, fact: Fact, rank: int) -> None:
        """A usable value; the winner per code is chosen in `result()` (after §0's episode)."""
        self.candidates.append((code, fact, rank))

    def plausible(self, code: str, kind: str, value: Any, name: str) -> bool:
        """Choice answers must be answer codes of the element; NPRS / PSK within 0..10."""
        if kind == "choice":
            allowed = self.codes.choices.get(code)
            if allowed and value not in allowed:
                self.note(name, f"{value!r} is not an answer code of {code}", f"{value!r} is geen antwoordcode van {code}")
                return False
        elif code in MEASURED and not MEASUREMENT_RANGE[0] <= value <= MEASUREMENT_RANGE[1]:
            self.note(name, f"{code} {value} outside 0..10", f"{code} {value} valt buiten 0..10")
            return False
        return True

    def measurement(self, code: str, value: Any, source: Source, name: str) -> None:
        if code not in MEASURED:
            return
        if source.instant is None:
            self.note(name, f"{code} without a date is not a measurement", f"{code} zonder datum telt niet als meting")
            return
        self.measurements.append(Measurement(code, float(value), source))  # type: ignore[arg-type]

    # -- resources -------------------------------------------------------
    def read(self, resource: dict) -> None:
        rtype = resource.get("resourceType")
        rid = resource.get("id", "")
        name = f"{rtype}/{rid}"
        if rid:
            if (rtype, rid) in self.seen:
                self.note(name, f"duplicate, read once", f"dubbel aangeleverd, één keer gelezen")
                return
            self.seen.add((rtype, rid))
        if rtype == "Observation":
            self.observation(resource, name)
        elif rtype == "QuestionnaireResponse":
            self.questionnaire_response(resource, name)
        elif rtype == "Patient":
            self.patient(resource, name)
        elif rtype == "Condition":
            self.condition(resource, name)

    def patient(self, resource: dict, name: str) -> None:
        if resource.get("id") != self.patient_id:
            self.note(name.split("/")[0], "another patient", "een andere patiënt")
            return
        if self.patient_source is not None:
            return
        self.usable = True
        self.patient_source = Source(name, None, "patient")
        birth = resource.get("birthDate")
        if not isinstance(birth, str):
            return
        parsed = _partial_date(birth)
        if parsed is None or not parsed[1]:
            self.note(name, f"birthDate {birth!r} is not a full date; age unknown", f"geboortedatum {birth!r} is geen volledige datum; leeftijd onbekend")
            return
        if parsed[0] > self.today:  # §0 (v2): a birthDate in the future is not read
            self.note(name, f"birthDate {birth!r} lies in the future; age unknown", f"geboortedatum {birth!r} ligt in de toekomst; leeftijd onbekend")
            return
        self.facts.birth_date = parsed[0]

    def condition(self, resource: dict, name: str) -> None:
        codes = {code for system, code in _concept_codes(resource.get("code")) if system == SNOMED}
        if not codes & NECK_PAIN_CONDITIONS:
            self.note(name, f"not a neck-pain Condition", f"geen nekpijn-diagnose")
            return
        if not self.of_subject(resource, name):
            return
        verification = _first_code(resource.get("verificationStatus"),
                                   "http://terminology.hl7.org/CodeSystem/condition-ver-status")
        if verification in INVALID_CONDITION_VERIFICATION:
            self.note(name, f"verificationStatus {verification}", f"verificatiestatus {verification}")
            return
        clinical = _first_code(resource.get("clinicalStatus"),
                               "http://terminology.hl7.org/CodeSystem/condition-clinical")
        if clinical in PAST_CONDITION_STATUS:
            self.note(name, f"clinicalStatus {clinical} (a past episode)", f"klinische status {clinical} (een eerdere episode)")
            return
        onset = resource.get("onsetDateTime")
        if not isinstance(onset, str):
            period = resource.get("onsetPeriod")
            onset = period.get("start") if isinstance(period, dict) else None
        instant = parse_instant(onset) if isinstance(onset, str) else None
        self.facts.conditions.append(Source(name, instant, "condition"))
        self.usable = True

    def questionnaire_response(self, resource: dict, name: str) -> None:
        canonical = resource.get("questionnaire")
        if not isinstance(canonical, str) or canonical.split("|", 1)[0] != self.questionnaire:
            self.note(name, f"not a response to {self.questionnaire}", f"geen antwoord op {self.questionnaire}")
            return
        status = resource.get("status")
        if status in IGNORED_QR_STATUS or (self.read_statuses is not None and status not in self.read_statuses):
            self.note(name, f"status {status} (only completed or amended responses are read)",
                      f"status {status} (alleen afgeronde of gewijzigde antwoorden tellen)")
            return
        if not self.of_subject(resource, name):
            return
        authored = resource.get("authored")
        instant = parse_instant(authored) if isinstance(authored, str) else None
        if instant is None:
            self.note(name, f"no usable authored date; its answers lose against every dated source", f"geen bruikbare datum (authored); de antwoorden wijken voor elke gedateerde bron")
        source = Source(name, instant, "answer")
        self.facts.intakes.append(source)
        self.usable = True
        found: dict[str, dict] = {}
        self._collect(resource.get("item") or (), found)
        for link_id, answer in found.items():
            kind = self.item_type(link_id)
            if kind is None:
                self.note(name, f"linkId {link_id!r} {self.unknown_item[0]}", f"linkId {link_id!r} {self.unknown_item[1]}")
                continue
            value = _answer_value(kind, answer)
            if value is None:
                self.note(name, f"answer to {link_id!r} is not a valid {kind} value", f"antwoord op {link_id!r} is geen geldige waarde ({kind})")
                continue
            if not self.plausible(link_id, kind, value, name):
                continue
            self.offer(link_id, Fact(link_id, value, source), 0)
            self.measurement(link_id, value, source, name)

    def _collect(self, items: Iterable[dict], found: dict[str, dict]) -> None:
        """linkId -> first answer, at any depth (item.item and answer.item)."""
        for item in items:
            answers = item.get("answer")
            if answers:
                link_id = item.get("linkId")
                if link_id not in found:
                    found[link_id] = answers[0]
                for answer in answers:
                    nested = answer.get("item")
                    if nested:
                        self._collect(nested, found)
            nested = item.get("item")
            if nested:
                self._collect(nested, found)

    def observation(self, resource: dict, name: str) -> None:
        category_codes = [code for category in resource.get("category") or ()
                          for system, code in _concept_codes(category) if system == LOCAL_SYSTEM]
        if "case-feature" in category_codes:
            self.note(name, f"a case feature inferred by this service, never read as input", f"een door deze service afgeleid kenmerk, wordt nooit als invoer gelezen")
            return
        status = resource.get("status")
        if status not in USABLE_OBSERVATION_STATUS:
            self.note(name, f"status {status} (only final, amended or corrected are read)", f"status {status} (alleen final, amended of corrected telt)")
            return
        element = self.element_of(resource)
        if element is None:
            self.note(name, f"code is not a data element", f"code is geen gegevenselement")
            return
        if not self.of_subject(resource, name):
            return
        text = resource.get("effectiveDateTime")
        if not isinstance(text, str):
            period = resource.get("effectivePeriod")
            text = period.get("start") if isinstance(period, dict) else None
        if not isinstance(text, str):
            text = resource.get("effectiveInstant") or resource.get("issued")
        instant = parse_instant(text) if isinstance(text, str) else None
        if instant is None:
            self.note(name, f"no usable effective time or issued; it loses against every dated source", f"geen bruikbaar tijdstip (effective/issued); wijkt voor elke gedateerde bron")
        source = Source(name, instant, "observation")
        if element == "cervical-rotation":
            limited = _rotation_limited(resource)
            if limited is None:
                self.note(name, f"cervical rotation without a left or right value in deg", f"cervicale rotatie zonder waarde links of rechts in graden")
                return
            fact = Fact("crs-limited-rotation", limited, source, (source,),
                        "§0: cervical-rotation Observation, left or right < 60 deg")
            self.offer("crs-limited-rotation", fact, 1)
            self.usable = True
            return
        kind = self.codes.types[element]
        value = _observation_value(kind, element, resource)
        if value is None:
            self.note(name, f"no usable {kind} value for {element}", f"geen bruikbare waarde ({kind}) voor {element}")
            return
        if not self.plausible(element, kind, value, name):
            return
        self.offer(element, Fact(element, value, source), 1)
        self.measurement(element, value, source, name)
        self.usable = True

    def element_of(self, resource: dict) -> str | None:
        codings = self.codes.codings
        pairs = _concept_codes(resource.get("code"))
        for pair in pairs:
            element = codings.get(pair)  # type: ignore[arg-type]
            if element is not None:
                return element
        if PAIN_SCORE in pairs:
            # Nictiz zib PainScore: an NPRS only when measured with the NRS method.
            if (ZIB_PAIN_METHOD, "NRS") in _concept_codes(resource.get("method")):
                return "nprs"
        return None

    # -- derived facts (§0.2) -------------------------------------------
    def derive(self) -> None:
        answers = self.facts.answers
        trauma = answers.get("trauma-related")
        current = answers.get("rf-trauma-history")
        if trauma is not None and trauma.value is True and (current is None or current.value is not True):
            answers["rf-trauma-history"] = Fact(
                "rf-trauma-history", True, Source("", trauma.source.instant, "derived"),
                (trauma.source,), "§0: rf-trauma-history is present when trauma-related is present")
        if trauma is not None and trauma.value is True:
            # §1 (v2 interpretation): the earlier of the two onset days
            onsets = self.facts.flag_onsets
            days = [d for d in (onsets.get("trauma-related"), onsets.get("rf-trauma-history")) if d is not None]
            if days or "trauma-related" in onsets:
                onsets["rf-trauma-history"] = min(days) if days else None
        birth = self.facts.birth_date
        if birth is not None and self.patient_source is not None:
            age = whole_years(birth, self.today)
            derived = Source("", None, "derived")
            origin = (self.patient_source,)
            answers["rf-age-over-50"] = Fact("rf-age-over-50", age > AGE_OVER_50, derived, origin,
                                             "§1 context: age in whole years > 50")
            older = age >= OLDER_AGE
            answers["rf-older-age"] = Fact("rf-older-age", older, derived, origin,
                                           "§1 context: age in whole years >= 65 (oudere leeftijd)")
            answers["pf-older-age"] = Fact("pf-older-age", older, derived, origin,
                                           "tabel 1: hogere leeftijd, age in whole years >= 65")

    def result(self) -> Facts:
        if not self.usable:
            raise NoDataError(self.subject, self.facts.ignored)
        episode = _Episode(self) if self.episodes else None
        current = [c for c in self.candidates if episode is None or episode.reads_candidate(c)]
        self.facts.answers = _winners(current)
        if episode is not None:
            episode.carry_history(self.facts.answers)
            self.measurements = [m for m in self.measurements if episode.reads(m.source)]
            self.facts.intakes = [s for s in self.facts.intakes if episode.reads(s)]
            self.facts.conditions = [s for s in self.facts.conditions if not episode.future(s)]
            self.facts.episode_onsets = episode.onsets
            self.facts.flag_onsets = episode.flag_onsets(self.facts.answers)
            episode.set_onset(self.facts.answers)
        self.derive()
        order = {"observation": 0, "answer": 1}
        self.measurements.sort(key=lambda m: (_ts(m.source), order.get(m.source.kind, 2), m.source.reference))
        for m in self.measurements:
            self.facts.measurements.setdefault(m.instrument, []).append(m)
        self.facts.intakes.sort(key=lambda s: (_ts(s), s.reference))
        self.facts.conditions.sort(key=lambda s: (_ts(s), s.reference))
        return self.facts


def _order(candidate: tuple[str, Fact, int]) -> tuple[float, int]:
    return (_ts(candidate[1].source), candidate[2])


def _winners(candidates: Iterable[tuple[str, Fact, int]]) -> dict[str, Fact]:
    """Latest source wins; on equal instants the Observation (rank 1) wins; else the first one."""
    best: dict[str, tuple[tuple[float, int], Fact]] = {}
    for candidate in candidates:
        key = _order(candidate)
        current = best.get(candidate[0])
        if current is None or key > current[0]:
            best[candidate[0]] = (key, candidate[1])
    return {code: entry[1] for code, entry in best.items()}


class _Episode:
    """decision-logic §0 item 0 (v2) [A.3]: the current episode, and what is read of it.

    * Onset answers are read unless later than their own intake or than today.
    * Episode onsets: the onset answers ordered by the onset dates themselves; an onset more
      than 42 days after the current episode's onset starts a new episode, others join it.
      The current onset: the last episode's, else the newest neck-pain Condition's onset.
    * Inputs dated before the current onset's day belong to an earlier episode and are not
      read, except history flags (`history: true`) answered present there when the current
      episode has no answer for them (the newest earlier-episode source decides).
    * Inputs dated more than one day after today are not read ("dated in the future").
      Choice: with only the evaluation day known, "more than one day" is read as a calendar
      day after tomorrow (tomorrow 00:05 is read, the day after is not).
    * `recurrent` is also present with three episode onsets within the 365 days up to the
      current onset.
    """

    def __init__(self, g: "_Gatherer"):
        self.g = g
        self.horizon = g.today + timedelta(days=FUTURE_TOLERANCE_DAYS)
        self.skip: set[int] = set()  # ids of onset answers not read
        onset_facts: list[Fact] = []
        for code, fact, _rank in g.candidates:
            if code != "onset-date" or fact.source.kind != "answer" or self.future(fact.source):
                continue
            value = fact.value
            own = fact.source.day
            if not isinstance(value, date) or value > g.today or (own is not None and value > own):
                self.skip.add(id(fact))
                g.note(fact.source.reference, f"onset-date {fmt_iso(value, 'en')} is later than its intake or today; not read",
                       f"ontstaansdatum {fmt_iso(value)} ligt na de eigen intake of na vandaag; niet gelezen")
                continue
            onset_facts.append(fact)
        onsets: list[date] = []
        for value in sorted({f.value for f in onset_facts}):  # type: ignore[type-var]
            if not onsets or (value - onsets[-1]).days > SAME_EPISODE_DAYS:
                onsets.append(value)
        self.onsets = tuple(onsets)
        self.onset_facts = onset_facts
        self.onset: date | None = onsets[-1] if onsets else None
        if self.onset is None:
            dated = [c for c in g.facts.conditions if c.instant is not None and not self.future(c)]
            if dated:
                self.onset = max(dated, key=lambda c: (_ts(c), c.reference)).day
        self._note_unread()

    # -- what is read ------------------------------------------------------
    def future(self, source: Source) -> bool:
        return source.instant is not None and source.day > self.horizon

    def earlier(self, source: Source) -> bool:
        return self.onset is not None and source.instant is not None and source.day < self.onset

    def reads(self, source: Source) -> bool:
        return not self.future(source) and not self.earlier(source)

    def reads_candidate(self, candidate: tuple[str, Fact, int]) -> bool:
        return id(candidate[1]) not in self.skip and self.reads(candidate[1].source)

    def _note_unread(self) -> None:
        g = self.g
        sources = [c[1].source for c in g.candidates] + [m.source for m in g.measurements] + list(g.facts.intakes)
        sources += g.facts.conditions
        done: set[str] = set()
        for source in sources:
            ref = source.reference
            if not ref or ref in done:
                continue
            if self.future(source):
                done.add(ref)
                g.note(ref, f"dated in the future ({fmt_iso(source.day, 'en')}); not read",
                       f"gedateerd in de toekomst ({fmt_iso(source.day)}); niet gelezen")
            elif source.kind != "condition" and self.earlier(source):
                done.add(ref)
                g.note(ref, f"belongs to an earlier episode (before the current onset {fmt_iso(self.onset, 'en')}); "
                            f"only its history red flags are read",
                       f"hoort bij een eerdere episode (vóór het huidige ontstaan {fmt_iso(self.onset)}); "
                       f"alleen de rode vlaggen uit de voorgeschiedenis tellen")

    # -- results -----------------------------------------------------------
    def carry_history(self, answers: dict[str, Fact]) -> None:
        """History flags answered present in an earlier episode, when this one has no answer."""
        for code in self.g.codes.history:
            if code in answers:
                continue
            earlier = [c for c in self.g.candidates if c[0] == code and not self.future(c[1].source)
                       and self.earlier(c[1].source)]
            winner = _winners(earlier).get(code)
            if winner is not None and winner.value is True:
                answers[code] = winner

    def flag_onsets(self, answers: dict[str, Fact]) -> dict[str, date | None]:
        """§1 (v2): per boolean element present, the day of the earliest source in which it is
        present with no later source in which it is absent (re-stating does not move it)."""
        out: dict[str, date | None] = {}
        history = self.g.codes.history
        for code, fact in answers.items():
            if fact.value is not True:
                continue
            seq = sorted((c for c in self.g.candidates if c[0] == code and id(c[1]) not in self.skip
                          and not self.future(c[1].source)
                          and (code in history or not self.earlier(c[1].source))), key=_order)
            onset: Fact | None = None
            for _code, candidate, _rank in seq:
                if candidate.value is True:
                    onset = onset or candidate
                else:
                    onset = None
            out[code] = (onset or fact).source.day
        return out

    def set_onset(self, answers: dict[str, Fact]) -> None:
        """The `onset-date` fact is the current episode's onset; `recurrent` from the onsets."""
        if self.onset is None or not self.onset_facts:
            return
        defining = [f for f in self.onset_facts if f.value == self.onset]
        if defining:
            answers["onset-date"] = min(defining, key=lambda f: (_ts(f.source), f.source.reference))
        window = [d for d in self.onsets if 0 <= (self.onset - d).days <= RECURRENT_WINDOW]
        if len(window) >= RECURRENT_ONSETS:
            sources = tuple(dict.fromkeys(f.source for f in self.onset_facts if f.value in window))
            answers["recurrent"] = Fact(
                "recurrent", True, Source("", day_start(self.onset), "derived"), sources,
                f"§0 (v2) [A.3]: {len(window)} episode onsets within 365 days up to the current onset")


#: English month abbreviations for the days in English text (service.rules.common.fmt_day
#: writes its dates with fmt_iso too)
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def fmt_iso(day: Any, lang: str = "nl") -> str:
    """A day in a note: Dutch 15-06-2026, English 15 Jun 2026 (as the rest of the English text)."""
    if not isinstance(day, date):
        return str(day)
    if lang == "en":
        return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"
    return day.strftime("%d-%m-%Y")


def gather(resources: list[dict], subject: str, today: date,
           knowledge_codes: ElementCodes | None = None) -> Facts:
    """decision-logic §0: the facts about `subject` ("Patient/<id>") on `today` (Amsterdam).

    Raises NoDataError when nothing usable about the subject exists (no
    Patient, no intake QuestionnaireResponse, no usable Observation or
    neck-pain Condition of that subject).
    """
    gatherer = _Gatherer(subject, today, knowledge_codes or load_element_codes())
    for resource in resources:
        if isinstance(resource, dict):
            gatherer.read(resource)
    return gatherer.result()


def day_start(day: date) -> datetime:
    """00:00 Europe/Amsterdam on `day` (the instant of a day-only derived fact)."""
    return datetime(day.year, day.month, day.day, tzinfo=AMSTERDAM)

