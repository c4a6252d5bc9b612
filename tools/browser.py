"""Headless Chromium, its WebDriver, LHC-Forms and axe-core, for tests that render.

    python -m tools.browser     # install what is missing, print the paths

Chromium and ChromeDriver come from Debian (`apt-get install chromium
chromium-driver`, the same version, so Selenium needs no driver download:
the tests pass the driver's path and Selenium Manager is never run).
LHC-Forms and axe-core come from the npm registry as their prebuilt tarballs
(`npm pack`, which checks the registry's integrity hash), unpacked into
build/cache. Installing lforms with `npm install` is not used: its dependency
tree is large and unneeded, only `dist/lforms` is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from tools.sources import ROOT

LFORMS_VERSION = "40.1.3"
LFORMS_DIR = ROOT / "build" / "cache" / f"lforms-{LFORMS_VERSION}"
AXE_VERSION = "4.10.3"
AXE_DIR = ROOT / "build" / "cache" / f"axe-core-{AXE_VERSION}"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _apt_install(*packages: str) -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", *packages], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def chromium() -> str:
    """Path of a Chromium binary, installing Debian's package when missing."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    _apt_install("chromium")
    found = shutil.which("chromium")
    if not found:
        raise RuntimeError("chromium could not be installed")
    return found


def chromedriver() -> str:
    """Path of ChromeDriver for that Chromium, installing Debian's chromium-driver when missing."""
    found = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if found:
        return found
    chromium()
    _apt_install("chromium-driver")
    found = shutil.which("chromedriver")
    if not found:
        raise RuntimeError("chromium-driver could not be installed")
    return found


def _npm_unpack(spec: str, inside: str, target: Path) -> None:
    """`npm pack` *spec* and move the tarball's folder *inside* (e.g. ``package/dist/lforms``) to *target*."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        tgz = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            members = [m for m in tar.getmembers() if m.name == inside or m.name.startswith(inside + "/")]
            # the "data" filter where Python has it (Debian's 3.11.2 has not; the members are
            # already limited to the one folder of a package from the npm registry)
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, members=members, **safe)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(tmp) / inside), target)


def lforms_dist() -> Path:
    """Folder with LHC-Forms' dist/lforms (webcomponent/ and fhir/)."""
    target = LFORMS_DIR / "lforms"
    if not (target / "fhir" / "R4" / "lformsFHIR.min.js").exists():
        _npm_unpack(f"lforms@{LFORMS_VERSION}", "package/dist/lforms", target)
    return target


def axe_core() -> Path:
    """axe-core's ``axe.min.js`` (the accessibility checker the page tests inject)."""
    target = AXE_DIR / "package"
    script = target / "axe.min.js"
    if not script.exists():
        _npm_unpack(f"axe-core@{AXE_VERSION}", "package", target)
    return script


def dump_dom(url: str, budget_ms: int = 20000, timeout: int = 90) -> str:
    """The DOM of a page after `budget_ms` of virtual time."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
             "--dump-dom", url],
            capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


if __name__ == "__main__":
    print(chromium())
    print(chromedriver())
    print(lforms_dist())
    print(axe_core())
    sys.exit(0)
