"""Write one example Bundle per reference case: examples/<case-id>.json,
plus the self-check examples: examples/self-check-*.json (tools/self_check_bundles.py).

    python -m tools.make_examples            # writes examples/
    python -m tools.make_examples --out DIR  # writes elsewhere (the freshness test uses this)
    python -m tools.make_examples --check    # exit 1 when examples/ is stale

The intakes of the examples are conformant: every completed intake answers each required
yes/no item of the groups it holds (tools.case_bundles.answer_required_items: the latest
earlier answer carried forward, else `false`, so nothing the service reads changes;
tests/test_examples.py proves it per case). The case tests keep the partial intakes of
cases.yaml.

The evaluation day is FIXED (EVALUATION_DAY, Europe/Amsterdam), so the files
are stable; the day is recorded in each Bundle (timestamp and the
evaluation-date extension on Bundle.meta). Case format: tests/cases/cases.yaml.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import yaml

from tools.case_bundles import build_case_bundle
from tools.self_check_bundles import example_bundles as self_check_examples

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases" / "cases.yaml"
DATA_DICTIONARY = ROOT / "dak" / "data-dictionary.yaml"
EXAMPLES = ROOT / "examples"

EVALUATION_DAY = date(2026, 6, 15)


def load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def render(bundle: dict) -> str:
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"


def example_texts(cases_path: Path = CASES, dictionary_path: Path = DATA_DICTIONARY,
                  today: date = EVALUATION_DAY) -> dict[str, str]:
    """File name -> file content for every case and every self-check example."""
    cases = load_yaml(cases_path)["cases"]
    data_dictionary = load_yaml(dictionary_path)
    texts: dict[str, str] = {}
    for case in cases:
        name = f"{case['id']}.json"
        if name in texts:
            raise ValueError(f"duplicate case id {case['id']}")
        texts[name] = render(build_case_bundle(case, today, data_dictionary, conformant=True))
    for name, bundle in self_check_examples().items():  # a patient's self-check: the `data` of its $apply
        if f"{name}.json" in texts:
            raise ValueError(f"duplicate example name {name}")
        texts[f"{name}.json"] = render(bundle)
    return texts


def write_examples(out_dir: Path = EXAMPLES) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in example_texts().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_examples(out_dir: Path = EXAMPLES) -> list[str]:
    """Names of example files that are missing or differ from a fresh build."""
    stale = []
    for name, text in example_texts().items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=EXAMPLES, help="output folder (default: examples/)")
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_examples(args.out)
        for name in stale:
            print(f"stale: {args.out / name}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_examples(args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
