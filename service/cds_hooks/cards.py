"""CDS Hooks 2.0 cards from an $apply result (dak/outputs.md "CDS Hooks cards").

`render_cards(result, engine, service_id=..., hook_instance=..., lang=...)`
turns the ApplyResult of a PlanDefinition into the cards of a service
response; `card_records(cards)` gives what the store keeps per issued card
(uuid, kind, the override reasons offered, the suggestion uuids, summary).

The cards are rendered from the RequestGroup of the CarePlan and the
applied actions behind it (texts in the card language from the compiled
actions: Dutch, or English with lang="en"); the case features give the
evidence. Which card a situation gets is the contract of outputs.md:

nekpijn-behandelprofiel (whole-case plans)
  * serious-pathology `suspected` (grade IV): one `critical` card first —
    flags per pathology, a recommended suggestion that creates the referral
    ServiceRequest. Nothing else.
  * serious-pathology `unresolved` / `not-assessed` (restricted plan): one
    `warning` card holding the assessment prompts (for `unresolved` the
    flags per pathology and the GP referral as a suggestion that is NOT
    recommended; the provisional profile is named). No treatment card.
  * a treatment profile A–D: the `info` card with the plan per section,
    the prognostic factors present and the evidence, and a recommended
    suggestion that creates the CarePlan — the very CarePlan of the
    ApplyResult (= what $apply returns). The assessment prompts that apply
    go on one further card: `info`, or `warning` when one of them is urgent
    (decision-logic §9: rec-monitor-worsening is a warning).
  * profile undetermined: the prompt card is a `warning` (it blocks the
    profile).
  * follow-up referrals (rec-stop-contact-gp, rec-refer-back-gp): one
    `warning` card each with a recommended suggestion that creates the
    consult / referral.
nekpijn-orders (plans evaluated per draft order)
  * one card per flagged draft order: `warning` when an applied action is
    urgent (discouraged therapy, imaging, collar after trauma), `info`
    otherwise (collar, manipulation); for actions of the discouraged-therapy
    section a recommended suggestion to delete the draft order (action
    `delete` with `resourceId`, a string: CDS Hooks 2.0.1 §Action).

Every card: uuid (uuid5 over hook instance, service and card key: a retried
call gives the same uuids), summary < 140 characters, indicator, Markdown
detail, source {label, url of the guideline, topic = the card kind as a
Coding of the local CodeSystem}, links to the guideline sections, the
override reasons of the CodeSystem, and for suggestions selectionBehavior
"at-most-one" (one suggestion per card). Cards are ordered critical,
warning, info. Nothing is ever null or empty (`prune`).

Standalone resources in suggestions (referral, consult) are copies of the
contained requests: without the contained-only id and `basedOn` the
RequestGroup, with the contained resources they point to (the
PractitionerRole of a consult) contained in themselves; everything else
(subject, intent, codes) as $apply made it.
"""

from __future__ import annotations

import copy
import functools
import re
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any, Iterable

from service.apply.engine import ORDER_HOOKS, ApplyResult
from service.apply.plans import AppliedAction, CompiledAction
from service.apply.terminology import LOCAL_SYSTEM
from service.facts.summary import case_summary

GUIDELINE_LABEL = "KNGF-richtlijn Nekpijn (2016)"
NAMESPACE = uuidlib.uuid5(uuidlib.NAMESPACE_URL, "https://nekpijn-cds.org/cds-services")
SUMMARY_LIMIT = 140  # CDS Hooks: "<140-character summary"
INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}

# Codes of the card contract (outputs.md): sections and recommendations the cards are built around.
ASSESSMENT = "section-assessment"
DISCOURAGED = "section-discouraged"
GP_REFERRAL = "rec-refer-gp-serious-pathology"
FOLLOW_UP_REFERRALS = ("rec-stop-contact-gp", "rec-refer-back-gp")
PROFILES = ("profile-a", "profile-b", "profile-c", "profile-d")
OVERRIDE_GROUP = "override-reason"
PROGNOSIS_GROUP = "prognosis"
URGENT = ("urgent", "asap", "stat")

