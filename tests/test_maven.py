"""tools/maven.py: the one Maven class-path resolver of the HAPI server and the HL7 validator.

A stand-in `mvn` on PATH records each call and writes a class path of jars in the test's
folder, so that the caching rules are checked without Maven or the network:
resolved on first use, cached after that, resolved again when the pom is newer or a jar of the
cached class path is gone, offline (-o) first when the marker exists and online when that fails.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tools import hapi_server, hl7_validator, maven

FAKE_MVN = """\
    #!{python}
    import json, os, pathlib, sys
    here = pathlib.Path({folder!r})
    with open(here / "calls.jsonl", "a") as log:
        log.write(json.dumps(sys.argv[1:]) + "\\n")
    if (here / "fail").exists() or ("-o" in sys.argv and (here / "fail-offline").exists()):
        print("[ERROR] cannot resolve"); sys.exit(1)
    out = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-Dmdep.outputFile="))
    jars = [str(here / "repo" / n) for n in ("a.jar", "b.jar")]
    for j in jars:
        pathlib.Path(j).parent.mkdir(exist_ok=True); pathlib.Path(j).write_text("jar")
    pathlib.Path(out).write_text(os.pathsep.join(jars))
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text(textwrap.dedent(FAKE_MVN).format(python=sys.executable, folder=str(tmp_path)))
    mvn.chmod(mvn.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>")
    old = time.time() - 100  # the pom older than any class path written below
    os.utime(pom, (old, old))
    return tmp_path, pom


def calls(folder: Path) -> list[list[str]]:
    log = folder / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_resolved_once_then_cached(fake):
    folder, pom = fake
    work = folder / "work"
    cp = maven.classpath(pom, work, folder / "no-marker")
    assert cp.split(os.pathsep) == [str(folder / "repo" / "a.jar"), str(folder / "repo" / "b.jar")]
    assert (work / "classpath.txt").read_text() == cp
    assert len(calls(folder)) == 1 and "-o" not in calls(folder)[0]  # no marker: online
    assert maven.classpath(pom, work, folder / "no-marker") == cp
    assert len(calls(folder)) == 1  # from the cache


def test_a_jar_gone_resolves_again(fake):
    folder, pom = fake
    work = folder / "work"
    maven.classpath(pom, work, folder / "no-marker")
    (folder / "repo" / "b.jar").unlink()
    cp = maven.classpath(pom, work, folder / "no-marker")
    assert len(calls(folder)) == 2
    assert all(Path(j).exists() for j in cp.split(os.pathsep))


def test_a_newer_pom_resolves_again(fake):
    folder, pom = fake
    work = folder / "work"
    maven.classpath(pom, work, folder / "no-marker")
    later = time.time() + 100
    os.utime(pom, (later, later))
    maven.classpath(pom, work, folder / "no-marker")
    assert len(calls(folder)) == 2


def test_offline_first_then_online(fake):
    folder, pom = fake
    marker = folder / "marker"
    marker.mkdir()
    maven.classpath(pom, folder / "w1", marker)
    assert "-o" in calls(folder)[0] and len(calls(folder)) == 1
    (folder / "fail-offline").touch()
    maven.classpath(pom, folder / "w2", marker)
    assert "-o" in calls(folder)[1] and "-o" not in calls(folder)[2]


def test_failure_is_a_clear_error(fake):
    folder, pom = fake
    (folder / "fail").touch()
    with pytest.raises(maven.MavenError, match="cannot resolve"):
        maven.classpath(pom, folder / "work", folder / "no-marker")
    assert not (folder / "work" / "classpath.txt").exists()


def test_both_java_tools_use_it(fake, monkeypatch):
    """The HAPI server and the validator resolve through tools/maven.py (their own pom and work
    folder); the HAPI server turns a Maven failure into its HapiError."""
    folder, pom = fake
    for module in (hapi_server, hl7_validator):
        monkeypatch.setattr(module, "POM", pom)
        monkeypatch.setattr(module, "WORK", folder / module.__name__)
        assert module.ensure_classpath() == (folder / module.__name__ / "classpath.txt").read_text()
    assert len(calls(folder)) == 2
    (folder / "fail").touch()
    monkeypatch.setattr(hapi_server, "WORK", folder / "again")
    with pytest.raises(hapi_server.HapiError, match="cannot resolve"):
        hapi_server.ensure_classpath()
