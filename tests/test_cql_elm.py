"""The committed ELM of knowledge/cql (NekpijnBeslisregels, NekpijnPlan, NekpijnOrders, NekklachtenZelfcheck, FHIRHelpers) equals a
fresh translation by the reference translator.

Needs Java 17 and Maven (interop/cql/translator; info.cqframework:cql-to-elm from Maven Central,
cached in ~/.m2). A CQL change without `python -m tools.cql.translate` fails here, and so does
a CQL file the translator rejects.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tools.cql.translate import CQL_DIR, translate


@pytest.fixture(scope="module")
def fresh_elm(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("elm")
    try:
        translate(out)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"translation failed:\n{exc.stdout}{exc.stderr}")
    return out


def test_every_cql_file_has_committed_elm() -> None:
    for cql in CQL_DIR.glob("*.cql"):
        assert (CQL_DIR / f"{cql.stem}.json").is_file(), f"no ELM for {cql.name}"
    assert (CQL_DIR / "FHIRHelpers-4.0.1.json").is_file()


def test_committed_elm_equals_fresh_translation(fresh_elm: Path) -> None:
    fresh = sorted(p.name for p in fresh_elm.glob("*.json"))
    committed = sorted(p.name for p in CQL_DIR.glob("*.json"))
    assert fresh == committed
    for name in fresh:
        assert json.loads((fresh_elm / name).read_text()) == json.loads((CQL_DIR / name).read_text()), \
            f"{name} differs from a fresh translation: run python -m tools.cql.translate"


LIBRARIES = {"NekpijnBeslisregels": "2.0.0", "NekpijnPlan": "2.0.0", "NekpijnOrders": "2.0.0",
             "NekklachtenZelfcheck": "2.0.0"}


@pytest.mark.parametrize("name", sorted(LIBRARIES))
def test_translation_has_no_errors(fresh_elm: Path, name: str) -> None:
    library = json.loads((fresh_elm / f"{name}.json").read_text())["library"]
    errors = [a for a in library.get("annotation", []) if a.get("errorSeverity") == "error"]
    assert errors == []
    assert (library["identifier"]["id"], library["identifier"]["version"]) == (name, LIBRARIES[name])


def test_every_library_is_tested() -> None:
    assert {p.stem for p in CQL_DIR.glob("*.cql")} == set(LIBRARIES)


@pytest.mark.parametrize("name", ["NekpijnPlan", "NekpijnOrders"])
def test_the_plan_library_includes_the_case_features(name: str) -> None:
    library = json.loads((CQL_DIR / f"{name}.json").read_text())["library"]
    includes = {(i["path"], i.get("version")) for i in library["includes"]["def"]}
    assert includes == {("FHIRHelpers", "4.0.1"), ("NekpijnBeslisregels", "2.0.0")}


def test_the_self_check_library_includes_only_fhirhelpers() -> None:
    """The self-check is decided on its own answers: no case features of the intake."""
    library = json.loads((CQL_DIR / "NekklachtenZelfcheck.json").read_text())["library"]
    includes = {(i["path"], i.get("version")) for i in library["includes"]["def"]}
    assert includes == {("FHIRHelpers", "4.0.1")}
