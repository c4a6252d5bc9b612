"""The HL7 FHIR Validator (org.hl7.fhir.validation, Maven Central) over every artifact, every
example and the outputs of every reference case ($apply CarePlans, card suggestion resources),
in Dutch and in English, with our package as the IG, offline, no terminology server
(tools/hl7_validator.py).

* artifacts, outputs (Dutch and English) and examples: no error (the examples' intakes answer
  every required item: tools.case_bundles.answer_required_items);
* every warning is of a kind docs/validation.md lists with its reason.

The first run lets Maven download the validator into ~/.m2; one JVM validates all files.
"""

from __future__ import annotations

import re

import pytest

from tools import hl7_validator
from tools.sources import ROOT

DOC = ROOT / "docs" / "validation.md"


def documented(section: str) -> list[str]:
    """The message patterns (first column, in backticks) of one table of docs/validation.md."""
    text = DOC.read_text(encoding="utf-8")
    part = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", part, flags=re.M)


@pytest.fixture(scope="module")
def issues(tmp_path_factory):
    files = hl7_validator.default_files(tmp_path_factory.mktemp("outputs"))
    kinds = {f.parent.name if f.is_relative_to(ROOT) else "outputs" for f in files}
    assert {"fhir", "examples", "outputs"} <= kinds
    assert len(files) > 200
    # every reference case in English too, as many outputs as in Dutch
    outputs = [f.name for f in files if not f.is_relative_to(ROOT)]
    english = [n for n in outputs if ".en." in n]
    assert english and len(english) == len(outputs) - len(english)
    found, _seconds = hl7_validator.validate(files)
    return found


def _where(issue) -> str:
    if issue.file.startswith("service/knowledge/fhir/"):
        return "artifact"
    if issue.file.startswith("examples/"):
        return "example"
    return "English output" if ".en." in issue.file else "output"


def _show(chosen) -> str:
    return "\n".join(f"{i.file} {i.expression}: {i.message}" for i in chosen[:30])


@pytest.mark.parametrize("where", ["artifact", "output", "English output", "example"])
def test_no_errors(issues, where):
    bad = [i for i in hl7_validator.errors(issues) if _where(i) == where]
    assert not bad, f"{len(bad)} validator errors in the {where}s:\n{_show(bad)}"


def test_every_warning_is_documented(issues):
    known = documented("Warnings")
    bad = [i for i in hl7_validator.warnings(issues) if not any(p in i.message for p in known)]
    assert not bad, f"{len(bad)} warnings not listed in docs/validation.md:\n{_show(bad)}"


def test_the_validator_finds_errors(tmp_path):
    """The run is real: a broken resource gives errors (a failed run would raise)."""
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "CarePlan", "status": "nonsense", "subject": {"reference": "Patient/x"}}',
                      encoding="utf-8")
    found, _ = hl7_validator.validate([broken])
    assert any("intent" in i.message or "nonsense" in i.message for i in hl7_validator.errors(found))
