"""What every card module shares: the applied actions with their RequestGroup action and
request (`Item`), and `CardContext` — language, displays, uuids, the card frame, suggestions.

The card modules only decide content; the frame (uuid, source, override reasons,
selectionBehavior, links, pruning) is the same for every card and lives here.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from service.apply.engine import ApplyResult
from service.apply.instantiate import Context, instantiate
from service.apply.narrative import request_div, with_text
from service.apply.plans import AppliedAction, CompiledAction
from service.apply.terminology import LOCAL_SYSTEM
from service.cds_hooks.cards.hygiene import prune, prune_card
from service.cds_hooks.cards.wording import guideline_ref, lower_first, parse_day, short_label, summary

GUIDELINE_LABEL = "KNGF-richtlijn Nekpijn (2016)"
NAMESPACE = uuidlib.uuid5(uuidlib.NAMESPACE_URL, "https://nekpijn-cds.org/cds-services")
OVERRIDE_GROUP = "override-reason"
URGENT = ("urgent", "asap", "stat")
REFERRAL_CODE = "3457005"  # SNOMED CT |Patient referral| (outputs.md: referrals)
CONSULT = "consult"        # CommunicationRequest.category of a consult
GP_REFERRAL = "rec-refer-gp-serious-pathology"
LANGUAGES = ("nl", "en")

WORDS = {
    "nl": {"artifact": "Aanbeveling in de kennisbank", "plan-artifact": "Beslisregels in de kennisbank",
           "gp-label": "Verwijzen naar de huisarts"},
    "en": {"artifact": "Recommendation in the knowledge base", "plan-artifact": "Decision rules in the knowledge base",
           "gp-label": "Refer to the GP"},
}


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

    @property
    def priority(self) -> str | None:
        """The priority as the plan made it: the request's, else the RequestGroup action's."""
        return (self.resource or {}).get("priority") or self.group_action.get("priority") or self.action.priority

    @property
    def due(self) -> date | None:
        """The due moment (outputs.md v2): the action's timingDateTime, else the request's own date."""
        resource = self.resource or {}
        for value in (self.group_action.get("timingDateTime"),
                      resource.get("restriction", {}).get("period", {}).get("end"),
                      resource.get("occurrenceDateTime")):
            day = parse_day(value)
            if day is not None:
                return day
        return None

    @property
    def is_referral(self) -> bool:
        resource = self.resource or {}
        return resource.get("resourceType") == "ServiceRequest" and any(
            c.get("code") == REFERRAL_CODE for c in resource.get("code", {}).get("coding", []))

    @property
    def is_consult(self) -> bool:
        resource = self.resource or {}
        return resource.get("resourceType") == "CommunicationRequest" and any(
            c.get("code") == CONSULT for cat in resource.get("category", []) for c in cat.get("coding", []))


def collect_items(result: ApplyResult, contained: dict[str, dict]) -> list[Item]:
    """Every applied action (sections and their children, in plan order) with its request
    (`contained`: the CarePlan's contained resources by id)."""
    careplan = result.careplan
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


class CardContext:
    """One service call: the result, the language, and the card frame."""

    def __init__(self, result: ApplyResult, engine, service_id: str, plan_id: str, hook_instance: str,
                 lang: str, fhir_base: str | None):
        self.result = result
        self.case = result.case
        self.engine = engine
        self.terms = engine.terminology
        self.codes = engine.element_codes
        self.plan = engine.plan(plan_id)
        self.service_id = service_id
        self.hook_instance = hook_instance
        lang = (lang or "nl").split("-")[0].lower()  # "en-GB" → "en"
        self.lang = lang if lang in LANGUAGES else "nl"
        self.words = WORDS[self.lang]
        self.fhir_base = fhir_base.rstrip("/") if fhir_base else None
        self.contained = {r.get("id"): r for r in result.careplan.get("contained", [])}
        self.items = collect_items(result, self.contained)
        self._leaves: dict[str | None, list[Item]] = {}  # section code (None: any section) → its items
        for item in self.items:
            if item.section is not None:
                self._leaves.setdefault(None, []).append(item)
                self._leaves.setdefault(item.section, []).append(item)
        self.guideline_url = self._guideline_url()
        self._keys: dict[str, int] = {}
        self.reasons = [self.coding(code) for code in self.terms.children(OVERRIDE_GROUP)]

    # -- texts ---------------------------------------------------------------

    def t(self, texts: dict[str, str]) -> str:
        return texts.get(self.lang) or texts.get("nl") or ""

    def display(self, code: str) -> str:
        return self.terms.text(code, self.lang)

    def label(self, code: str) -> str:
        """The short data-dictionary label of an element (up to its first parenthesis), sentence case."""
        text = self.codes.label(code, self.lang) if code in self.codes.labels else self.display(code)
        return lower_first(short_label(text))

    def pathology(self, code: str) -> str:
        return short_label(self.display(code))

    def coding(self, code: str) -> dict:
        return {"system": LOCAL_SYSTEM, "code": code, "display": self.display(code)}

    def title(self, item: Item) -> str:
        return self.t(item.action.title) or self.display(item.code)

    def description(self, item: Item) -> str:
        return self.t(item.action.description)

    def guideline(self, item: Item) -> str:
        """The guideline sections of an action ("C.2, C.5"; English "table")."""
        return guideline_ref(", ".join(d["label"] for d in item.action.documentation if d.get("label")), self.lang)

    def kind(self, item: Item) -> str | None:
        """The recommendation kind of an item (CodeSystem property `recommendation-kind`:
        advice, therapy, referral, consult, prompt, patient-information, order-check, …)."""
        kinds = self.terms.properties.get(item.code, {}).get("recommendation-kind") or [None]
        return kinds[0]

    def is_referral_or_consult(self, item: Item) -> bool:
        return item.is_referral or item.is_consult or self.kind(item) in ("referral", "consult")

    def derived(self, name: str, default: Any = None) -> Any:
        return self.case.derived.get(name, default)

    @property
    def today(self) -> date:
        return self.derived("today") or self.case.facts.today

    def feature_value(self, code: str) -> Any:
        feature = self.case.feature(code)
        return None if feature is None else feature.value

    # -- the plan ----------------------------------------------------------------

    def leaves(self, section: str | None = None) -> list[Item]:
        """The items below a section (every section's: None), in plan order (a new list)."""
        return list(self._leaves.get(section, ()))

    def item(self, code: str) -> Item | None:
        return next((i for i in self._leaves.get(None, ()) if i.code == code), None)

    # -- the card frame ----------------------------------------------------------

    def _guideline_url(self) -> str | None:
        for artifact in self.plan.resource.get("relatedArtifact", []):
            if artifact.get("type") in ("citation", "documentation") and artifact.get("url"):
                return artifact["url"]
        return None

    def uuid(self, key: str) -> str:
        """uuid5 over hook instance, service and card key (repeated keys numbered): stable across retries."""
        n = self._keys.get(key, 0)
        self._keys[key] = n + 1
        name = f"{self.hook_instance}|{self.service_id}|{key}" + (f"|{n}" if n else "")
        return str(uuidlib.uuid5(NAMESPACE, name))

    def links(self, items: list[Item], artifact: str | None = None) -> list[dict]:
        """The guideline sections of the items, and (with a FHIR base) the knowledge artifact."""
        out: list[dict] = []
        for item in items:
            for doc in item.action.documentation:
                if doc.get("url"):
                    link = {"label": guideline_ref(doc.get("display") or doc.get("label") or GUIDELINE_LABEL,
                                                   self.lang),
                            "url": doc["url"], "type": "absolute"}
                    if link not in out:
                        out.append(link)
        if self.fhir_base and artifact:
            if self.engine.knowledge.get("ActivityDefinition", artifact) is not None:
                out.append({"label": f"{self.words['artifact']}: {artifact}",
                            "url": f"{self.fhir_base}/ActivityDefinition/{artifact}", "type": "absolute"})
            else:
                out.append({"label": f"{self.words['plan-artifact']}: {self.plan.id}",
                            "url": f"{self.fhir_base}/PlanDefinition/{self.plan.id}", "type": "absolute"})
        return out

    def card(self, key: str, kind: str, indicator: str, summary_text: str, detail: str,
             suggestions: list[dict] = (), links: list[dict] = ()) -> dict:
        """A card in the shape of CDS Hooks 2.0 (see the package docstring)."""
        card_uuid = self.uuid(key)
        card = {
            "uuid": card_uuid,
            "summary": summary(summary_text),
            "indicator": indicator,
            "detail": detail,
            "source": {"label": GUIDELINE_LABEL, "url": self.guideline_url, "topic": self.coding(kind)},
        }
        suggestions = [s for s in suggestions if s]
        if suggestions:
            card["suggestions"] = [
                {"uuid": str(uuidlib.uuid5(NAMESPACE, f"{card_uuid}|{s['key']}")),
                 **{k: v for k, v in s.items() if k != "key"}} for s in suggestions]
            card["selectionBehavior"] = "at-most-one"
        card["overrideReasons"] = list(self.reasons)
        card["links"] = list(links)
        return prune_card(card)

    # -- suggestions -------------------------------------------------------------

    def standalone(self, resource: dict, priority: str | None = None, title: str | None = None) -> dict:
        """A contained request as a resource of its own: without the contained-only id and
        `basedOn` the RequestGroup, with the contained resources it points to (the
        PractitionerRole of a consult) in itself, the priority the plan gave it and (top-level
        now) a generated narrative.

        A new top level over the request's own elements: the CarePlan has no empty element
        (service/apply/careplan.py), so there is nothing to prune, and the answer is read-only
        (the CarePlan itself shares its elements with the knowledge)."""
        res = {k: v for k, v in resource.items() if k != "id"}
        based_on = [r for r in res.get("basedOn", []) if not str(r.get("reference", "")).startswith("#")]
        if based_on:
            res["basedOn"] = based_on
        else:
            res.pop("basedOn", None)
        if priority and not res.get("priority"):
            res["priority"] = priority
        local = []
        for ref in local_references(res):
            target = self.contained.get(ref)
            if target is not None and target.get("resourceType") != "RequestGroup" and ref not in local:
                local.append(ref)
        if local:
            res["contained"] = [self.contained[ref] for ref in local]
        return with_text(res, request_div(res, title))

    def create(self, key: str, item: Item, recommended: bool, label: str | None = None) -> dict | None:
        """A suggestion that creates the item's request (None when it has none)."""
        if item.resource is None:
            return None
        return {"key": key, "label": label or self.title(item), "isRecommended": recommended,
                "actions": [{"type": "create", "description": self.description(item) or self.title(item),
                             "resource": self.standalone(item.resource, item.priority, self.title(item))}]}

    def gp_referral(self, key: str, recommended: bool, intent: str) -> dict | None:
        """A suggestion that creates the §1 GP referral when the plan holds none (the flags card,
        an imaging order card): the ActivityDefinition of `rec-refer-gp-serious-pathology`
        instantiated as $apply would, with the §1 priority (%case `gp-referral-priority`)."""
        action = catalogue_action(self.engine, GP_REFERRAL)
        if action is None or action.definition is None:
            return None
        careplan = self.result.careplan
        ctx = Context(subject=careplan["subject"]["reference"], lang=self.lang, group_id="",
                      authored=careplan.get("created", ""),
                      encounter=careplan.get("encounter", {}).get("reference"),
                      practitioner=careplan.get("author", {}).get("reference"))
        priority = self.derived("gp-referral-priority") or action.priority
        request = instantiate(action.definition, "gp-referral", ctx, action.title, action.description,
                              priority, {"intent": intent})
        request.pop("id", None)
        request.pop("basedOn", None)  # "#" (the containing CarePlan) means nothing in a standalone resource
        request = with_text(request, request_div(request, self.t(action.title)))
        return {"key": key, "label": self.words["gp-label"], "isRecommended": recommended,
                "actions": [{"type": "create", "description": self.t(action.description) or self.words["gp-label"],
                             "resource": prune(request)}]}


def catalogue_action(engine, code: str) -> CompiledAction | None:
    """The compiled action of a recommendation code in any loaded PlanDefinition."""
    def walk(actions):
        for a in actions:
            if a.code == code and a.definition is not None:
                return a
            found = walk(a.children)
            if found is not None:
                return found
        return None
    for plan_id in sorted(engine.plans.plans):
        found = walk(engine.plans.plans[plan_id].actions)
        if found is not None:
            return found
    return None


def local_references(value: Any) -> list[str]:
    """Ids of the local ("#id") references in a resource, in document order."""
    out: list[str] = []
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and ref.startswith("#") and len(ref) > 1:
            out.append(ref[1:])
        for k, v in value.items():
            if k != "contained":
                out += local_references(v)
    elif isinstance(value, list):
        for v in value:
            out += local_references(v)
    return out
