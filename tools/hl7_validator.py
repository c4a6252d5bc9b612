"""Run the HL7 FHIR Validator over every artifact, example and reference-case output.

    python -m tools.hl7_validator                 # validate everything, print errors and warnings
    python -m tools.hl7_validator --json FILE     # also write every issue as JSON

The validator is the official Java library (`ca.uhn.hapi.fhir:org.hl7.fhir.validation`, Maven
Central; interop/validator/pom.xml). Maven resolves it into ~/.m2 on first use (later runs
work offline); one JVM (interop/validator/Validate.java) then validates all files in a batch.

Offline set-up: the validator reads its packages from `<user.home>/.fhir/packages`. The JVM
gets its own home under build/validator/home whose package cache holds
* hl7.fhir.r4.core#4.0.1 (a link to the one tools.core_package installs for SUSHI), and
* an EMPTY stand-in for hl7.fhir.xver-extensions#0.1.0, which the validator always loads
  (definitions of cross-version extensions; we use none, and fhir.org is unreachable here);
no terminology server (SNOMED CT, LOINC, BCP-47 and ISO 3166 codes are not checked against
their code systems: docs/validation.md). Our profiles and terminology come in as the IG
build/validator/package.tgz (built like dist/fhir/package.tgz from the committed artifacts).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tools import maven
from tools.core_package import core_dir, ensure_core_package
from tools.sources import ROOT

POM = ROOT / "interop" / "validator" / "pom.xml"
RUNNER = ROOT / "interop" / "validator" / "Validate.java"
WORK = ROOT / "build" / "validator"
#: the validator's folder in ~/.m2: once there, Maven can try offline first
MARKER = maven.M2 / "ca" / "uhn" / "hapi" / "fhir" / "org.hl7.fhir.validation"
HOME = WORK / "home"
# the FHIR package of the committed artifacts (as dist/fhir/package.tgz, which is not committed)
PACKAGE = WORK / "package.tgz"
ARTIFACTS = ROOT / "service" / "knowledge" / "fhir"
EXAMPLES = ROOT / "examples"
STAND_INS = {"hl7.fhir.xver-extensions": "0.1.0"}


@dataclass(frozen=True)
class Issue:
    file: str
    severity: str  # fatal | error | warning | information
    message_id: str
    expression: str
    message: str


def ensure_classpath() -> str:
    """The validator's class path (tools/maven.py: resolved on first use, again when the pom
    changes or a jar of it is gone from ~/.m2)."""
    return maven.classpath(POM, WORK, MARKER)


def ensure_home() -> Path:
    """The JVM's user.home with the offline package cache (see the module doc)."""
    ensure_core_package()
    packages = HOME / ".fhir" / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    core = packages / core_dir().name
    if not core.exists():
        core.symlink_to(core_dir(), target_is_directory=True)
    for name, version in STAND_INS.items():
        folder = packages / f"{name}#{version}" / "package"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text(json.dumps({
            "name": name, "version": version, "type": "fhir.ig", "fhirVersions": ["4.0.1"],
            "description": "empty offline stand-in (tools/hl7_validator.py)", "dependencies": {}}), encoding="utf-8")
        (folder / ".index.json").write_text('{"index-version": 2, "files": []}', encoding="utf-8")
    return HOME


def default_files(outputs_dir: Path) -> list[Path]:
    """Every artifact, every example, and the outputs of every reference case (Dutch and English)."""
    from tools.validation_outputs import write_outputs

    files = sorted(ARTIFACTS.glob("*.json")) + sorted(EXAMPLES.glob("*.json"))
    return files + sorted(write_outputs(outputs_dir, english=True))


def ensure_package() -> Path:
    """Our FHIR package (profiles, terminology, knowledge), built from the committed artifacts."""
    from tools.packaging import write_package

    return write_package(ARTIFACTS, EXAMPLES, PACKAGE)


def validate(files: list[Path], package: Path | None = None) -> tuple[list[Issue], float]:
    """All issues the validator reports for `files`, and the seconds the run took."""
    package = package or ensure_package()
    classpath = ensure_classpath()
    home = ensure_home()
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "files.txt"
        listing.write_text("\n".join(str(f) for f in files) + "\n", encoding="utf-8")
        result = Path(tmp) / "issues.json"
        started = time.monotonic()
        proc = subprocess.run(["java", f"-Duser.home={home}", "-cp", classpath, str(RUNNER),
                               str(package), str(listing), str(result)],
                              capture_output=True, text=True, cwd=ROOT, env={**os.environ, "LC_ALL": "C.UTF-8"})
        seconds = time.monotonic() - started
        if proc.returncode or not result.exists():
            raise RuntimeError(f"the validator failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        issues = [Issue(_display(r["file"]), i["severity"], i["messageId"], i["expression"], i["message"])
                  for r in json.loads(result.read_text(encoding="utf-8")) for i in r["issues"]]
    return issues, seconds


def _display(path: str) -> str:
    p = Path(path)
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else p.name


def errors(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity in ("fatal", "error")]


def warnings(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity == "warning"]


def summary(issues: list[Issue]) -> str:
    lines = []
    for label, chosen in (("errors", errors(issues)), ("warnings", warnings(issues))):
        lines.append(f"{len(chosen)} {label}")
        for (mid, message), n in Counter((i.message_id, _generic(i.message)) for i in chosen).most_common():
            lines.append(f"  {n:5d}  {mid}: {message}")
    return "\n".join(lines)


def _generic(message: str) -> str:
    return message if len(message) < 160 else message[:157] + "..."


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write every issue to this file")
    parser.add_argument("files", nargs="*", type=Path, help="only these files (default: everything)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = [f.resolve() for f in args.files] or default_files(Path(tmp) / "outputs")
        issues, seconds = validate(files)
    if args.json:
        args.json.write_text(json.dumps([i.__dict__ for i in issues], indent=1, ensure_ascii=False), encoding="utf-8")
    print(summary(issues))
    print(f"{len(files)} files validated in {seconds:.0f} s")
    return 1 if errors(issues) else 0


if __name__ == "__main__":
    sys.exit(main())
