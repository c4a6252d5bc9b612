"""Generate the mechanical FSH of the knowledge layer from the DAK.

    python -m tools.generate_fsh            # write the generated FSH files
    python -m tools.generate_fsh --check    # exit 1 when they are stale

Inputs: dak/ (the contract, a copy of ../shared/dak) and knowledge/ (the
project's applicability rules and the displays the DAK leaves out).
Outputs: terminology/generated/*.fsh and profiles/generated/*.fsh.
Hand-written FSH (profiles, extensions) lives next to them and is never
touched by this script.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from tools.mapping_doc import mapping_markdown
from tools.fsh import GENERATED_HEADER, coding, pascal, q, translation
from tools.sources import CANONICAL_BASE, LOCAL_SYSTEM, ROOT, SNOMED, Sources, split_code

TERMINOLOGY_OUT = ROOT / "terminology" / "generated"
PROFILES_OUT = ROOT / "profiles" / "generated"

ALIAS = {LOCAL_SYSTEM: "$nekpijn", SNOMED: "$sct", "http://loinc.org": "$loinc"}
NOT_SELECTABLE = "http://hl7.org/fhir/concept-properties#notSelectable"

# FHIR Questionnaire item type per data-dictionary type
ITEM_TYPE = {
    "boolean": "boolean", "date": "date", "integer": "integer", "decimal": "decimal",
    "string": "text", "choice": "choice", "test": "choice",
}
UNITS = {"sick-leave-weeks": ("wk", "week"), "vas": ("mm", "millimeter"),
         "ccft": ("mm[Hg]", "millimeter of mercury"), "neck-flexor-endurance": ("s", "second")}

# ActivityDefinition kind per catalogue kind (dak/recommendations.yaml header)
AD_KIND = {
    "advice": "CommunicationRequest", "closure": "CommunicationRequest", "consult": "CommunicationRequest",
    "therapy": "ServiceRequest", "consider": "ServiceRequest", "discouraged": "ServiceRequest",
    "referral": "ServiceRequest", "prompt": "Task", "order-check": "CommunicationRequest",
    "self-check-advice": "CommunicationRequest",  # addressed to the patient (no participant)
    "patient-information": "CommunicationRequest",  # addressed to the patient (no participant), v2
}


PUBLISHER = "Nekpijn CDS"


def release_version() -> str:
    return yaml.safe_load((ROOT / "sushi-config.yaml").read_text(encoding="utf-8"))["version"]


def release_date() -> str:
    return str(yaml.safe_load((ROOT / "knowledge" / "release.yaml").read_text(encoding="utf-8"))["date"])


# `copyright` of every artifact (markdown); the licence is the project's (pyproject: proprietary;
# the FHIR package: `not-open-source`)
COPYRIGHT = ("© Nekpijn CDS. Alle rechten voorbehouden; niet open source (All rights reserved; not open source). "
             "Inhoud gebaseerd op de KNGF-richtlijn Nekpijn (2016), © KNGF. Bevat SNOMED CT®-codes "
             "(© SNOMED International, gebruik onder de SNOMED CT Affiliate License) en LOINC®-codes "
             "(© Regenstrief Institute, gebruik onder de LOINC-licentie).")


def metadata_rulesets_fsh() -> str:
    """RuleSets every artifact inserts: release version, publisher, jurisdiction."""
    common = [f"* {{c}}publisher = {q(PUBLISHER)}", "* {c}contact[+].telecom[+].system = #url",
              '* {c}contact[=].telecom[=].value = "https://nekpijn-cds.org"',
              '* {c}jurisdiction = urn:iso:std:iso:3166#NL "Netherlands"', "* {c}experimental = false",
              f"* {{c}}date = {q(release_date())}", "* {c}language = #nl", f"* {{c}}copyright = {q(COPYRIGHT)}"]
    lines = [GENERATED_HEADER.format(sources="sushi-config.yaml and knowledge/release.yaml"),
             "// For definitions (StructureDefinition, CodeSystem, ValueSet): caret rules.",
             "RuleSet: DefinitionMetadata"] + [r.format(c="^") for r in common]
    lines += ["", "// For knowledge instances (Questionnaire, ActivityDefinition, PlanDefinition, ConceptMap).",
              "RuleSet: InstanceMetadata", f"* version = {q(release_version())}"] + [r.format(c="") for r in common]
    return "\n".join(lines) + "\n"


def metadata(title: str, description: str) -> list[str]:
    return [f"Title: {q(title)}", f"Description: {q(description)}",
            "* ^status = #active", "* insert DefinitionMetadata"]


# --------------------------------------------------------------------------
# CodeSystem
# --------------------------------------------------------------------------

class Concept:
    def __init__(self, code: str, nl: str, en: str | None = None, definition: str | None = None):
        self.code, self.nl, self.en, self.definition = code, nl, en, definition
        self.properties: list[tuple[str, str, str]] = []  # (code, value type, value)
        self.children: list[Concept] = []

    def add(self, child: "Concept") -> "Concept":
        self.children.append(child)
        return child

    def prop(self, code: str, kind: str, value) -> "Concept":
        self.properties.append((code, kind, value))
        return self

    def walk(self, path=()):
        path = path + (self.code,)
        yield path, self
        for child in self.children:
            yield from child.walk(path)


PROPERTIES = [
    ("notSelectable", NOT_SELECTABLE, "boolean", "A grouping concept, not meant to be used as a value"),
    ("data-type", None, "code", "Data-dictionary type of an input element (boolean, date, integer, decimal, string, choice, test, observation-only)"),
    ("pathology", None, "code", "Serious pathology (grade IV) a red flag may point to (decision-logic §1, tabel 2)"),
    ("psychosocial", None, "boolean", "The prognostic factor counts as psychosocial (tabel 1)"),
    ("history", None, "boolean", "A red flag that describes the person, not the episode: read across episodes (decision-logic §0, v2)"),
    ("crs-kind", None, "code", "Cervical radicular syndrome item kind: symptom, sign or follow-up (tabel 3)"),
    ("test-role", None, "code", "Role of a clinical test: inclusion or exclusion of grade III (B.2)"),
    ("discouraged", None, "boolean", "The intervention is discouraged by the guideline for neck pain (C.2)"),
    ("imaging", None, "boolean", "The intervention is imaging (B.4)"),
    ("recommendation-kind", None, "code", "Kind of a recommendation: advice, therapy, consider, discouraged, referral, consult, prompt, closure, patient-information, order-check"),
    ("guideline", None, "string", "Guideline section(s) the code rests on"),
]


def build_concepts(src: Sources) -> list[Concept]:
    top: list[Concept] = []
    grouping = {g["code"]: g for g in src.local_codes["grouping"]}

    def group_concept(code, nl, en):
        return Concept(code, nl, en).prop("notSelectable", "boolean", True)

    def flat_group(code, items):
        """A top-level grouping concept (knowledge/local-codes.yaml) with its items as children."""
        meta = grouping[code]
        group = group_concept(code, meta["nl"], meta["en"])
        top.append(group)
        for item in items:
            group.add(Concept(item["code"], item["nl"], item["en"]))

    # 1. data dictionary groups and their elements
    for group in src.groups:
        g = group_concept(group["code"], group["nl"], group["en"])
        top.append(g)
        parents: dict[str, Concept] = {}
        for item in group.get("items", []):
            parent = parents.get(item.get("parent"), g)
            c = parent.add(Concept(item["code"], item["nl"], item["en"], item.get("note")))
            parents[item["code"]] = c
            if group["code"] != "interventions":
                c.prop("data-type", "code", item["type"])
            for pathology in item.get("pathologies", []):
                c.prop("pathology", "code", pathology)
            if "psychosocial" in item:
                c.prop("psychosocial", "boolean", item["psychosocial"])
            if item.get("history"):
                c.prop("history", "boolean", True)
            if "kind" in item:
                c.prop("crs-kind", "code", item["kind"])
            if "role" in item:
                c.prop("test-role", "code", item["role"])
            if item.get("discouraged"):
                c.prop("discouraged", "boolean", True)
            if item.get("imaging"):
                c.prop("imaging", "boolean", True)
            for answer in item.get("answers", []):
                c.add(Concept(answer["code"], answer["nl"], answer["en"]))
            for comp in item.get("components", []):
                c.add(Concept(comp["code"], comp["nl"], comp["en"]))
        for item in group.get("derived", []):
            c = g.add(Concept(item["code"], item["nl"], item["en"], "Derived: " + item["rule"]))
            for pathology in item.get("pathologies", []):
                c.prop("pathology", "code", pathology)
        if "pathologies" in group:
            meta = grouping["pathologies"]
            p = g.add(group_concept("pathologies", meta["nl"], meta["en"]))
            for pathology in group["pathologies"]:
                p.add(Concept(pathology["code"], pathology["nl"], pathology["en"]))

    # 2. case features (outputs.md) under the `case-feature` category code
    other = {o["code"]: o for o in src.dictionary["other_codes"]}
    cf = Concept("case-feature", other["case-feature"]["nl"], other["case-feature"]["en"], other["case-feature"]["use"])
    top.append(cf)
    element_codes = {e.code for e in src.elements}
    for feature in src.local_codes["case_features"]:
        if feature["code"] not in element_codes:  # psychosocial-dominant is an element already
            cf.add(Concept(feature["code"], feature["nl"], feature["en"]))
    flat_group("case-feature-value", src.local_codes["case_feature_values"])

    # 3. recommendations, nested under their section
    meta = grouping["recommendation"]
    recs = group_concept("recommendation", meta["nl"], meta["en"])
    top.append(recs)
    section_concepts = {}
    for section in src.sections:
        section_concepts[section["code"]] = recs.add(Concept(section["code"], section["nl"], section["en"]))
    for rec in src.recommendations:
        title = src.title_of(rec["code"])
        c = section_concepts[rec["section"]].add(Concept(rec["code"], title["nl"], title["en"], rec["nl"]))
        c.prop("recommendation-kind", "code", rec["kind"]).prop("guideline", "string", rec["guideline"])
    for check in src.order_checks:
        title = src.title_of(check["code"])
        c = section_concepts["section-order-checks"].add(Concept(check["code"], title["nl"], title["en"], check["nl"]))
        c.prop("recommendation-kind", "code", "order-check").prop("guideline", "string", check["guideline"])

    # 4. self-check (self-check.md)
    meta = grouping["self-check"]
    sc = group_concept("self-check", meta["nl"], meta["en"])
    top.append(sc)
    parent = sc
    for row in src.self_check_items:
        nl = row["nl"].rstrip("?…").strip()
        en = row["en"].rstrip("?…").strip()
        c = Concept(row["code"], nl[:1].upper() + nl[1:], en[:1].upper() + en[1:])
        if row["code"].startswith("sc-rf-"):
            parent.add(c)
        else:
            sc.add(c)
        if row["code"] == "sc-red-flags":
            parent = c

    # 5. override reasons of CDS Hooks cards
    flat_group("override-reason", src.local_codes["override_reasons"])

    # 6. other codes
    meta = grouping["other"]
    oth = group_concept("other", meta["nl"], meta["en"])
    top.append(oth)
    for code, o in other.items():
        if code != "case-feature":
            oth.add(Concept(code, o["nl"], o["en"], o["use"]))
    return top


def codesystem_fsh(src: Sources) -> str:
    lines = [GENERATED_HEADER.format(sources="dak/ and knowledge/local-codes.yaml"),
             "CodeSystem: Nekpijn", "Id: nekpijn"]
    lines += metadata(
        "Nekpijn CDS — lokale codes",
        "Every local code of Nekpijn CDS: the data-dictionary elements and their answers, pathologies, "
        "interventions, inferred case features and their values, recommendations, sections and the "
        "self-check. Hierarchical by group (grouped-by). Displays in Dutch with an English designation. "
        "Source: KNGF-richtlijn Nekpijn (2016), via the DAK.")
    lines += ["* ^name = \"Nekpijn\"", "* ^caseSensitive = true",
              "* ^hierarchyMeaning = #grouped-by", "* ^content = #complete"]
    for code, uri, kind, desc in PROPERTIES:
        lines.append(f"* ^property[+].code = #{code}")
        if uri:
            lines.append(f"* ^property[=].uri = {q(uri)}")
        lines += [f"* ^property[=].description = {q(desc)}", f"* ^property[=].type = #{kind}"]
    seen: set[str] = set()
    for concept in build_concepts(src):
        for path, c in concept.walk():
            if c.code in seen:
                raise ValueError(f"duplicate code in CodeSystem: {c.code}")
            seen.add(c.code)
            ref = " ".join(f"#{p}" for p in path)
            lines.append(f"* {ref} {q(c.nl)}")
            if c.definition:
                lines.append(f"* {ref} ^definition = {q(c.definition)}")
            if c.en:
                lines += [f"* {ref} ^designation[+].language = #en", f"* {ref} ^designation[=].value = {q(c.en)}"]
            for pcode, kind, value in c.properties:
                lines.append(f"* {ref} ^property[+].code = #{pcode}")
                if kind == "boolean":
                    lines.append(f"* {ref} ^property[=].valueBoolean = {str(value).lower()}")
                elif kind == "string":
                    lines.append(f"* {ref} ^property[=].valueString = {q(value)}")
                else:
                    lines.append(f"* {ref} ^property[=].valueCode = #{value}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# ValueSets
# --------------------------------------------------------------------------

def display_map(src: Sources) -> dict[str, str]:
    out = {}
    for concept in build_concepts(src):
        for _, c in concept.walk():
            out[c.code] = c.nl
    return out


def valueset_specs(src: Sources) -> list[dict]:
    """(id, title, description, [(system, code, display)]) for every ValueSet."""
    disp = display_map(src)

    def local(codes):
        return [(LOCAL_SYSTEM, c, disp[c]) for c in codes]

    def also(elements):
        out = []
        for e in elements:
            for ref in e.raw.get("also", []):
                system, code, _ = split_code(ref)
                out.append((system, code, None))
        return out

    def snomed_of(elements):
        out = []
        for e in elements:
            refs = e.raw.get("snomed")
            for ref in ([refs] if isinstance(refs, str) else refs or []):
                system, code, display = split_code(ref)
                out.append((system, code, display))
        return out

    el = src.elements
    answers = {e.code: [a["code"] for a in e.raw.get("answers", [])] for e in el}
    specs = []
    for code in ("course-trend", "adl-impact", "pattern-assessment"):
        e = src.element_by_code[code]
        specs.append(dict(id=code, title=f"Answers: {e.en}", desc=f"Answer list of the data element `{code}` (data dictionary).",
                          concepts=local(answers[code])))
    specs.append(dict(id="test-result", title="Clinical test result",
                      desc="Result of a clinical test (Spurling, traction/distraction, ULTT): SNOMED CT Positive / Negative. 'Not done' is no answer.",
                      concepts=[(SNOMED, "10828004", "Positive"), (SNOMED, "260385009", "Negative")]))
    specs.append(dict(id="pathologies", title="Serious pathologies (grade IV)",
                      desc="The serious pathologies the red flags may point to (tabel 2).",
                      concepts=local(p["code"] for p in src.pathologies)))
    flags = src.clinical_red_flags
    specs.append(dict(id="red-flags", title="Clinical red flags",
                      desc="The clinical red flags of tabel 2 (not the derived age flags), with their verified SNOMED CT codes (decision-logic §1).",
                      concepts=local(e.code for e in flags) + also(flags)))
    for p in src.pathologies:
        members = [e for e in flags if p["code"] in e.raw.get("pathologies", [])]
        tail = p["code"].removeprefix("pathology-")
        specs.append(dict(id=f"red-flags-{tail}", title=f"Red flags: {p['en']}",
                          desc=f"Clinical red flags that may point to {p['en'].lower()} (tabel 2).",
                          concepts=local(e.code for e in members) + also(members)))
    crs = [e for e in el if e.group == "radicular"]
    for kind, title in (("symptom", "symptoms"), ("sign", "signs"), ("follow-up", "follow-up signs of deterioration")):
        specs.append(dict(id=f"crs-{kind}s" if kind != "follow-up" else "crs-follow-up",
                          title=f"Cervical radicular syndrome: {title}",
                          desc=f"Cervical radicular syndrome {title} (tabel 3, C.4).",
                          concepts=local(e.code for e in crs if e.raw.get("kind") == kind)))
    specs.append(dict(id="crs-tests", title="Cervical radicular syndrome: clinical tests",
                      desc="Inclusion tests (Spurling, traction/distraction) and the exclusion test (ULTT) of B.2.",
                      concepts=local(e.code for e in crs if e.type == "test")))
    prog = [e for e in el if e.group == "prognosis" and e.code.startswith("pf-") and not e.derived]
    specs.append(dict(id="prognostic-factors", title="Prognostic factors (tabel 1)",
                      desc="Factors associated with delayed recovery (tabel 1) and the suspicions of Bijlage 1 §4.",
                      concepts=local(e.code for e in prog)))
    specs.append(dict(id="psychosocial-factors", title="Psychosocial factors",
                      desc="The prognostic factors that count as psychosocial (B.5).",
                      concepts=local(e.code for e in prog if e.raw.get("psychosocial"))))
    booleans = [e for e in el if e.type == "boolean"]
    specs.append(dict(id="boolean-findings", title="Boolean findings",
                      desc="Every yes/no data element that may arrive as an Observation with valueBoolean, with the verified SNOMED CT alternatives.",
                      concepts=local(e.code for e in booleans) + also(booleans)))
    instruments = [e for e in el if e.group == "measurements" and e.code not in ("nprs", "psk") and e.type != "boolean"]
    specs.append(dict(id="instruments", title="Optional measurement instruments",
                      desc="Optional instruments of B.3 and Bijlage 1 §4: accepted and shown, never decisive.",
                      concepts=local(e.code for e in instruments) + [("http://loinc.org", "82237-9", "Total score [NDI]")]))
    interventions = src.interventions
    specs.append(dict(id="interventions", title="Interventions",
                      desc="Intervention codes for ServiceRequest / Procedure.code, local and verified SNOMED CT.",
                      concepts=local(e.code for e in interventions) + snomed_of(interventions) + imaging_snomed(src)))
    disc = [e for e in interventions if e.raw.get("discouraged")]
    specs.append(dict(id="discouraged-therapies", title="Discouraged therapies",
                      desc="Therapies the guideline discourages for neck pain (C.2; decision-logic §11).",
                      concepts=local(e.code for e in disc) + snomed_of(disc)))
    imaging = [e for e in interventions if e.raw.get("imaging")]
    specs.append(dict(id="imaging", title="Imaging",
                      desc="Imaging orders the guideline advises against (B.4): the local imaging codes and the verified "
                           "SNOMED CT imaging procedures of the neck; a ServiceRequest.category SNOMED CT 363679005 Imaging "
                           "and a CPT code 70010-79999 also count (decision-logic §11).",
                      concepts=local(e.code for e in imaging) + imaging_snomed(src) + [(SNOMED, "363679005", "Imaging")]))
    conditions = re.findall(r"(\d{6,})\s*\|([^|]+)\|", src.dictionary["context"]["condition"])
    specs.append(dict(id="neck-pain-conditions", title="Neck pain conditions",
                      desc="Condition codes that mark a neck pain episode (data dictionary, context).",
                      concepts=[(SNOMED, c, d) for c, d in conditions]))
    features = src.local_codes["case_features"]
    specs.append(dict(id="case-features", title="Inferred case features",
                      desc="Codes of the case-feature Observations the service produces (outputs.md).",
                      concepts=local(f["code"] for f in features)))
    all_values: list[str] = []
    for f in features:
        for v in f["values"]:
            if v not in all_values:
                all_values.append(v)
        if f["values"]:
            specs.append(dict(id=f"{f['code']}-values", title=f"Values: {f.get('en', f['code'])}",
                              desc=f"Values of the case feature `{f['code']}` (outputs.md).", concepts=local(f["values"])))
    specs.append(dict(id="case-feature-values", title="Inferred case feature values",
                      desc="Every value of every case feature (outputs.md).", concepts=local(all_values)))
    specs.append(dict(id="recommendations", title="Recommendations",
                      desc="The recommendation catalogue (recommendations.yaml) and the order checks (decision-logic §11).",
                      concepts=local([r["code"] for r in src.recommendations] + [c["code"] for c in src.order_checks])))
    specs.append(dict(id="sections", title="Plan sections",
                      desc="Sections that group the actions of the plan.", concepts=local(s["code"] for s in src.sections)))
    specs.append(dict(id="override-reasons", title="Card override reasons",
                      desc="Reasons offered on CDS Hooks cards for not following the advice (card.overrideReasons).",
                      concepts=local(r["code"] for r in src.local_codes["override_reasons"])))
    specs.append(dict(id="referral-roles", title="Referral and consultation roles (UZI)",
                      desc="UZI role codes (Nictiz zib2020) used as performerType / recipient role.",
                      concepts=[("http://fhir.nl/fhir/NamingSystem/uzi-rolcode", r["code"], r["display"]) for r in src.uzi_roles.values()]))
    return specs


def imaging_snomed(src: Sources, local_code: str | None = None) -> list[tuple[str, str, str | None]]:
    """The verified SNOMED CT imaging procedures of the neck (knowledge/local-codes.yaml, §11 v2)."""
    out = []
    for code, refs in src.local_codes.get("imaging_snomed", {}).items():
        if local_code in (None, code):
            out += [split_code(ref) for ref in refs]
    return out


def valuesets_fsh(src: Sources) -> str:
    lines = [GENERATED_HEADER.format(sources="dak/ and knowledge/local-codes.yaml")]
    for spec in valueset_specs(src):
        lines += ["", f"ValueSet: {pascal(spec['id'])}VS", f"Id: {spec['id']}"]
        lines += metadata(spec["title"], spec["desc"])
        lines.append(f"* ^name = {q(pascal(spec['id']))}")
        for system, code, display in spec["concepts"]:
            alias = ALIAS.get(system, system)
            lines.append(f"* {coding(alias, code, display)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# ConceptMaps
# --------------------------------------------------------------------------

# cmd-1: a `narrower` (or `wider`) target says in a comment how the meanings differ
NARROWER_FORM = "The SNOMED CT concept is one of the forms the local code covers (the local code maps to several)."
NARROWER_NECK = ("The SNOMED CT procedure is imaging of the neck (cervical spine); the local code is the imaging "
                 "modality without a body site.")


def conceptmap_fsh(src: Sources) -> str:
    disp = display_map(src)
    lines = [GENERATED_HEADER.format(sources="dak/data-dictionary.yaml"),
             "Instance: nekpijn-to-snomed", "InstanceOf: ConceptMap", "Usage: #definition", "* insert InstanceMetadata",
             f"* url = {q(CANONICAL_BASE + '/ConceptMap/nekpijn-to-snomed')}",
             '* name = "NekpijnToSnomed"', '* title = "Nekpijn CDS local codes → SNOMED CT"', "* status = #active",
             
             '* description = "Verified SNOMED CT codes for local codes of Nekpijn CDS (data dictionary `snomed` and `also`). '
             'Local codes without a verified SNOMED CT concept are listed as unmatched."',
             f"* group[+].source = {q(LOCAL_SYSTEM)}", f"* group[=].target = {q(SNOMED)}"]

    def element(code, targets):
        out = [f"* group[=].element[+].code = #{code}", f"* group[=].element[=].display = {q(disp[code])}"]
        for tcode, tdisplay, equivalence, comment in targets:
            if tcode:
                out += [f"* group[=].element[=].target[+].code = #{tcode}"]
                if tdisplay:
                    out.append(f"* group[=].element[=].target[=].display = {q(tdisplay)}")
            else:
                out.append("* group[=].element[=].target[+].equivalence = #unmatched")
                continue
            out.append(f"* group[=].element[=].target[=].equivalence = #{equivalence}")
            if comment:
                out.append(f"* group[=].element[=].target[=].comment = {q(comment)}")
        return out

    for p in src.pathologies:
        if p["snomed"]:
            code, _, display = p["snomed"].partition("|")
            lines += element(p["code"], [(code, display, "equivalent", None)])
        else:
            lines += element(p["code"], [(None, None, "unmatched", None)])
    for e in src.elements:
        for ref in e.raw.get("also", []):
            _, code, _ = split_code(ref)
            lines += element(e.code, [(code, None, "equivalent", None)])
    for e in src.interventions:
        refs = e.raw.get("snomed")
        if not refs:
            continue
        refs = [refs] if isinstance(refs, str) else refs
        targets = []
        for ref in refs:
            _, code, display = split_code(ref)
            if e.raw.get("note"):  # "generic; no neck-specific code verified"
                targets.append((code, display, "wider", e.raw["note"]))
            elif len(refs) > 1:
                targets.append((code, display, "narrower", NARROWER_FORM))
            else:
                targets.append((code, display, "equivalent", None))
        lines += element(e.code, targets)
    # §11 (v2): SNOMED CT imaging procedures of the neck → the local imaging code (no body site)
    for code in src.local_codes.get("imaging_snomed", {}):
        lines += element(code, [(c, d, "narrower", NARROWER_NECK) for _, c, d in imaging_snomed(src, code)])
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Questionnaire nekpijn-intake
# --------------------------------------------------------------------------

def questionnaire_fsh(src: Sources) -> str:
    q_url = src.dictionary["questionnaire"]
    lines = [GENERATED_HEADER.format(sources="dak/data-dictionary.yaml"),
             "Instance: nekpijn-intake", "InstanceOf: Questionnaire", "Usage: #definition", "* insert InstanceMetadata",
             f"* url = {q(q_url)}", '* name = "NekpijnIntake"',
             '* title = "Intake nekpijn (fysiotherapie)"']
    lines += translation("title", "Neck pain intake (physiotherapy)")
    lines += ["* status = #active", "* language = #nl", "* subjectType = #Patient",
              '* description = "Anamnese en lichamelijk onderzoek bij nekpijn volgens de KNGF-richtlijn Nekpijn (2016): '
              'huidige episode, rode vlaggen (tabel 2), cervicaal radiculair syndroom (tabel 3), prognostische en '
              'psychosociale factoren (tabel 1) en meetinstrumenten (B.3)."']
    lines += translation("description", "History and physical examination for neck pain following the KNGF neck pain "
                         "guideline (2016): current episode, red flags (table 2), cervical radicular syndrome (table 3), "
                         "prognostic and psychosocial factors (table 1) and measurement instruments (B.3).")
    answer_sets: dict[str, None] = {}  # ids of the answer ValueSets, in order of use
    for group in src.groups:
        items = [e for e in src.elements if e.group == group["code"] and e.in_questionnaire]
        if not items:
            continue
        lines += [f"* item[+].linkId = {q(group['code'])}", "* item[=].type = #group",
                  f"* item[=].code[+] = {coding('$nekpijn', group['code'], group['nl'])}",
                  f"* item[=].text = {q(group['nl'])}"]
        lines += translation("item[=].text", group["en"])
        for e in items:
            p = "item[=].item[=]"
            lines += [f"* item[=].item[+].linkId = {q(e.code)}", f"* {p}.type = #{ITEM_TYPE[e.type]}",
                      f"* {p}.code[+] = {coding('$nekpijn', e.code, e.nl)}"]
            for ref in e.raw.get("also", []):
                _, code, _ = split_code(ref)
                lines.append(f"* {p}.code[+] = {coding('$sct', code)}")
            if e.code == "nprs":
                lines.append(f"* {p}.code[+] = $loinc#72514-3 \"Pain severity - 0-10 verbal numeric rating [Score] - Reported\"")
            if e.code == "ndi":
                lines.append(f"* {p}.code[+] = $loinc#82237-9 \"Total score [NDI]\"")
            lines.append(f"* {p}.text = {q(e.nl)}")
            lines += translation(f"{p}.text", e.en)
            if e.raw.get("required"):
                lines.append(f"* {p}.required = true")
            if e.type in ("choice", "test"):
                vs_id = e.code if e.type == "choice" else "test-result"
                answer_sets.setdefault(vs_id, None)
                lines.append(f"* {p}.answerValueSet = {q('#' + vs_id)}")
            if "range" in e.raw:
                low, high = e.raw["range"]
                vtype = "valueDecimal" if e.type == "decimal" else "valueInteger"
                for url, value in (("http://hl7.org/fhir/StructureDefinition/minValue", low),
                                   ("http://hl7.org/fhir/StructureDefinition/maxValue", high)):
                    lines += [f"* {p}.extension[+].url = {q(url)}", f"* {p}.extension[=].{vtype} = {value}"]
            if e.code in UNITS:
                code, display = UNITS[e.code]
                lines += [f'* {p}.extension[+].url = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"',
                          f"* {p}.extension[=].valueCoding = $ucum#{code} {q(display)}"]
            if "enable_when" in e.raw:
                m = re.fullmatch(r"([a-z0-9-]+) = (true|false)", e.raw["enable_when"])
                if not m:
                    raise ValueError(f"unsupported enable_when: {e.raw['enable_when']}")
                lines += [f"* {p}.enableWhen[+].question = {q(m.group(1))}", f"* {p}.enableWhen[=].operator = #=",
                          f"* {p}.enableWhen[=].answerBoolean = {m.group(2)}"]
    # The answer lists travel with the Questionnaire as contained, expanded
    # ValueSets (same url and codes as the published ones), so an SDC renderer
    # needs no terminology server (verified with LHC-Forms).
    specs = {spec["id"]: spec for spec in valueset_specs(src)}
    for vs_id in answer_sets:
        lines.append(f"* contained[+] = {pascal('intake-answers-' + vs_id)}")
    for vs_id in answer_sets:
        spec = specs[vs_id]
        lines += ["", f"Instance: {pascal('intake-answers-' + vs_id)}", "InstanceOf: ValueSet", "Usage: #inline",
                  f"* id = {q(vs_id)}", f"* url = {q(CANONICAL_BASE + '/ValueSet/' + vs_id)}",
                  f"* version = {q(release_version())}", f"* name = {q(pascal(vs_id))}", "* status = #active",
                  f"* expansion.timestamp = {release_date()}T00:00:00+01:00",
                  f"* expansion.total = {len(spec['concepts'])}"]
        for system, code, display in spec["concepts"]:
            lines += [f"* expansion.contains[+].system = {q(system)}", f"* expansion.contains[=].code = #{code}"]
            if display:
                lines.append(f"* expansion.contains[=].display = {q(display)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Questionnaire nekklachten-zelfcheck (self-check.md)
# --------------------------------------------------------------------------

SELF_CHECK_ID = "nekklachten-zelfcheck"
SELF_CHECK_GROUP_CHILDREN = "sc-rf-"  # the red-flag items: children of the group sc-red-flags


def selfcheck_questionnaire_fsh(src: Sources) -> str:
    """The patient self-check: items exactly as the table of self-check.md, in its order.

    linkId = the local code; type boolean, required (the patient answers every
    question shown); `(group)` rows hold the sc-rf-* rows that follow;
    `(enableWhen X)` shows the item only when X is answered yes.
    """
    meta = src.self_check["questionnaire"]
    disp = display_map(src)
    lines = [GENERATED_HEADER.format(sources="dak/self-check.md and knowledge/self-check.yaml"),
             # instance names are unique across types in FSH (PlanDefinition nekklachten-zelfcheck): set the id
             f"Instance: {pascal(SELF_CHECK_ID)}Questionnaire", "InstanceOf: Questionnaire", "Usage: #definition",
             f"* id = {q(SELF_CHECK_ID)}", "* insert InstanceMetadata",
             f"* url = {q(CANONICAL_BASE + '/Questionnaire/' + SELF_CHECK_ID)}", f"* name = {q(pascal(SELF_CHECK_ID))}",
             f"* title = {q(meta['title']['nl'])}"]
    lines += translation("title", meta["title"]["en"])
    lines += ["* status = #active", "* language = #nl", "* subjectType = #Patient",
              f"* description = {q(meta['description']['nl'])}"]
    lines += translation("description", meta["description"]["en"])
    in_group = False
    for row in src.self_check_items:
        code, note = row["code"], row["note"]
        child = in_group and code.startswith(SELF_CHECK_GROUP_CHILDREN)
        if child:
            lines.append(f"* item[=].item[+].linkId = {q(code)}")
            p = "item[=].item[=]"
        else:
            in_group = False
            lines.append(f"* item[+].linkId = {q(code)}")
            p = "item[=]"
        group = note == "(group)"
        lines += [f"* {p}.type = #{'group' if group else 'boolean'}",
                  f"* {p}.code[+] = {coding('$nekpijn', code, disp[code])}",
                  f"* {p}.text = {q(row['nl'])}"]
        lines += translation(f"{p}.text", row["en"])
        if not group:
            lines.append(f"* {p}.required = true")
        m = re.fullmatch(r"\(enableWhen (sc-[a-z0-9-]+)\)", note)
        if m:
            lines += [f"* {p}.enableWhen[+].question = {q(m.group(1))}", f"* {p}.enableWhen[=].operator = #=",
                      f"* {p}.enableWhen[=].answerBoolean = true"]
        elif note and not group:
            raise ValueError(f"self-check.md: unsupported note {note!r} on {code}")
        if group:
            in_group = True
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# ActivityDefinitions
# --------------------------------------------------------------------------

def _guideline_artifact(element: str, src: Sources, section: str) -> list[str]:
    """A RelatedArtifact pointing at a guideline section (`element` is its path)."""
    g = src.plans["guideline"]
    return [f"* {element}[+].type = #documentation",
            f"* {element}[=].label = {q(section)}",
            f"* {element}[=].display = {q(g['title'] + ', ' + section)}",
            f"* {element}[=].url = {q(g['url'])}"]


def _patient_page_artifact(element: str) -> list[str]:
    """A RelatedArtifact pointing at the patient page the self-check comes from."""
    return [f"* {element}[+].type = #documentation", f"* {element}[=].label = {q('self-check.md')}",
            f"* {element}[=].display = {q(PATIENT_PAGE)}"]


PATIENT_PAGE = "Patiëntinformatie nekklachten (TopzorgGroep), verwerkt in de zelfcheck van de DAK (self-check.md)"


def _priorities(src: Sources) -> dict[str, str]:
    out = {}
    for plan in src.plans["plan_definitions"]:
        for section in plan["sections"]:
            for action in section["actions"]:
                out.setdefault(action["code"], action.get("priority", "routine"))
    return out


def _applies_text(rec: dict) -> str:
    applies = rec.get("applies", "")
    text = "Treatment profile " + ", ".join(applies) if isinstance(applies, list) else str(applies)
    if rec.get("due"):
        text += f". Due: {rec['due']}"
    return text


# The request's own date field for a due moment (outputs.md, v2), per request type
DUE_PATH = {"Task": "restriction.period.end", "CommunicationRequest": "occurrenceDateTime"}


def dynamic_values(action: dict, src: Sources) -> list[dict]:
    """The dynamicValues of an action: its own, plus `due` and `priority_expression` (v2)."""
    out = list(action.get("dynamic", []))
    kind = AD_KIND[(src.recommendation_by_code.get(action["code"]) or {}).get("kind", "order-check")]
    if action.get("due"):
        if kind not in DUE_PATH:
            raise ValueError(f"{action['code']}: a due moment needs a Task or CommunicationRequest, not {kind}")
        out += [{"path": "%action.timingDateTime", "expression": action["due"]},
                {"path": DUE_PATH[kind], "expression": action["due"]}]
    if action.get("priority_expression"):
        out += [{"path": "%action.priority", "expression": action["priority_expression"]},
                {"path": "priority", "expression": action["priority_expression"]}]
    return out


def activitydefinitions_fsh(src: Sources) -> str:
    priorities = _priorities(src)
    lines = [GENERATED_HEADER.format(sources="dak/recommendations.yaml and knowledge/")]
    entries = [dict(rec, kind=rec["kind"]) for rec in src.recommendations]
    entries += [dict(check, kind="order-check", applies="decision-logic §11") for check in src.order_checks]
    entries += [dict(advice, kind="self-check-advice") for advice in src.self_check["advice"]]
    for rec in entries:
        code, kind = rec["code"], rec["kind"]
        title, text = src.title_of(code), src.text_of(code)
        lines += ["", f"Instance: {code}", "InstanceOf: ActivityDefinition", "Usage: #definition", "* insert InstanceMetadata",
                  f"* url = {q(CANONICAL_BASE + '/ActivityDefinition/' + code)}",
                  f"* name = {q(pascal(code))}", f"* title = {q(title['nl'])}"]
        lines += translation("title", title["en"])
        lines += ["* status = #active", f"* description = {q(text['nl'])}"]
        lines += translation("description", text["en"])
        lines.append(f"* usage = {q('Applies: ' + _applies_text(rec))}")
        lines += _guideline_artifact("relatedArtifact", src, rec["guideline"])
        if kind == "self-check-advice":
            lines += _patient_page_artifact("relatedArtifact")
        for target in src.local_codes["prompt_focus"].get(code, []):
            lines += ["* relatedArtifact[+].type = #depends-on",
                      f"* relatedArtifact[=].display = {q('Vast te leggen: ' + target)}",
                      f"* relatedArtifact[=].resource = {q(CANONICAL_BASE + '/' + target)}"]
        lines.append(f"* kind = #{AD_KIND[kind]}")
        if AD_KIND[kind] == "ServiceRequest" and kind != "referral":
            interventions = rec.get("interventions") or src.local_codes["therapy_interventions"][code]
            for icode in interventions:
                lines.append(f"* code.coding[+] = {coding('$nekpijn', icode, src.element_by_code[icode].nl)}")
            if len(interventions) > 1 or not rec.get("interventions"):
                # the codings name the combined interventions; the text names the order
                lines.append(f"* code.text = {q(text['nl'] if len(text['nl']) < 80 else title['nl'])}")
        elif kind == "referral":
            lines.append('* code = $sct#3457005 "Patient referral"')
        else:
            lines.append(f"* code = {coding('$nekpijn', code, title['nl'])}")
        if kind == "consult":
            lines.append("* topic = $nekpijn#consult \"Overleg\"")
        intent = {"consider": "option", "referral": rec.get("intent", "proposal")}.get(kind, "proposal")
        if intent not in ("proposal", "option"):  # "proposal when ...; option when ...": dynamic in the PlanDefinition
            intent = "proposal"
        lines += [f"* intent = #{intent}", f"* priority = #{priorities.get(code, 'routine')}"]
        if kind == "discouraged":
            lines.append("* doNotPerform = true")
        performer = rec.get("performer")
        if performer:
            roles = [r for r in src.uzi_roles if r in performer]
            for role in sorted(roles, key=performer.index):
                r = src.uzi_roles[role]
                lines += ["* participant[+].type = #practitioner",
                          f"* participant[=].role = $uzi#{r['code']} {q(r['display'])}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# PlanDefinitions
# --------------------------------------------------------------------------

ALTERNATIVE_EXPRESSION = CANONICAL_BASE + "/StructureDefinition/alternative-expression"
CQL_DIR = ROOT / "knowledge" / "cql"


def cql_library_version(name: str) -> str:
    """The version the CQL library declares (`library <name> version '<v>'`)."""
    text = (CQL_DIR / f"{name}.cql").read_text(encoding="utf-8")
    m = re.search(rf"^library\s+{re.escape(name)}\s+version\s+'([^']+)'", text, flags=re.M)
    if not m:
        raise SystemExit(f"knowledge/cql/{name}.cql declares no library version")
    return m.group(1)


def cql_definitions(name: str) -> set[str]:
    text = (CQL_DIR / f"{name}.cql").read_text(encoding="utf-8")
    return set(re.findall(r'^define\s+"([^"]+)"\s*:', text, flags=re.M))


def condition_expression(path: str, item: dict, plan: dict) -> list[str]:
    """FSH of one applicability condition's Expression. A plan with a CQL library: the CQL
    definition (text/cql-identifier) is the expression a generic engine evaluates, with the
    FHIRPath the service's engine runs in our alternative-expression extension (docs/knowledge.md);
    otherwise the FHIRPath alone."""
    fhirpath = [f"* {path}.language = #text/fhirpath", f"* {path}.expression = {q(item['condition'])}"]
    if not plan.get("library"):
        return fhirpath
    name = item.get("cql")
    if not name:
        raise SystemExit(f"{plan['id']}: condition {item['condition']!r} has no `cql` definition name")
    if name not in cql_definitions(plan["library"]):
        raise SystemExit(f"{plan['id']}: `cql: {name}` is not defined in knowledge/cql/{plan['library']}.cql")
    alt = f"{path}.extension[+]"
    return [f"* {path}.language = #text/cql-identifier", f"* {path}.expression = {q(name)}",
            f"* {alt}.url = {q(ALTERNATIVE_EXPRESSION)}",
            f"* {path}.extension[=].valueExpression.language = #text/fhirpath",
            f"* {path}.extension[=].valueExpression.expression = {q(item['condition'])}"]


def plandefinitions_fsh(src: Sources) -> str:
    lines = [GENERATED_HEADER.format(sources="knowledge/plan-definitions.yaml and dak/recommendations.yaml")]
    g = src.plans["guideline"]
    sections = {s["code"]: s for s in src.sections}
    for plan in src.plans["plan_definitions"]:
        pid = plan["id"]
        lines += ["", f"Instance: {pid}", "InstanceOf: PlanDefinition", "Usage: #definition", "* insert InstanceMetadata",
                  f"* url = {q(CANONICAL_BASE + '/PlanDefinition/' + pid)}", f"* name = {q(plan['name'])}",
                  f"* title = {q(plan['title']['nl'])}"]
        lines += translation("title", plan["title"]["en"])
        if plan.get("library"):
            lines.append(f"* library = {q(CANONICAL_BASE + '/Library/' + plan['library'] + '|' + cql_library_version(plan['library']))}")
        lines += [f"* type = $pd-type#{plan['type']}", "* status = #active",
                  f"* description = {q(plan['description']['nl'])}"]
        lines += translation("description", plan["description"]["en"])
        lines += ["* relatedArtifact[+].type = #citation", f"* relatedArtifact[=].display = {q(g['title'])}",
                  f"* relatedArtifact[=].url = {q(g['url'])}"]
        for related in plan.get("related", []):
            lines += [f"* relatedArtifact[+].type = #{related['type']}", f"* relatedArtifact[=].display = {q(related['display'])}"]
            if related.get("url"):
                lines.append(f"* relatedArtifact[=].url = {q(related['url'])}")
        for var in plan["variables"]:
            lines += [f"* extension[+].url = {q(CANONICAL_BASE + '/StructureDefinition/plan-variable')}",
                      f"* extension[=].valueExpression.name = {q(var['name'])}",
                      "* extension[=].valueExpression.language = #text/fhirpath",
                      f"* extension[=].valueExpression.expression = {q(var['expression'])}"]
        for section in plan["sections"]:
            s = sections[section["code"]]
            lines += [f"* action[+].code = {coding('$nekpijn', s['code'], s['nl'])}", f"* action[=].title = {q(s['nl'])}"]
            lines += translation("action[=].title", s["en"])
            for trigger in plan.get("triggers", []):
                lines += ["* action[=].trigger[+].type = #named-event", f"* action[=].trigger[=].name = {q(trigger)}"]
            if section.get("condition"):
                lines += ["* action[=].condition[+].kind = #applicability"]
                lines += condition_expression("action[=].condition[=].expression", section, plan)
            for action in section["actions"]:
                code = action["code"]
                p = "action[=].action[=]"
                title = src.title_of(code)
                text = action.get("description") or src.text_of(code)
                advice = src.self_check_advice.get(code)
                rec = src.recommendation_by_code.get(code) or advice or {"applies": "decision-logic §11"}
                lines += [f"* action[=].action[+].code = {coding('$nekpijn', code, title['nl'])}",
                          f"* {p}.title = {q(title['nl'])}"]
                lines += translation(f"{p}.title", title["en"])
                lines.append(f"* {p}.description = {q(text['nl'])}")
                lines += translation(f"{p}.description", text["en"])
                lines += _guideline_artifact(f"{p}.documentation", src, src.guideline_of(code))
                if advice is not None:
                    lines += _patient_page_artifact(f"{p}.documentation")
                lines += [f"* {p}.priority = #{action.get('priority', 'routine')}",
                          f"* {p}.condition[+].kind = #applicability",
                          f"* {p}.condition[=].expression.description = {q('Applies: ' + _applies_text(rec))}"]
                lines += condition_expression(f"{p}.condition[=].expression", action, plan)
                lines += [f"* {p}.definitionCanonical = {q(CANONICAL_BASE + '/ActivityDefinition/' + code)}"]
                for dyn in dynamic_values(action, src):
                    lines += [f"* {p}.dynamicValue[+].path = {q(dyn['path'])}",
                              f"* {p}.dynamicValue[=].expression.language = #text/fhirpath",
                              f"* {p}.dynamicValue[=].expression.expression = {q(dyn['expression'])}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------

def render_all(src: Sources | None = None) -> dict[Path, str]:
    src = src or Sources()
    return {
        TERMINOLOGY_OUT / "metadata-rulesets.fsh": metadata_rulesets_fsh(),
        TERMINOLOGY_OUT / "codesystem-nekpijn.fsh": codesystem_fsh(src),
        TERMINOLOGY_OUT / "valuesets.fsh": valuesets_fsh(src),
        TERMINOLOGY_OUT / "conceptmap-nekpijn-to-snomed.fsh": conceptmap_fsh(src),
        PROFILES_OUT / "questionnaire-nekpijn-intake.fsh": questionnaire_fsh(src),
        PROFILES_OUT / "questionnaire-nekklachten-zelfcheck.fsh": selfcheck_questionnaire_fsh(src),
        PROFILES_OUT / "activitydefinitions.fsh": activitydefinitions_fsh(src),
        PROFILES_OUT / "plandefinitions.fsh": plandefinitions_fsh(src),
        ROOT / "docs" / "guideline-mapping.md": mapping_markdown(src),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render_all().items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(("stale: " if args.check else "wrote ") + str(path.relative_to(ROOT)))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
