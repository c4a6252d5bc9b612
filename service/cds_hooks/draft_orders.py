"""Which draft orders of an order hook are judged (decision-logic §11 v2; dak/README.md
interpretations).

* Only ServiceRequests and Procedures are checked. Draft orders of other resource types
  (MedicationRequest, …) are never checked, never validated and never make the call fail,
  also when they are not valid R4 (the reference sandbox sends a MedicationRequest whose
  `category` is not a list).
* An order without `subject` counts as the context patient's (dak/README.md, §11): a draft is
  often written before the EHR fills every element. R4 requires `subject` on ServiceRequest and
  Procedure, so the judged copy gets the context patient as its subject before it is validated
  (service/cds_hooks/validation.py) — as `$apply` does (service/fhir_api/invalid_data.py). An order
  whose subject is not exactly the context patient (another patient, `Group/x`, a subject
  without a reference, `x/Patient/<id>`, another server's absolute URL) is not judged: left
  out, no card, the call is not refused — as `$apply` does (service/apply/engine.py
  `draft_orders`). Matching: service/cds_hooks/subjects.py.
"""

from __future__ import annotations

from service.cds_hooks.subjects import is_patient_reference

CHECKED_TYPES = ("ServiceRequest", "Procedure")


def is_checked_type(resource: object) -> bool:
    return isinstance(resource, dict) and resource.get("resourceType") in CHECKED_TYPES


def of_patient(order: dict, patient: str | None, fhir_server: str | None = None) -> bool:
    """True when the order has no subject or its subject is exactly the context patient
    (`Patient/123`, or `<fhirServer>/Patient/123` with the call's fhirServer)."""
    if "subject" not in order:
        return True
    subject = order["subject"]
    reference = subject.get("reference") if isinstance(subject, dict) else None
    return is_patient_reference(reference, patient, fhir_server)


def judged_orders(drafts: list[dict], patient: str | None, fhir_server: str | None = None) -> list[dict]:
    """The draft orders the order checks judge, in Bundle order (one without `subject` as a copy
    with the context patient as its subject, see the module docstring)."""
    judged = [order for order in drafts if is_checked_type(order) and of_patient(order, patient, fhir_server)]
    return [order if "subject" in order or not patient else {**order, "subject": {"reference": patient}}
            for order in judged]


def unchecked(drafts: list[dict]) -> list[dict]:
    """The draft orders of resource types that are not checked (left out of the evaluation)."""
    return [order for order in drafts if not is_checked_type(order)]
