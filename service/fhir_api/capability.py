"""Build the server's R4 CapabilityStatement from the knowledge base."""

from __future__ import annotations

from service.knowledge import SEARCH_PARAMS, KnowledgeBase

SOFTWARE_NAME = "Nekpijn CDS"
CANONICAL_BASE = "https://nekpijn-cds.org/fhir"

_PARAM_DOCS = {
    "_id": "Logical id of the artifact",
    "url": "Canonical url; `url|version` also matches the version",
    "version": "Business version of the artifact",
    "name": "Computer-friendly name (case-insensitive, starts-with)",
    "status": "Publication status (draft | active | retired | unknown)",
}


def _canonical(resource: dict) -> str:
    url, version = resource.get("url"), resource.get("version")
    return f"{url}|{version}" if url and version else str(url or "")


def _profiles(kb: KnowledgeBase) -> dict[str, list[str]]:
    """Constraint profiles on resources, grouped by the type they constrain."""
    profiles: dict[str, list[str]] = {}
    for sd in kb.search("StructureDefinition", {}):
        if (
            sd.get("kind") == "resource"
            and sd.get("derivation") == "constraint"
            and sd.get("url")
            and sd.get("type")
        ):
            profiles.setdefault(sd["type"], []).append(sd["url"])
    return profiles


def _documentation(resource_type: str, artifacts: list[dict]) -> str:
    lines = [f"{len(artifacts)} {resource_type} artifact(s):", ""]
    for res in artifacts:
        name = _canonical(res) or f"{resource_type}/{res['id']}"
        lines.append(f"* `{name}` (id `{res['id']}`)")
    return "\n".join(lines)


def _resource_entry(kb: KnowledgeBase, rtype: str, profiles: list[str]) -> dict:
    entry: dict = {"type": rtype}
    if profiles:
        entry["supportedProfile"] = profiles
    entry.update(
        documentation=_documentation(rtype, kb.search(rtype, {})),
        interaction=[{"code": "read"}, {"code": "search-type"}],
        versioning="no-version",
        readHistory=False,
        updateCreate=False,
        searchParam=[
            {"name": name, "type": kind, "documentation": _PARAM_DOCS[name]}
            for name, kind in SEARCH_PARAMS.items()
        ],
    )
    return entry


def capability_statement(kb: KnowledgeBase, base_url: str, date: str) -> dict:
    """CapabilityStatement for this instance; *base_url* is the FHIR base."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "title": f"{SOFTWARE_NAME} FHIR knowledge server",
        "description": (
            "Read-only FHIR R4 access to the Nekpijn CDS knowledge artifacts "
            f"(canonical base {CANONICAL_BASE})."
        ),
        "software": {"name": SOFTWARE_NAME, "version": kb.version},
        "implementation": {"description": SOFTWARE_NAME, "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [_rest(kb)],
    }


def _rest(kb: KnowledgeBase) -> dict:
    profiles = _profiles(kb)
    served = kb.resource_types()
    rest: dict = {"mode": "server", "documentation": _rest_documentation(profiles, served)}
    if served:
        rest["resource"] = [
            _resource_entry(kb, rtype, profiles.get(rtype, [])) for rtype in served
        ]
    return rest


def _rest_documentation(profiles: dict[str, list[str]], served: list[str]) -> str:
    text = "Read and search the knowledge artifacts (no write interactions)."
    other = [(t, urls) for t, urls in sorted(profiles.items()) if t not in served]
    if other:
        text += "\n\nProfiles on resource types not served here (expected input):\n"
        text += "".join(f"\n* {t}: `{u}`" for t, urls in other for u in urls)
    return text