TEXT = {
    "nl": {
        "unresolved": "Rode vlaggen aanwezig: beoordeel het klachtenpatroon voordat u behandelt",
        "not-assessed": "Rode vlaggen nog niet uitgevraagd: sluit eerst ernstige pathologie uit",
        "restricted": "Ernstige pathologie nog niet uitgesloten: vul eerst de beoordeling aan",
        "blocking": "Behandelprofiel nog niet te bepalen: vul eerst de beoordeling aan",
        "prompts": "Vul de beoordeling aan",
        "flags": "Rode vlaggen per pathologie",
        "provisional": "Voorlopig behandelprofiel",
        "provisional-note": "Het behandelplan volgt zodra ernstige pathologie (graad IV) is uitgesloten.",
        "factors": "Prognostische factoren",
        "evidence": "Onderbouwing",
        "careplan-label": "Behandelplan vastleggen",
        "careplan-action": "Leg het behandelplan vast",
        "order": "Order",
        "delete-label": "Conceptorder verwijderen",
        "delete-action": "Verwijder de conceptorder",
        "yes": "ja", "no": "nee",
        "with": "met",
        "source": "Bron",
        "artifact": "Aanbeveling in de kennisbank",
        "plan-artifact": "Beslisregels in de kennisbank",
    },
    "en": {
        "unresolved": "Red flags present: assess the complaint pattern before treating",
        "not-assessed": "Red flags not yet screened: rule out serious pathology first",
        "restricted": "Serious pathology not yet ruled out: complete the assessment first",
        "blocking": "Treatment profile not yet determined: complete the assessment first",
        "prompts": "Complete the assessment",
        "flags": "Red flags per pathology",
        "provisional": "Provisional treatment profile",
        "provisional-note": "The treatment plan follows once serious pathology (grade IV) has been ruled out.",
        "factors": "Prognostic factors",
        "evidence": "Evidence",
        "careplan-label": "Record the treatment plan",
        "careplan-action": "Record the treatment plan",
        "order": "Order",
        "delete-label": "Remove the draft order",
        "delete-action": "Remove the draft order",
        "yes": "yes", "no": "no",
        "with": "with",
        "source": "Source",
        "artifact": "Recommendation in the knowledge base",
        "plan-artifact": "Decision rules in the knowledge base",
    },
}


# ---------------------------------------------------------------------------
# JSON hygiene
# ---------------------------------------------------------------------------

_EMPTY = (None, "", [], {})


def prune(value: Any) -> Any:
    """A copy without nulls and without empty strings, arrays and objects (at any depth).

    CDS Hooks 2.0 §Use of JSON: elements SHALL NOT be null or empty. An
    object or array that only held empties is dropped too.
    """
    if isinstance(value, dict):
        return _prune_dict(value)
    if isinstance(value, list):
        return _prune_list(value)
    return value


# One pass with the empties tested inline: this runs over every card, the CarePlan included
# (~1 300 nodes per patient-view); prune() recursing through _is_empty() took 2.6 times as long.
def _prune_dict(value: dict) -> dict:
    out = {}
    for k, v in value.items():
        if isinstance(v, dict):
            v = _prune_dict(v)
            if not v:
                continue
        elif isinstance(v, list):
            v = _prune_list(v)
            if not v:
                continue
        elif v is None or (isinstance(v, str) and not v):
            continue
        out[k] = v
    return out


def _prune_list(value: list) -> list:
    out = []
    for v in value:
        if isinstance(v, dict):
            v = _prune_dict(v)
            if not v:
                continue
        elif isinstance(v, list):
            v = _prune_list(v)
            if not v:
                continue
        elif v is None or (isinstance(v, str) and not v):
            continue
        out.append(v)
    return out


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and len(value) == 0)


