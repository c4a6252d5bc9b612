"""Build the FHIR knowledge artifacts.

    python -m tools.build_knowledge            # FSH → JSON (committed) + package + Bundle
    python -m tools.build_knowledge --check    # exit 1 when FSH or JSON in the repo are stale

Steps:
1. regenerate the generated FSH from dak/ and knowledge/ (tools.generate_fsh);
2. compile terminology/ and profiles/ with SUSHI, offline, with snapshots;
3. add the FHIR Library resources of knowledge/cql (CQL text + ELM JSON, tools.cql.library)
   and a generated Dutch narrative to every artifact (tools.narrative_artifacts); the build
   fails first when the committed ELM is not the reference translator's translation of the
   committed CQL (Java 17 + Maven, interop/cql/translator);
4. copy the resulting JSON into service/knowledge/fhir/ (committed: the
   service loads it at start-up and needs no SUSHI at run time), validate
   every artifact with its R4B model and write the validation stamp
   (service/knowledge/loader.py: the service then skips that validation at
   start-up while the files match);
5. assemble dist/fhir/package.tgz (a FHIR NPM package) and
   dist/fhir/bundle-transaction.json (PUT by id, loads every artifact into
   a FHIR server), and the same in parts of at most 50 entries,
   dist/fhir/bundle-transaction-<n>.json (post them in order).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from service.knowledge.loader import STAMP_FILE, KnowledgeError, artifacts_digest, write_validation_stamp
from tools import generate_fsh
from tools.core_package import ensure_core_package
from tools.cql.library import check_elm, write_libraries
from tools.narrative_artifacts import add_narratives
from tools.packaging import write_package, write_transaction_bundle, write_transaction_parts
from tools.sources import ROOT

SUSHI = ROOT / "node_modules" / ".bin" / "sushi"
FSH_DIRS = [ROOT / "terminology", ROOT / "profiles"]
KNOWLEDGE_JSON = ROOT / "service" / "knowledge" / "fhir"
DIST = ROOT / "dist" / "fhir"
# SUSHI always tries to load these; they are unreachable here and unused.
EXPECTED_WARNINGS = ("hl7.fhir.uv.tools", "hl7.terminology", "hl7.fhir.uv.extensions",
                     # `license` is read by tools/packaging.py, not by SUSHI (FSHOnly)
                     "only relevant for IG creation: license.")


@dataclass
class SushiResult:
    errors: int
    warnings: list[str]
    resources: Path
    log: str


def ensure_sushi() -> None:
    if not SUSHI.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)


def fsh_files() -> list[Path]:
    return sorted(p for d in FSH_DIRS for p in d.rglob("*.fsh"))


def compile_fsh(workdir: Path) -> SushiResult:
    """Compile every FSH file of the project with SUSHI in `workdir`, then add the narratives."""
    ensure_core_package()
    ensure_sushi()
    fsh_in = workdir / "input" / "fsh"
    fsh_in.mkdir(parents=True)
    shutil.copy(ROOT / "sushi-config.yaml", workdir / "sushi-config.yaml")
    for path in fsh_files():
        # flatten: profiles/generated/x.fsh → profiles__generated__x.fsh
        shutil.copy(path, fsh_in / "__".join(path.relative_to(ROOT).parts))
    proc = subprocess.run([str(SUSHI), "build", str(workdir), "--snapshot"], capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    m = re.search(r"(\d+) Errors?\s+(\d+) Warnings?", log)
    errors = int(m.group(1)) if m else (1 if proc.returncode else 0)
    warnings = re.findall(r"^warn\s+(.*)$", log, flags=re.M)
    if proc.returncode and not errors:
        errors = 1
    resources = workdir / "fsh-generated" / "resources"
    if not errors:
        write_libraries(resources)
        add_narratives(resources)  # part of the build output, so --check and the tests compare with it
    return SushiResult(errors, warnings, resources, log)


def unexpected_warnings(result: SushiResult) -> list[str]:
    return [w for w in result.warnings if not any(p in w for p in EXPECTED_WARNINGS)]


def _same_tree(a: Path, b: Path) -> bool:
    names_a = sorted(p.name for p in a.glob("*.json"))
    names_b = sorted(p.name for p in b.glob("*.json"))
    if names_a != names_b:
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names_a)


def stamp_is_fresh(directory: Path = KNOWLEDGE_JSON) -> bool:
    """Whether the committed validation stamp matches the committed artifacts."""
    stamp = directory / STAMP_FILE
    digest = artifacts_digest((p, p.read_bytes()) for p in directory.glob("*.json"))
    return stamp.exists() and stamp.read_text("ascii").strip() == digest


def build(check: bool = False) -> int:
    problems = check_elm()
    if problems:
        print("\n".join(problems) + "\nrun `python -m tools.cql.translate` and commit the ELM", file=sys.stderr)
        return 1
    if check:
        if generate_fsh.main(["--check"]):
            print("generated FSH is stale: run `make knowledge`", file=sys.stderr)
            return 1
    else:
        generate_fsh.main([])
    with tempfile.TemporaryDirectory() as tmp:
        result = compile_fsh(Path(tmp) / "sushi")
        if result.errors:
            print(result.log, file=sys.stderr)
            print(f"SUSHI: {result.errors} error(s)", file=sys.stderr)
            return 1
        for warning in unexpected_warnings(result):
            print(f"SUSHI warning: {warning}", file=sys.stderr)
        if check:
            if not _same_tree(result.resources, KNOWLEDGE_JSON):
                print("service/knowledge/fhir is stale: run `make knowledge`", file=sys.stderr)
                return 1
            if not stamp_is_fresh():
                print(f"service/knowledge/fhir/{STAMP_FILE} is stale: run `make knowledge`", file=sys.stderr)
                return 1
            print("knowledge artifacts are up to date")
            return 0
        if KNOWLEDGE_JSON.exists():
            shutil.rmtree(KNOWLEDGE_JSON)
        shutil.copytree(result.resources, KNOWLEDGE_JSON)
    try:
        write_validation_stamp(KNOWLEDGE_JSON)
    except KnowledgeError as exc:
        print(f"SUSHI output does not validate with fhir.resources R4B: {exc}", file=sys.stderr)
        return 1
    count = len(list(KNOWLEDGE_JSON.glob("*.json")))
    package = write_package(KNOWLEDGE_JSON, ROOT / "examples", DIST / "package.tgz")
    bundle = write_transaction_bundle(KNOWLEDGE_JSON, DIST / "bundle-transaction.json")
    parts = write_transaction_parts(KNOWLEDGE_JSON, DIST)
    print(f"{count} artifacts → {KNOWLEDGE_JSON.relative_to(ROOT)}")
    print(f"package → {package.relative_to(ROOT)}; transaction Bundle → {bundle.relative_to(ROOT)}, "
          f"and in {len(parts)} parts of ≤ 50 entries → dist/fhir/bundle-transaction-<n>.json")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the committed FSH and JSON are fresh")
    args = parser.parse_args(argv)
    return build(check=args.check)


if __name__ == "__main__":
    sys.exit(main())
