"""Which draft orders of an order hook are judged (decision-logic §11 v2; dak/README.md
interpretations).

* Only ServiceRequests and Procedures are checked. Draft orders of other resource types
  (MedicationRequest, …) are never checked, never validated and never make the call fail,
  also when they are not valid R4 (the reference sandbox sends a MedicationRequest whose
  `category` is not a list).
* An order without `subject` counts as the context patient's; an order of another patient
  is not judged (no card).
"""

from __future__ import annotations

CHECKED_TYPES = ("ServiceRequest", "Procedure")


def is_checked_type(resource: object) -> bool:
    return isinstance(resource, dict) and resource.get("resourceType") in CHECKED_TYPES


def of_patient(order: dict, patient: str | None) -> bool:
    """True when the order has no subject or its subject is the context patient
    (`Patient/123`, also as an absolute URL ending in `/Patient/123`)."""
    if "subject" not in order:
        return True
    subject = order["subject"]
    reference = subject.get("reference") if isinstance(subject, dict) else None
    if not isinstance(reference, str) or not patient:
        return False
    return reference == patient or reference.endswith("/" + patient)


def judged_orders(drafts: list[dict], patient: str | None) -> list[dict]:
    """The draft orders the order checks judge, in Bundle order."""
    return [order for order in drafts if is_checked_type(order) and of_patient(order, patient)]


def unchecked(drafts: list[dict]) -> list[dict]:
    """The draft orders of resource types that are not checked (left out of the evaluation)."""
    return [order for order in drafts if not is_checked_type(order)]
