"""KnowledgeBase: loading, validation and lookups (fixture artifacts in tmp_path).

``FIXTURE_ARTIFACTS`` and ``write_artifacts`` are reused by test_fhir_api.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.knowledge import (
    DEFAULT_DIR,
    KnowledgeBase,
    KnowledgeError,
    UnsupportedSearchParameter,
)
from service.knowledge import loader
from service.knowledge.loader import write_validation_stamp

BASE = "https://nekpijn-cds.org/fhir"
INTAKE_URL = f"{BASE}/Questionnaire/nekpijn-intake"

FIXTURE_ARTIFACTS: list[dict] = [
    {
        "resourceType": "CodeSystem",
        "id": "nekpijn",
        "url": f"{BASE}/CodeSystem/nekpijn",
        "version": "0.1.0",
        "name": "NekpijnCodes",
        "status": "active",
        "content": "complete",
        "concept": [{"code": "grade-1", "display": "Graad I"}],
    },
    {
        "resourceType": "ValueSet",
        "id": "nekpijn-grade",
        "url": f"{BASE}/ValueSet/nekpijn-grade",
        "version": "0.1.0",
        "name": "NekpijnGrade",
        "status": "active",
        "compose": {"include": [{"system": f"{BASE}/CodeSystem/nekpijn"}]},
    },
    {
        "resourceType": "Questionnaire",
        "id": "nekpijn-intake",
        "url": INTAKE_URL,
        "version": "0.1.0",
        "name": "NekpijnIntake",
        "title": "Intake nekpijn — anamnese",
        "status": "active",
        "item": [{"linkId": "pain-nrs", "text": "Pijn (NPRS)", "type": "integer"}],
    },
    {
        "resourceType": "Questionnaire",
        "id": "nekpijn-followup",
        "url": f"{BASE}/Questionnaire/nekpijn-followup",
        "version": "0.1.0",
        "name": "NekpijnFollowUp",
        "status": "draft",
        "item": [{"linkId": "gpe", "text": "Globaal ervaren effect", "type": "choice"}],
    },
    {
        "resourceType": "StructureDefinition",
        "id": "nekpijn-observation",
        "url": f"{BASE}/StructureDefinition/nekpijn-observation",
        "version": "0.1.0",
        "name": "NekpijnObservation",
        "status": "active",
        "fhirVersion": "4.0.1",
        "kind": "resource",
        "abstract": False,
        "type": "Observation",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
        "derivation": "constraint",
        "differential": {
            "element": [{"id": "Observation.subject", "path": "Observation.subject", "min": 1}]
        },
    },
    {
        "resourceType": "StructureDefinition",
        "id": "nekpijn-questionnaire",
        "url": f"{BASE}/StructureDefinition/nekpijn-questionnaire",
        "version": "0.1.0",
        "name": "NekpijnQuestionnaire",
        "status": "active",
        "fhirVersion": "4.0.1",
        "kind": "resource",
        "abstract": False,
        "type": "Questionnaire",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Questionnaire",
        "derivation": "constraint",
    },
    {
        "resourceType": "PlanDefinition",
        "id": "nekpijn-triage",
        "url": f"{BASE}/PlanDefinition/nekpijn-triage",
        "version": "0.1.0",
        "name": "NekpijnTriage",
        "status": "draft",
        "action": [{"title": "Screen op rode vlaggen"}],
    },
]


def write_artifacts(directory: Path, artifacts: list[dict] = FIXTURE_ARTIFACTS) -> Path:
    """Write artifacts as SUSHI would: ``<ResourceType>-<id>.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    for res in artifacts:
        path = directory / f"{res['resourceType']}-{res['id']}.json"
        path.write_text(json.dumps(res, ensure_ascii=False, indent=2), encoding="utf-8")
    return directory


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    return KnowledgeBase.load(write_artifacts(tmp_path / "fhir"))


def test_load_indexes_every_artifact(kb: KnowledgeBase) -> None:
    assert len(kb) == len(FIXTURE_ARTIFACTS)
    assert kb.resource_types() == [
        "CodeSystem", "PlanDefinition", "Questionnaire", "StructureDefinition", "ValueSet"
    ]
    keys = [(r["resourceType"], r["id"]) for r in kb.all()]
    assert keys == sorted(keys)
    assert kb.version  # package version, e.g. 0.1.0


