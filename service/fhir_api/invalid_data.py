"""One policy for resources that are not valid FHIR R4, for `$apply` and hook calls alike.

An EHR's data is what it is: one invalid resource neither sinks the whole answer
nor is used as if it were valid. So a resource of the patient's data that the
R4 models refuse (e.g. a PSK Observation with `valueDecimal`, an element R4
Observation does not have) is **left out** of the evaluation and **named in the
CarePlan note**, next to the other resources not used; the call still gets its
plan or cards. Only when the *patient* itself (the Patient resource of the
subject) or the request itself is invalid is the call refused (400; a hook's
Patient fetched from the FHIR server: 412).

Names and problems never carry a value (it may be patient data): a note names
the resource type, its id when the resource is the subject's (another patient's
resource id does not go into this patient's plan) and the element path of the
problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from service.fhir_api.r4_check import accepts

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
#: the head of a CarePlan note of a resource not used (service.apply.careplan.NOT_USED)
_NOT_VALID = {"en": "not valid FHIR R4 ({problem}); not used",
              "nl": "geen geldige FHIR R4 ({problem}); niet gebruikt"}


def fhir_problem(resource: object) -> str | None:
    """Why `resource` is not a valid FHIR R4 resource (element path and kind, no values), or None.

    The fast acceptor (r4_check.py) answers for the resources the models surely accept; the
    models judge (and word) the rest, so the verdict is always the models'."""
    if accepts(resource):
        return None
    return model_problem(resource)


def model_problem(resource: object) -> str | None:
    """fhir_problem by the fhir.resources R4B models alone (~0.3 ms a resource)."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return "not a FHIR resource"
    try:
        from fhir.resources.R4B import get_fhir_model_class  # imported on first use: ~0.15 s of start-up
        model = get_fhir_model_class(resource["resourceType"])
    except (KeyError, ValueError):
        return "an unknown resourceType"
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error.get("loc", ()))[:200]
        return f"{location or 'the resource'}: {error.get('msg', 'invalid')}"[:300]
    except (TypeError, ValueError, KeyError, RecursionError):  # fhir.resources on unknown nested types
        return "invalid FHIR content"
    return None


def resource_type(resource: object) -> str | None:
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    return rtype if isinstance(rtype, str) and RESOURCE_TYPE.match(rtype) else None


def is_patient(resource: object, subject: str | None) -> bool:
    """Whether `resource` is the Patient resource of `subject` ("Patient/<id>")."""
    return bool(subject) and isinstance(resource, dict) and resource.get("resourceType") == "Patient" \
        and f"Patient/{resource.get('id')}" == subject


def _of_subject(resource: dict, subject: str | None) -> bool:
    about = resource.get("subject")
    return isinstance(about, dict) and about.get("reference") == subject


@dataclass(frozen=True)
class LeftOut:
    """A resource left out of the evaluation because it is not valid R4."""

    label: str    # "Observation/psk-1", or only "Observation" (not the subject's, or no usable id)
    problem: str  # element path and kind of problem, no value

    def text(self, lang: str) -> str:
        """The note text after "Niet gebruikt voor deze evaluatie — " (as the engine's notes)."""
        return f"{self.label}: {_NOT_VALID['en' if lang == 'en' else 'nl'].format(problem=self.problem)}"


def left_out(resource: object, problem: str, subject: str | None) -> LeftOut:
    rtype = resource_type(resource) or "resource"
    rid = resource.get("id") if isinstance(resource, dict) else None
    named = isinstance(rid, str) and FHIR_ID.match(rid) and _of_subject(resource, subject)
    return LeftOut(f"{rtype}/{rid}" if named else rtype, problem)


def add_notes(careplan: dict, notes: list[LeftOut], lang: str) -> None:
    """Name the left-out resources in the CarePlan's note, after the engine's own notes."""
    if not notes:
        return
    from service.apply.careplan import NOT_USED
    head = NOT_USED["en" if lang == "en" else "nl"]
    careplan.setdefault("note", []).extend({"text": f"{head} — {n.text(lang)}"} for n in notes)


def _subject_of(body: dict) -> str | None:
    for param in body.get("parameter") or []:
        if isinstance(param, dict) and param.get("name") == "subject":
            value = param.get("valueString")
            if value is None and isinstance(param.get("valueReference"), dict):
                value = param["valueReference"].get("reference")
            return value if isinstance(value, str) else None
    return None


#: draft orders (decision-logic §11): ServiceRequest "draft", Procedure "preparation"
_DRAFT_STATUS = {"ServiceRequest": "draft", "Procedure": "preparation"}


def with_context_subject(resource: dict, subject: str | None) -> dict:
    """A draft order without `subject` counts as the subject's (dak/README.md, §11 interpretation);
    R4 requires the element, so the order gets it before it is validated and evaluated."""
    draft_status = _DRAFT_STATUS.get(resource.get("resourceType"))
    if subject and draft_status and "subject" not in resource and resource.get("status") == draft_status:
        return {**resource, "subject": {"reference": subject}}
    return resource


def screen_apply_body(body: object, accepted: set[int] | None = None) -> tuple[object, list[LeftOut]]:
    """The `$apply` body without the invalid resources of its `data` Bundles, and those left out.

    The subject's Patient resource is kept even when invalid, as is everything that is not
    a resource of a `data` Bundle's entry: the Parameters validation then refuses the
    request (400) naming the element. `accepted` (optional) receives the id() of every kept
    resource found valid, so that the Parameters validation need not check it again."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters" \
            or not isinstance(body.get("parameter"), list):
        return body, []
    subject = _subject_of(body)
    notes: list[LeftOut] = []
    params = []
    for param in body["parameter"]:
        bundle = param.get("resource") if isinstance(param, dict) and param.get("name") == "data" else None
        entries = bundle.get("entry") if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle" else None
        if not isinstance(entries, list):
            params.append(param)
            continue
        kept, changed = [], False
        for entry in entries:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and (filled := with_context_subject(resource, subject)) is not resource:
                resource, entry, changed = filled, {**entry, "resource": filled}, True
            problem = None if resource is None or is_patient(resource, subject) else fhir_problem(resource)
            if problem is None:
                kept.append(entry)
                if accepted is not None and resource is not None and not is_patient(resource, subject):
                    accepted.add(id(resource))
            else:
                notes.append(left_out(resource, problem, subject))
        if len(kept) == len(entries) and not changed:
            params.append(param)
            continue
        cleaned = {k: v for k, v in bundle.items() if k != "entry"} | ({"entry": kept} if kept else {})
        params.append({**param, "resource": cleaned})
    return ({**body, "parameter": params} if params != body["parameter"] else body), notes
