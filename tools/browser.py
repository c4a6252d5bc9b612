"""Headless Chromium and the LHC-Forms SDC renderer, for tests that render.

    python -m tools.browser     # install both when missing, print their paths

Chromium comes from Debian (`apt-get install chromium`); LHC-Forms from the
npm registry as the prebuilt `lforms` tarball (`npm pack`, which checks the
registry's integrity hash). Installing lforms with `npm install` is not used:
its dependency tree is large and unneeded, only `dist/lforms` is.
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
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium() -> str:
    """Path of a Chromium binary, installing Debian's package when missing."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    found = shutil.which("chromium")
    if not found:
        raise RuntimeError("chromium could not be installed")
    return found


def lforms_dist() -> Path:
    """Folder with LHC-Forms' dist/lforms (webcomponent/ and fhir/)."""
    target = LFORMS_DIR / "lforms"
    if (target / "fhir" / "R4" / "lformsFHIR.min.js").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"lforms@{LFORMS_VERSION}", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        tgz = next(Path(tmp).glob("lforms-*.tgz"))
        with tarfile.open(tgz) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/dist/lforms/")]
            tar.extractall(tmp, members=members, filter="data")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(tmp) / "package" / "dist" / "lforms"), target)
    return target


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
    print(lforms_dist())
    sys.exit(0)
