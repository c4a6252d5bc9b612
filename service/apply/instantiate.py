"""ActivityDefinition → request resource (R4 $apply semantics, simplified).

Generic: reads kind, code, intent, priority, doNotPerform, participant and
relatedArtifact of the ActivityDefinition and the PlanDefinition action's
dynamic values; nothing here is specific to neck pain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

UZI_SYSTEM = "http://fhir.nl/fhir/NamingSystem/uzi-rolcode"
CONSULT = "consult"

LABELS = {
    "to-record": {"nl": "Vast te leggen", "en": "To record"},
}


@dataclass
class Context:
    """What every request of one $apply shares."""

    subject: str
    lang: str
    group_id: str
    authored: str                 # evaluation instant, ISO 8601
    encounter: str | None = None
    practitioner: str | None = None
    about: str | None = None      # the draft order a request is about (order checks)
    roles: dict[str, dict] = field(default_factory=dict)  # contained PractitionerRoles by id


def paragraphs(text: str) -> list[str]:
    """The paragraphs of a text (separated by a blank line); the text itself when it has none."""
    parts = [p.strip() for p in text.split("\n\n")]
    return [p for p in parts if p] or [text]


def _ref(reference: str | None) -> dict | None:
    return {"reference": reference} if reference else None


def _role_id(role: dict) -> str:
    return f"role-{role.get('coding', [{}])[0].get('code')}"


def _role_ref(ctx: Context, role: dict) -> dict:
    """A contained PractitionerRole for a UZI role (one per role per CarePlan, only when referenced)."""
    coding = role.get("coding", [{}])[0]
    rid = _role_id(role)
    ctx.roles.setdefault(rid, {"resourceType": "PractitionerRole", "id": rid, "code": [role]})
    return {"reference": f"#{rid}", "display": coding.get("display")}


def _common(ad: dict, rid: str, ctx: Context, priority: str | None) -> dict:
    # the language of the request's texts (the validator reads displays in it); a card
    # suggestion's standalone copy of the request keeps it
    out = {"id": rid, "language": ctx.lang}
    if ad.get("kind") == "ServiceRequest":
        # R4 ServiceRequest.basedOn may only be a CarePlan, ServiceRequest or MedicationRequest:
        # `#` is the containing CarePlan (outputs.md, v2)
        out["basedOn"] = [{"reference": "#"}]
    elif ctx.group_id:
        out["basedOn"] = [{"reference": f"#{ctx.group_id}"}]
    out["status"] = "draft"
    if priority or ad.get("priority"):
        out["priority"] = priority or ad["priority"]
    return out


def _with_context(request: dict, ctx: Context, subject_key: str = "subject") -> dict:
    request[subject_key] = {"reference": ctx.subject}
    if ctx.encounter:
        request["encounter"] = {"reference": ctx.encounter}
    request["authoredOn"] = ctx.authored
    if ctx.practitioner:
        request["requester"] = {"reference": ctx.practitioner}
    return request


# dynamic-value paths the request builder itself interprets (not set verbatim)
HANDLED = ("intent", "recipient.reference")


def set_path(resource: dict, path: str, value) -> None:
    """Set a dotted element path (`restriction.period.end`) on a resource, creating the parents."""
    *parents, last = path.split(".")
    node = resource
    for name in parents:  # copy on the way down: parts of a request may be shared with the knowledge
        node[name] = dict(node.get(name) or {})
        node = node[name]
    node[last] = value


def instantiate(ad: dict, rid: str, ctx: Context, title: dict[str, str], description: dict[str, str],
                priority: str | None, dynamic: dict) -> dict:
    """The request resource for one applicable action, with the action's dynamic values applied."""
    request = _build(ad, rid, ctx, title, description, priority, dynamic)
    for path, value in dynamic.items():
        if path not in HANDLED:
            set_path(request, path, value)
    return request


def _build(ad: dict, rid: str, ctx: Context, title: dict[str, str], description: dict[str, str],
           priority: str | None, dynamic: dict) -> dict:
    kind = ad.get("kind")
    canonical = f"{ad['url']}|{ad['version']}" if ad.get("version") else ad["url"]
    text = description.get(ctx.lang) or description.get("nl") or ""
    if kind == "ServiceRequest":
        req = {"resourceType": "ServiceRequest", **_common(ad, rid, ctx, priority)}
        req["instantiatesCanonical"] = [canonical]
        req["intent"] = dynamic.get("intent") or ad.get("intent", "proposal")
        if ad.get("doNotPerform"):
            req["doNotPerform"] = True
        code = dict(ad["code"])
        if "text" in code:  # a combined order: name it in the requested language
            code["text"] = title.get(ctx.lang) or code["text"]
        req["code"] = code
        _with_context(req, ctx)
        roles = [p["role"] for p in ad.get("participant", []) if "role" in p]
        if roles:
            req["performerType"] = roles[0]
        if ctx.about:
            req["supportingInfo"] = [{"reference": ctx.about}]
        if text:
            req["note"] = [{"text": text}]
        return req
    if kind == "CommunicationRequest":
        req = {"resourceType": "CommunicationRequest", **_common(ad, rid, ctx, priority)}
        if any(c.get("code") == CONSULT for t in ad.get("topic", []) for c in t.get("coding", [])):
            req["category"] = ad["topic"]
        _with_context(req, ctx)
        if ctx.about:
            req["about"] = [{"reference": ctx.about}]
        roles = [p["role"] for p in ad.get("participant", []) if "role" in p]
        chosen = dynamic.get("recipient.reference")
        if roles:
            if chosen:  # the dynamic value picks one of the roles (only that one is contained)
                roles = [r for r in roles if f"#{_role_id(r)}" == chosen] or roles
            req["recipient"] = [_role_ref(ctx, r) for r in roles]
        else:
            req["recipient"] = [{"reference": ctx.subject}]
        # one payload item per paragraph (a blank line separates them in the description)
        if text:
            req["payload"] = [{"contentString": part} for part in paragraphs(text)]
        return req
    if kind == "Task":
        req = {"resourceType": "Task", **_common(ad, rid, ctx, priority)}
        req["status"] = "requested"
        req["instantiatesCanonical"] = canonical
        req["intent"] = dynamic.get("intent") or ad.get("intent", "proposal")
        req["code"] = ad["code"]
        if text:
            req["description"] = text
        _with_context(req, ctx, subject_key="for")
        targets = [a for a in ad.get("relatedArtifact", []) if a.get("type") == "depends-on" and a.get("resource")]
        if targets:
            first = targets[0]["resource"].rsplit("/", 2)
            if first[-2] == "Questionnaire":
                req["focus"] = {"reference": f"Questionnaire/{first[-1]}"}
            else:  # an Observation profile: the Observation still has to be made
                req["focus"] = {"type": "Observation"}
                if title.get(ctx.lang) or title.get("nl"):
                    req["focus"]["display"] = title.get(ctx.lang) or title.get("nl")
            req["input"] = [{"type": {"text": LABELS["to-record"][ctx.lang]}, "valueCanonical": t["resource"]}
                            for t in targets]
        return req
    raise ValueError(f"ActivityDefinition/{ad.get('id')}: kind {kind!r} is not supported")