def test_get_returns_raw_json(kb: KnowledgeBase) -> None:
    intake = next(r for r in FIXTURE_ARTIFACTS if r["id"] == "nekpijn-intake")
    assert kb.get("Questionnaire", "nekpijn-intake") == intake
    assert kb.get("Questionnaire", "nope") is None
    assert kb.get("ValueSet", "nekpijn-intake") is None


def test_by_canonical_with_and_without_version(kb: KnowledgeBase) -> None:
    assert kb.by_canonical(INTAKE_URL)["id"] == "nekpijn-intake"
    assert kb.by_canonical(f"{INTAKE_URL}|0.1.0")["id"] == "nekpijn-intake"
    assert kb.by_canonical(f"{INTAKE_URL}|9.9.9") is None
    assert kb.by_canonical(f"{BASE}/Questionnaire/unknown") is None


def test_bare_canonical_resolves_to_latest_version() -> None:
    versions = ["1.9.0", "1.10.0", "1.2.0"]
    kb = KnowledgeBase(
        {"resourceType": "ValueSet", "id": f"vs-{v}", "url": f"{BASE}/ValueSet/vs",
         "version": v, "status": "active"}
        for v in versions
    )
    assert kb.by_canonical(f"{BASE}/ValueSet/vs")["version"] == "1.10.0"
    assert kb.by_canonical(f"{BASE}/ValueSet/vs|1.2.0")["id"] == "vs-1.2.0"


def test_search_parameters(kb: KnowledgeBase) -> None:
    ids = lambda params: [r["id"] for r in kb.search("Questionnaire", params)]  # noqa: E731
    assert ids({}) == ["nekpijn-followup", "nekpijn-intake"]
    assert ids({"url": INTAKE_URL}) == ["nekpijn-intake"]
    assert ids({"url": f"{INTAKE_URL}|0.1.0"}) == ["nekpijn-intake"]
    assert ids({"url": f"{INTAKE_URL}|0.2.0"}) == []
    assert ids({"_id": "nekpijn-followup"}) == ["nekpijn-followup"]
    assert ids({"version": "0.1.0"}) == ["nekpijn-followup", "nekpijn-intake"]
    assert ids({"status": "draft"}) == ["nekpijn-followup"]
    assert ids({"status": "draft,active"}) == ["nekpijn-followup", "nekpijn-intake"]
    assert ids({"name": "nekpijni"}) == ["nekpijn-intake"]  # case-insensitive prefix
    assert ids({"name": "Intake"}) == []  # starts-with, not contains
    assert ids({"status": ["active", "draft"]}) == []  # repeated = AND
    assert ids({"status": "active", "name": "NekpijnF"}) == []
    assert ids({"url": ""}) == ["nekpijn-followup", "nekpijn-intake"]  # empty ignored
    assert kb.search("Patient", {}) == []


def test_unknown_search_parameter_raises(kb: KnowledgeBase) -> None:
    with pytest.raises(UnsupportedSearchParameter) as err:
        kb.search("Questionnaire", {"title": "x"})
    assert err.value.name == "title"
    assert "title" in str(err.value)


Q = '{"resourceType": "Questionnaire", '


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("Questionnaire-broken.json", Q + '"id": ', "unreadable JSON"),
        ("Questionnaire-x.json", "[1, 2]", "not a FHIR resource"),
        ("Questionnaire-x.json", Q + '"status": "active"}', "has no id"),
        ("Questionnaire-x.json", Q + '"id": "y", "status": "active"}', "does not match"),
        ("Questionnaire-x.json", Q + '"id": "x"}', "invalid Questionnaire"),
        ("Questionnaire-x.json", Q + '"id": "x", "status": "active", "item": "oops"}',
         "invalid Questionnaire"),
        ("Bogus-x.json", '{"resourceType": "Bogus", "id": "x"}', "invalid Bogus"),
    ],
)
def test_corrupt_artifact_fails_fast_naming_the_file(
    tmp_path: Path, filename: str, content: str, message: str
) -> None:
    write_artifacts(tmp_path)
    (tmp_path / filename).write_text(content, encoding="utf-8")
    with pytest.raises(KnowledgeError) as err:
        KnowledgeBase.load(tmp_path)
    assert filename in str(err.value)
    assert message in str(err.value)


