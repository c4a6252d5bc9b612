"""Load the compiled FHIR knowledge artifacts once and index them.

The directory holds SUSHI output: one ``<ResourceType>-<id>.json`` per artifact.
Every file is parsed with the matching ``fhir.resources.R4B`` model so corrupt
knowledge fails at start-up; the raw JSON dict is kept and served as-is.
Returned dicts are shared: treat them as read-only.

Validation stamp: building the R4B models of ~100 artifacts costs ~0.85 s, half
of the service's start-up. ``make knowledge`` validates the packaged artifacts
once and writes ``validated.sha256`` next to them: a digest of every file's name
and bytes and of the fhir.resources version. When the files on disk still match
that digest, loading skips the model validation — the check it stands for has
already been made on exactly these bytes. Any changed, added or removed file
(or another fhir.resources version) does not match, and everything is
validated as before. Structural checks (JSON, resourceType, id, file name,
duplicates) always run.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path


DEFAULT_DIR = Path(__file__).parent / "fhir"
#: File next to the artifacts: the digest of the set that was validated (see module doc).
STAMP_FILE = "validated.sha256"

#: Search parameters supported by :meth:`KnowledgeBase.search`, with R4 types.
SEARCH_PARAMS: dict[str, str] = {
    "_id": "token",
    "url": "uri",
    "version": "token",
    "name": "string",
    "status": "token",
}


class KnowledgeError(Exception):
    """The knowledge artifacts are missing, unreadable or invalid."""


class UnsupportedSearchParameter(ValueError):
    """A search used a parameter this knowledge base does not support."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Search parameter '{name}' is not supported; "
            f"supported: {', '.join(SEARCH_PARAMS)}"
        )
        self.name = name


def _package_version() -> str:
    try:
        return metadata.version("nekpijn-cds")
    except metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        return "0.0.0"


