"""Every SHALL / SHALL NOT requirement of CDS Hooks 2.0 is proven by a test (or does not apply)."""

from __future__ import annotations

import ast
from pathlib import Path

from tools import conformance_doc

TESTS = Path(__file__).resolve().parent


def _test_functions() -> set[str]:
    names = set()
    for path in TESTS.glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                names.add(f"{path.name}::{node.name}")
    return names


def test_every_mandatory_requirement_is_covered():
    mapping = conformance_doc.matrix()
    open_rows = [r["id"] for r in conformance_doc.requirements()
                 if r["conformance"] in conformance_doc.MANDATORY
                 and not (mapping.get(int(r["id"])) or {}).get("tests")
                 and not (mapping.get(int(r["id"])) or {}).get("not_applicable")]
    assert not open_rows, f"SHALL / SHALL NOT requirements without a test or reason: {open_rows}"


def test_named_tests_exist():
    existing = _test_functions()
    missing = [t for entry in conformance_doc.matrix().values() for t in (entry or {}).get("tests", [])
               if t not in existing]
    assert not missing, f"matrix names tests that do not exist: {missing}"


def test_matrix_ids_are_requirements():
    ids = {int(r["id"]) for r in conformance_doc.requirements()}
    assert set(conformance_doc.matrix()) <= ids


def test_conformance_doc_is_fresh():
    assert conformance_doc.main(["--check"]) == 0, "docs/conformance.md is stale: run python -m tools.conformance_doc"
