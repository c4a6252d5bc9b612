"""Turn a reference case of tests/cases/cases.yaml into a FHIR R4 collection Bundle.

The case format is described in the header of tests/cases/cases.yaml (contract v2); every
date in a case is relative to the evaluation day ("today", Europe/Amsterdam).
`build_case_bundle(case, today, data_dictionary)` and `build_draft_orders(case, data_dictionary)`
are pure: the same case, day and data dictionary always give the same resources (no uuids,
no clock).

Shapes (contract: dak/data-dictionary.yaml, dak/outputs.md; profiles in
profiles/observations.fsh):

* Patient `<case>`: birthDate = today - age years - 100 days; no name, no identifier.
* QuestionnaireResponse `<case>-intake` for Questionnaire nekpijn-intake, authored
  today - intake_days at `intake_time` (default 00:05 Amsterdam time), status
  `intake_status` (default completed); one group item per data-dictionary group that has
  answers, the answers in data-dictionary order (`tests_in_qr` as answers of the test items).
  `empty_qr`: an intake without any item. Without answers (and not `empty_qr`) there is no intake.
  With `conformant=True` (the examples) the required yes/no items of each group an intake
  holds are answered too (`answer_required_items`); the case tests use the partial intakes.
* Further intakes `extra_qrs` [{days, time, status, answers}]: `<case>-intake-d<days>`,
  authored today - days at `time` (default 00:05), status default completed; only the
  answers given (an onset-date only when the answers hold one, e.g. "-230d").
* Observations (status final): clinical tests (`tests`, dated tests_days - default
  intake_days - at the intake's time), NPRS (LOINC 72514-3, or a Nictiz zib PainScore), PSK,
  cervical rotation, boolean findings (red flags, crs-worse-motor, psychosocial-dominant, ...),
  choice findings (e.g. pattern-assessment: valueCodeableConcept of the local answer code) and
  instrument scores, each with meta.profile = the project profile (none for the zib PainScore
  and for choice findings, which have no profile of ours). An `obs` entry is dated `days`
  ago (negative: in the future) at `time` (default 00:05); without `days` it is dated
  with the intake (intake_days, at the intake's time unless `time` is given).
* Condition `<case>-neck-pain` (SNOMED CT 81680005, active) only when `condition: true`,
  with onsetDateTime = the onset day, or today - condition_onset_days.

Draft orders (`orders`, decision-logic §11): ServiceRequest (status draft, intent order) or
Procedure (status preparation) `<id>` with code = the local int-* coding (`code`), a SNOMED CT
coding (`snomed`), any coding (`coding`) and/or code.text (`text`); `category` imaging =
SNOMED CT 363679005 Imaging (another value: that SNOMED CT code); subject = the case's patient,
or Patient/other-patient with `subject: other`.

Deviation from the case header: FHIR R4 Observation.value[x] has no decimal
type, so the PSK score ("valueDecimal" in the data dictionary) is written as
valueQuantity {value, UCUM "{score}"}; see profiles/observations.fsh.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any, Iterator
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

CANONICAL_BASE = "https://nekpijn-cds.org/fhir"
LOCAL_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/nekpijn"
QUESTIONNAIRE = f"{CANONICAL_BASE}/Questionnaire/nekpijn-intake"
EVALUATION_DATE_URL = f"{CANONICAL_BASE}/StructureDefinition/evaluation-date"
FULL_URL_BASE = "http://example.org/fhir"

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ZIB_PAIN_METHOD = "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.9.1"  # zib PijnMeetmethode

NPRS_LOINC = {"system": LOINC, "code": "72514-3", "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported"}
NDI_LOINC = {"system": LOINC, "code": "82237-9", "display": "Total score [NDI]"}
PAIN_SCORE_SNOMED = {"system": SNOMED, "code": "225908003", "display": "Pain score"}
NECK_PAIN_SNOMED = {"system": SNOMED, "code": "81680005", "display": "Neck pain"}
TEST_RESULTS = {
    "pos": {"system": SNOMED, "code": "10828004", "display": "Positive"},
    "neg": {"system": SNOMED, "code": "260385009", "display": "Negative"},
}

#: default time of day of an intake, its tests and every Observation (cases.yaml header, v2):
#: five past midnight Amsterdam time is the previous day in UTC, so every date is read in
#: Amsterdam calendar days
DEFAULT_TIME = time(0, 5)
BUNDLE_TIME = time(12, 0)
IMAGING_CATEGORY = {"system": SNOMED, "code": "363679005", "display": "Imaging"}
OTHER_PATIENT = "other-patient"
QR_STATUSES = {"in-progress", "completed", "amended", "entered-in-error", "stopped"}

# Activities in the patient's words, used for the three PSK components.
PSK_ACTIVITIES = (
    "Autorijden (over de schouder kijken)",
    "Werken achter de computer",
    "Slapen",
)

RELATIVE_DAY = re.compile(r"^-(\d+)d$")
CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def clock_time(value: Any, default: time) -> time:
    """A case's "HH:MM" (Amsterdam local time); `default` when absent."""
    if value is None:
        return default
    match = CLOCK_TIME.match(str(value))
    if not match:
        raise ValueError(f"time must be 'HH:MM', got {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def profile_url(profile_id: str) -> str:
    return f"{CANONICAL_BASE}/StructureDefinition/{profile_id}"


# ---------------------------------------------------------------------------
# Data dictionary
# ---------------------------------------------------------------------------


class Dictionary:
    """Index over dak/data-dictionary.yaml (the parsed YAML mapping)."""

    def __init__(self, data_dictionary: dict):
        self.raw = data_dictionary
        self.groups: list[dict] = data_dictionary["groups"]
        self.elements: dict[str, dict] = {}
        self.group_of: dict[str, dict] = {}
        self.order: dict[str, int] = {}
        self.components: dict[str, dict] = {}
        for group in self.groups:
            for item in group.get("items", []):
                self.order[item["code"]] = len(self.order)
                self.elements[item["code"]] = item
                self.group_of[item["code"]] = group
                for component in item.get("components", []):
                    self.components[component["code"]] = component

    def element(self, code: str) -> dict:
        try:
            return self.elements[code]
        except KeyError:
            raise ValueError(f"{code!r} is not an input element of the data dictionary") from None

    def coding(self, code: str) -> dict:
        """Local Coding with the Dutch label as display (elements and components)."""
        item = self.elements.get(code) or self.components.get(code)
        if item is None:
            raise ValueError(f"{code!r} is not a code of the data dictionary")
        return {"system": LOCAL_SYSTEM, "code": code, "display": item["nl"]}

    def answer_coding(self, element: dict, answer_code: str) -> dict:
        for answer in element.get("answers", []):
            if answer["code"] == answer_code:
                return {"system": LOCAL_SYSTEM, "code": answer_code, "display": answer["nl"]}
        raise ValueError(f"{answer_code!r} is not an answer of {element['code']!r}")


# ---------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------


def days_ago(today: date, days: int) -> date:
    return today - timedelta(days=int(days))


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year - years, day=28)


