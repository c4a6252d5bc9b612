"""Read the project's knowledge sources: the DAK copy (dak/) and knowledge/.

dak/ is a verbatim copy of the contract (../shared/dak); knowledge/ holds
what the project adds (applicability rules, displays the DAK leaves out).
Used by the FSH generator and by the tests that check artifacts against
the contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DAK_DIR = ROOT / "dak"
KNOWLEDGE_DIR = ROOT / "knowledge"

CANONICAL_BASE = "https://nekpijn-cds.org/fhir"
LOCAL_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/nekpijn"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UZI_SYSTEM = "http://fhir.nl/fhir/NamingSystem/uzi-rolcode"


def _load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _rejoin_split_text(item: dict) -> dict:
    """Undo YAML splitting an unquoted flow-mapping text at its commas.

    dak/data-dictionary.yaml writes `{code: pathology-systemic, nl: Systemische
    ziekte (herpes zoster, spondylitis ankylopoetica, ...), en: ...}` without
    quotes, so YAML reads `nl: "Systemische ziekte (herpes zoster"` plus keys
    like `spondylitis ankylopoetica` with no value. The fragments follow their
    text key in order; put them back (docs/deviations.md). The contract copy
    itself stays verbatim.
    """
    if not any(v is None and " " in k for k, v in item.items()):
        return item
    out: dict = {}
    last_text = None
    for key, value in item.items():
        if value is None and last_text is not None and " " in key:  # a fragment, not a key like `snomed: null`
            out[last_text] += ", " + key
            continue
        out[key] = value
        last_text = key if key in ("nl", "en") else None
    return out


def split_code(ref: str) -> tuple[str, str, str | None]:
    """'http://snomed.info/sct|404640003' or '125606003|Fracture' → parts."""
    if ref.startswith("http"):
        system, code = ref.split("|", 1)
        return system, code, None
    code, _, display = ref.partition("|")
    return SNOMED, code, display or None


@dataclass
class Element:
    """One data-dictionary element (an input item or a derived flag)."""

    code: str
    group: str
    nl: str
    en: str
    type: str | None = None  # None for derived elements
    raw: dict = field(default_factory=dict)

    @property
    def derived(self) -> bool:
        return self.type is None

    @property
    def in_questionnaire(self) -> bool:
        return self.type not in (None, "observation-only", "intervention")


@dataclass
class Sources:
    dak_dir: Path = DAK_DIR
    knowledge_dir: Path = KNOWLEDGE_DIR

    # -- raw files -------------------------------------------------------
    @cached_property
    def dictionary(self) -> dict:
        data = _load_yaml(self.dak_dir / "data-dictionary.yaml")
        for group in data["groups"]:
            for key in ("items", "derived", "pathologies"):
                if key in group:
                    group[key] = [_rejoin_split_text(item) for item in group[key]]
        return data

    @cached_property
    def catalogue(self) -> dict:
        return _load_yaml(self.dak_dir / "recommendations.yaml")

    @cached_property
    def local_codes(self) -> dict:
        return _load_yaml(self.knowledge_dir / "local-codes.yaml")

    @cached_property
    def plans(self) -> dict:
        data = _load_yaml(self.knowledge_dir / "plan-definitions.yaml")
        for plan in data["plan_definitions"]:  # `variant:` → the description of that advice variant
            for section in plan["sections"]:
                for action in section["actions"]:
                    if "variant" in action and "description" not in action:
                        action["description"] = self.advice_variant_text(action["code"], action["variant"])
        return data

    @cached_property
    def self_check(self) -> dict:
        return _load_yaml(self.knowledge_dir / "self-check.yaml")

    # -- data dictionary -------------------------------------------------
    @property
    def groups(self) -> list[dict]:
        return self.dictionary["groups"]

    @cached_property
    def elements(self) -> list[Element]:
        out = []
        for group in self.groups:
            for item in group.get("items", []):
                # interventions are codes for orders, not inputs: they have no type
                out.append(Element(item["code"], group["code"], item["nl"], item["en"], item.get("type", "intervention"), item))
            for item in group.get("derived", []):
                out.append(Element(item["code"], group["code"], item["nl"], item["en"], None, item))
        return out

    @cached_property
    def element_by_code(self) -> dict[str, Element]:
        return {e.code: e for e in self.elements}

    @property
    def pathologies(self) -> list[dict]:
        return next(g for g in self.groups if g["code"] == "red-flags")["pathologies"]

    @property
    def clinical_red_flags(self) -> list[Element]:
        """The rf-* items (not the derived age flags), decision-logic §1."""
        return [e for e in self.elements if e.group == "red-flags" and e.code.startswith("rf-") and not e.derived]

    @property
    def interventions(self) -> list[Element]:
        return [e for e in self.elements if e.group == "interventions"]

    # -- catalogue -------------------------------------------------------
    @property
    def recommendations(self) -> list[dict]:
        return self.catalogue["recommendations"]

    @cached_property
    def recommendation_by_code(self) -> dict[str, dict]:
        return {r["code"]: r for r in self.recommendations}

    @property
    def sections(self) -> list[dict]:
        return self.catalogue["sections"] + self.local_codes["sections"]

    @property
    def uzi_roles(self) -> dict[str, dict]:
        return self.catalogue["uzi_roles"]

    @property
    def order_checks(self) -> list[dict]:
        return self.local_codes["order_checks"]

    # -- self-check (self-check.md tables) --------------------------------
    @cached_property
    def self_check_items(self) -> list[dict]:
        """Rows of the self-check item table: code, nl, en, group flag."""
        rows = []
        text = (self.dak_dir / "self-check.md").read_text(encoding="utf-8")
        for line in text.splitlines():
            m = re.match(r"^\| `(sc-[a-z0-9-]+)`([^|]*)\| ([^|]+) \| ([^|]+) \|$", line)
            if m:
                rows.append({"code": m.group(1), "note": m.group(2).strip(), "nl": m.group(3).strip(), "en": m.group(4).strip()})
        return rows

    @cached_property
    def self_check_advice(self) -> dict[str, dict]:
        """The advice texts of knowledge/self-check.yaml by code (advice-gp, ...)."""
        return {a["code"]: a for a in self.self_check["advice"]}

    def advice_variant_text(self, code: str, variant: str) -> dict[str, str]:
        """The Dutch/English text of a self-check advice variant (knowledge/self-check.yaml `variants`)."""
        variants = self.self_check_advice[code].get("variants", {})
        if variant not in variants:
            raise ValueError(f"knowledge/self-check.yaml: {code} has no variant {variant!r}")
        return {lang: "\n\n".join(variants[variant]["text"][lang]) for lang in ("nl", "en")}

    # -- action titles (knowledge/plan-definitions.yaml) -------------------
    @cached_property
    def action_titles(self) -> dict[str, dict]:
        titles: dict[str, dict] = {}
        for plan in self.plans["plan_definitions"]:
            for section in plan["sections"]:
                for action in section["actions"]:
                    if "title" in action:
                        titles.setdefault(action["code"], action["title"])
        return titles

    def title_of(self, code: str) -> dict[str, str]:
        """Short Dutch/English title of a recommendation or order check."""
        if code in self.action_titles:
            return self.action_titles[code]
        rec = self.recommendation_by_code.get(code)
        if rec is not None:  # con-*/dis-*: the catalogue text is already short
            return {"nl": rec["nl"], "en": rec["en"]}
        if code in self.self_check_advice:  # the advice's CodeSystem display
            value = next(v for v in self.local_codes["case_feature_values"] if v["code"] == code)
            return {"nl": value["nl"], "en": value["en"]}
        check = next(c for c in self.order_checks if c["code"] == code)
        return {"nl": check["nl"], "en": check["en"]}

    def text_of(self, code: str) -> dict[str, str]:
        """Full Dutch/English text (the catalogue text; self-check advice: paragraphs split by a blank line)."""
        rec = self.recommendation_by_code.get(code)
        if rec is not None:
            return {"nl": rec["nl"], "en": rec["en"]}
        advice = self.self_check_advice.get(code)
        if advice is not None:
            return {lang: "\n\n".join(advice["text"][lang]) for lang in ("nl", "en")}
        check = next(c for c in self.order_checks if c["code"] == code)
        return {"nl": check["nl"], "en": check["en"]}

    def guideline_of(self, code: str) -> str:
        rec = self.recommendation_by_code.get(code)
        if rec is not None:
            return rec["guideline"]
        if code in self.self_check_advice:
            return self.self_check_advice[code]["guideline"]
        return next(c for c in self.order_checks if c["code"] == code)["guideline"]
