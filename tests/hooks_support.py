"""Helpers for the CDS Hooks service tests: signed JWTs, hook requests, prefetch."""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jwt
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from apply_support import ROOT, actions_by_code, case_bundle, request_of
from tools.hook_requests import ehr_prefetch, hook_request, searchset  # noqa: F401  (shared with the examples)

ISSUER = "https://ehr.example.org"
KID = "test-es384"


@dataclass
class Signer:
    """An ES384 key pair of a test CDS client, with its JWKS and issuers file."""

    private_key: ec.EllipticCurvePrivateKey
    issuers_file: Path

    @classmethod
    def create(cls, folder: Path) -> "Signer":
        key = ec.generate_private_key(ec.SECP384R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": KID, "alg": "ES384", "use": "sig"})
        (folder / "jwks.json").write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
        issuers = folder / "issuers.json"
        issuers.write_text(json.dumps([{"iss": ISSUER, "jwks_file": str(folder / "jwks.json")}]), encoding="utf-8")
        return cls(key, issuers)

    def token(self, aud: str, **overrides) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "client-1", "aud": aud, "iat": now, "exp": now + 300,
                  "jti": str(uuid.uuid4()), **overrides}
        return jwt.encode(claims, self.private_key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})

    def headers(self, aud: str, **overrides) -> dict:
        return {"Authorization": f"Bearer {self.token(aud, **overrides)}", "Content-Type": "application/json"}


def resources_of(case: dict, today) -> list[dict]:
    return [e["resource"] for e in case_bundle(case, today)["entry"]]


def prefetch_for(resources: list[dict], keys: dict[str, str]) -> dict:
    """Fill every prefetch key of a hook the way an EHR would, from the case's resources."""
    out = {}
    for key, template in keys.items():
        rtype = template.split("?")[0].split("/")[0]
        matching = [r for r in resources if r["resourceType"] == rtype]
        if "?" in template:
            out[key] = searchset(matching)
        else:
            out[key] = matching[0] if matching else None
    return out


# -- reading a CDS Hooks response --------------------------------------------------------

CARE_PLAN = "CarePlan"
SNOMED_SYSTEM = "http://snomed.info/sct"
LOCAL = "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn"
GP_ROLE = "01.015"
ACTIVITY_DEFINITION = re.compile(r"/ActivityDefinition/([A-Za-z0-9.-]+?)(?:\|[^\"]*)?\"")


def text_of(card: dict) -> str:
    return f"{card.get('summary', '')}\n{card.get('detail', '')}"


def created(card: dict) -> list[tuple[dict, dict]]:
    """(suggestion, resource) for every resource a card's suggestions create or update."""
    return [(s, a["resource"]) for s in card.get("suggestions", []) for a in s.get("actions", [])
            if a.get("type") in ("create", "update") and isinstance(a.get("resource"), dict)]


def careplans_of(cards: list[dict]) -> list[dict]:
    return [r for card in cards for _s, r in created(card) if r["resourceType"] == CARE_PLAN]


def is_referral(resource: dict, role: str | None = None) -> bool:
    if resource.get("resourceType") != "ServiceRequest":
        return False
    if not any(c.get("system") == SNOMED_SYSTEM and c.get("code") == "3457005"
               for c in (resource.get("code") or {}).get("coding", [])):
        return False
    roles = [c.get("code") for c in (resource.get("performerType") or {}).get("coding", [])]
    return role is None or role in roles


def referral_role(resource: dict) -> str | None:
    codings = (resource.get("performerType") or {}).get("coding", [])
    return codings[0].get("code") if codings else None


def _comparable(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in ("id", "basedOn", "contained", "recipient", "requester",
                                                           "authoredOn", "text", "meta", "subject", "encounter")}


def recommendation_of(resource: dict, plan: dict | None = None) -> str | None:
    """The recommendation code a standalone request stands for: its ActivityDefinition
    (instantiatesCanonical), a local rec-/con-/dis- coding, or — for a request that names
    neither (a CommunicationRequest) — the plan request with the same content."""
    found = ACTIVITY_DEFINITION.findall(json.dumps(resource.get("instantiatesCanonical", "")) + '"')
    if found:
        return found[0]
    for key in ("code", "category"):
        concepts = resource.get(key)
        for concept in concepts if isinstance(concepts, list) else [concepts or {}]:
            for c in concept.get("coding", []):
                if c.get("system") == LOCAL and str(c.get("code", "")).startswith(("rec-", "con-", "dis-")):
                    return c["code"]
    if plan is not None:
        wanted = _comparable(resource)
        for code, actions in actions_by_code(plan).items():
            for action in actions:
                if "resource" in action:
                    request = request_of(plan, action)
                    if request["resourceType"] == resource["resourceType"] and _comparable(request) == wanted:
                        return code
    return None


def suggestions_creating(cards: list[dict], code: str, plan: dict | None = None) -> list[tuple[dict, dict, dict]]:
    """(card, suggestion, resource) for every standalone request (not a CarePlan) made for `code`."""
    return [(card, s, r) for card in cards for s, r in created(card)
            if r["resourceType"] != CARE_PLAN and recommendation_of(r, plan) == code]


# -- the plan behind the cards, and "appears on a card" (dak/README.md v2 interpretations) ------

@lru_cache
def catalogue_kinds() -> dict[str, str]:
    """recommendation code → kind (dak/recommendations.yaml)."""
    data = yaml.safe_load((ROOT / "dak" / "recommendations.yaml").read_text(encoding="utf-8"))
    return {r["code"]: r["kind"] for r in data["recommendations"]}


ONE_CARD_KINDS = ("prompt", "referral", "consult")


@dataclass(frozen=True)
class PlanItem:
    code: str
    kind: str
    title: str
    first_sentence: str
    request: dict


def first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip(), re.S)
    return (match.group(1) if match else text).strip()


def plan_items(careplan: dict) -> list[PlanItem]:
    """Every recommendation of a CarePlan's RequestGroup (leaf actions with a request)."""
    kinds = catalogue_kinds()
    items = []
    for code, actions in actions_by_code(careplan).items():
        for action in actions:
            if "resource" not in action or code not in kinds:
                continue
            items.append(PlanItem(code, kinds[code], action.get("title", ""),
                                  first_sentence(action.get("description", "")), request_of(careplan, action)))
    return items


def _plain(text: str) -> str:
    """Card Markdown as read: no emphasis or escapes, single spaces, lower case."""
    text = re.sub(r"\\(.)", r"\1", text).replace("**", "").replace("__", "")
    return re.sub(r"\s+", " ", text).strip().lower()


def appears(card: dict, item: PlanItem, plan: dict) -> bool:
    """The operational test of "appears on a card": the card's source.topic is the item's
    code, a suggestion creates its request (as a standalone resource, not inside a CarePlan),
    or its title or the first sentence of its description stands in the summary or detail."""
    if ((card.get("source") or {}).get("topic") or {}).get("code") == item.code:
        return True
    if any(r["resourceType"] != CARE_PLAN and recommendation_of(r, plan) == item.code for _s, r in created(card)):
        return True
    text = _plain(text_of(card))
    return any(part and _plain(part) in text for part in (item.title, item.first_sentence))