def local_datetime(day: date, at: time) -> str:
    """ISO dateTime in Europe/Amsterdam with the UTC offset valid on that day (CET/CEST)."""
    return datetime.combine(day, at, tzinfo=AMSTERDAM).isoformat()


# ---------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------


def _dutch(resource: dict) -> dict:
    """The resource with `language` nl: its displays are the Dutch ones of the CodeSystem
    (the HL7 validator checks a display against the resource's language). The Patient
    (a birth date only) has no text."""
    if resource["resourceType"] == "Patient":
        return resource
    head = {k: resource[k] for k in ("resourceType", "id") if k in resource}
    return {**head, "language": "nl", **{k: v for k, v in resource.items() if k not in head}}


def build_case_bundle(case: dict, today: date, data_dictionary: dict, *, conformant: bool = False) -> dict:
    """One FHIR R4 collection Bundle for a reference case evaluated on `today`.

    `conformant` (the examples only, tools/make_examples.py): every completed / amended
    intake answers each required yes/no item of the groups it holds, as a conformant EHR
    answering our Questionnaire must (see `answer_required_items`). The case tests keep the
    partial intakes cases.yaml describes: the service must handle those too."""
    dd = Dictionary(data_dictionary)
    bundle = _CaseBuilder(case, today, dd).bundle()
    if conformant:
        answer_required_items([e["resource"] for e in bundle["entry"]], dd)
    return bundle


