"""Offline FHIR R4 validation for the project's tests (pyrofile-validator).

    from support.validation import validate, errors, format_issues

    issues = validate(resource)          # list[ValidationIssue]
    assert not errors(issues), format_issues(errors(issues))

What is loaded (no network access, ever):

* the FHIR R4 core package (hl7.fhir.r4.core 4.0.1): the first that exists of
  $NEKPIJN_FHIR_CORE (folder or .tgz), the FHIR package cache
  ($FHIR_PACKAGE_CACHE or ~/.fhir/packages, see tools/core_package.py:
  `make test` installs it there), build/cache/hl7.fhir.r4.core-4.0.1.tgz and
  /tmp/tools/google/fhir/r4/data/hl7.fhir.r4.core.tgz;
* the project's compiled artifacts (StructureDefinitions, CodeSystem,
  ValueSets, Questionnaire, ...): every *.json in the knowledge folder,
  default service/knowledge/fhir/, override with $NEKPIJN_VALIDATION_DIR or the
  `knowledge` argument of validate().

Settings: terminology mode `local` (codes of loaded CodeSystems / ValueSets are
checked; SNOMED CT and LOINC are not available offline and are not checked),
no package downloads, evidence output in the temp folder. Canonical URLs under
https://nekpijn-cds.org/fhir (the intake Questionnaire a QuestionnaireResponse
points to) are resolved from the knowledge folder.

Stricter than pyrofile's defaults, so that a missing artifact cannot make a
test pass vacuously:

* `profile.unknown` (meta.profile names a profile that is not loaded) is an error;
* a ValueSet or CodeSystem of this project (https://nekpijn-cds.org/fhir/...)
  that a binding or coding needs but that is not in the knowledge folder gives
  the error `terminology.unresolved-local` (pyrofile would silently skip it).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from pyrofile_validator import Validator, ValidationIssue, ValidationReport
from pyrofile_validator.config import ValidatorConfig
from pyrofile_validator.models import Severity, Status

from support.type_rules import TypeRule, rules_from_snapshot, violations

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_KNOWLEDGE_DIR = ROOT / "service" / "knowledge" / "fhir"
CANONICAL_BASE = "https://nekpijn-cds.org/fhir"
REFERENCE_ORIGIN = "https://nekpijn-cds.org"

CORE_PACKAGE = "hl7.fhir.r4.core#4.0.1"
WORK_DIR = Path(tempfile.gettempdir()) / "nekpijn-pyrofile"


def knowledge_dir() -> Path:
    """The folder with the compiled project artifacts used for validation."""
    return Path(os.environ.get("NEKPIJN_VALIDATION_DIR") or DEFAULT_KNOWLEDGE_DIR)


# ---------------------------------------------------------------------------
# Core package
# ---------------------------------------------------------------------------


def core_candidates() -> list[Path]:
    configured = os.environ.get("NEKPIJN_FHIR_CORE")
    if configured:
        return [Path(configured)]
    cache = Path(os.environ.get("FHIR_PACKAGE_CACHE") or Path.home() / ".fhir" / "packages")
    return [
        cache / CORE_PACKAGE / "package",
        ROOT / "build" / "cache" / "hl7.fhir.r4.core-4.0.1.tgz",
    ]


def core_source() -> Path:
    candidates = core_candidates()
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        "FHIR R4 core package not found; set NEKPIJN_FHIR_CORE to the package folder or .tgz "
        f"(looked in {', '.join(str(c) for c in candidates)})"
    )


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------
# Validator
# ---------------------------------------------------------------------------


def _canonical_index(folder: Path) -> dict[str, dict]:
    index: dict[str, dict] = {}
    for path in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("url"), str):
            index.setdefault(data["url"], data)
            if isinstance(data.get("version"), str):
                index.setdefault(f"{data['url']}|{data['version']}", data)
    return index


class ProjectValidator:
    """A pyrofile Validator with the core package and the project's artifacts loaded."""

    def __init__(self, folder: Path):
        self.folder = folder
        work = _ensure(WORK_DIR)
        config = ValidatorConfig.load_dict({
            "fhirVersion": "4.0.1",
            "backend": "native",
            "packages": [],
            "packageCacheDir": str(work / "packages"),
            "localPackagePaths": [str(core_source()), str(folder)],
            "remotePackageSources": [],
            "terminology": {"mode": "local", "cacheDir": str(work / "terminology-cache")},
            "errorOnUnknownProfile": True,
            "severityPolicy": {"profile.unknown": "error"},
            "evidenceOutputDir": str(work / "evidence"),
        })
        problems = config.validate()
        if problems:
            raise ValueError("; ".join(problems))
        self.canonicals = _canonical_index(folder) if folder.is_dir() else {}
        self._rules: dict[str, list[TypeRule]] = {}
        self.validator = Validator(
            config,
            external_reference_resolver=self._resolve,
            reference_origin=REFERENCE_ORIGIN,
        )

    def _resolve(self, reference: str) -> dict[str, Any] | None:
        return self.canonicals.get(reference) or self.canonicals.get(reference.split("|", 1)[0])

    def _type_rules(self, profile: str) -> list[TypeRule]:
        if profile not in self._rules:
            sd = self._resolve(profile)
            self._rules[profile] = rules_from_snapshot(sd) if sd else []
        return self._rules[profile]

    def _type_issues(self, resource: dict) -> list[ValidationIssue]:
        """`only` rules of our profiles, which pyrofile does not enforce (see type_rules)."""
        resources = [e["resource"] for e in resource.get("entry", []) if "resource" in e] \
            if resource.get("resourceType") == "Bundle" else [resource]
        issues = []
        for res in resources:
            for profile in res.get("meta", {}).get("profile", []):
                for path, message in violations(res, self._type_rules(profile)):
                    issues.append(ValidationIssue(Severity.ERROR, "profile.type", message, res.get("resourceType"),
                                                  res.get("id"), path=path, source="profile"))
        return issues

    def report(self, resource: dict) -> ValidationReport:
        terminology = self.validator.terminology
        terminology.unresolved.clear()
        # fhirpathpy prints the trace() of the core invariant dom-3 to stdout.
        with contextlib.redirect_stdout(io.StringIO()):
            report = self.validator.validate_resource(resource)
        type_issues = self._type_issues(resource)
        if type_issues:
            report.issues = [*report.issues, *type_issues]
            report.status = Status.FAIL
        missing = sorted(u for u in terminology.unresolved if u.startswith(CANONICAL_BASE + "/"))
        if missing:
            report.issues = [*report.issues, *(
                ValidationIssue(
                    Severity.ERROR,
                    "terminology.unresolved-local",
                    f"{url} is needed to check a code but is not in {self.folder}",
                    resource.get("resourceType"),
                    resource.get("id"),
                    source="terminology",
                )
                for url in missing
            )]
            report.status = Status.FAIL
        return report


