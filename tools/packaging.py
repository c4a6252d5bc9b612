"""Assemble the distributable forms of the knowledge artifacts.

* a FHIR NPM package (package/package.json, package/.index.json, the
  artifacts, and the example Bundles under package/example/), reproducible
  byte for byte (fixed mtimes, sorted members);
* a transaction Bundle that loads every artifact into a FHIR server (PUT by id), and the
  same split into parts of at most MAX_TRANSACTION_ENTRIES entries (servers limit a
  transaction: Medplum to 50), to be posted in their order: terminology and profiles first,
  then the Questionnaires, the ActivityDefinitions and last the PlanDefinitions that use them.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import yaml

from tools.sources import CANONICAL_BASE, ROOT


def _config() -> dict:
    return yaml.safe_load((ROOT / "sushi-config.yaml").read_text(encoding="utf-8"))


def load_artifacts(folder: Path) -> list[tuple[str, dict]]:
    """(file name, resource) for every artifact JSON, sorted by file name."""
    return [(p.name, json.loads(p.read_text(encoding="utf-8"))) for p in sorted(folder.glob("*.json"))]


def index_entry(filename: str, resource: dict) -> dict:
    entry = {"filename": filename, "resourceType": resource["resourceType"], "id": resource["id"]}
    for key in ("url", "version", "kind", "type"):
        if isinstance(resource.get(key), str):
            entry[key] = resource[key]
    return entry


PACKAGE_ID = "nekpijn-cds.fhir"


def package_manifest() -> dict:
    cfg = _config()
    return {
        "name": PACKAGE_ID,
        "version": cfg["version"],
        "type": "fhir.ig",
        "canonical": cfg["canonical"],
        "url": cfg["canonical"],
        "title": "Nekpijn CDS — KNGF-richtlijn Nekpijn (2016) als FHIR-kennis",
        "description": "FHIR R4 knowledge artifacts of Nekpijn CDS: the KNGF neck pain guideline (2016) as "
                       "terminology, profiles, the intake Questionnaire, ActivityDefinitions and PlanDefinitions.",
        "fhirVersions": [cfg["fhirVersion"]],
        "dependencies": {"hl7.fhir.r4.core": "4.0.1"},
        "author": "Nekpijn CDS",
        "jurisdiction": "urn:iso:std:iso:3166#NL",
        "license": cfg["license"],  # not-open-source: the project is proprietary (pyproject.toml)
    }


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def build_package_bytes(artifacts_dir: Path, examples_dir: Path | None) -> bytes:
    artifacts = load_artifacts(artifacts_dir)
    examples = load_artifacts(examples_dir) if examples_dir and examples_dir.exists() else []
    buf = io.BytesIO()
    # gzip with mtime 0 so the same input gives the same bytes
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, "package/package.json", _json_bytes(package_manifest()))
            _add(tar, "package/.index.json", _json_bytes(
                {"index-version": 1, "files": [index_entry(n, r) for n, r in artifacts]}))
            for name, resource in artifacts:
                _add(tar, f"package/{name}", _json_bytes(resource))
            if examples:
                _add(tar, "package/example/.index.json", _json_bytes(
                    {"index-version": 1, "files": [index_entry(n, r) for n, r in examples]}))
                for name, resource in examples:
                    _add(tar, f"package/example/{name}", _json_bytes(resource))
    return buf.getvalue()


def write_package(artifacts_dir: Path, examples_dir: Path | None, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(build_package_bytes(artifacts_dir, examples_dir))
    return target


def transaction_bundle(artifacts_dir: Path) -> dict:
    entries = []
    for _, resource in load_artifacts(artifacts_dir):
        rtype, rid = resource["resourceType"], resource["id"]
        entries.append({
            "fullUrl": f"{CANONICAL_BASE}/{rtype}/{rid}",
            "resource": resource,
            "request": {"method": "PUT", "url": f"{rtype}/{rid}"},
        })
    return {"resourceType": "Bundle", "id": "nekpijn-cds-knowledge", "type": "transaction", "entry": entries}


def write_transaction_bundle(artifacts_dir: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_json_bytes(transaction_bundle(artifacts_dir)))
    return target


MAX_TRANSACTION_ENTRIES = 50
# the order the parts load in: what a resource refers to (by canonical) comes before it
LOAD_ORDER = ("CodeSystem", "ValueSet", "ConceptMap", "StructureDefinition", "Questionnaire",
              "ActivityDefinition", "Library", "PlanDefinition")


def transaction_parts(artifacts_dir: Path, max_entries: int = MAX_TRANSACTION_ENTRIES) -> list[dict]:
    """The transaction Bundle split into parts of at most `max_entries` entries, in load order."""
    whole = transaction_bundle(artifacts_dir)
    rank = {t: n for n, t in enumerate(LOAD_ORDER)}
    entries = sorted(whole["entry"], key=lambda e: rank.get(e["resource"]["resourceType"], len(rank)))
    chunks = [entries[i:i + max_entries] for i in range(0, len(entries), max_entries)]
    return [{"resourceType": "Bundle", "id": f"{whole['id']}-{n}", "type": "transaction", "entry": chunk}
            for n, chunk in enumerate(chunks, 1)]


def write_transaction_parts(artifacts_dir: Path, folder: Path) -> list[Path]:
    """dist/fhir/bundle-transaction-<n>.json: post them in the order of n."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("bundle-transaction-*.json"):
        old.unlink()
    written = []
    for n, part in enumerate(transaction_parts(artifacts_dir), 1):
        target = folder / f"bundle-transaction-{n}.json"
        target.write_bytes(_json_bytes(part))
        written.append(target)
    return written
