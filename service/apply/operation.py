"""Input of PlanDefinition/$apply: the R4 Parameters, checked and unpacked.

Parameters (R4 $apply, plus `data` as in the CPG IG):
  subject        valueString / valueReference "Patient/<id>" (exactly one)
  data           resource: a Bundle with the patient's resources
  encounter      valueString / valueReference (optional)
  practitioner   valueString / valueReference (optional)
  userLanguage   valueCode / valueCodeableConcept / valueString (optional): nl | en
Anything malformed raises ApplyInputError, which the HTTP layer turns into
an OperationOutcome naming the problem and where it is.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from pydantic import ValidationError

from service.fhir_api.r4_check import accepts

SUPPORTED = {"subject", "data", "encounter", "practitioner", "userLanguage", "planDefinition"}
REFERENCE = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})$")


class ApplyInputError(Exception):
    def __init__(self, status: int, code: str, message: str, expression: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.expression = status, code, message, expression or []


@dataclass
class ApplyRequest:
    subject: str
    resources: list[dict]
    encounter: str | None = None
    practitioner: str | None = None
    lang: str | None = None  # None: not asked in the body


def _location(loc: tuple) -> str:
    out = "Parameters"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _reference(param: dict, index: int, expected_type: str | None = None) -> str:
    value = param.get("valueString") or param.get("valueReference", {}).get("reference")
    where = f"Parameters.parameter[{index}]"
    if not value:
        raise ApplyInputError(400, "required", f"parameter '{param['name']}' needs valueString or valueReference", [where])
    m = REFERENCE.match(value)
    if not m or (expected_type and m.group("type") != expected_type):
        kind = expected_type or "a resource"
        raise ApplyInputError(400, "value", f"parameter '{param['name']}' must be a reference to {kind} "
                                            f"like '{expected_type or 'Encounter'}/123', got {value!r}", [where])
    return value


def _language(param: dict) -> str:
    code = param.get("valueCode") or param.get("valueString") or \
        next(iter(param.get("valueCodeableConcept", {}).get("coding", [])), {}).get("code", "")
    return "en" if code.lower().startswith("en") else "nl"


def _validate_parameters(body: dict) -> None:
    """The Parameters by the fhir.resources R4B models; ApplyInputError naming up to 5 problems."""
    try:
        from fhir.resources.R4B.parameters import Parameters  # imported on first use: ~0.15 s of start-up
        Parameters.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors()
        details = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in errors[:5])
        raise ApplyInputError(400, "structure", f"invalid FHIR content: {details}",
                              [_location(e["loc"]) for e in errors[:5]]) from None
    except (TypeError, ValueError) as exc:  # fhir.resources raises these for unknown resource types
        raise ApplyInputError(400, "structure", f"invalid FHIR content: {exc}") from None
    except KeyError:  # ... and this for an unknown resourceType nested in a resource (e.g. parameter.resource)
        raise ApplyInputError(400, "structure", "invalid FHIR content: a resource of an unknown resourceType") \
            from None


def parse_apply(body: object, accepted: Collection[int] = ()) -> ApplyRequest:
    """The $apply input of a Parameters body (ApplyInputError when it is not one we take).

    `accepted`: id() of resources in `body` already found valid (invalid_data.screen_apply_body)."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        found = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
        raise ApplyInputError(400, "structure", f"the body must be a FHIR Parameters resource, got {found!r}")
    if not accepts(body, accepted):  # the R4B models only when the fast check is not sure (r4_check.py)
        _validate_parameters(body)
    params = body.get("parameter", [])
    subject = encounter = practitioner = lang = None
    resources: list[dict] | None = None
    for i, param in enumerate(params):
        name = param.get("name")
        if name not in SUPPORTED:
            raise ApplyInputError(400, "not-supported", f"parameter '{name}' is not supported by this $apply",
                                  [f"Parameters.parameter[{i}]"])
        if name == "subject":
            if subject is not None:
                raise ApplyInputError(400, "not-supported", "only one subject per $apply is supported",
                                      [f"Parameters.parameter[{i}]"])
            subject = _reference(param, i, "Patient")
        elif name == "data":
            bundle = param.get("resource")
            if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
                raise ApplyInputError(400, "structure", "parameter 'data' must hold a Bundle resource",
                                      [f"Parameters.parameter[{i}]"])
            resources = (resources or []) + [e["resource"] for e in bundle.get("entry", []) if "resource" in e]
        elif name == "encounter":
            encounter = _reference(param, i, "Encounter")
        elif name == "practitioner":
            practitioner = _reference(param, i)
        elif name == "userLanguage":
            lang = _language(param)
    if subject is None:
        raise ApplyInputError(400, "required", "parameter 'subject' (Patient/<id>) is required", ["Parameters.parameter"])
    if not resources:
        raise ApplyInputError(422, "not-found", f"no data for {subject}: pass the patient's resources (Patient, "
                                                 "intake QuestionnaireResponse, Observations, Condition) in parameter 'data'",
                              ["Parameters.parameter"])
    return ApplyRequest(subject, resources, encounter, practitioner, lang)


def negotiate_language(accept_language: str | None) -> str:
    """nl or en from an Accept-Language header (Dutch unless English is preferred)."""
    best, best_q = "nl", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in ("nl", "en") and q > best_q:
            best, best_q = lang, q
    return best
