"""CDS Hooks requests built from a case's resources, the way an EHR sends them.

Shared by the hook tests (tests/hooks_support.py re-exports these) and the example
generator (tools/make_hook_examples.py), so the committed examples are exactly what the
tests post:

* `ehr_prefetch(resources, templates, patient_id)`: every prefetch key answered like a
  FHIR server answers the query (an instance read gives the resource or null, a search a
  searchset of exactly the matching resources, possibly empty);
* `hook_request(hook, patient_id, ...)`: the request body of one hook call.
"""

from __future__ import annotations

import uuid


def searchset(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r} for r in resources]}


def hook_request(hook: str, patient_id: str, *, prefetch: dict | None = None, fhir_server: str | None = None,
                 token: str | None = None, encounter: str | None = None, draft_orders: list[dict] | None = None,
                 selections: list[str] | None = None, hook_instance: str | None = None,
                 user: str = "Practitioner/physio-1") -> dict:
    """One hook call's body; `hook_instance` defaults to a fresh UUID (examples pass a fixed one)."""
    context = {"userId": user, "patientId": patient_id}
    if encounter or hook == "encounter-start":
        context["encounterId"] = encounter or "enc-1"
    if hook in ("order-select", "order-sign"):
        # a collection Bundle has no `total` (R4 bdl-1: only searchset and history do)
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": o} for o in draft_orders or []]}
        if hook == "order-select":
            context["selections"] = selections or [f"ServiceRequest/{o['id']}" for o in (draft_orders or [])][:1] \
                or ["ServiceRequest/x"]
    body = {"hook": hook, "hookInstance": hook_instance or str(uuid.uuid4()), "context": context}
    if fhir_server:
        body["fhirServer"] = fhir_server
    if token:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "nekpijn-cds"}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def _matches(resource: dict, param: str, value: str, patient_id: str) -> bool:
    """One FHIR search parameter of the prefetch templates, evaluated like a FHIR server."""
    if param in ("patient", "subject"):
        wanted = value.replace("{{context.patientId}}", patient_id)
        return (resource.get("subject") or {}).get("reference") in (wanted, f"Patient/{wanted}")
    if param == "questionnaire":
        return str(resource.get("questionnaire", "")).split("|")[0] == value
    if param == "code":
        tokens = {tuple(t.split("|", 1)) if "|" in t else ("", t) for t in value.split(",")}
        codings = (resource.get("code") or {}).get("coding", [])
        return any((c.get("system"), c.get("code")) in tokens or ("", c.get("code")) in tokens for c in codings)
    if param == "_id":
        return resource.get("id") in value.split(",")
    # a new search parameter in the templates must be taught here, not silently ignored
    raise AssertionError(f"prefetch parameter {param!r} is not understood by the test EHR")


def ehr_prefetch(resources: list[dict], templates: dict[str, str], patient_id: str) -> dict:
    """Every prefetch key answered the way a FHIR server would: an instance read gives the
    resource (or null), a search gives a searchset of exactly the resources that match
    every parameter (patient, questionnaire, code tokens `system|code`, _id)."""
    out = {}
    for key, template in templates.items():
        path, _, query = template.replace("{{context.patientId}}", patient_id).partition("?")
        rtype = path.split("/")[0]
        candidates = [r for r in resources if r["resourceType"] == rtype]
        if not query:
            rid = path.split("/", 1)[1] if "/" in path else None
            out[key] = next((r for r in candidates if r["id"] == rid), None)
            continue
        params = [p.partition("=") for p in query.split("&")]
        out[key] = searchset([r for r in candidates
                              if all(_matches(r, name, value, patient_id) for name, _, value in params)])
    return out