def test_duplicate_canonical_is_rejected(tmp_path: Path) -> None:
    copy = dict(FIXTURE_ARTIFACTS[2], id="nekpijn-intake-copy")
    write_artifacts(tmp_path, [*FIXTURE_ARTIFACTS, copy])
    with pytest.raises(KnowledgeError, match="Duplicate canonical"):
        KnowledgeBase.load(tmp_path)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="not found"):
        KnowledgeBase.load(tmp_path / "absent")


def test_default_directory_is_packaged_fhir_dir() -> None:
    assert DEFAULT_DIR == Path(__file__).parents[1] / "service" / "knowledge" / "fhir"


# -- validation stamp (start-up skips the R4B model check of a set validated at build) --

def test_matching_stamp_skips_model_validation(tmp_path: Path, monkeypatch) -> None:
    write_artifacts(tmp_path)
    write_validation_stamp(tmp_path)
    calls = []

    def refuse(rtype):
        calls.append(rtype)
        raise ValueError("the model check ran")
    monkeypatch.setattr(loader, "get_fhir_model_class", refuse)
    assert len(KnowledgeBase.load(tmp_path)) == len(FIXTURE_ARTIFACTS)
    assert calls == []
    with pytest.raises(KnowledgeError, match="the model check ran"):  # without trusting the stamp
        KnowledgeBase.load(tmp_path, trust_stamp=False)
    assert calls


@pytest.mark.parametrize("change", ["edit", "add", "remove"])
def test_stamp_does_not_cover_a_changed_set(tmp_path: Path, monkeypatch, change: str) -> None:
    write_artifacts(tmp_path)
    write_validation_stamp(tmp_path)
    if change == "edit":
        target = next(tmp_path.glob("Questionnaire-*.json"))
        target.write_text(target.read_text("utf-8").replace('"active"', '"draft"', 1), "utf-8")
    elif change == "add":
        copy = dict(FIXTURE_ARTIFACTS[2], id="other", url=f"{INTAKE_URL}-other")
        (tmp_path / "Questionnaire-other.json").write_text(json.dumps(copy), "utf-8")
    else:
        next(tmp_path.glob("CodeSystem-*.json")).unlink()
    real = loader.get_fhir_model_class
    validated = []
    monkeypatch.setattr(loader, "get_fhir_model_class", lambda rtype: validated.append(rtype) or real(rtype))
    KnowledgeBase.load(tmp_path)
    assert len(validated) == len(list(tmp_path.glob("*.json")))


def test_changed_invalid_artifact_still_fails_fast(tmp_path: Path) -> None:
    write_artifacts(tmp_path)
    write_validation_stamp(tmp_path)
    target = next(tmp_path.glob("Questionnaire-*.json"))
    data = json.loads(target.read_text("utf-8"))
    data["item"] = "oops"
    target.write_text(json.dumps(data), "utf-8")
    with pytest.raises(KnowledgeError, match="invalid Questionnaire"):
        KnowledgeBase.load(tmp_path)


def test_stamp_names_the_validator_version(tmp_path: Path, monkeypatch) -> None:
    write_artifacts(tmp_path)
    stamped = write_validation_stamp(tmp_path)
    monkeypatch.setattr(loader, "_validator_version", lambda: "fhir.resources 99.0 R4B")
    assert loader.artifacts_digest((p, p.read_bytes()) for p in tmp_path.glob("*.json")) != stamped


def test_invalid_set_is_not_stamped(tmp_path: Path) -> None:
    write_artifacts(tmp_path)
    (tmp_path / "Questionnaire-x.json").write_text('{"resourceType": "Questionnaire", "id": "x"}', "utf-8")
    with pytest.raises(KnowledgeError):
        write_validation_stamp(tmp_path)
    assert not (tmp_path / loader.STAMP_FILE).exists()


def test_packaged_knowledge_stamp_is_fresh() -> None:
    """`make knowledge` validated exactly the committed artifacts (else: run it again)."""
    from tools.build_knowledge import stamp_is_fresh
    assert stamp_is_fresh(DEFAULT_DIR)
