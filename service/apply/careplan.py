"""Assemble the $apply result: CarePlan with a contained RequestGroup (outputs.md), and its
generated narrative (service/apply/narrative.py).

contained = [RequestGroup, the requests its actions point to, the
PractitionerRoles they address, the case-feature Observations]. Ids are
derived from the action path, so the same input gives the same output.

No element is empty (FHIR: a value or children): what comes from the input (references,
explanations, flags, dynamic values) is left out when it is empty, so the profile card can
offer the CarePlan as it is, without a pruning copy (tests/test_cards.py checks every
reference case; tests/test_apply_properties.py random ones).
"""

from __future__ import annotations

import hashlib

from service.apply.hygiene import is_empty, prune
from service.apply.instantiate import Context, instantiate
from service.apply.narrative import careplan_div, text_element
from service.apply.plans import AppliedAction, CompiledPlan
from service.apply.terminology import Terminology
from service.facts.model import Feature

GROUP_ID = "requestgroup"
CASE_FEATURE_PROFILE = "https://nekpijn-cds.org/fhir/StructureDefinition/case-feature-observation"
EVIDENCE_TYPES = ("QuestionnaireResponse/", "Observation/")


def _text(texts: dict[str, str], lang: str) -> str | None:
    return texts.get(lang) or texts.get("nl")


def observation_id(feature: Feature) -> str:
    suffix = f"-{feature.value}" if feature.code == "subgroup" else ""
    return f"cf-{feature.code}{suffix}"


def feature_observation(feature: Feature, ctx: Context, terms: Terminology) -> dict:
    lang = ctx.lang
    obs = {
        "resourceType": "Observation",
        "id": observation_id(feature),
        "meta": {"profile": [CASE_FEATURE_PROFILE]},
        "status": feature.status,
        "category": [{"coding": [terms.coding("case-feature", lang)]}],
        "code": {"coding": [terms.coding(feature.code, lang)], "text": terms.text(feature.code, lang)},
        "subject": {"reference": ctx.subject},
    }
    if ctx.encounter:
        obs["encounter"] = {"reference": ctx.encounter}
    obs["effectiveDateTime"] = ctx.authored
    if isinstance(feature.value, bool):
        obs["valueBoolean"] = feature.value
    else:
        obs["valueCodeableConcept"] = {"coding": [terms.coding(feature.value, lang)],
                                       "text": terms.text(feature.value, lang)}
    refs = []
    for source in feature.evidence:
        # a resource sent without an id cannot be referenced ("QuestionnaireResponse/" is no reference)
        if source.reference.startswith(EVIDENCE_TYPES) and not source.reference.endswith("/") \
                and source.reference not in refs:
            refs.append(source.reference)
    if refs:
        obs["derivedFrom"] = [{"reference": r} for r in refs]
    explanation = _text(feature.explanation, lang)
    if explanation:
        obs["note"] = [{"text": explanation}]
    if feature.components:
        obs["component"] = [_component(pathology, flags, terms, lang) for pathology, flags in feature.components]
    return obs


def _component(pathology: str, flags, terms: Terminology, lang: str) -> dict:
    component = {"code": {"coding": [terms.coding(pathology, lang)]}}
    found = "; ".join(terms.text(flag, lang) for flag in flags)
    if found:
        component["valueString"] = found
    return component


def present(values: dict) -> dict:
    """Dynamic values without empties: a FHIRPath result may be an empty string or hold empty
    elements (FHIR allows no empty element; the profile card offers this CarePlan as it is)."""
    out = {}
    for path, value in values.items():
        value = prune(value)
        if not is_empty(value):
            out[path] = value
    return out


def _request_id(path: tuple[str, ...], prefix: str) -> str:
    return (prefix + ".".join(path))[:64]


def _dynamic(values: dict, terms: Terminology, lang: str) -> dict:
    """Dynamic values as written: without empties, codings in the output language."""
    return {path: terms.localised(value, lang) for path, value in present(values).items()}