#: intakes the service reads (decision-logic §0); only these are completed by the examples
READ_STATUSES = ("completed", "amended")


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def answer_required_items(resources: list[dict], dd: Dictionary) -> None:
    """Answer, in place, every unanswered required boolean item of each group a completed or
    amended intake holds, without changing what the service reads (decision-logic §0, §2).

    An item gets the latest value an earlier source gave it — an earlier intake's answer or
    an earlier boolean Observation of its code — else `false`. Carrying the value forward keeps
    the newest answer per linkId what it was ("newest wins": a later `false` would otherwise
    override an earlier `true`); a first `false` leaves S ("at least one present") as it was,
    and "assessed" too, since the group already holds an answered symptom/sign item. A group
    the intake does not hold stays absent: no CRS item answered models "not assessed"."""
    required = [code for code, element in dd.elements.items()
                if element.get("required") and element["type"] == "boolean"]
    events: list[tuple[datetime, str, bool]] = []  # (instant, code, value) of earlier sources
    for r in resources:
        if r["resourceType"] == "Observation" and "valueBoolean" in r:
            code = r["code"]["coding"][0]["code"]
            if code in required:
                events.append((_instant(r["effectiveDateTime"]), code, r["valueBoolean"]))
    intakes = sorted((r for r in resources
                      if r["resourceType"] == "QuestionnaireResponse" and r["status"] in READ_STATUSES),
                     key=lambda r: _instant(r["authored"]))
    for qr in intakes:
        authored = _instant(qr["authored"])
        for group in qr.get("item", []):
            answered = {item["linkId"] for item in group.get("item", [])}
            missing = [code for code in required
                       if dd.group_of[code]["code"] == group["linkId"] and code not in answered]
            if not missing:
                continue
            for code in missing:
                earlier = [(at, value) for at, c, value in events if c == code and at < authored]
                value = max(earlier, key=lambda e: e[0])[1] if earlier else False
                group["item"].append({"linkId": code, "text": dd.element(code)["nl"],
                                      "answer": [{"valueBoolean": value}]})
            group["item"].sort(key=lambda item: dd.order[item["linkId"]])
        for group in qr.get("item", []):
            for item in group.get("item", []):
                if item["linkId"] in required:
                    events.append((authored, item["linkId"], item["answer"][0]["valueBoolean"]))


def build_draft_orders(case: dict, data_dictionary: dict) -> list[dict]:
    """The case's `orders` as draft ServiceRequest / Procedure resources (context.draftOrders)."""
    dd = Dictionary(data_dictionary)
    return [_draft_order(case["id"], spec, dd) for spec in case.get("orders") or []]


def order_reference(order: dict) -> str:
    return f"{order['resourceType']}/{order['id']}"


def _snomed_display(dd: Dictionary, code: str) -> str | None:
    """The display of a SNOMED CT code the data dictionary maps an intervention to."""
    for item in dd.elements.values():
        mapped = item.get("snomed") or []
        for entry in [mapped] if isinstance(mapped, str) else mapped:
            sct, _, display = str(entry).partition("|")
            if sct == code:
                return display or None
    return None


