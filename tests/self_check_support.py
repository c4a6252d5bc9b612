"""Shared by the self-check page tests: the Questionnaire, answers per outcome, requests.

The outcomes are the rows of the decision table of dak/self-check.md (first
match wins); the questions come from the compiled Questionnaire.
"""

from __future__ import annotations

import uuid

from knowledge_support import artifact

QUESTIONNAIRE_ID = "nekklachten-zelfcheck"
CANONICAL = f"https://nekpijn-cds.org/fhir/Questionnaire/{QUESTIONNAIRE_ID}"
APPLY_PATH = f"/fhir/PlanDefinition/{QUESTIONNAIRE_ID}/$apply"
RED_FLAG_GROUP = "sc-red-flags"
GATED = "sc-accident-symptoms"  # enableWhen sc-after-accident = true
ADVICE_CODES = ("advice-gp", "advice-assessment", "advice-appointment", "advice-self-care")


def questionnaire() -> dict:
    return artifact("Questionnaire", QUESTIONNAIRE_ID)


def _walk(items):
    for item in items:
        yield item
        yield from _walk(item.get("item", []))


def questions() -> list[dict]:
    """Every question (not groups), in form order."""
    return [i for i in _walk(questionnaire()["item"]) if i["type"] != "group"]


def question_ids() -> list[str]:
    return [q["linkId"] for q in questions()]


def red_flags() -> list[str]:
    group = next(i for i in questionnaire()["item"] if i["linkId"] == RED_FLAG_GROUP)
    return [i["linkId"] for i in group["item"]]


CONTACT_CRITERIA = ["sc-longer-than-3-weeks", "sc-movement-painful", "sc-radiating", "sc-tingling-weakness",
                    "sc-headache-from-neck", "sc-daily-life", "sc-getting-worse", "sc-keeps-returning"]


def answers(yes: dict[str, bool] | list[str] = ()) -> dict[str, bool]:
    """Every shown question answered: no, except *yes*; the gated question only when it is shown."""
    yes = dict.fromkeys(yes, True) if not isinstance(yes, dict) else yes
    out = {q: False for q in question_ids() if q != GATED}
    out.update(yes)
    if not out.get("sc-after-accident"):
        out.pop(GATED, None)
    elif GATED not in out:
        out[GATED] = False
    return out


#: name → (answers, expected advice code); one per row of the decision table, and more
OUTCOMES: dict[str, tuple[dict[str, bool], str]] = {
    "self-care": (answers(), "advice-self-care"),
    "appointment": (answers(["sc-radiating"]), "advice-appointment"),
    "assessment": (answers(["sc-after-accident", GATED]), "advice-assessment"),
    "gp": (answers(["sc-rf-double-vision"]), "advice-gp"),  # v2: same-day (today, huisartsenpost)
    "gp-soon": (answers(["sc-rf-swallowing"]), "advice-gp"),
    "gp-everything-yes": (answers({q: True for q in question_ids()}), "advice-gp"),
}


def questionnaire_response(given: dict[str, bool], subject: str | None = None) -> dict:
    """A QuestionnaireResponse as the page builds it (groups nested, only answered items)."""
    subject = subject or f"Patient/zelfcheck-{uuid.uuid4()}"

    def build(items):
        out = []
        for item in items:
            if item["type"] == "group":
                children = build(item.get("item", []))
                if children:
                    out.append({"linkId": item["linkId"], "text": item["text"], "item": children})
            elif item["linkId"] in given:
                out.append({"linkId": item["linkId"], "text": item["text"],
                            "answer": [{"valueBoolean": given[item["linkId"]]}]})
        return out

    return {"resourceType": "QuestionnaireResponse", "id": subject.split("/", 1)[1], "questionnaire": CANONICAL,
            "status": "completed", "subject": {"reference": subject}, "authored": "2026-03-02T10:15:00.000Z",
            "item": build(questionnaire()["item"])}


def apply_parameters(response: dict, lang: str = "nl") -> dict:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "subject", "valueString": response["subject"]["reference"]},
        {"name": "data", "resource": {"resourceType": "Bundle", "type": "collection",
                                      "entry": [{"resource": response}]}},
        {"name": "userLanguage", "valueCode": lang},
    ]}


def advice_of(careplan: dict) -> dict:
    """What the page should show for a CarePlan: code, heading, paragraphs, urgency."""
    contained = careplan.get("contained", [])
    observation = next(r for r in contained if r["resourceType"] == "Observation"
                       and any(c["code"] == "self-check-advice" for c in r["code"]["coding"]))
    concept = observation["valueCodeableConcept"]
    requests = [r for r in contained if r["resourceType"] == "CommunicationRequest"]
    paragraphs = [p["contentString"] for r in requests for p in r.get("payload", []) if "contentString" in p]
    why = [n["text"] for n in observation.get("note", []) if n.get("text")]  # "Waarom?": after the advice itself
    return {
        "code": concept["coding"][0]["code"],
        "heading": concept.get("text") or concept["coding"][0].get("display"),
        "paragraphs": paragraphs[:1] + why + paragraphs[1:],
        "why": why,
        "urgent": concept["coding"][0]["code"] == "advice-gp"
        or any(r.get("priority") in ("urgent", "asap", "stat") for r in requests),
        "same_day": any(r.get("priority") == "stat" for r in requests),
    }