def group_actions(applied: list[AppliedAction], ctx: Context, prefix: str, requests: list[dict],
                  terms: Terminology) -> list[dict]:
    """RequestGroup actions for applied PlanDefinition actions; fills `requests`. The action and
    request templates are the knowledge's in the output language (`terms.template`: made once)."""
    lang = ctx.lang
    out = []
    for item in applied:
        action = item.action
        ga = dict(terms.template(action.group_template(lang), lang))
        if item.dynamic:  # on the RequestGroup action (%action.timingDateTime, ...)
            ga.update(_dynamic(item.on_action, terms, lang))
        if action.definition is not None:
            rid = _request_id(item.path, prefix)
            on_request = _dynamic(item.on_request, terms, lang) if item.dynamic else {}
            requests.append(instantiate(terms.template(action.definition, lang), rid, ctx, action.title,
                                        action.description, action.priority, on_request))
            ga["resource"] = {"reference": f"#{rid}"}
        if item.children:
            ga["action"] = group_actions(item.children, ctx, prefix, requests, terms)
        out.append(ga)
    return out


NOT_USED = {"nl": "Niet gebruikt voor deze evaluatie", "en": "Not used in this evaluation"}


def careplan(plan: CompiledPlan, groups: list[tuple[str, str | None, list[AppliedAction]]],
             features: list[Feature], ctx: Context, terms: Terminology, title: str,
             notes: list[str] = ()) -> dict:
    """The CarePlan for one evaluation.

    `groups`: (id prefix, the draft order it is about or None, applied actions)
    — one entry for a whole-case plan, one per draft order for order checks.
    """
    requests: list[dict] = []
    actions: list[dict] = []
    for prefix, about, applied in groups:
        ctx.about = about
        actions.extend(group_actions(applied, ctx, prefix, requests, terms))
    ctx.about = None
    group = {"resourceType": "RequestGroup", "id": GROUP_ID, "instantiatesCanonical": [plan.canonical],
             "status": "active", "intent": "proposal", "subject": {"reference": ctx.subject}}
    if ctx.encounter:
        group["encounter"] = {"reference": ctx.encounter}
    group["authoredOn"] = ctx.authored
    if ctx.practitioner:
        group["author"] = {"reference": ctx.practitioner}
    if actions:
        group["action"] = actions
    observations = [feature_observation(f, ctx, terms) for f in features]
    contained = [group, *requests, *ctx.roles.values(), *observations]
    result = {"resourceType": "CarePlan", "contained": contained, "instantiatesCanonical": [plan.canonical],
              "status": "active", "intent": "proposal", "title": title, "subject": {"reference": ctx.subject}}
    if ctx.encounter:
        result["encounter"] = {"reference": ctx.encounter}
    result["created"] = ctx.authored
    if ctx.practitioner:
        result["author"] = {"reference": ctx.practitioner}
    result["activity"] = [{"reference": {"reference": f"#{GROUP_ID}"}}]
    if observations:
        result["supportingInfo"] = [{"reference": f"#{o['id']}"} for o in observations]
    if notes:  # resources (or parts) the evaluation did not use, and why
        result["note"] = [{"text": f"{NOT_USED[ctx.lang]} — {n}"} for n in notes]
    # a content-derived id: the same evaluation gives the same id (cheaper than hashing the JSON)
    key = [plan.canonical, ctx.subject, ctx.encounter or "", ctx.authored, ctx.lang]
    key += [f"{r['resourceType']}/{r['id']}" for r in requests]
    key += [f"{f.code}={f.value}:{f.status}:" + ",".join(s.reference for s in f.evidence) for f in features]
    key += [about or "" for _, about, _ in groups]
    digest = hashlib.sha256("\n".join(key).encode()).hexdigest()
    head = {"resourceType": "CarePlan", "id": f"{plan.id}-{digest[:16]}", "language": ctx.lang}
    body = {k: v for k, v in result.items() if k != "resourceType"}
    # the whole plan as a generated narrative (issue 15; the contained resources carry none, dom-1)
    return {**head, "text": text_element(careplan_div({**head, **body})), **body}
