"""Exact subject matching on hook calls.

A reference names the context patient only when it is `Patient/<id>` or
`<fhirServer>/Patient/<id>` (the call's own FHIR server), either optionally with
`/_history/<version>`. Anything else — `x/Patient/<id>`, another server's
absolute URL, `Group/<id>` — is another subject. `$apply` has no fhirServer:
there only the relative form counts (service/facts/gather.py).

`localise()` rewrites the call-server absolute form into the relative one before
the engine sees the data, so that the facts layer needs to know only one form.
"""

from __future__ import annotations

HISTORY = "/_history/"


def _strip_history(reference: str) -> str:
    return reference.split(HISTORY, 1)[0] if HISTORY in reference else reference


def is_patient_reference(reference: object, patient: str | None, fhir_server: str | None) -> bool:
    """Whether a reference string names `patient` ("Patient/<id>") exactly."""
    if not isinstance(reference, str) or not patient:
        return False
    reference = _strip_history(reference)
    return reference == patient or (fhir_server is not None and reference == f"{fhir_server}/{patient}")


def localise(resources: list[dict], patient: str | None, fhir_server: str | None) -> list[dict]:
    """`resources` with `subject.reference` = `<fhirServer>/Patient/<id>` made relative
    (shallow copies; the other resources are returned as they are)."""
    if not fhir_server or not patient:
        return resources
    absolute = f"{fhir_server}/{patient}"
    out = []
    for resource in resources:
        subject = resource.get("subject") if isinstance(resource, dict) else None
        reference = subject.get("reference") if isinstance(subject, dict) else None
        if isinstance(reference, str) and _strip_history(reference) == absolute:
            resource = {**resource, "subject": {**subject, "reference": patient + reference[len(absolute):]}}
        out.append(resource)
    return out