@lru_cache(maxsize=4)
def _validator_for(folder: str) -> ProjectValidator:
    return ProjectValidator(Path(folder))


def get_validator(knowledge: Path | str | None = None) -> ProjectValidator:
    """The cached validator for a knowledge folder (default: knowledge_dir())."""
    return _validator_for(str(Path(knowledge or knowledge_dir()).resolve()))


def reset() -> None:
    """Forget the cached validators (after the knowledge folder was rebuilt)."""
    _validator_for.cache_clear()


def validate_report(resource: dict, knowledge: Path | str | None = None) -> ValidationReport:
    return get_validator(knowledge).report(resource)


def validate(resource: dict, knowledge: Path | str | None = None) -> list[ValidationIssue]:
    """All issues (errors, warnings, information) for one resource or Bundle."""
    return list(validate_report(resource, knowledge).issues)


def errors(issues: Iterable[ValidationIssue]) -> list[ValidationIssue]:
    return [issue for issue in issues if issue.severity is Severity.ERROR]


def warnings(issues: Iterable[ValidationIssue]) -> list[ValidationIssue]:
    return [issue for issue in issues if issue.severity is Severity.WARNING]


def format_issues(issues: Iterable[ValidationIssue]) -> str:
    return "\n".join(
        f"{issue.severity.value}: {issue.code} {issue.resource_type or ''}/{issue.resource_id or ''} "
        f"{issue.path or ''}: {issue.message}"
        for issue in issues
    )


def write_evidence(report: ValidationReport, root: Path | str | None = None) -> Path:
    """Write pyrofile's evidence files for a report (default: tempdir/nekpijn-pyrofile/evidence)."""
    from pyrofile_validator.evidence.store import EvidenceStore

    return EvidenceStore(root or WORK_DIR / "evidence").write(report)
