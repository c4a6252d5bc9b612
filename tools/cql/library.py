"""FHIR Library resources for the CQL of knowledge/cql (built by the knowledge build).

One Library per CQL library: Library/NekpijnBeslisregels (the case features), Library/NekpijnPlan
(the conditions of PlanDefinition nekpijn-behandelprofiel), Library/NekpijnOrders (those of
nekpijn-orders, evaluated per draft order: parameter "Order"), Library/NekklachtenZelfcheck
(the patient self-check and the conditions of its PlanDefinition) and Library/FHIRHelpers (the
ELM every FHIR CQL engine needs for the included FHIRHelpers 4.0.1). Each carries its CQL text (text/cql; FHIRHelpers: the
translator's own copy, recovered from nothing here, so only its ELM) and its ELM JSON
(application/elm+json), base64, as the committed files hold them; `relatedArtifact` depends-on
names the included libraries by canonical|version, `dataRequirement` the FHIR types read.
Library.version is the CQL library's version (= the dak version, 2.0.0), so that an engine that
resolves `include NekpijnBeslisregels version '2.0.0'` by name and version finds it.

`check_elm()` is the build's guard: the committed ELM must equal a fresh translation of the
committed CQL by the reference translator (tools/cql/translate.py).
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from pathlib import Path

from tools.cql.translate import CQL_DIR, translate
from tools.sources import CANONICAL_BASE

LIBRARY_TYPE = "http://terminology.hl7.org/CodeSystem/library-type"
#: the metadata every artifact shares (profiles/generated/metadata-rulesets.fsh), copied from a
#: SUSHI-built artifact so that the Libraries stay in step with the others
SHARED = ("publisher", "contact", "jurisdiction", "experimental", "date", "language", "copyright")
HELPERS = "FHIRHelpers-4.0.1"

TEXTS = {
    "NekpijnBeslisregels": (
        "Nekpijn — beslisregels (casuskenmerken)",
        "De casuskenmerken van de beslislogica §0–§9 (dak v2) in CQL over FHIR R4: ernstige pathologie, "
        "radiculair syndroom, graad, beloop, subgroep, psychosociale factoren, behandelprofiel, "
        "behandeleffect en de afgeleide feiten, uit de intake (QuestionnaireResponse), de metingen en "
        "bevindingen (Observation), de nekpijn-Condition en de Patient."),
    "NekpijnPlan": (
        "Nekpijn — wanneer elke aanbeveling van het behandelplan geldt",
        "Eén CQL-definitie per toepasbaarheidsvoorwaarde van PlanDefinition nekpijn-behandelprofiel "
        "(beslislogica §6, §7, §9, §10; dak v2), op basis van de casuskenmerken van Library "
        "NekpijnBeslisregels. De PlanDefinition verwijst ernaar (text/cql-identifier)."),
    "NekpijnOrders": (
        "Nekpijn — wanneer elke controle van een conceptorder geldt",
        "Eén CQL-definitie per toepasbaarheidsvoorwaarde van PlanDefinition nekpijn-orders (beslislogica §11; "
        "dak v2), geëvalueerd per conceptorder (ServiceRequest of Procedure; parameter Order = "
        "'ServiceRequest/<id>' of 'Procedure/<id>'): de interventiecodes van de order (lokaal of via ConceptMap "
        "nekpijn-to-snomed uit SNOMED CT), beeldvorming (ook categorie SNOMED CT Imaging en CPT-radiologie), "
        "afgeraden therapie, halskraag en manipulatie, op basis van de casuskenmerken van Library "
        "NekpijnBeslisregels. De PlanDefinition verwijst ernaar (text/cql-identifier)."),
    "NekklachtenZelfcheck": (
        "Zelfcheck nekklachten — het advies voor de patiënt",
        "De beslistabel van de zelfcheck (DAK self-check.md, v2) in CQL over FHIR R4: uit de antwoorden op "
        "Questionnaire nekklachten-zelfcheck (QuestionnaireResponse) het advies (huisarts, vandaag nog bij "
        "gevoelloosheid of krachtverlies in beide armen of benen, problemen met plassen of ontlasting of "
        "dubbelzien; beoordeling na een ongeluk; afspraak bij een fysiotherapeut; zelfzorg; de eerste "
        "passende regel geldt, een rode vlag gaat voor alles), en één CQL-definitie per "
        "toepasbaarheidsvoorwaarde van PlanDefinition nekklachten-zelfcheck, die ernaar verwijst "
        "(text/cql-identifier)."),
    "FHIRHelpers": (
        "FHIRHelpers 4.0.1 (ELM)",
        "De ELM van FHIRHelpers 4.0.1 (HL7), vertaald door de referentievertaler uit de kopie in de "
        "vertaler zelf: elke CQL-engine heeft haar nodig voor de andere Libraries."),
}
DATA_TYPES = {
    "NekpijnBeslisregels": ("Patient", "QuestionnaireResponse", "Observation", "Condition"),
    "NekpijnPlan": ("Patient", "QuestionnaireResponse", "Observation", "Condition"),
    "NekpijnOrders": ("Patient", "QuestionnaireResponse", "Observation", "Condition", "ServiceRequest", "Procedure"),
    "NekklachtenZelfcheck": ("Patient", "QuestionnaireResponse"),
    "FHIRHelpers": (),
}


#: ELM system types of the CQL parameters -> FHIR data types (Library.parameter.type)
PARAMETER_TYPES = {"{urn:hl7-org:elm-types:r1}Date": "date", "{urn:hl7-org:elm-types:r1}String": "string"}


def _parameter_type(parameter: dict) -> str:
    name = (parameter.get("parameterTypeSpecifier") or {}).get("name")
    if name not in PARAMETER_TYPES:
        raise ValueError(f"CQL parameter {parameter.get('name')!r}: type {name!r} has no FHIR data type here")
    return PARAMETER_TYPES[name]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def library_resource(elm_path: Path, metadata: dict, cql_path: Path | None) -> dict:
    elm = json.loads(elm_path.read_text(encoding="utf-8"))["library"]
    name, version = elm["identifier"]["id"], elm["identifier"]["version"]
    title, description = TEXTS[name]
    resource = {"resourceType": "Library", "id": name, "language": metadata.get("language", "nl"),
                "url": f"{CANONICAL_BASE}/Library/{name}", "version": version, "name": name, "title": title,
                "status": "active",
                "type": {"coding": [{"system": LIBRARY_TYPE, "code": "logic-library", "display": "Logic Library"}]}}
    resource.update({k: metadata[k] for k in SHARED if k in metadata and k != "language"})
    resource["description"] = description
    related = []
    for include in elm.get("includes", {}).get("def", []):
        related.append({"type": "depends-on", "display": f"Library {include['path']}",
                        "resource": f"{CANONICAL_BASE}/Library/{include['path']}|{include['version']}"})
    if related:
        resource["relatedArtifact"] = related
    parameters = [{"name": p["name"], "use": "in", "min": 0, "max": "1", "type": _parameter_type(p)}
                  for p in elm.get("parameters", {}).get("def", [])]
    if parameters:
        resource["parameter"] = parameters
    if DATA_TYPES[name]:
        resource["dataRequirement"] = [{"type": t} for t in DATA_TYPES[name]]
    content = []
    if cql_path is not None:
        content.append({"contentType": "text/cql", "data": _b64(cql_path.read_bytes())})
    content.append({"contentType": "application/elm+json", "data": _b64(elm_path.read_bytes())})
    resource["content"] = content
    return resource


def libraries(metadata: dict, cql_dir: Path = CQL_DIR) -> list[dict]:
    """The Library resources of every committed ELM file (FHIRHelpers first)."""
    out = [library_resource(cql_dir / f"{HELPERS}.json", metadata, None)]
    for cql in sorted(cql_dir.glob("*.cql")):
        out.append(library_resource(cql_dir / f"{cql.stem}.json", metadata, cql))
    return out


def write_libraries(folder: Path, cql_dir: Path = CQL_DIR) -> list[Path]:
    """Write Library-<name>.json into a folder of SUSHI output (metadata from its PlanDefinitions)."""
    metadata = json.loads(next(folder.glob("PlanDefinition-*.json")).read_text(encoding="utf-8"))
    written = []
    for resource in libraries(metadata, cql_dir):
        path = folder / f"Library-{resource['id']}.json"
        path.write_text(json.dumps(resource, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def check_elm(cql_dir: Path = CQL_DIR) -> list[str]:
    """Problems: a translation error, or a committed ELM file that is not the fresh translation."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        try:
            translate(out, cql_dir)
        except subprocess.CalledProcessError as exc:
            return [f"the CQL does not translate:\n{exc.stdout}{exc.stderr}"]
        fresh = {p.name for p in out.glob("*.json")}
        committed = {p.name for p in cql_dir.glob("*.json")}
        problems = [f"knowledge/cql/{n}: no committed ELM" for n in sorted(fresh - committed)]
        problems += [f"knowledge/cql/{n}: ELM without CQL" for n in sorted(committed - fresh)]
        for name in sorted(fresh & committed):
            if json.loads((out / name).read_text()) != json.loads((cql_dir / name).read_text()):
                problems.append(f"knowledge/cql/{name} is not the translation of its CQL")
        return problems
