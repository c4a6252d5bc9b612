"""Lookups in the packaged terminology, built once from the knowledge base.

Displays per language (CodeSystem display = Dutch, designation = English),
concept properties, ancestors, and the ConceptMap local → SNOMED CT
reversed, so a SNOMED-coded draft order finds its local intervention code.
Parts of the knowledge in another language than Dutch (`template`) are made once
per language, not per evaluation.
"""

from __future__ import annotations

from service.apply.narrative import guideline_label
from service.knowledge import KnowledgeBase

LOCAL_SYSTEM = "https://nekpijn-cds.org/fhir/CodeSystem/nekpijn"
SNOMED = "http://snomed.info/sct"


class Terminology:
    def __init__(self, knowledge: KnowledgeBase):
        cs = knowledge.by_canonical(LOCAL_SYSTEM) or {}  # empty in knowledge bases without it
        self.display: dict[str, dict[str, str]] = {}
        self.parent: dict[str, str | None] = {}
        self.properties: dict[str, dict[str, list]] = {}

        def walk(concepts, parent):
            for c in concepts:
                names = {"nl": c.get("display", c["code"])}
                for d in c.get("designation", []):
                    if d.get("language"):
                        names.setdefault(d["language"].split("-")[0], d["value"])
                self.display[c["code"]] = names
                self.parent[c["code"]] = parent
                props: dict[str, list] = {}
                for p in c.get("property", []):
                    value = next(v for k, v in p.items() if k.startswith("value"))
                    props.setdefault(p["code"], []).append(value)
                self.properties[c["code"]] = props
                walk(c.get("concept", []), c["code"])
        walk(cs.get("concept", []), None)
        self._children: dict[str | None, list[str]] = {}
        for code, parent in self.parent.items():  # CodeSystem order
            self._children.setdefault(parent, []).append(code)
        self._templates: dict[tuple[int, str], tuple[object, object]] = {}

        # SNOMED CT code → local codes (ConceptMap nekpijn-to-snomed, reversed)
        self.from_snomed: dict[str, list[str]] = {}
        cm = knowledge.get("ConceptMap", "nekpijn-to-snomed")
        for group in (cm or {}).get("group", []):
            if group.get("source") == LOCAL_SYSTEM and group.get("target") == SNOMED:
                for element in group.get("element", []):
                    for target in element.get("target", []):
                        if target.get("code") and target.get("equivalence") != "unmatched":
                            self.from_snomed.setdefault(target["code"], []).append(element["code"])

    def text(self, code: str, lang: str) -> str:
        names = self.display.get(code, {})
        return names.get(lang) or names.get("nl") or code

    def coding(self, code: str, lang: str = "nl") -> dict:
        return {"system": LOCAL_SYSTEM, "code": code, "display": self.text(code, lang)}

    def localised(self, node, lang: str):
        """`node` with every local-CodeSystem coding's display in `lang` (the CodeSystem's
        designation; the artifacts write the Dutch display) and its guideline references
        (relatedArtifact of type documentation: "table", "Appendix") in `lang`. A copy; in
        Dutch the node itself."""
        return node if lang == "nl" else _localised(node, self, lang)

    def template(self, node, lang: str):
        """`localised(node, lang)` of a part of the knowledge (an ActivityDefinition, an action's
        RequestGroup template), made once per language and then shared by every evaluation:
        read-only, like the knowledge itself."""
        if lang == "nl":
            return node
        key = (id(node), lang)
        made = self._templates.get(key)
        if made is None:  # the node is kept with its copy, so that its id stays its own
            made = self._templates[key] = (node, _localised(node, self, lang))
        return made[1]

    def property(self, code: str, name: str) -> list:
        return self.properties.get(code, {}).get(name, [])

    def children(self, code: str) -> list[str]:
        """The codes directly below `code`, in CodeSystem order."""
        return self._children.get(code, [])

    def ancestors(self, code: str) -> list[str]:
        out, parent = [], self.parent.get(code)
        while parent:
            out.append(parent)
            parent = self.parent.get(parent)
        return out

    def local_codes_of(self, codings: list[dict]) -> list[str]:
        """Local codes for a CodeableConcept's codings: local ones as they are,
        SNOMED CT ones through the ConceptMap; plus their local ancestors."""
        found: list[str] = []
        for coding in codings:
            system, code = coding.get("system"), coding.get("code")
            if system == LOCAL_SYSTEM and code in self.display:
                candidates = [code]
            elif system == SNOMED:
                candidates = self.from_snomed.get(code, [])
            else:
                candidates = []
            for c in candidates:
                for x in [c, *self.ancestors(c)]:
                    if x not in found:
                        found.append(x)
        return found


def _localised(node, terms: Terminology, lang: str):
    if isinstance(node, dict):
        out = {k: _localised(v, terms, lang) for k, v in node.items()}
        if out.get("system") == LOCAL_SYSTEM and "display" in out and isinstance(out.get("code"), str):
            out["display"] = terms.text(out["code"], lang)
        elif out.get("type") == "documentation":  # an action's guideline reference
            for key in ("label", "display"):
                if isinstance(out.get(key), str):
                    out[key] = guideline_label(out[key], lang)
        return out
    if isinstance(node, list):
        return [_localised(v, terms, lang) for v in node]
    return node