def _fold(text: str) -> str:
    """Case- and accent-insensitive form used for FHIR ``string`` search."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _version_key(version: object) -> tuple:
    """Natural sort key: ``1.10.0`` sorts after ``1.9.0``."""
    parts = re.split(r"(\d+)", str(version or ""))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)


def _split_or(value: str) -> list[str]:
    """Split a search value on unescaped commas (FHIR OR semantics)."""
    parts, current, chars = [], [], iter(value)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, ""))
        elif ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p]


def _matches(resource: dict, name: str, value: str) -> bool:
    if name == "_id":
        return resource.get("id") == value
    if name == "url":
        url, _, version = value.partition("|")
        return resource.get("url") == url and (
            not version or resource.get("version") == version
        )
    if name == "name":
        return _fold(str(resource.get("name", ""))).startswith(_fold(value))
    return resource.get(name) == value  # version, status: exact token match


class KnowledgeBase:
    """Read-only, in-memory index of the FHIR knowledge artifacts."""

    def __init__(self, resources: Iterable[dict], version: str | None = None) -> None:
        self.version = version or _package_version()
        self._by_id: dict[tuple[str, str], dict] = {}
        self._by_url: dict[str, dict] = {}
        self._latest: dict[str, dict] = {}
        for res in resources:
            key = (res["resourceType"], res["id"])
            if key in self._by_id:
                raise KnowledgeError(f"Duplicate artifact {key[0]}/{key[1]}")
            self._by_id[key] = res
            self._index_canonical(res)
        self._by_id = dict(sorted(self._by_id.items()))
        self._by_type: dict[str, list[dict]] = {}
        for (rtype, _), res in self._by_id.items():
            self._by_type.setdefault(rtype, []).append(res)

    def _index_canonical(self, res: dict) -> None:
        url = res.get("url")
        if not isinstance(url, str):
            return
        version = res.get("version")
        key = f"{url}|{version}" if version else url
        if key in self._by_url:
            raise KnowledgeError(f"Duplicate canonical {key}")
        self._by_url[key] = res
        # A bare url resolves to the highest version (natural order).
        current = self._latest.get(url)
        if current is None or _version_key(version) > _version_key(
            current.get("version")
        ):
            self._latest[url] = res

    @classmethod
    def load(
        cls, directory: str | Path | None = None, *, validate: bool = True,
        trust_stamp: bool = True,
    ) -> KnowledgeBase:
        """Read every ``*.json`` in *directory* (default: packaged ``fhir/``).

        With *validate*, each artifact is checked with its R4B model unless
        *trust_stamp* and the directory's validation stamp matches the files.
        """
        root = Path(directory) if directory is not None else DEFAULT_DIR
        if not root.is_dir():
            raise KnowledgeError(f"Knowledge directory not found: {root}")
        files = [(path, _read_bytes(path)) for path in sorted(root.glob("*.json"))]
        if validate and trust_stamp and _stamp(root) == artifacts_digest(files):
            validate = False
        return cls(_read(path, raw, validate) for path, raw in files)

    def get(self, resource_type: str, resource_id: str) -> dict | None:
        """Return the artifact with this type and id, or ``None``."""
        return self._by_id.get((resource_type, resource_id))

    def by_canonical(self, canonical: str) -> dict | None:
        """Resolve ``url`` or ``url|version``; a bare url gives the latest version."""
        if "|" in canonical:
            return self._by_url.get(canonical)
        return self._latest.get(canonical)

    def search(
        self, resource_type: str, params: Mapping[str, str | Iterable[str]]
    ) -> list[dict]:
        """Artifacts of *resource_type* matching all *params* (AND; commas = OR).

        A value may be a string or a list of strings (repeated parameter).
        Empty values are ignored. Raises :class:`UnsupportedSearchParameter`.
        """
        criteria: list[tuple[str, list[str]]] = []
        for name, values in params.items():
            if name not in SEARCH_PARAMS:
                raise UnsupportedSearchParameter(name)
            for value in [values] if isinstance(values, str) else values:
                if alternatives := _split_or(value):
                    criteria.append((name, alternatives))
        return [
            res
            for res in self._by_type.get(resource_type, ())
            if all(any(_matches(res, n, v) for v in vs) for n, vs in criteria)
        ]

    def resource_types(self) -> list[str]:
        """Sorted resource types present in the knowledge base."""
        return sorted(self._by_type)

    def all(self) -> list[dict]:
        """Every artifact, sorted by (resourceType, id)."""
        return list(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)


def get_fhir_model_class(resource_type: str):
    """The fhir.resources R4B model of a resource type (the library is imported on first
    use: with a matching validation stamp, start-up does not need it)."""
    from fhir.resources.R4B import get_fhir_model_class as model_class
    return model_class(resource_type)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(f"{path.name}: unreadable ({exc})") from exc


def _validator_version() -> str:
    try:
        return "fhir.resources " + metadata.version("fhir.resources") + " R4B"
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "fhir.resources ? R4B"


def artifacts_digest(files: Iterable[tuple[Path, bytes]]) -> str:
    """SHA-256 over the validator version and each file's name and bytes (sorted by name)."""
    digest = hashlib.sha256(_validator_version().encode())
    for path, raw in sorted(files, key=lambda f: f[0].name):
        digest.update(b"\0" + path.name.encode() + b"\0" + str(len(raw)).encode() + b"\0")
        digest.update(raw)
    return digest.hexdigest()


def _stamp(root: Path) -> str | None:
    try:
        return (root / STAMP_FILE).read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def write_validation_stamp(directory: str | Path) -> str:
    """Validate every artifact in *directory* with its R4B model, then stamp the set.

    Raises :class:`KnowledgeError` (and writes nothing) when one is invalid.
    """
    root = Path(directory)
    KnowledgeBase.load(root, validate=True, trust_stamp=False)
    digest = artifacts_digest((p, p.read_bytes()) for p in root.glob("*.json"))
    (root / STAMP_FILE).write_text(digest + "\n", "ascii")
    return digest


def _read(path: Path, raw: bytes, validate: bool) -> dict:
    """Parse and check one artifact file; raise :class:`KnowledgeError` naming it."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KnowledgeError(f"{path.name}: unreadable JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise KnowledgeError(f"{path.name}: not a FHIR resource (no resourceType)")
    rtype, rid = data["resourceType"], data.get("id")
    if not isinstance(rid, str) or not rid:
        raise KnowledgeError(f"{path.name}: {rtype} has no id")
    if path.stem != f"{rtype}-{rid}":
        raise KnowledgeError(
            f"{path.name}: file name does not match {rtype}-{rid}.json"
        )
    if validate:
        try:
            get_fhir_model_class(rtype).model_validate(data)
        except ValueError as exc:  # pydantic ValidationError or unknown type
            raise KnowledgeError(f"{path.name}: invalid {rtype}: {exc}") from exc
    return data