def find_empties(value: Any, path: str = "$") -> list[str]:
    """Paths of every null / empty element (for tests and assertions)."""
    found = []
    if _is_empty(value):
        return [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found += find_empties(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += find_empties(v, f"{path}[{i}]")
    return found


_MD_SPECIAL = re.compile(r"([\\`*_\[\]])")
_MD_HTML = re.compile(r"<(?=[A-Za-z/!?])")


@functools.lru_cache(maxsize=4096)  # ~140 calls per card set, nearly all on the same catalogue texts
def md(text: str) -> str:
    """Plain text for a Markdown (GFM) detail: emphasis, code, links and HTML tags escaped."""
    return _MD_HTML.sub(r"\\<", _MD_SPECIAL.sub(r"\\\1", text))


def _lower_first(text: str) -> str:
    """"Nekpijn graad II" → "nekpijn graad II"; acronyms ("TSK overwegen") stay."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _summary(text: str) -> str:
    text = " ".join(text.split())
    if len(text) < SUMMARY_LIMIT:
        return text
    return text[: SUMMARY_LIMIT - 2].rstrip() + "…"


# ---------------------------------------------------------------------------
# What the store keeps per card
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCardInfo:
    uuid: str
    kind: str                            # the card kind = source.topic.code (a local code)
    override_reasons: tuple[str, ...]    # codes offered in card.overrideReasons
    suggestion_uuids: tuple[str, ...]
    summary: str


def card_records(cards: Iterable[dict]) -> list[IssuedCardInfo]:
    """The store's view of rendered cards (one record per card, in order)."""
    return [IssuedCardInfo(
        uuid=card["uuid"],
        kind=card["source"]["topic"]["code"],
        override_reasons=tuple(r["code"] for r in card.get("overrideReasons", [])),
        suggestion_uuids=tuple(s["uuid"] for s in card.get("suggestions", []) if "uuid" in s),
        summary=card["summary"],
    ) for card in cards]


# ---------------------------------------------------------------------------
# The applied actions with their RequestGroup action and request
# ---------------------------------------------------------------------------


@dataclass
class Item:
    """One applied PlanDefinition action, as it ended up in the CarePlan."""

    applied: AppliedAction
    section: str | None          # code of the top-level (section) action; None for the section itself
    group_action: dict           # the RequestGroup action
    resource: dict | None        # the contained request it points to
    order: dict | None           # the draft order it is about (order plans)

    @property
    def action(self) -> CompiledAction:
        return self.applied.action

    @property
    def code(self) -> str:
        return self.action.code


def _items(result: ApplyResult) -> list[Item]:
    """Every applied action (sections and their children, in plan order) with its request."""
    careplan = result.careplan
    contained = {r.get("id"): r for r in careplan.get("contained", [])}
    group = next((r for r in careplan.get("contained", []) if r.get("resourceType") == "RequestGroup"), {})
    group_actions = list(group.get("action", []))
    out: list[Item] = []

    def walk(applied: list[AppliedAction], actions: list[dict], section: str | None, order: dict | None):
        if len(applied) != len(actions):
            raise ValueError("the RequestGroup does not match the applied actions")
        for item, action in zip(applied, actions):
            codes = [c.get("code") for cc in action.get("code", []) for c in cc.get("coding", [])]
            if item.action.code not in codes:
                raise ValueError(f"RequestGroup action {codes} is not the applied action {item.action.code}")
            reference = action.get("resource", {}).get("reference", "")
            resource = contained.get(reference[1:]) if reference.startswith("#") else None
            out.append(Item(item, section, action, resource, order))
            walk(item.children, action.get("action", []), section or item.action.code, order)

    position = 0
    for order, applied in result.applied:
        walk(applied, group_actions[position:position + len(applied)], None, order)
        position += len(applied)
    return out


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


class _Renderer:
    def __init__(self, result: ApplyResult, engine, service_id: str, hook_instance: str, lang: str,
                 fhir_base: str | None):
        self.result = result
        self.engine = engine
        self.terms = engine.terminology
        self.plan = engine.plan(service_id)
        self.service_id = service_id
        self.hook_instance = hook_instance
        lang = (lang or "nl").split("-")[0].lower()  # "en-GB" → "en"
        self.lang = lang if lang in TEXT else "nl"
        self.text = TEXT[self.lang]
        self.fhir_base = fhir_base.rstrip("/") if fhir_base else None
        self.items = _items(result)
        self.guideline_url = self._guideline_url()
        self.keys: dict[str, int] = {}
        self.reasons = [self.coding(code) for code, parent in self.terms.parent.items() if parent == OVERRIDE_GROUP]

    # -- small helpers -----------------------------------------------------

    def t(self, texts: dict[str, str]) -> str:
        return texts.get(self.lang) or texts.get("nl") or ""

    def display(self, code: str) -> str:
        return self.terms.text(code, self.lang)

    def coding(self, code: str) -> dict:
        return {"system": LOCAL_SYSTEM, "code": code, "display": self.display(code)}

    def title(self, item: Item) -> str:
        return self.t(item.action.title) or self.display(item.code)

    def description(self, item: Item) -> str:
        return self.t(item.action.description)

    def guideline(self, item: Item) -> str:
        """The guideline sections of an action ("C.2, C.5")."""
        return ", ".join(d["label"] for d in item.action.documentation if d.get("label"))

    def _guideline_url(self) -> str | None:
        for artifact in self.plan.resource.get("relatedArtifact", []):
            if artifact.get("type") in ("citation", "documentation") and artifact.get("url"):
                return artifact["url"]
        return None

    def override_reasons(self) -> list[dict]:
        """The override reasons of the CodeSystem (children of `override-reason`), display in the card language."""
        return copy.deepcopy(self.reasons)

    def links(self, items: Iterable[Item], artifact: str | None = None) -> list[dict]:
        out: list[dict] = []
        for item in items:
            for doc in item.action.documentation:
                if doc.get("url"):
                    link = {"label": doc.get("display") or doc.get("label") or GUIDELINE_LABEL,
                            "url": doc["url"], "type": "absolute"}
                    if link not in out:
                        out.append(link)
        if self.fhir_base and artifact:
            if self.engine.knowledge.get("ActivityDefinition", artifact) is not None:
                out.append({"label": f"{self.text['artifact']}: {artifact}",
                            "url": f"{self.fhir_base}/ActivityDefinition/{artifact}", "type": "absolute"})
            else:
                out.append({"label": f"{self.text['plan-artifact']}: {self.plan.id}",
                            "url": f"{self.fhir_base}/PlanDefinition/{self.plan.id}", "type": "absolute"})
        return out

    def uuid(self, key: str) -> str:
        """uuid5 over hook instance, service and card key (repeated keys numbered): stable across retries."""
        n = self.keys.get(key, 0)
        self.keys[key] = n + 1
        name = f"{self.hook_instance}|{self.service_id}|{key}" + (f"|{n}" if n else "")
        return str(uuidlib.uuid5(NAMESPACE, name))

    def card(self, key: str, kind: str, indicator: str, summary: str, detail: list[str],
             suggestions: list[dict] = (), links: list[dict] = ()) -> dict:
        card_uuid = self.uuid(key)
        card = {
            "uuid": card_uuid,
            "summary": _summary(summary),
            "indicator": indicator,
            "detail": "\n\n".join(block for block in detail if block),
            "source": {"label": GUIDELINE_LABEL, "url": self.guideline_url, "topic": self.coding(kind)},
        }
        if suggestions:
            card["suggestions"] = [
                {"uuid": str(uuidlib.uuid5(NAMESPACE, f"{card_uuid}|{s['key']}")),
                 **{k: v for k, v in s.items() if k != "key"}} for s in suggestions]
            card["selectionBehavior"] = "at-most-one"
        card["overrideReasons"] = self.override_reasons()
        card["links"] = list(links)
        return prune(card)

    def standalone(self, resource: dict) -> dict:
        """A contained request as a resource of its own (see module docstring)."""
        res = copy.deepcopy(resource)
        res.pop("id", None)
        based_on = [r for r in res.get("basedOn", []) if not str(r.get("reference", "")).startswith("#")]
        if based_on:
            res["basedOn"] = based_on
        else:
            res.pop("basedOn", None)
        contained = {r.get("id"): r for r in self.result.careplan.get("contained", [])}
        local = []
        for ref in _local_references(res):
            target = contained.get(ref)
            if target is not None and target.get("resourceType") != "RequestGroup" and ref not in local:
                local.append(ref)
        if local:
            res["contained"] = [copy.deepcopy(contained[ref]) for ref in local]
        return prune(res)

    def create_suggestion(self, key: str, item: Item, recommended: bool) -> dict | None:
        if item.resource is None:
            return None
        return {"key": key, "label": self.title(item), "isRecommended": recommended,
                "actions": [{"type": "create", "description": self.description(item) or self.title(item),
                             "resource": self.standalone(item.resource)}]}

    # -- shared detail blocks ----------------------------------------------

    def feature_line(self, code: str, bullet: bool = True) -> str | None:
        features = [f for f in self.result.case.features if f.code == code]
        if not features:
            return None
        values = ", ".join(self._value(f.value) for f in features)
        explanations = " ".join(md(self.t(f.explanation)) for f in features if self.t(f.explanation))
        return ("- " if bullet else "") + f"**{md(self.display(code))}:** {md(values)}. {explanations}".rstrip()

    def _value(self, value: Any) -> str:
        if isinstance(value, bool):
            return self.text["yes"] if value else self.text["no"]
        return self.display(str(value))

    def evidence(self) -> str:
        seen: list[str] = []
        for f in self.result.case.features:
            if f.code not in seen:
                seen.append(f.code)
        lines = [line for code in seen if (line := self.feature_line(code))]
        return f"**{self.text['evidence']}**\n\n" + "\n".join(lines) if lines else ""

    def flags(self) -> str:
        feature = self.result.case.feature("serious-pathology")
        if feature is None or not feature.components:
            return ""
        lines = [f"- **{md(self.display(pathology))}:** "
                 + md("; ".join(_lower_first(self.display(flag)) for flag in flags))
                 for pathology, flags in feature.components]
        return f"**{self.text['flags']}**\n\n" + "\n".join(lines)

    def prognostic_factors(self) -> str:
        facts = self.result.case.facts.answers
        features = {f.code for f in self.result.case.features}  # psychosocial-dominant: in the evidence
        present = [code for code, fact in facts.items() if fact.value is True and code not in features
                   and PROGNOSIS_GROUP in self.terms.ancestors(code)]
        if not present:
            return ""
        order = list(self.terms.display)
        present.sort(key=lambda c: order.index(c) if c in order else len(order))
        return f"**{self.text['factors']}**\n\n" + "\n".join(f"- {md(self.display(c))}" for c in present)

    def prompt_lines(self, prompts: list[Item]) -> str:
        if not prompts:
            return ""
        lines = []
        for item in prompts:
            line = f"- **{md(self.title(item))}**"
            if self.description(item):
                line += f" — {md(self.description(item))}"
            if self.guideline(item):
                line += f" ({md(self.guideline(item))})"
            lines.append(line)
        return f"**{md(self.display(ASSESSMENT))}**\n\n" + "\n".join(lines)

    def recommendation(self, item: Item) -> str:
        text = f"**{md(self.title(item))}**"
        if self.description(item):
            text += f" — {md(self.description(item))}"
        if self.guideline(item):
            text += f"\n\n{self.text['source']}: {md(GUIDELINE_LABEL)}, {md(self.guideline(item))}"
        return text

    def leaves(self, section: str | None = None) -> list[Item]:
        return [i for i in self.items if i.section is not None and (section is None or i.section == section)]

    # -- nekpijn-behandelprofiel -------------------------------------------

    def case_cards(self) -> list[dict]:
        case = self.result.case
        serious = case.feature("serious-pathology")
        profile = case.feature("treatment-profile")
        serious_value = serious.value if serious else None
        prompts = self.leaves(ASSESSMENT)
        cards = []
        if serious_value == "suspected":
            cards.append(self.grade_iv_card())
        elif serious_value in ("unresolved", "not-assessed"):
            cards.append(self.restricted_card(str(serious_value), prompts, profile))
        elif profile is not None and profile.value in PROFILES:
            cards.append(self.profile_card(str(profile.value)))
            if prompts:
                urgent = any(i.action.priority in URGENT for i in prompts)
                cards.append(self.prompt_card(prompts, "warning" if urgent else "info", blocking=False))
        else:
            cards.append(self.prompt_card(prompts, "warning", blocking=True))
        if serious_value != "suspected":
            for item in self.leaves():
                if item.code in FOLLOW_UP_REFERRALS:
                    cards.append(self.follow_up_card(item))
        return cards

    def grade_iv_card(self) -> dict:
        referral = next((i for i in self.leaves() if i.code == GP_REFERRAL), None)
        feature = self.result.case.feature("serious-pathology")
        detail = [self.flags(), md(self.t(feature.explanation)) if feature else ""]
        suggestions = []
        if referral is not None:
            detail.append(self.recommendation(referral))
            suggestion = self.create_suggestion("referral", referral, recommended=True)
            if suggestion:
                suggestions.append(suggestion)
        summary = case_summary(self.result.case, self.lang, self.terms.text)
        return self.card("grade-iv", "grade-iv", "critical", summary, detail, suggestions,
                         self.links([referral] if referral else [], GP_REFERRAL))

    def restricted_card(self, value: str, prompts: list[Item], profile) -> dict:
        feature = self.result.case.feature("serious-pathology")
        heading = f"**{md(self.display('serious-pathology'))}: {md(self.display(value))}**"
        detail = [heading, md(self.t(feature.explanation)) if feature else ""]
        suggestions = []
        if value == "unresolved":
            detail.append(self.flags())
        detail.append(self.prompt_lines(prompts))
        if value == "unresolved":
            referral = next((i for i in self.leaves() if i.code == GP_REFERRAL), None)
            if referral is not None:
                suggestion = self.create_suggestion("referral", referral, recommended=False)
                if suggestion:
                    suggestions.append(suggestion)
        if profile is not None and profile.value in PROFILES:
            detail.append(f"**{self.text['provisional']}:** "
                          f"{md(case_summary(self.result.case, self.lang, self.terms.text))}. "
                          f"{self.text['provisional-note']}")
        kind = prompts[0].code if prompts else "serious-pathology"
        summary = self.text.get(value, self.text["restricted"])
        return self.card(kind, kind, "warning", summary, detail, suggestions, self.links(prompts[:1], kind))

    def profile_card(self, profile: str) -> dict:
        case = self.result.case
        grade, course = case.feature("grade"), case.feature("course")
        summary = self.display(profile)
        if grade is not None and grade.value not in ("undetermined",):
            summary += ": " + _lower_first(self.display(str(grade.value)))
            if course is not None and course.value not in ("undetermined",):
                summary += f" {self.text['with']} " + _lower_first(self.display(str(course.value)))
        sections = []
        for section in (i for i in self.items if i.section is None):
            children = [i for i in self.items if i.section == section.code]
            lines = []
            for child in children:
                line = f"- {md(self.title(child))}"
                if self.guideline(child):
                    line += f" ({md(self.guideline(child))})"
                lines.append(line)
            if lines:
                sections.append(f"**{md(self.t(section.action.title) or self.display(section.code))}**\n\n"
                                + "\n".join(lines))
        heading = f"**{md(case_summary(case, self.lang, self.terms.text))}**"
        detail = [heading, *sections, self.prognostic_factors(), self.evidence()]
        careplan = self.result.careplan
        action = {"type": "create",
                  "description": f"{self.text['careplan-action']}: {careplan.get('title') or self.display(profile)}",
                  "resource": careplan}  # card() prunes = copies it
        suggestion = {"key": "careplan", "label": self.text["careplan-label"], "isRecommended": True,
                      "actions": [action]}
        return self.card(profile, profile, "info", summary, detail, [suggestion], self.links([], self.plan.id))

    def prompt_card(self, prompts: list[Item], indicator: str, *, blocking: bool) -> dict:
        if blocking:
            summary = self.text["blocking"]
            profile = self.result.case.feature("treatment-profile")
            detail = [f"**{md(case_summary(self.result.case, self.lang, self.terms.text))}**",
                      md(self.t(profile.explanation)) if profile else "",
                      self.prompt_lines(prompts), self.evidence()]
        else:
            titles = ", ".join(_lower_first(self.title(i)) for i in prompts)
            summary = f"{self.text['prompts']}: {titles}"
            if len(summary) >= SUMMARY_LIMIT:
                summary = f"{self.text['prompts']} ({len(prompts)})"
            detail = [self.prompt_lines(prompts)]
        return self.card(ASSESSMENT, ASSESSMENT, indicator, summary, detail, [],
                         self.links(prompts[:1], prompts[0].code if prompts else None))

    def follow_up_card(self, item: Item) -> dict:
        detail = [self.recommendation(item), self.feature_line("treatment-effect", bullet=False) or ""]
        suggestions = []
        suggestion = self.create_suggestion("follow-up", item, recommended=True)
        if suggestion:
            suggestions.append(suggestion)
        return self.card(item.code, item.code, "warning", self.title(item), detail, suggestions,
                         self.links([item], item.code))

    # -- nekpijn-orders ------------------------------------------------------

    def order_cards(self) -> list[dict]:
        cards = []
        for index, (order, applied) in enumerate(self.result.applied):
            items = [i for i in self.leaves() if i.order is order]
            if order is None or not items:
                continue
            cards.append(self.order_card(index, order, items))
        return cards

    def order_label(self, order: dict) -> str | None:
        """What the draft order is: its local intervention, else its code's text or display."""
        concept = order.get("code", {})
        local = self.terms.local_codes_of(concept.get("coding", []))
        if local:
            return self.display(local[0])
        if concept.get("text"):
            return concept["text"]
        for coding in concept.get("coding", []):
            if coding.get("display"):
                return coding["display"]
        return None

    def order_card(self, index: int, order: dict, items: list[Item]) -> dict:
        reference = f"{order['resourceType']}/{order['id']}" if order.get("id") else None
        urgent = any(i.action.priority in URGENT for i in items)
        first = min(items, key=lambda i: 0 if i.action.priority in URGENT else 1)
        section_title = self.display(first.section) if first.section else ""
        summary = f"{section_title}: {self.title(first)}" if section_title else self.title(first)
        label = self.order_label(order)
        named = " ".join(filter(None, [label, f"({reference})" if reference and label else reference]))
        detail = [f"**{self.text['order']}:** {md(named)}" if named else ""]
        detail += [self.recommendation(i) for i in items]
        suggestions = []
        if reference and any(i.section == DISCOURAGED for i in items):
            suggestions.append({"key": "delete", "label": self.text["delete-label"], "isRecommended": True,
                                "actions": [{"type": "delete",
                                             "description": f"{self.text['delete-action']}: {named}",
                                             "resourceId": reference}]})
        key = f"{first.code}|{reference or index}"
        return self.card(key, first.code, "warning" if urgent else "info", summary, detail, suggestions,
                         self.links(items, first.code))

    # -- entry point -----------------------------------------------------------

    def render(self) -> list[dict]:
        per_order = bool(ORDER_HOOKS & set(self.plan.triggers()))
        cards = self.order_cards() if per_order else self.case_cards()
        return sorted(cards, key=lambda c: INDICATOR_RANK[c["indicator"]])


def _local_references(value: Any) -> list[str]:
    """Ids of the local ("#id") references in a resource, in document order."""
    out: list[str] = []
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and ref.startswith("#") and len(ref) > 1:
            out.append(ref[1:])
        for k, v in value.items():
            if k != "contained":
                out += _local_references(v)
    elif isinstance(value, list):
        for v in value:
            out += _local_references(v)
    return out


def render_cards(result: ApplyResult, engine, *, service_id: str, hook_instance: str, lang: str = "nl",
                 fhir_base: str | None = None) -> list[dict]:
    """The cards for one service call (see the module docstring).

    `result` is `engine.apply(service_id, ...)` — ideally made with the same
    `lang`, since the CarePlan in the profile card is offered as $apply made
    it. `fhir_base` (optional): the public FHIR base of this service; when
    given, each card also links to the knowledge artifact behind it.
    """
    return _Renderer(result, engine, service_id, hook_instance, lang, fhir_base).render()
