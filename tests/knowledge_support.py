"""Shared helpers for the tests of the knowledge artifacts."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from tools.sources import DAK_DIR, LOCAL_SYSTEM

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "service" / "knowledge" / "fhir"

# Backticked words of the DAK Markdown that are not local codes: FHIR
# element names, statuses, card indicators, hook names, artifact ids, file
# names and the names of derived facts (data dictionary `context`).
NON_CODES = {
    "age", "also", "amended", "applies", "authored", "baseline", "category", "code", "component",
    "contained", "context", "corrected", "critical", "data", "data-dictionary.yaml", "days-since-onset",
    "decision-logic.md", "delete", "description", "detail", "documentation", "encounter",
    "encounter-start", "final", "info", "intent", "latest", "nekklachten-zelfcheck", "nekpijn",
    "nekpijn-behandelprofiel", "nekpijn-intake", "nekpijn-orders", "note", "order-select", "order-sign",
    "outputs.md", "patient-view", "practitioner", "preliminary", "priority", "recommendations.yaml",
    "resource", "self-check.md", "source", "status", "subject", "title", "translation",
    "treatment-start", "uuid", "warning",
    # v2: FHIR element paths and codes, catalogue and data-dictionary keys, CDS service ids, Python
    "completed", "due", "effective", "history", "len", "payload", "proposal", "recipient", "required",
    "restriction.period.end", "source.topic", "stat", "text", "urgent", "patient-information",
    "nekpijn-behandelprofiel-encounter-start", "nekpijn-orders-select", "nekpijn-orders-sign",
}


@lru_cache
def artifacts() -> dict[str, dict]:
    """file name → resource, for every committed artifact."""
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(ARTIFACTS.glob("*.json"))}


def artifact(resource_type: str, rid: str) -> dict:
    return artifacts()[f"{resource_type}-{rid}.json"]


def by_url() -> dict[str, dict]:
    return {r["url"]: r for r in artifacts().values() if "url" in r}


def concepts(codesystem: dict):
    """(concept, parent codes) for every concept of a CodeSystem, depth first."""
    def walk(items, parents):
        for c in items:
            yield c, parents
            yield from walk(c.get("concept", []), parents + (c["code"],))
    yield from walk(codesystem.get("concept", []), ())


def local_codes() -> dict[str, dict]:
    return {c["code"]: c for c, _ in concepts(artifact("CodeSystem", "nekpijn"))}


def english(element_container: dict, name: str) -> str | None:
    """The English translation extension on a primitive element, if any."""
    for ext in element_container.get(f"_{name}", {}).get("extension", []):
        if ext["url"] == "http://hl7.org/fhir/StructureDefinition/translation":
            parts = {e["url"]: e for e in ext["extension"]}
            if parts["lang"]["valueCode"] == "en":
                return parts["content"]["valueString"]
    return None


def codes_named_in_dak() -> set[str]:
    """Every local code the DAK names: YAML `code` keys and backticked Markdown words."""
    import yaml

    found: set[str] = set()

    def walk(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "uzi_roles":  # external UZI role codes
                    continue
                if k == "code" and isinstance(v, str):
                    found.add(v)
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
                if key in ("pathologies", "interventions", "values") and isinstance(v, str):
                    found.add(v)

    for name in ("data-dictionary.yaml", "recommendations.yaml"):
        walk(yaml.safe_load((DAK_DIR / name).read_text(encoding="utf-8")))
    for name in ("decision-logic.md", "outputs.md", "self-check.md", "README.md"):
        words = re.findall(r"`([a-z0-9][a-z0-9.\-]*)`", (DAK_DIR / name).read_text(encoding="utf-8"))
        found.update(w for w in words if w not in NON_CODES)
    return found


def local_coding(code: str) -> dict:
    return {"system": LOCAL_SYSTEM, "code": code}