def _draft_order(case_id: str, spec: dict, dd: Dictionary) -> dict:
    order_id = spec.get("id")
    if not order_id:
        raise ValueError(f"{case_id}: every order needs an id")
    kind = spec.get("type", "ServiceRequest")
    if kind not in ("ServiceRequest", "Procedure"):
        raise ValueError(f"{case_id}/{order_id}: type must be ServiceRequest or Procedure, got {kind!r}")
    codings = []
    if "code" in spec:
        if dd.group_of.get(spec["code"], {}).get("code") != "interventions":
            raise ValueError(f"{case_id}/{order_id}: {spec['code']!r} is not an intervention code")
        codings.append(dd.coding(spec["code"]))
    if "snomed" in spec:
        coding = {"system": SNOMED, "code": str(spec["snomed"])}
        display = _snomed_display(dd, str(spec["snomed"]))
        if display:
            coding["display"] = display
        codings.append(coding)
    if "coding" in spec:
        extra = spec["coding"]
        if not isinstance(extra, dict) or not extra.get("system") or not extra.get("code"):
            raise ValueError(f"{case_id}/{order_id}: coding needs a system and a code")
        codings.append({k: str(extra[k]) for k in ("system", "code", "display") if extra.get(k)})
    code: dict[str, Any] = {}
    if codings:
        code["coding"] = codings
    if spec.get("text"):
        code["text"] = str(spec["text"])
    subject = OTHER_PATIENT if spec.get("subject") == "other" else case_id
    if spec.get("subject") not in (None, "other"):
        raise ValueError(f"{case_id}/{order_id}: subject must be 'other' or absent")
    order: dict[str, Any] = {"resourceType": kind, "id": str(order_id)}
    if kind == "ServiceRequest":
        order.update({"status": "draft", "intent": "order"})
    else:
        order["status"] = "preparation"
    if "category" in spec:
        category = dict(IMAGING_CATEGORY) if spec["category"] == "imaging" else {"system": SNOMED, "code": str(spec["category"])}
        # ServiceRequest.category is a list; Procedure.category one CodeableConcept (R4)
        order["category"] = [{"coding": [category]}] if kind == "ServiceRequest" else {"coding": [category]}
    if code:
        order["code"] = code
    order["subject"] = {"reference": f"Patient/{subject}"}
    return order


