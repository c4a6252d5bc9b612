"""``POST /zelfcheck/submissions``: a visitor sends their self-check to the practice.

Body (JSON, at most ``MAX_BYTES``, nesting at most ``MAX_DEPTH``)::

    {"questionnaireResponse": {...},        the self-check, as sent to $apply
     "adviceCode": "advice-gp",             the advice the page showed
     "language": "nl" | "en",
     "consent": true,                       the consent box was ticked
     "consentVersion": "2026-1",            the version of the consent text shown
     "contact": {"name": "...", "phoneOrEmail": "..."}}   optional, both optional

Checked strictly, every problem a 4xx OperationOutcome naming the field (and
never echoing its value): no consent → 422 and nothing stored; the
QuestionnaireResponse must be valid FHIR, for the self-check Questionnaire,
completed, about a per-visit subject (``Patient/zelfcheck-…``, never a real
patient reference) and answer exactly the enabled questions; the advice is
computed again by the service from the answers and must be the one shown.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from pydantic import ValidationError

from service.self_check_page.public import MAX_BODY_BYTES
from service.self_check_page.questionnaire import ResponseProblem, check_response
from service.self_check_page.texts import CONSENT_TEXT, CONSENT_VERSION, LANGUAGES, consent_sha256
from service.store import SelfCheckSubmission

MAX_BYTES = MAX_BODY_BYTES  # the same limit the security layer enforces while reading
MAX_DEPTH = 16
FIELDS = {"questionnaireResponse", "adviceCode", "language", "consent", "consentVersion", "contact"}
CONTACT_FIELDS = {"name", "phoneOrEmail"}
MAX_NAME = 100
MAX_CONTACT = 200
SUBJECT = re.compile(r"^Patient/zelfcheck-[A-Za-z0-9\-.]{1,54}$")
PHONE = re.compile(r"^\+?[0-9(][0-9 ()\-.]{4,24}$")
EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]{1,180}\.[A-Za-z]{2,24}$")
ADVICE_CODE = "self-check-advice"


class SubmissionError(Exception):
    def __init__(self, status: int, code: str, message: str, expression: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.expression = [expression] if expression else []


@dataclass(frozen=True)
class Checked:
    response: dict
    subject: str
    advice: str
    language: str
    name: str | None
    contact: str | None


def parse_json(raw: bytes) -> object:
    """Strict JSON (no NaN/Infinity, no duplicate keys, bounded nesting)."""
    def no_constant(name: str) -> float:
        raise ValueError(f"{name} is not JSON")

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                raise ValueError("duplicate key")
            out[key] = value
        return out

    try:
        body = json.loads(raw, parse_constant=no_constant, object_pairs_hook=no_duplicates)
    except UnicodeDecodeError:
        raise SubmissionError(400, "structure", "the body is not UTF-8 JSON") from None
    except RecursionError:
        raise SubmissionError(400, "too-costly", f"the body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise SubmissionError(400, "structure", f"the body is not valid JSON ({type(exc).__name__} at position "
                                                f"{getattr(exc, 'pos', '?')})") from None
    stack = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                raise SubmissionError(400, "too-costly", f"the body nests deeper than {MAX_DEPTH} levels")
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return body


def _text(value: object, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SubmissionError(400, "structure", f"{field} must be a string", field)
    value = " ".join(value.split())  # no newlines or tabs, single spaces
    if len(value) > limit:
        raise SubmissionError(400, "value", f"{field} is longer than {limit} characters", field)
    if any(not c.isprintable() for c in value):
        raise SubmissionError(400, "value", f"{field} contains control characters", field)
    return value or None


def check(body: object, questionnaire: dict) -> Checked:
    """The submission's parts, or SubmissionError (consent before anything else about the answers)."""
    if not isinstance(body, dict):
        raise SubmissionError(400, "structure", "the body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise SubmissionError(400, "structure", f"unknown field {unknown[0][:40]!r}", unknown[0][:40])
    if body.get("consent") is not True:
        raise SubmissionError(422, "required", "consent is required to send the self-check: nothing was stored",
                              "consent")
    if body.get("consentVersion") != CONSENT_VERSION:
        raise SubmissionError(422, "business-rule", "the consent text has changed since the page was loaded: "
                                                    "reload the page and give consent again", "consentVersion")
    language = body.get("language")
    if language not in LANGUAGES:
        raise SubmissionError(400, "value", f"language must be one of {', '.join(LANGUAGES)}", "language")
    advice = body.get("adviceCode")
    if not isinstance(advice, str) or not re.fullmatch(r"[a-z][a-z0-9\-]{0,63}", advice):
        raise SubmissionError(400, "value", "adviceCode must be an advice code", "adviceCode")
    contact = body.get("contact") or {}
    if not isinstance(contact, dict):
        raise SubmissionError(400, "structure", "contact must be an object", "contact")
    unknown = sorted(set(contact) - CONTACT_FIELDS)
    if unknown:
        raise SubmissionError(400, "structure", f"unknown field 'contact.{unknown[0][:40]}'", "contact")
    name = _text(contact.get("name"), "contact.name", MAX_NAME)
    reach = _text(contact.get("phoneOrEmail"), "contact.phoneOrEmail", MAX_CONTACT)
    if reach is not None and not (EMAIL.fullmatch(reach) or (PHONE.fullmatch(reach)
                                                             and sum(c.isdigit() for c in reach) >= 6)):
        raise SubmissionError(400, "value", "contact.phoneOrEmail must be a phone number or an e-mail address",
                              "contact.phoneOrEmail")
    response = body.get("questionnaireResponse")
    subject = check_questionnaire_response(response, questionnaire)
    return Checked(response=response, subject=subject, advice=advice, language=language, name=name, contact=reach)


def check_questionnaire_response(response: object, questionnaire: dict) -> str:
    """The subject of a valid self-check QuestionnaireResponse; SubmissionError otherwise."""
    where = "questionnaireResponse"
    if not isinstance(response, dict) or response.get("resourceType") != "QuestionnaireResponse":
        raise SubmissionError(400, "structure", "questionnaireResponse must be a QuestionnaireResponse", where)
    try:
        from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse  # imported on first use: ~0.15 s of start-up
        QuestionnaireResponse.model_validate(response)
    except ValidationError as exc:
        locations = "; ".join(".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in exc.errors()[:3])
        raise SubmissionError(400, "structure", f"questionnaireResponse is not valid FHIR: {locations}"[:500],
                              where) from None
    except (TypeError, ValueError, KeyError):
        raise SubmissionError(400, "structure", "questionnaireResponse is not valid FHIR", where) from None
    canonical = str(response.get("questionnaire", ""))
    if canonical.split("|")[0] != questionnaire.get("url"):
        raise SubmissionError(422, "business-rule", f"questionnaireResponse must answer {questionnaire.get('url')}",
                              f"{where}.questionnaire")
    if response.get("status") != "completed":
        raise SubmissionError(422, "business-rule", "questionnaireResponse.status must be 'completed'",
                              f"{where}.status")
    subject = (response.get("subject") or {}).get("reference", "")
    if not SUBJECT.fullmatch(str(subject)):
        raise SubmissionError(422, "business-rule", "questionnaireResponse.subject must be the page visit's own id "
                                                    "(Patient/zelfcheck-…)", f"{where}.subject")
    try:
        check_response(questionnaire, response)
    except ResponseProblem as exc:
        raise SubmissionError(422, "business-rule", f"questionnaireResponse: {exc.message}",
                              exc.expression.replace("QuestionnaireResponse", where, 1)) from None
    return subject


def advice_of(careplan: dict) -> str | None:
    """The advice code of a self-check CarePlan (its case-feature Observation ``self-check-advice``)."""
    for resource in careplan.get("contained", []):
        if resource.get("resourceType") != "Observation":
            continue
        codes = {c.get("code") for c in resource.get("code", {}).get("coding", [])}
        if ADVICE_CODE in codes:
            for coding in resource.get("valueCodeableConcept", {}).get("coding", []):
                if coding.get("code"):
                    return coding["code"]
    return None


def consent_resource(subject: str, lang: str, at: datetime) -> dict:
    """The FHIR R4 Consent for sending the self-check (the text agreed to is attached)."""
    text = CONSENT_TEXT[lang].encode("utf-8")
    when = at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy", "display": "Privacy Consent"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": {"reference": subject},
        "dateTime": when,
        "sourceAttachment": {
            "contentType": "text/plain; charset=utf-8", "language": lang,
            "data": base64.b64encode(text).decode("ascii"),
            "hash": base64.b64encode(hashlib.sha1(text).digest()).decode("ascii"),  # R4 Attachment.hash: SHA-1
            "title": f"nekpijn-cds zelfcheck consent {CONSENT_VERSION} ({lang})",
        },
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN",
                                   "display": "opt-in"}]},
        "provision": {
            "type": "permit",
            "period": {"start": when},
            "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT",
                         "display": "treatment"}],
        },
    }


def submission(checked: Checked, questionnaire_url: str, advice: str, now: datetime) -> SelfCheckSubmission:
    return SelfCheckSubmission(
        received_at=now, questionnaire=questionnaire_url, language=checked.language, advice=advice,
        response=checked.response, contact_name=checked.name, contact=checked.contact, consent_at=now,
        consent_version=CONSENT_VERSION, consent_text_sha256=consent_sha256(checked.language),
        consent_language=checked.language, consent=consent_resource(checked.subject, checked.language, now),
    )
