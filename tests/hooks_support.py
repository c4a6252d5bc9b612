"""Helpers for the CDS Hooks service tests: signed JWTs, hook requests, prefetch."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from apply_support import case_bundle

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


def searchset(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r} for r in resources]}


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


def hook_request(hook: str, patient_id: str, *, prefetch: dict | None = None, fhir_server: str | None = None,
                 token: str | None = None, encounter: str | None = None, draft_orders: list[dict] | None = None) -> dict:
    context = {"userId": "Practitioner/physio-1", "patientId": patient_id}
    if encounter or hook == "encounter-start":
        context["encounterId"] = encounter or "enc-1"
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = searchset(draft_orders or []) | {"type": "collection"}
        if hook == "order-select":
            context["selections"] = [f"ServiceRequest/{o['id']}" for o in (draft_orders or [])][:1] or ["ServiceRequest/x"]
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if fhir_server:
        body["fhirServer"] = fhir_server
    if token:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "nekpijn-cds"}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body
