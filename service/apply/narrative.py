"""Generated narratives (`text`, status `generated`) of the top-level output resources.

A generic FHIR viewer shows a resource's narrative and little else; contained resources carry
none (dom-1), so the CarePlan's narrative shows the whole plan: the title, the case features
(grade, course, profile, ...), the plan by section — discouraged items marked "NIET UITVOEREN"
with the positive name of what not to do (`do_not_name`: no double negative),
referrals with their recipient and priority, due dates — and the notes. Everything is read from
the resource itself (no patient identifier beyond its references, which are not printed), every
value is HTML-escaped, and only basic XHTML elements are used (FHIR txt-1/txt-2). Deterministic:
the same resource gives the same div. Plain string building: this runs on every $apply and
hook call.
"""

from __future__ import annotations

import functools
import re
from html import escape

XHTML = "http://www.w3.org/1999/xhtml"

# Dutch wording as the CLI (service/evaluate_cli.py) and the cards (service/cds_hooks/cards/) write it
WORDS = {
    "nl": {"proposal": "Voorstel, opgesteld op {day}.", "features": "Kenmerken van de casus",
           "plan": "Plan", "nothing": "Geen aanbevelingen.", "do_not": "NIET UITVOEREN",
           "provisional": "voorlopig", "yes": "ja", "no": "nee", "to": "aan", "due": "gepland op",
           "priority": "prioriteit", "notes": "Opmerkingen"},
    "en": {"proposal": "Proposal, created on {day}.", "features": "Features of the case",
           "plan": "Plan", "nothing": "No recommendations.", "do_not": "DO NOT PERFORM",
           "provisional": "provisional", "yes": "yes", "no": "no", "to": "to", "due": "due",
           "priority": "priority", "notes": "Notes"},
}
PRIORITY = {
    "nl": {"routine": "routine", "urgent": "spoed", "asap": "zo snel mogelijk", "stat": "direct (vandaag)"},
    "en": {"routine": "routine", "urgent": "urgent", "asap": "as soon as possible", "stat": "immediately (today)"},
}
# short dates as the cards write them ("14 jan 2027" / "14 Jan 2027")
MONTHS = {
    "nl": ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


# A discouraged item (doNotPerform) is shown as "NIET UITVOEREN: <what not to do>". A catalogue
# text that states the prohibition itself ("Adviseer geen beeldvormend onderzoek (…)", "Do not
# advise imaging (…)") would read as a double negative after the mark, so the mark takes the
# positive name: the text without its leading prohibition. Wording only, in one place: the CLI
# (service/evaluate_cli.py) uses it too. The texts of the catalogue (dak/) stay as they are.
_PROHIBITION = re.compile(
    r"^(?:(?:adviseer|gebruik|geef|doe|verwijs)\s+)?geen\s+"        # nl: "Adviseer geen X", "Geen X"
    r"|^(?:do\s+not|don't)\s+(?:advise|use|give|perform|do|refer)\s+"  # en: "Do not advise X"
    r"|^no\s+", re.I)


@functools.lru_cache(maxsize=1024)  # catalogue titles
def do_not_name(title: str) -> str:
    """What a discouraged item says not to do, to follow the NIET UITVOEREN / DO NOT PERFORM
    mark: "Adviseer geen beeldvormend onderzoek (…)" → "Beeldvormend onderzoek (…)"; a plain
    name ("Laser") stays."""
    name = _PROHIBITION.sub("", title, count=1)
    return name[:1].upper() + name[1:] if name and name != title else title


# The UZI role codes (performerType, a consult's PractitionerRole) have Dutch names only
# (dak/recommendations.yaml uzi_roles); an English narrative names the role in English.
UZI_SYSTEM = "http://fhir.nl/fhir/NamingSystem/uzi-rolcode"
ROLE_NAMES = {"en": {"01.015": "GP", "01.008": "Occupational physician", "25.000": "Healthcare psychologist",
                     "04.000": "Physiotherapist"}}

# Guideline references as the catalogue writes them ("C.2, C.3, tabel 2; patient page (seed 000)",
# "B.1; Bijlage 1 §2"): English says "table" and "Appendix" (outputs.md), and the contract's own
# pointer to the patient page ("seed 000") is shown as the patient page in the output's language.
_PATIENT_PAGE = re.compile(r"\bpatient page \(seed \d+\)")
_ENGLISH_REFS = ((re.compile(r"\btabel\b"), "table"), (re.compile(r"\bBijlage\b"), "Appendix"))


@functools.lru_cache(maxsize=1024)
def guideline_label(text: str, lang: str) -> str:
    """A guideline reference in the output language: "B.1; Bijlage 1 §2" → "B.1; Appendix 1 §2"."""
    text = _PATIENT_PAGE.sub("patiëntenpagina" if lang == "nl" else "patient page", text)
    if lang == "en":
        for pattern, word in _ENGLISH_REFS:
            text = pattern.sub(word, text)
    return text


@functools.lru_cache(maxsize=4096)  # nearly every text is a catalogue title seen before
def _e(text: str) -> str:
    return escape(text, quote=False)


def _lang(resource: dict) -> str:
    lang = resource.get("language")
    return lang if lang in WORDS else "nl"


def _open(lang: str) -> str:
    # the resource has a language: the div says it too (lang and xml:lang, as the validator asks)
    return f'<div xmlns="{XHTML}" lang="{lang}" xml:lang="{lang}">'


def short_date(value: object, lang: str) -> str:
    """"30 nov 2026" for a FHIR date / dateTime ('' when it is none)."""
    if not isinstance(value, str) or len(value) < 10 or not value[:4].isdigit():
        return ""
    try:
        year, month, day = int(value[:4]), int(value[5:7]), int(value[8:10])
        return f"{day} {MONTHS[lang][month - 1]} {year}"
    except (ValueError, IndexError):
        return ""


def text_element(div: str) -> dict:
    return {"status": "generated", "div": div}


def _feature_value(obs: dict, words: dict) -> str:
    if "valueBoolean" in obs:
        value = words["yes"] if obs["valueBoolean"] else words["no"]
    else:
        concept = obs.get("valueCodeableConcept") or {}
        value = concept.get("text") or next((c.get("display") for c in concept.get("coding", []) if c.get("display")), "")
    if obs.get("status") == "preliminary":
        value = f"{value} ({words['provisional']})"
    return value


def _due(action: dict, request: dict) -> str | None:
    return action.get("timingDateTime") or request.get("occurrenceDateTime") \
        or ((request.get("restriction") or {}).get("period") or {}).get("end")


def _role_name(coding: dict, lang: str) -> str | None:
    if coding.get("system") == UZI_SYSTEM:
        name = ROLE_NAMES.get(lang, {}).get(coding.get("code"))
        if name:
            return name
    return coding.get("display")


def _addressed(request: dict, contained: dict[str, dict], lang: str) -> list[str]:
    """Who a request addresses, when it is a professional (a referral, a consult)."""
    if request.get("resourceType") == "ServiceRequest":
        names = (_role_name(c, lang) for c in (request.get("performerType") or {}).get("coding", []))
        return [n for n in names if n][:1]
    out = []
    for recipient in request.get("recipient", []):
        ref = str(recipient.get("reference", ""))
        if not ref.startswith("#"):
            continue
        role = contained.get(ref[1:], {})
        codings = [c for concept in role.get("code", []) for c in concept.get("coding", [])]
        name = next((n for n in (_role_name(c, lang) for c in codings if c.get("system") == UZI_SYSTEM) if n), None)
        name = name or recipient.get("display")
        if name:
            out.append(name)
    return out


def _details(lang: str, request: dict, priority: str | None, due: str | None,
             contained: dict[str, dict] | None = None) -> list[str]:
    """" — aan: Huisarts — prioriteit: spoed — gepland op 30 nov 2026" parts (escaped)."""
    words = WORDS[lang]
    parts = []
    addressed = _addressed(request, contained or {}, lang)
    if addressed:
        parts.append(f"{words['to']}: {_e(', '.join(addressed))}")
    if priority and (addressed or priority != "routine"):
        parts.append(f"{words['priority']}: {_e(PRIORITY[lang].get(priority, priority))}")
    day = short_date(due, lang)
    if day:
        parts.append(f"{words['due']} {day}")
    return parts


def _guideline(action: dict, lang: str) -> str:
    docs = action.get("documentation") or []
    label = docs[0].get("label") if docs and isinstance(docs[0], dict) else None
    if not label:
        return ""
    return f" <i>({_e(guideline_label(label, lang))})</i>"


def _item(action: dict, contained: dict[str, dict], lang: str) -> str:
    words = WORDS[lang]
    ref = str((action.get("resource") or {}).get("reference", ""))
    request = contained.get(ref[1:], {}) if ref.startswith("#") else {}
    title = action.get("title") or ""
    mark = ""
    if request.get("doNotPerform"):
        mark, title = f"<b>{words['do_not']}</b>: ", do_not_name(title)
    parts = _details(lang, request, action.get("priority") or request.get("priority"), _due(action, request), contained)
    details = "".join(f" — {p}" for p in parts)
    children = action.get("action") or []
    sub = f"<ul>{''.join(_item(a, contained, lang) for a in children)}</ul>" if children else ""
    return f"<li>{mark}{_e(title)}{details}{_guideline(action, lang)}{sub}</li>"


def careplan_div(plan: dict) -> str:
    """The XHTML narrative of a CarePlan whose plan is a contained RequestGroup."""
    lang = _lang(plan)
    words = WORDS[lang]
    contained = {r.get("id"): r for r in plan.get("contained", []) if isinstance(r, dict)}
    out = [_open(lang)]
    if plan.get("title"):
        out.append(f"<h2>{_e(plan['title'])}</h2>")
    day = short_date(plan.get("created"), lang)
    if day:
        out.append(f"<p>{words['proposal'].format(day=day)}</p>")
    features = [contained[ref[1:]] for ref in (s.get("reference", "") for s in plan.get("supportingInfo", []))
                if ref.startswith("#") and ref[1:] in contained]
    if features:
        rows = "".join(f"<tr><th>{_e(o.get('code', {}).get('text', ''))}</th><td>{_e(_feature_value(o, words))}</td></tr>"
                       for o in features)
        out.append(f"<h3>{words['features']}</h3><table><tbody>{rows}</tbody></table>")
    sections = []
    for activity in plan.get("activity", []):
        ref = str((activity.get("reference") or {}).get("reference", ""))
        group = contained.get(ref[1:]) if ref.startswith("#") else None
        if group is not None:
            sections.extend(group.get("action") or [])
    out.append(f"<h3>{words['plan']}</h3>")
    if not sections:
        out.append(f"<p>{words['nothing']}</p>")
    for section in sections:
        children = section.get("action") or []
        if not children:  # an item at the top level: a list of one
            out.append(f"<ul>{_item(section, contained, lang)}</ul>")
            continue
        out.append(f"<h4>{_e(section.get('title') or '')}</h4>")
        out.append(f"<ul>{''.join(_item(a, contained, lang) for a in children)}</ul>")
    notes = [n.get("text") for n in plan.get("note", []) if n.get("text")]
    if notes:
        out.append(f"<h3>{words['notes']}</h3><ul>{''.join(f'<li>{_e(n)}</li>' for n in notes)}</ul>")
    out.append("</div>")
    return "".join(out)


def request_div(request: dict, title: str | None) -> str:
    """The XHTML narrative of a standalone request (a card suggestion creates it)."""
    lang = _lang(request)
    words = WORDS[lang]
    code = request.get("code") or {}
    title = title or code.get("text") or next((c.get("display") for c in code.get("coding", []) if c.get("display")), "")
    mark = ""
    if request.get("doNotPerform"):
        mark, title = f"<b>{words['do_not']}</b>: ", do_not_name(title)
    own = {r.get("id"): r for r in request.get("contained", []) if isinstance(r, dict)}  # a consult's role
    parts = _details(lang, request, request.get("priority"), _due({}, request), own)
    out = [_open(lang), f"<p>{mark}<b>{_e(title)}</b></p>"]
    if parts:
        line = " — ".join(parts)
        out.append(f"<p>{line[:1].upper()}{line[1:]}</p>")
    texts = [n.get("text") for n in request.get("note", [])] + [p.get("contentString") for p in request.get("payload", [])]
    if request.get("description"):
        texts.append(request["description"])
    out.extend(f"<p>{_e(t)}</p>" for t in texts if isinstance(t, str) and t)
    out.append("</div>")
    return "".join(out)


def with_text(resource: dict, div: str) -> dict:
    """The resource with `text` right after `language` (or `id`), the usual FHIR element order."""
    out = {}
    placed = False
    anchor = "language" if "language" in resource else "id" if "id" in resource else "resourceType"
    for key, value in resource.items():
        if key == "text":
            continue
        out[key] = value
        if key == anchor:
            out["text"] = text_element(div)
            placed = True
    if not placed:
        out["text"] = text_element(div)
    return out
