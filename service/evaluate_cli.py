"""`nekpijn-cds evaluate FILE`: evaluate a patient's data and print the plan.

FILE is a FHIR Bundle with the patient's resources, or the Parameters body
of a $apply call. Prints a readable summary (Dutch, or English with
--lang en): grade, course, profile, why, and the plan by section.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, time
from pathlib import Path

from service.apply.narrative import do_not_name, guideline_label
from service.facts.model import AMSTERDAM

EVALUATION_DATE = "https://nekpijn-cds.org/fhir/StructureDefinition/evaluation-date"

HEAD = {
    "nl": {"title": "Nekpijn CDS — evaluatie op {day} voor {subject}", "why": "Waarom", "plan": "Plan",
           "nothing": "(geen aanbevelingen)", "provisional": "voorlopig",
           "not_used": "Niet gebruikt", "do_not": "NIET UITVOEREN"},
    "en": {"title": "Nekpijn CDS — evaluation on {day} for {subject}", "why": "Why", "plan": "Plan",
           "nothing": "(no recommendations)", "provisional": "provisional",
           "not_used": "Not used", "do_not": "DO NOT PERFORM"},
}


class InputError(Exception):
    pass


def register(sub: argparse._SubParsersAction, settings) -> None:
    p = sub.add_parser("evaluate", help="evaluate a FHIR Bundle (or $apply Parameters) and print the plan")
    p.add_argument("file", type=Path, help="Bundle or Parameters JSON file")
    p.add_argument("--today", type=date.fromisoformat,
                   help="evaluation day YYYY-MM-DD (default: the Bundle's evaluation-date, else today in Amsterdam)")
    p.add_argument("--lang", choices=("nl", "en"), default=None, help="output language (default nl)")
    p.add_argument("--plan", default="nekpijn-behandelprofiel", help="PlanDefinition id (default nekpijn-behandelprofiel)")
    p.add_argument("--subject", help="Patient/<id> (default: the only Patient in the Bundle)")
    p.add_argument("--json", dest="json_out", type=Path, help="also write the CarePlan JSON to this file")


def _load(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def _as_parameters(doc: object, subject: str | None) -> dict:
    """The $apply Parameters for a Bundle or Parameters document."""
    if isinstance(doc, dict) and doc.get("resourceType") == "Parameters":
        return doc
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        found = doc.get("resourceType") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(f"expected a FHIR Bundle or Parameters resource, got {found!r}")
    if subject is None:
        subject = _only_subject(doc)
    return {"resourceType": "Parameters", "parameter": [{"name": "subject", "valueString": subject},
                                                         {"name": "data", "resource": doc}]}


def _only_subject(bundle: dict) -> str:
    """The one Patient of the Bundle; without a Patient (the self-check sends none), the one
    subject its QuestionnaireResponses share."""
    resources = [e["resource"] for e in bundle.get("entry", [])
                 if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    patients = [r["id"] for r in resources if r.get("resourceType") == "Patient" and "id" in r]
    if len(patients) == 1:
        return f"Patient/{patients[0]}"
    if not patients:
        subjects = {r.get("subject", {}).get("reference") for r in resources
                    if r.get("resourceType") == "QuestionnaireResponse" and isinstance(r.get("subject"), dict)}
        subjects.discard(None)
        if len(subjects) == 1:
            return subjects.pop()
    raise InputError(f"the Bundle holds {len(patients)} Patients; name one with --subject Patient/<id>")


def _evaluation_day(doc: object) -> date | None:
    if isinstance(doc, dict):
        for ext in doc.get("meta", {}).get("extension", []):
            if ext.get("url") == EVALUATION_DATE and "valueDate" in ext:
                return date.fromisoformat(ext["valueDate"])
    return None


def render(result, lang: str, day: date, subject: str) -> str:
    head = HEAD[lang]
    plan, case = result.careplan, result.case
    contained = {r["id"]: r for r in plan["contained"]}
    lines = [head["title"].format(day=day.isoformat(), subject=subject), "", plan["title"], "", head["why"]]
    for obs in (r for r in plan["contained"] if r["resourceType"] == "Observation"):
        value = obs.get("valueCodeableConcept", {}).get("text")
        if value is None:
            value = {True: {"nl": "ja", "en": "yes"}, False: {"nl": "nee", "en": "no"}}[obs["valueBoolean"]][lang]
        status = f" ({head['provisional']})" if obs["status"] == "preliminary" else ""
        lines.append(f"  {obs['code']['text']}: {value}{status}")
        lines.append(f"    {obs['note'][0]['text']}")
    if plan.get("note"):
        lines += ["", head["not_used"]] + [f"  {n['text'].split(' — ', 1)[1]}" for n in plan["note"]]
    lines += ["", head["plan"]]
    group = contained["requestgroup"]
    if not group.get("action"):
        lines.append(f"  {head['nothing']}")
    for section in group.get("action", []):
        lines.append(f"  {section.get('title', section['code'][0]['coding'][0]['code'])}")
        for action in section.get("action", []):
            ref = action.get("resource", {}).get("reference", "#")[1:]
            request = contained.get(ref, {})
            extra = f" [{request['resourceType']}, intent {request['intent']}]" if "intent" in request else ""
            title = action.get("title") or ""
            if request.get("doNotPerform"):  # discouraged: the mark and the positive name, no double negative
                title = f"{head['do_not']}: {do_not_name(title)}"
            lines.append(f"    • {title} ({guideline_label(action['documentation'][0]['label'], lang)}){extra}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, settings) -> int:
    from service.apply.engine import Engine, UnknownPlan
    from service.apply.operation import ApplyInputError, parse_apply
    from service.facts.gather import NoDataError
    from service.knowledge import KnowledgeBase

    try:
        doc = _load(args.file)
        params = _as_parameters(doc, args.subject)
        request = parse_apply(params)
        day = args.today or _evaluation_day(doc) or datetime.now(AMSTERDAM).date()
        lang = args.lang or request.lang or "nl"
        engine = Engine(KnowledgeBase.load(settings.knowledge_dir))
        result = engine.apply(args.plan, request.resources, request.subject,
                              now=datetime.combine(day, time(12, 0), AMSTERDAM), lang=lang,
                              encounter=request.encounter, practitioner=request.practitioner)
    except (InputError, ApplyInputError) as exc:
        print(f"nekpijn-cds evaluate: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    except UnknownPlan:
        print(f"nekpijn-cds evaluate: unknown PlanDefinition {args.plan!r}", file=sys.stderr)
        return 2
    except NoDataError as exc:
        print(f"nekpijn-cds evaluate: {exc}", file=sys.stderr)
        return 3
    sys.stdout.write(render(result, lang, day, request.subject))
    if args.json_out:
        args.json_out.write_text(json.dumps(result.careplan, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0
