"""Self-check input as the patient web page sends it (dak/self-check.md).

`self_check_response(answers, ...)` builds the QuestionnaireResponse to
Questionnaire nekklachten-zelfcheck: the answered items in Questionnaire
order, the red flags `sc-rf-*` inside the group `sc-red-flags` (left out when
none is answered), `sc-accident-symptoms` a top-level sibling right after
`sc-after-accident`. `answers` maps linkId → True / False; an item that is
not in `answers` is not answered. `self_check_parameters(...)` wraps it as
the `$apply` body: Parameters {subject, data: Bundle (collection), userLanguage}.

The example Bundles also hold the patient their response refers to, as an anonymous Patient
(an id, nothing else: the self-check knows no one, dak/self-check.md), so that the examples
are complete and load as they are into a FHIR server that checks references (HAPI refuses a
reference to a Patient it does not hold); `$apply` ignores it, as it ignores every resource
in `data` that is not a response to the self-check.

Pure: the same arguments always give the same resources (no uuids, no clock).
Used by the tests and by tools/make_examples.py (examples/self-check-*.json).
"""

from __future__ import annotations

CANONICAL_BASE = "https://nekpijn-cds.org/fhir"
SELF_CHECK_QUESTIONNAIRE = f"{CANONICAL_BASE}/Questionnaire/nekklachten-zelfcheck"
FULL_URL_BASE = "http://example.org/fhir"
GROUP = "sc-red-flags"

#: the items of self-check.md, in Questionnaire order (top level; the red flags inside GROUP)
TOP_ITEMS = ("sc-longer-than-3-weeks", "sc-movement-painful", "sc-radiating", "sc-tingling-weakness",
             "sc-headache-from-neck", "sc-daily-life", "sc-getting-worse", "sc-keeps-returning",
             "sc-after-accident", "sc-accident-symptoms")
RED_FLAG_ITEMS = ("sc-rf-fever", "sc-rf-weight-loss", "sc-rf-cancer", "sc-rf-both-limbs", "sc-rf-bladder-bowel",
                  "sc-rf-swallowing", "sc-rf-double-vision")

#: examples/<name>.json: (subject id, answers, authored)
EXAMPLES: dict[str, tuple[str, dict[str, bool], str]] = {
    # a red flag (difficulty swallowing) besides a contact criterion: advice-gp
    "self-check-red-flag": ("zelfcheck-3f6c2a1e-5b7d-4c8e-9f10-2a3b4c5d6e7f",
                            {**{c: False for c in TOP_ITEMS if c != "sc-accident-symptoms"},
                             "sc-longer-than-3-weeks": True,
                             **{c: False for c in RED_FLAG_ITEMS}, "sc-rf-swallowing": True},
                            "2026-06-15T10:00:00+02:00"),
    # after a fall, with headache or dizziness: advice-assessment
    "self-check-accident": ("zelfcheck-8d2e4f6a-1c3b-4a5d-8e7f-9a0b1c2d3e4f",
                            {**{c: False for c in TOP_ITEMS}, "sc-after-accident": True,
                             "sc-accident-symptoms": True, **{c: False for c in RED_FLAG_ITEMS}},
                            "2026-06-15T10:00:00+02:00"),
}


def _item(link_id: str, value: bool) -> dict:
    return {"linkId": link_id, "answer": [{"valueBoolean": value}]}


def self_check_response(answers: dict[str, bool], *, rid: str = "zelfcheck", subject: str = "Patient/zelfcheck",
                        authored: str = "2026-06-15T10:00:00+02:00", status: str = "completed") -> dict:
    items = [_item(c, answers[c]) for c in TOP_ITEMS if c in answers]
    flags = [_item(c, answers[c]) for c in RED_FLAG_ITEMS if c in answers]
    if flags:
        items.append({"linkId": GROUP, "item": flags})
    response = {"resourceType": "QuestionnaireResponse", "id": rid, "questionnaire": SELF_CHECK_QUESTIONNAIRE,
                "status": status, "subject": {"reference": subject}, "authored": authored}
    if items:
        response["item"] = items
    return response


def anonymous_patient(patient_id: str) -> dict:
    """The self-check's patient: an id and nothing else (no identifier, name, birth date, ...)."""
    return {"resourceType": "Patient", "id": patient_id}


def self_check_bundle(responses: list[dict], bundle_id: str | None = None, patients: list[dict] | None = None) -> dict:
    """A collection Bundle: the responses first (what the page sends), then the `patients`."""
    bundle: dict = {"resourceType": "Bundle"}
    if bundle_id:
        bundle["id"] = bundle_id
    bundle["type"] = "collection"
    bundle["entry"] = [{"fullUrl": f"{FULL_URL_BASE}/{r['resourceType']}/{r['id']}", "resource": r}
                       for r in [*responses, *(patients or [])]]
    return bundle


def self_check_parameters(answers: dict[str, bool] | None = None, *, subject: str = "Patient/zelfcheck",
                          lang: str | None = None, responses: list[dict] | None = None,
                          authored: str = "2026-06-15T10:00:00+02:00") -> dict:
    """The $apply body the page sends (one response, or the `responses` given)."""
    if responses is None:
        responses = [self_check_response(answers or {}, rid=subject.split("/", 1)[1], subject=subject,
                                         authored=authored)]
    params = [{"name": "subject", "valueString": subject},
              {"name": "data", "resource": self_check_bundle(responses)}]
    if lang:
        params.append({"name": "userLanguage", "valueCode": lang})
    return {"resourceType": "Parameters", "parameter": params}


def example_bundles() -> dict[str, dict]:
    """examples/<name>.json → the Bundle (the `data` of a self-check $apply, with its anonymous Patient)."""
    out = {}
    for name, (patient_id, answers, authored) in EXAMPLES.items():
        response = self_check_response(answers, rid=name, subject=f"Patient/{patient_id}", authored=authored)
        out[name] = self_check_bundle([response], bundle_id=name, patients=[anonymous_patient(patient_id)])
    return out
