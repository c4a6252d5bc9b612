"""Translate knowledge/cql/*.cql to ELM JSON with the reference translator (info.cqframework:cql-to-elm).

    python -m tools.cql.translate            # rewrite the committed ELM next to the CQL
    python -m tools.cql.translate --out DIR  # write elsewhere (the ELM check test)

Runs the Maven module interop/cql/translator (Java 17 + Maven; the jars come from Maven
Central on first run and are cached in ~/.m2). Writes <Library>.json per .cql file plus
FHIRHelpers-4.0.1.json (from the translator's own jar), which a CQL engine needs as well:
NekpijnBeslisregels.json (the case features) and NekpijnPlan.json (the PlanDefinition
conditions; includes NekpijnBeslisregels, found beside it in the same directory).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CQL_DIR = ROOT / "knowledge" / "cql"
TRANSLATOR_POM = ROOT / "interop" / "cql" / "translator" / "pom.xml"


def translate(out_dir: Path, cql_dir: Path = CQL_DIR) -> subprocess.CompletedProcess:
    """Run the translator; raises CalledProcessError (with the translator's messages) on errors."""
    cmd = ["mvn", "-B", "-q", "-f", str(TRANSLATOR_POM), "compile", "exec:java",
           f"-Dexec.args={cql_dir} {out_dir}"]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CQL_DIR)
    args = parser.parse_args(argv)
    try:
        result = translate(args.out.resolve())
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(exc.stdout + exc.stderr)
        return 1
    sys.stderr.write("".join(line + "\n" for line in result.stderr.splitlines()
                             if line.startswith(("Error", "wrote")) or ".cql:" in line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
