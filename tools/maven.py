"""The class path of a Maven module (a pom of dependencies), resolved once and cached.

    from tools.maven import classpath
    cp = classpath(POM, WORK, marker=M2 / "ca" / "uhn" / "hapi" / "fhir" / "org.hl7.fhir.validation")

Used by the Java tools that run from Maven Central jars (tools/hapi_server.py, tools/hl7_validator.py).
Maven resolves the jars into ~/.m2 on first use; the class path is cached in
``<work_dir>/classpath.txt`` and resolved again only when the cache is missing, older than the
pom, or names a jar that no longer exists (a cleaned ~/.m2 would otherwise give a JVM that
fails with ClassNotFoundError far from the cause). Maven runs offline (``-o``) when the marker
(a folder in ~/.m2 of the module's main dependency) exists, and online again if that fails
(some other jar is missing).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

#: Maven's default local repository
M2 = Path.home() / ".m2" / "repository"


class MavenError(RuntimeError):
    """Maven could not resolve the module's dependencies."""


def cached(cache: Path, pom: Path) -> str | None:
    """The cached class path, or None when it must be resolved again."""
    try:
        if cache.stat().st_mtime < pom.stat().st_mtime:
            return None
        text = cache.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    jars = [j for j in text.split(os.pathsep) if j]
    return text if jars and all(Path(j).exists() for j in jars) else None


def classpath(pom: Path, work_dir: Path, marker: Path) -> str:
    """The class path of `pom`'s dependencies (``os.pathsep``-separated jar paths).

    Raises MavenError with Maven's output when it cannot resolve them."""
    cache = work_dir / "classpath.txt"
    found = cached(cache, pom)
    if found is not None:
        return found
    work_dir.mkdir(parents=True, exist_ok=True)
    offline = ["-o"] if marker.exists() else []
    cmd = ["mvn", "-q", "-B", *offline, "-f", str(pom), "dependency:build-classpath",
           f"-Dmdep.outputFile={cache}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode and offline:  # a jar missing from ~/.m2: let Maven fetch it
        proc = subprocess.run([c for c in cmd if c != "-o"], capture_output=True, text=True)
    if proc.returncode:
        raise MavenError(f"Maven could not resolve {pom}:\n{proc.stdout}{proc.stderr}")
    found = cache.read_text(encoding="utf-8").strip() if cache.exists() else ""
    if not found:
        raise MavenError(f"Maven wrote no class path to {cache} for {pom}:\n{proc.stdout}{proc.stderr}")
    return found