class _CaseBuilder:
    def __init__(self, case: dict, today: date, dd: Dictionary):
        self.case = case
        self.today = today
        self.dd = dd
        self.case_id: str = case["id"]
        self.patient_ref = {"reference": f"Patient/{self.case_id}"}
        onset_days = case.get("onset_days")
        self.onset_day = days_ago(today, onset_days) if onset_days is not None else None
        self.intake_days = int(case.get("intake_days", onset_days if onset_days is not None else 0))
        self.intake_time = clock_time(case.get("intake_time"), DEFAULT_TIME)
        self.tests_days = int(case.get("tests_days", self.intake_days))
        self._ids: set[str] = set()

    # -- bundle ----------------------------------------------------------
    def bundle(self) -> dict:
        resources: list[dict] = [self.patient()]
        questionnaire_response = self.questionnaire_response()
        if questionnaire_response is not None:
            resources.append(questionnaire_response)
        resources.extend(self.extra_questionnaire_responses())
        resources.extend(self.test_observations())
        resources.extend(self.observations())
        if self.case.get("condition"):
            resources.append(self.condition())
        return {
            "resourceType": "Bundle",
            "id": self.case_id,
            "meta": {
                "extension": [{"url": EVALUATION_DATE_URL, "valueDate": self.today.isoformat()}],
            },
            "type": "collection",
            "timestamp": local_datetime(self.today, BUNDLE_TIME),
            "entry": [
                {"fullUrl": f"{FULL_URL_BASE}/{r['resourceType']}/{r['id']}", "resource": _dutch(r)}
                for r in resources
            ],
        }

    def _new_id(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self._ids:
            n += 1
            candidate = f"{base}-{n}"
        if len(candidate) > 64:
            raise ValueError(f"resource id too long: {candidate}")
        self._ids.add(candidate)
        return candidate

    # -- Patient ---------------------------------------------------------
    def patient(self) -> dict:
        birth_date = years_before(self.today, int(self.case["age"])) - timedelta(days=100)
        return {
            "resourceType": "Patient",
            "id": self._new_id(self.case_id),
            "birthDate": birth_date.isoformat(),
        }

    # -- QuestionnaireResponse -------------------------------------------
    def answer_values(self) -> dict[str, dict]:
        """linkId -> answer value ({valueX: ...}) for every answered element of the intake."""
        answers: dict[str, dict] = {}
        if self.onset_day is not None and not self.case.get("no_onset_answer"):
            answers["onset-date"] = {"valueDate": self.onset_day.isoformat()}
        for code, value in (self.case.get("answers") or {}).items():
            answers[code] = self.typed_answer(self.dd.element(code), value)
        for code, result in (self.case.get("tests_in_qr") or {}).items():
            element = self.dd.element(code)
            if element["type"] != "test":
                raise ValueError(f"{code} is not a clinical test")
            answers[code] = self.typed_answer(element, result)
        return answers

    def typed_answer(self, element: dict, value: Any) -> dict:
        kind = element["type"]
        code = element["code"]
        if isinstance(value, str) and RELATIVE_DAY.match(value):
            if kind != "date":
                raise ValueError(f"{code}: a relative date answer for a {kind} element")
            return {"valueDate": days_ago(self.today, int(RELATIVE_DAY.match(value).group(1))).isoformat()}
        if kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError(f"{code}: expected true/false, got {value!r}")
            return {"valueBoolean": value}
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{code}: expected an integer, got {value!r}")
            return {"valueInteger": value}
        if kind == "decimal":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{code}: expected a number, got {value!r}")
            return {"valueDecimal": float(value)}
        if kind == "choice":
            return {"valueCoding": self.dd.answer_coding(element, value)}
        if kind == "string":
            return {"valueString": str(value)}
        if kind == "date":
            if isinstance(value, date):
                return {"valueDate": value.isoformat()}
            raise ValueError(f"{code}: expected '-Nd', got {value!r}")
        if kind == "test":
            if value not in TEST_RESULTS:
                raise ValueError(f"{code}: result must be pos or neg, got {value!r}")
            return {"valueCoding": dict(TEST_RESULTS[value])}
        raise ValueError(f"{code}: elements of type {kind!r} cannot be answered in the Questionnaire")

    def _items(self, answers: dict[str, dict]) -> list[dict]:
        groups = []
        for group in self.dd.groups:
            items = [
                {"linkId": item["code"], "text": item["nl"], "answer": [answers[item["code"]]]}
                for item in group.get("items", [])
                if item["code"] in answers
            ]
            if items:
                groups.append({"linkId": group["code"], "text": group["nl"], "item": items})
        return groups

    def _questionnaire_response(self, id_base: str, status: Any, authored: str, groups: list[dict]) -> dict:
        status = "completed" if status is None else status
        if status not in QR_STATUSES:
            raise ValueError(f"{id_base}: QuestionnaireResponse status {status!r}")
        resource = {
            "resourceType": "QuestionnaireResponse",
            "id": self._new_id(f"{self.case_id}-{id_base}"),
            "questionnaire": QUESTIONNAIRE,
            "status": status,
            "subject": dict(self.patient_ref),
            "authored": authored,
        }
        if groups:
            resource["item"] = groups
        return resource

    def questionnaire_response(self) -> dict | None:
        """The (first) intake; None without answers unless the case asks for an empty one."""
        empty = bool(self.case.get("empty_qr"))
        groups = [] if empty else self._items(self.answer_values())
        if not groups and not empty:
            return None
        authored = local_datetime(days_ago(self.today, self.intake_days), self.intake_time)
        return self._questionnaire_response("intake", self.case.get("intake_status"), authored, groups)

    def extra_questionnaire_responses(self) -> Iterator[dict]:
        """Further intakes: follow-ups, or the intake of an earlier episode (cases.yaml `extra_qrs`)."""
        for spec in self.case.get("extra_qrs") or []:
            if "days" not in spec:
                raise ValueError(f"{self.case_id}: every extra_qrs entry needs days")
            days = int(spec["days"])
            answers = {code: self.typed_answer(self.dd.element(code), value)
                       for code, value in (spec.get("answers") or {}).items()}
            authored = local_datetime(days_ago(self.today, days), clock_time(spec.get("time"), DEFAULT_TIME))
            yield self._questionnaire_response(f"intake-d{days}", spec.get("status"), authored, self._items(answers))

    # -- Observations ----------------------------------------------------
    def _observation(self, id_base: str, profile: str | None, category: str, code: dict,
                     day: date, at: time, **fields: Any) -> dict:
        resource: dict[str, Any] = {"resourceType": "Observation", "id": self._new_id(f"{self.case_id}-{id_base}")}
        if profile:
            resource["meta"] = {"profile": [profile_url(profile)]}
        resource.update({
            "status": "final",
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": category,
                                      "display": {"survey": "Survey", "exam": "Exam"}[category]}]}],
            "code": code,
            "subject": dict(self.patient_ref),
            "effectiveDateTime": local_datetime(day, at),
        })
        resource.update(fields)
        return resource

    def test_observations(self) -> Iterator[dict]:
        day = days_ago(self.today, self.tests_days)
        for test_code, result in (self.case.get("tests") or {}).items():
            element = self.dd.element(test_code)
            if element["type"] != "test":
                raise ValueError(f"{test_code} is not a clinical test")
            if result not in TEST_RESULTS:
                raise ValueError(f"{test_code}: result must be pos or neg, got {result!r}")
            yield self._observation(
                test_code, "clinical-test-observation", "exam",
                {"coding": [self.dd.coding(test_code)]}, day, self.intake_time,
                valueCodeableConcept={"coding": [dict(TEST_RESULTS[result])]},
            )

    def observations(self) -> Iterator[dict]:
        for spec in self.case.get("obs") or []:
            code = spec["code"]
            if "days" in spec:
                days, default_time = int(spec["days"]), DEFAULT_TIME
            else:  # with the intake: its day and time
                days, default_time = self.intake_days, self.intake_time
            day = days_ago(self.today, days)
            at = clock_time(spec.get("time"), default_time)
            id_base = f"{code}-d{days}"
            value = spec["value"]
            if code == "nprs":
                yield self.nprs(id_base, day, at, value, painscore=bool(spec.get("painscore")))
            elif code == "psk":
                yield self.psk(id_base, day, at, value)
            elif code == "cervical-rotation":
                yield self.cervical_rotation(id_base, day, at, value)
            else:
                yield self.generic(code, id_base, day, at, value)

    def nprs(self, id_base: str, day: date, at: time, value: Any, *, painscore: bool) -> dict:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"NPRS must be an integer, got {value!r}")
        if painscore:
            # Nictiz zib PainScore (nl-core-PainScore); not constrained by a profile of ours.
            return self._observation(
                id_base, None, "survey", {"coding": [dict(PAIN_SCORE_SNOMED)]}, day, at,
                valueInteger=value,
                method={"coding": [{"system": ZIB_PAIN_METHOD, "code": "NRS"}]},
            )
        return self._observation(
            id_base, "nprs-observation", "survey", {"coding": [dict(NPRS_LOINC)]}, day, at,
            valueInteger=value,
        )

    def psk(self, id_base: str, day: date, at: time, value: Any) -> dict:
        mean = float(value)
        # The PSK score is the mean of the activity scores (integers 0-10). A mean
        # such as 4.5 or 5.5 cannot be the exact mean of three integers, so the
        # three components are the integers whose mean is closest to the recorded
        # score (ties rounded up: 4.5 -> 5, 5, 4; 5.5 -> 6, 6, 5). The recorded
        # score (valueQuantity.value) is what counts; the components only document
        # the activities.
        total = int(mean * 3 + 0.5)
        base, extra = divmod(total, 3)
        scores = [base + 1 if i < extra else base for i in range(3)]
        components = [
            {
                "code": {"coding": [self.dd.coding("psk-activity")], "text": activity},
                "valueInteger": score,
            }
            for activity, score in zip(PSK_ACTIVITIES, scores)
        ]
        return self._observation(
            id_base, "psk-observation", "survey", {"coding": [self.dd.coding("psk")]}, day, at,
            valueQuantity={"value": mean, "unit": "score", "system": UCUM, "code": "{score}"},
            component=components,
        )

    def cervical_rotation(self, id_base: str, day: date, at: time, value: Any) -> dict:
        left, right = value
        return self._observation(
            id_base, "cervical-rotation-observation", "exam",
            {"coding": [self.dd.coding("cervical-rotation")]}, day, at,
            component=[
                {
                    "code": {"coding": [self.dd.coding(side_code)]},
                    "valueQuantity": {"value": degrees, "unit": "°", "system": UCUM, "code": "deg"},
                }
                for side_code, degrees in (("cervical-rotation-left", left), ("cervical-rotation-right", right))
            ],
        )

    def generic(self, code: str, id_base: str, day: date, at: time, value: Any) -> dict:
        element = self.dd.element(code)
        kind = element["type"]
        if kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError(f"{code}: expected true/false, got {value!r}")
            return self._observation(id_base, "finding-observation", "exam",
                                     {"coding": [self.dd.coding(code)]}, day, at, valueBoolean=value)
        if kind == "test":
            if value not in TEST_RESULTS:
                raise ValueError(f"{code}: result must be pos or neg, got {value!r}")
            return self._observation(id_base, "clinical-test-observation", "exam",
                                     {"coding": [self.dd.coding(code)]}, day, at,
                                     valueCodeableConcept={"coding": [dict(TEST_RESULTS[value])]})
        if kind == "choice":  # e.g. a pattern conclusion; no project profile for choice findings
            return self._observation(id_base, None, "exam", {"coding": [self.dd.coding(code)]}, day, at,
                                     valueCodeableConcept={"coding": [self.dd.answer_coding(element, value)]})
        if self.dd.group_of[code]["code"] == "measurements" and kind in {"integer", "decimal", "observation-only"}:
            codings = [self.dd.coding(code)]
            if code == "ndi":
                codings.append(dict(NDI_LOINC))
            fields: dict[str, Any] = {}
            if isinstance(value, dict):  # subscales, e.g. 4dkl: {4dkl-distress: 12, ...}
                fields["component"] = [
                    {"code": {"coding": [self.dd.coding(sub)]}, "valueInteger": int(score)}
                    for sub, score in value.items()
                ]
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{code}: expected a number, got {value!r}")
            elif isinstance(value, int):
                fields["valueInteger"] = value
            else:
                fields["valueQuantity"] = {"value": value, "unit": "score", "system": UCUM, "code": "{score}"}
            return self._observation(id_base, "instrument-score-observation", "survey",
                                     {"coding": codings}, day, at, **fields)
        raise ValueError(f"{code}: no Observation shape for elements of type {kind!r}")

    # -- Condition -------------------------------------------------------
    def condition(self) -> dict:
        if "condition_onset_days" in self.case:
            onset = days_ago(self.today, self.case["condition_onset_days"])
        else:
            onset = self.onset_day
        resource = {
            "resourceType": "Condition",
            "id": self._new_id(f"{self.case_id}-neck-pain"),
            "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active", "display": "Active"}]},
            "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION, "code": "confirmed", "display": "Confirmed"}]},
            "code": {"coding": [dict(NECK_PAIN_SNOMED)]},
            "subject": dict(self.patient_ref),
        }
        if onset is not None:
            resource["onsetDateTime"] = onset.isoformat()
        return resource
