"""Generated narratives (`text`) for the compiled knowledge artifacts.

A post-processing step of the knowledge build (tools/build_knowledge.py) over SUSHI's JSON
output: every top-level artifact gets `text.status = "generated"` and a short Dutch XHTML
summary (the artifacts' language is nl) — title, status, version, description and a compact
table of the content — so that a generic FHIR viewer shows what the artifact holds. Contained
resources get none (dom-1).

Only the elements and attributes FHIR's narrative rules allow are written (no script, no
style, no event attributes); every text is XML-escaped. The output depends only on the input:
the same JSON gives the same bytes.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

XHTML_NS = "http://www.w3.org/1999/xhtml"

STATUS_NL = {"draft": "concept", "active": "actief", "retired": "ingetrokken", "unknown": "onbekend"}
YES_NO = {True: "ja", False: "nee"}
KIND_NL = {"ServiceRequest": "verzoek (ServiceRequest)", "CommunicationRequest": "communicatie (CommunicationRequest)",
           "Task": "taak (Task)", "MedicationRequest": "medicatie (MedicationRequest)"}
TYPE_NL = {"group": "groep", "boolean": "ja/nee", "integer": "geheel getal", "decimal": "getal", "choice": "keuze",
           "open-choice": "keuze (open)", "text": "tekst", "string": "tekst (kort)", "date": "datum",
           "dateTime": "datum/tijd", "display": "weergave", "quantity": "hoeveelheid", "reference": "verwijzing"}
EQUIVALENCE_NL = {"equivalent": "equivalent", "equal": "gelijk", "wider": "breder", "subsumes": "omvat",
                  "narrower": "smaller", "specializes": "specialiseert", "inexact": "onnauwkeurig",
                  "relatedto": "verwant", "unmatched": "geen overeenkomst", "disjoint": "disjunct"}


def _e(value) -> str:
    return escape(str(value), quote=True)


def _code(value) -> str:
    return f"<code>{_e(value)}</code>"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """A table; cells are already-escaped XHTML fragments."""
    if not rows:
        return ""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _coding(coding: dict) -> str:
    code = _code(coding.get("code", ""))
    return f"{code} {_e(coding['display'])}" if coding.get("display") else code


def _concept(cc: dict | None) -> str:
    if not cc:
        return ""
    codings = [_coding(c) for c in cc.get("coding", [])]
    return "; ".join(codings) or _e(cc.get("text", ""))


def _header(resource: dict) -> str:
    """Title (or name), canonical, status, version and description."""
    title = resource.get("title") or resource.get("name") or resource.get("id", "")
    parts = [f"<p><b>{_e(resource['resourceType'])}: {_e(title)}</b></p>"]
    facts = []
    if resource.get("name") and resource.get("name") != title:
        facts.append(f"naam {_code(resource['name'])}")
    if resource.get("status"):
        facts.append(f"status {_e(STATUS_NL.get(resource['status'], resource['status']))}")
    if resource.get("version"):
        facts.append(f"versie {_e(resource['version'])}")
    if resource.get("date"):
        facts.append(f"datum {_e(resource['date'])}")
    if facts:
        parts.append(f"<p>{_join_facts(facts)}</p>")
    if resource.get("url"):
        parts.append(f"<p>Canonieke URL: {_code(resource['url'])}</p>")
    if resource.get("description"):
        parts.append(f"<p>{_e(resource['description'])}</p>")
    return "".join(parts)


def _join_facts(facts: list[str]) -> str:
    text = ", ".join(facts)
    return text[:1].upper() + text[1:]


# --- per resource type: the content table ----------------------------------------------------

def _questionnaire(q: dict) -> str:
    rows = []

    def walk(items: list[dict], depth: int) -> None:
        for item in items:
            prefix = "— " * depth
            rows.append([_code(item.get("linkId", "")), _e(prefix + item.get("text", "")),
                         _e(TYPE_NL.get(item.get("type"), item.get("type", ""))),
                         _e(YES_NO[bool(item.get("required"))])])
            walk(item.get("item", []), depth + 1)

    walk(q.get("item", []), 0)
    return f"<p>Vragen ({len(rows)}):</p>" + _table(["linkId", "Tekst", "Type", "Verplicht"], rows)


def _condition(action: dict) -> str:
    parts = []
    for cond in action.get("condition", []):
        expr = cond.get("expression", {})
        text = expr.get("description")
        parts.append(_e(text) if text else _code(expr.get("expression", "")))
    return "<br/>".join(parts)


def _definition(action: dict) -> str:
    canonical = action.get("definitionCanonical")
    return _code(canonical.rsplit("/", 1)[-1]) if canonical else ""


def _plan_definition(pd: dict) -> str:
    rows = []

    def walk(actions: list[dict], depth: int) -> None:
        for action in actions:
            title = action.get("title") or _concept_text(action.get("code"))
            cell = _e("— " * depth + title)
            rows.append([f"<b>{cell}</b>" if action.get("action") else cell, _condition(action), _definition(action)])
            walk(action.get("action", []), depth + 1)

    walk(pd.get("action", []), 0)
    return f"<p>Acties ({len(rows)}):</p>" + _table(["Actie", "Voorwaarde", "Definitie"], rows)


def _concept_text(cc: list | dict | None) -> str:
    ccs = cc if isinstance(cc, list) else [cc] if cc else []
    for c in ccs:
        for coding in c.get("coding", []):
            if coding.get("display") or coding.get("code"):
                return coding.get("display") or coding["code"]
        if c.get("text"):
            return c["text"]
    return ""


def _activity_definition(ad: dict) -> str:
    rows = [["Soort", _e(KIND_NL.get(ad.get("kind"), ad.get("kind", "")))],
            ["Code", _concept(ad.get("code"))],
            ["Titel", _e(ad.get("title", ""))]]
    if ad.get("doNotPerform"):
        rows.append(["Niet uitvoeren", "<b>ja — NIET UITVOEREN</b>"])
    if ad.get("intent"):
        rows.append(["Intentie", _e(ad["intent"])])
    if ad.get("priority"):
        rows.append(["Prioriteit", _e(ad["priority"])])
    for participant in ad.get("participant", []):
        rows.append(["Deelnemer", _e(participant.get("type", "")) +
                     (f" ({_concept(participant['role'])})" if participant.get("role") else "")])
    if ad.get("usage"):
        rows.append(["Toepassing", _e(ad["usage"])])
    for art in ad.get("relatedArtifact", []):
        if art.get("display") or art.get("label"):
            rows.append(["Bron", _e(art.get("display") or art.get("label"))])
    return "<table><tbody>" + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</tbody></table>"


def _code_system(cs: dict) -> str:
    rows = []

    def walk(concepts: list[dict], depth: int) -> None:
        for concept in concepts:
            display = _e("— " * depth + concept.get("display", ""))
            rows.append([_code(concept.get("code", "")), f"<b>{display}</b>" if concept.get("concept") else display])
            walk(concept.get("concept", []), depth + 1)

    walk(cs.get("concept", []), 0)
    intro = f"<p>Inhoud: {_e(cs.get('content', ''))}; {len(rows)} codes.</p>"
    return intro + _table(["Code", "Weergave"], rows)


def _value_set(vs: dict) -> str:
    parts = []
    compose = vs.get("compose", {})
    for label, key in (("Bevat", "include"), ("Sluit uit", "exclude")):
        for inc in compose.get(key, []):
            source = _code(inc["system"]) if inc.get("system") else ""
            if inc.get("version"):
                source += f" versie {_e(inc['version'])}"
            if inc.get("valueSet"):
                source += " ValueSet " + ", ".join(_code(v) for v in inc["valueSet"])
            concepts = inc.get("concept", [])
            what = f"{len(concepts)} codes" if concepts else "alle codes"
            parts.append(f"<p>{_e(label)} uit {source}: {_e(what)}</p>")
            for f in inc.get("filter", []):
                parts.append(f"<p>Filter: {_code(f.get('property', ''))} {_e(f.get('op', ''))} "
                             f"{_code(f.get('value', ''))}</p>")
            parts.append(_table(["Code", "Weergave"], [[_code(c.get("code", "")), _e(c.get("display", ""))]
                                                      for c in concepts]))
    return "".join(parts)


def _concept_map(cm: dict) -> str:
    parts = []
    for group in cm.get("group", []):
        parts.append(f"<p>Van {_code(group.get('source', ''))} naar {_code(group.get('target', ''))}:</p>")
        rows = []
        for element in group.get("element", []):
            source = _coding(element)
            for target in element.get("target", []) or [{}]:
                rows.append([source, _coding(target) if target.get("code") else "",
                             _e(EQUIVALENCE_NL.get(target.get("equivalence"), target.get("equivalence", ""))),
                             _e(target.get("comment", ""))])
        parts.append(_table(["Bron", "Doel", "Relatie", "Toelichting"], rows))
    return "".join(parts)


def _element_detail(element: dict) -> str:
    details = []
    for key in sorted(element):
        if key.startswith(("fixed", "pattern")):
            value = element[key]
            shown = value if isinstance(value, (str, int, float, bool)) else json.dumps(value, ensure_ascii=False,
                                                                                         sort_keys=True)
            details.append(f"{_e(key)} {_code(shown)}")
    if element.get("type"):
        details.append("type " + ", ".join(_code(t.get("code", "")) for t in element["type"]))
    if element.get("binding", {}).get("valueSet"):
        binding = element["binding"]
        details.append(f"binding {_code(binding['valueSet'])} ({_e(binding.get('strength', ''))})")
    if element.get("sliceName"):
        details.insert(0, f"slice {_code(element['sliceName'])}")
    if element.get("short"):
        details.append(_e(element["short"]))
    return "; ".join(details)


def _structure_definition(sd: dict) -> str:
    facts = [["Type", _code(sd.get("type", ""))],
             ["Basis", _code(sd.get("baseDefinition", ""))],
             ["Soort", _e(f"{sd.get('kind', '')}, {sd.get('derivation', '')}")]]
    for ctx in sd.get("context", []):
        facts.append(["Context", _code(ctx.get("expression", ""))])
    head = "<table><tbody>" + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in facts) + "</tbody></table>"
    rows = []
    for element in sd.get("differential", {}).get("element", []):
        card = ""
        if "min" in element or "max" in element:
            card = f"{element.get('min', '')}..{element.get('max', '')}"
        detail = _element_detail(element)
        if card or detail:  # a bare path only anchors slicing: not a key element
            rows.append([_code(element.get("path", "")), _e(card), detail])
    return head + "<p>Differentiële elementen:</p>" + _table(["Pad", "Kard.", "Details"], rows)


def _library(library: dict) -> str:
    """The CQL Library: what it depends on, its parameters and the forms of its content."""
    rows = [[_e(r.get("type", "")), _code(r.get("resource", ""))] for r in library.get("relatedArtifact", [])]
    rows += [["parameter", f"{_code(p['name'])} ({_e(p.get('type', ''))})"] for p in library.get("parameter", [])]
    rows += [["inhoud", _code(c.get("contentType", ""))] for c in library.get("content", [])]
    return _table(["Soort", "Waarde"], rows) if rows else ""


CONTENT = {
    "Library": _library,
    "Questionnaire": _questionnaire,
    "PlanDefinition": _plan_definition,
    "ActivityDefinition": _activity_definition,
    "CodeSystem": _code_system,
    "ValueSet": _value_set,
    "ConceptMap": _concept_map,
    "StructureDefinition": _structure_definition,
}


def narrative(resource: dict) -> dict:
    """The generated narrative of one top-level artifact."""
    content = CONTENT.get(resource["resourceType"], lambda _r: "")(resource)
    # the validator wants the resource's language on the div as both lang and xml:lang
    lang = f' lang="{_e(resource["language"])}" xml:lang="{_e(resource["language"])}"' if resource.get("language") else ""
    return {"status": "generated", "div": f'<div xmlns="{XHTML_NS}"{lang}>{_header(resource)}{content}</div>'}


def with_narrative(resource: dict) -> dict:
    """A copy of `resource` with `text`, placed after `language` (or `id`) as FHIR orders it."""
    text = narrative(resource)
    anchor = "language" if "language" in resource else "id"
    result = {}
    for key, value in resource.items():
        if key == "text":
            continue
        result[key] = value
        if key == anchor:
            result["text"] = text
    if "text" not in result:
        result["text"] = text
    return result


def add_narratives(folder: Path) -> int:
    """Give every artifact JSON in `folder` its narrative (rewritten as SUSHI writes JSON)."""
    count = 0
    for path in sorted(folder.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(resource, dict) or "resourceType" not in resource:
            continue
        path.write_text(json.dumps(with_narrative(resource), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        count += 1
    return count
