"""Profile type restrictions that pyrofile-validator 0.3.0 does not enforce.

pyrofile checks cardinality, slicing, bindings and invariants, but ignores a
profile's `only` rules: the allowed types of a choice element (value[x],
effective[x]) and the allowed targets of a Reference. This module checks
those for the elements directly under the resource and under its
backbone elements (e.g. Observation.component.value[x]), from the
profile's snapshot, and reports violations as `profile.type` errors.
"""

from __future__ import annotations

from dataclasses import dataclass

CORE_SD = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True)
class TypeRule:
    path: str               # e.g. "Observation.value[x]", "Observation.subject"
    types: frozenset[str]   # allowed type codes; empty = prohibited (max 0)
    targets: frozenset[str]  # allowed Reference target types (empty = any)


def rules_from_snapshot(sd: dict) -> list[TypeRule]:
    rules = []
    for el in sd.get("snapshot", {}).get("element", []):
        if ":" in el["id"] or el["path"].count(".") > 2:
            continue  # slices and deeper elements: not covered here
        types = el.get("type", [])
        choice = el["path"].endswith("[x]")
        refs = [t for t in types if t["code"] == "Reference"]
        if el.get("max") == "0" and choice:
            rules.append(TypeRule(el["path"], frozenset(), frozenset()))
        elif choice:
            targets = frozenset(p.removeprefix(CORE_SD) for t in refs for p in t.get("targetProfile", []))
            rules.append(TypeRule(el["path"], frozenset(t["code"] for t in types), targets))
        elif refs and any("targetProfile" in t for t in refs):
            targets = frozenset(p.removeprefix(CORE_SD) for t in refs for p in t["targetProfile"])
            if "Resource" not in targets:
                rules.append(TypeRule(el["path"], frozenset({"Reference"}), targets))
    return rules


def _values(resource: dict, path: str):
    """(json key, value) pairs at a rule's path (one or two levels deep)."""
    parts = path.split(".")[1:]
    nodes = [resource]
    for part in parts[:-1]:
        nxt = []
        for node in nodes:
            value = node.get(part)
            nxt.extend(value if isinstance(value, list) else [value] if isinstance(value, dict) else [])
        nodes = nxt
    last = parts[-1]
    for node in nodes:
        if last.endswith("[x]"):
            stem = last[:-3]
            for key, value in node.items():
                if key.startswith(stem) and key[len(stem):][:1].isupper():
                    yield key, value
        elif last in node:
            values = node[last]
            for value in values if isinstance(values, list) else [values]:
                yield last, value


def _type_of_key(key: str, stem: str) -> str:
    suffix = key[len(stem):]
    primitive = suffix[:1].lower() + suffix[1:]
    return primitive if primitive in {"boolean", "integer", "string", "dateTime", "time", "date", "decimal",
                                      "uri", "code", "instant"} else suffix


def violations(resource: dict, rules: list[TypeRule]) -> list[tuple[str, str]]:
    """(path, message) for every value that breaks a type rule."""
    out = []
    for rule in rules:
        stem = rule.path.rsplit(".", 1)[1].removesuffix("[x]")
        for key, value in _values(resource, rule.path):
            if rule.path.endswith("[x]"):
                found = _type_of_key(key, stem)
                if found not in rule.types:
                    allowed = ", ".join(sorted(rule.types)) or "none (prohibited)"
                    out.append((rule.path, f"{key}: type {found} not allowed by the profile (allowed: {allowed})"))
                    continue
            if rule.targets and isinstance(value, dict) and "reference" in value:
                target = value["reference"].split("/")[-2] if "/" in value["reference"] else None
                if target is not None and target not in rule.targets:
                    out.append((rule.path, f"reference to {target} not allowed (allowed: {', '.join(sorted(rule.targets))})"))
    return out
