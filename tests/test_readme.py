"""README.md as a newcomer reads and uses it.

1. Rendered with a real Markdown renderer (markdown-it-py, CommonMark + GFM tables):
   every table has a header, every source row has exactly the header's number of cells
   (the renderer pads or cuts rows silently, so the source row is counted), and no
   paragraph holds raw `| … |` table text (what a row separated from its table becomes).
2. What it names is real: the CDS service ids are those of discovery, every
   `examples/…` file exists, every `NEKPIJN_*` setting the service reads is documented.
3. "First calls": the service is started exactly as the first code block of the section
   says (dev issuer, then `nekpijn-cds serve`, with its environment) on a free port, and
   every following block runs as written with real curl and jq — only the port is
   substituted. Each call's HTTP status (curl's `-w '%{http_code}'`) and a key field of
   its answer (the file it keeps in `var/`) are checked. The commands run in a scratch
   folder that stands for the repo root (`.venv` and `examples` linked into it), so a
   developer's own `var/` (database, dev issuer) is not touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt

from service.app import create_app
from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
PORT_IN_README = "8080"


def on_port(command: str, port: int) -> str:
    """The command with the README's port replaced (nothing else changes)."""
    return re.sub(rf"\b{PORT_IN_README}\b", str(port), command)


# -- 1. tables -----------------------------------------------------------------------------

def tokens():
    return MarkdownIt("commonmark").enable("table").parse(TEXT)


def source_cells(line: str) -> int:
    """The number of cells of a GFM table row as written (unescaped pipes split cells)."""
    row = line.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return len(re.split(r"(?<!\\)\|", row))


def tables() -> list[dict]:
    """Every rendered table: header cells, and per row (source line, cells in source, cells rendered)."""
    lines = TEXT.splitlines()
    found, current, row = [], None, None
    for tok in tokens():
        if tok.type == "table_open":
            current = {"line": tok.map[0] + 1, "header": [], "rows": [], "in_head": False}
        elif tok.type == "thead_open":
            current["in_head"] = True
        elif tok.type == "thead_close":
            current["in_head"] = False
        elif tok.type == "tr_open" and current is not None:
            row = {"line": tok.map[0] + 1, "source": source_cells(lines[tok.map[0]]), "cells": []}
        elif tok.type == "inline" and row is not None:
            row["cells"].append(tok.content)
        elif tok.type == "tr_close" and current is not None:
            if current["in_head"]:
                current["header"] = row["cells"]
            else:
                current["rows"].append(row)
            row = None
        elif tok.type == "table_close":
            found.append(current)
            current = None
    return found


def test_every_table_has_a_header_and_full_rows():
    found = tables()
    assert len(found) >= 2, "the endpoint and the settings tables"
    for table in found:
        header = table["header"]
        assert header and all(cell.strip() for cell in header), f"table at line {table['line']}: no header"
        for row in table["rows"]:
            assert row["source"] == len(header), \
                f"README line {row['line']}: {row['source']} cells, the table's header has {len(header)}"


def test_no_table_text_leaks_into_paragraphs():
    toks = tokens()
    for i, tok in enumerate(toks):
        if tok.type != "inline" or toks[i - 1].type != "paragraph_open":
            continue
        for offset, line in enumerate(tok.content.splitlines()):
            assert not re.match(r"^\s*\|.*\|\s*$", line), \
                f"README line {toks[i - 1].map[0] + 1 + offset}: table row rendered as text: {line[:80]}"


def endpoint_table() -> dict[str, str]:
    table = next(t for t in tables() if [c.strip() for c in t["header"]] == ["endpoint", "what"])
    return {row["cells"][0]: row["cells"][1] for row in table["rows"]}


def test_endpoint_table_holds_the_cds_hooks_rows():
    rows = endpoint_table()
    for endpoint in ("`GET /cds-services`", "`POST /cds-services/{id}`", "`POST /cds-services/{id}/feedback`",
                     "`GET /cds-services/{id}/feedback/summary`", "`POST /fhir/PlanDefinition/{id}/$apply`",
                     "`POST /fhir/PlanDefinition/nekklachten-zelfcheck/$apply`"):
        assert endpoint in rows, f"{endpoint} is not a row of the endpoint table"
    assert "`subject`" in rows["`POST /fhir/PlanDefinition/nekklachten-zelfcheck/$apply`"]


# -- 2. what the README names ------------------------------------------------------------------

def test_service_ids_are_those_of_discovery():
    client = TestClient(create_app(settings=Settings(auth="off", database_url="sqlite://")))
    services = client.get("/cds-services").json()["services"]
    row = endpoint_table()["`GET /cds-services`"]
    named = re.findall(r"`(nekpijn-[a-z-]+)`(?: \(([a-z-]+)\))?", row)
    assert {sid for sid, _hook in named} == {s["id"] for s in services}
    hooks = {s["id"]: s["hook"] for s in services}
    for sid, hook in named:
        assert hook == hooks[sid], f"the README says {sid} answers {hook}, discovery says {hooks[sid]}"
    for sid in set(re.findall(r"/cds-services/(nekpijn-[a-z-]+)", TEXT)):
        assert sid in hooks, f"the README calls a service {sid} that discovery does not list"


def test_every_example_file_named_exists():
    named = set(re.findall(r"examples/[\w./-]*\.json", TEXT))
    assert "examples/hooks/patient-view.json" in named
    for path in named:
        if "*" not in path:
            assert (ROOT / path).is_file(), f"the README names {path}, which does not exist"
    for name in re.findall(r"`((?:encounter-start|order-select|order-sign)\.json)`", TEXT):
        assert (ROOT / "examples" / "hooks" / name).is_file(), name


def test_every_setting_the_service_reads_is_documented():
    source = (ROOT / "service" / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r'(?:get|number|listing|rate)\("([A-Z][A-Z_]+)"', source))
    names |= set(re.findall(r'PREFIX \+ "([A-Z][A-Z_]+)"', source))
    assert len(names) > 15, names
    missing = sorted(f"NEKPIJN_{n}" for n in names if f"NEKPIJN_{n}" not in TEXT)
    assert not missing, f"settings not in the README: {missing}"


def test_licence_is_stated_as_in_pyproject():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    licence = re.search(r'^license = "([^"]+)"', pyproject, re.M).group(1)
    assert licence == "LicenseRef-Proprietary"
    section = TEXT[TEXT.index("## Licence"):]
    assert licence in section and "Proprietary" in section
    # the FHIR package says the same, with FHIR's code (its licence value set has no LicenseRef-)
    sushi = (ROOT / "sushi-config.yaml").read_text()
    assert re.search(r"^license: not-open-source$", sushi, re.M) and "not-open-source" in section


def test_benchmark_durations_agree():
    bench = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    perf = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    readme = re.search(r"bench\.service`[^~]*~(\d+) min", TEXT).group(1)
    in_bench = re.search(r"`\.venv/bin/python -m bench\.service` \|[^|]*\| ~(\d+) min", bench).group(1)
    in_perf = re.search(r"bench\.service --save\s+# ~(\d+) min", perf).group(1)
    assert readme == in_bench == in_perf


def test_serve_workers_is_documented():
    assert "--workers" in TEXT
    help_text = subprocess.run([str(ROOT / ".venv" / "bin" / "nekpijn-cds"), "serve", "--help"],
                               capture_output=True, text=True, check=True).stdout
    for option in re.findall(r"(--[a-z-]+)", help_text):
        if option != "--help":
            assert f"`{option}" in TEXT, f"serve {option} is not documented in the README"


# -- 3. first calls -----------------------------------------------------------------------------

def first_calls() -> list[str]:
    start = TEXT.index("## First calls")
    end = TEXT.index("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", TEXT[start:end], re.S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_lines(stdout: str) -> list[int]:
    return [int(line) for line in stdout.splitlines() if re.fullmatch(r"\d{3}", line.strip())]


def careplans_on_cards(cards: list[dict]) -> list[dict]:
    return [a["resource"] for card in cards for s in card.get("suggestions", []) for a in s.get("actions", [])
            if isinstance(a.get("resource"), dict) and a["resource"].get("resourceType") == "CarePlan"]


def feature(careplan: dict, code: str):
    for r in careplan.get("contained", []):
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == code:
            value = r.get("valueCodeableConcept")
            return value["coding"][0]["code"] if value else r.get("valueBoolean")
    return None


def check_discovery(answers: dict) -> None:
    ids = {s["id"]: s["hook"] for s in answers["discovery.json"]["services"]}
    assert ids == {"nekpijn-behandelprofiel": "patient-view",
                   "nekpijn-behandelprofiel-encounter-start": "encounter-start",
                   "nekpijn-orders-select": "order-select", "nekpijn-orders-sign": "order-sign"}


def check_cards(answers: dict) -> None:
    cards = answers["cards.json"]["cards"]
    profile = [c for c in cards if c["summary"].startswith("Behandelprofiel B")]
    assert len(profile) == 1, [c["summary"] for c in cards]
    plans = careplans_on_cards(profile)
    assert plans and feature(plans[0], "treatment-profile") == "profile-b"
    assert plans[0]["created"].startswith("2026-06-15"), "X-Evaluation-Date was not used on the hook call"


def check_feedback(answers: dict) -> None:
    counts = {c["kind"]: c for c in answers["feedback-summary.json"]["cards"]}
    assert counts["profile-b"]["accepted"] == 1 and counts["profile-b"]["shown"] == 1, counts


def check_careplan(answers: dict) -> None:
    careplan = answers["careplan.json"]
    assert careplan["resourceType"] == "CarePlan"
    assert careplan["subject"]["reference"] == "Patient/b-abnormal-duration"
    assert careplan["created"].startswith("2026-06-15"), "X-Evaluation-Date was not used"
    assert feature(careplan, "treatment-profile") == "profile-b"


def check_self_check(answers: dict) -> None:
    careplan = answers["self-check.json"]
    assert careplan["resourceType"] == "CarePlan"
    assert feature(careplan, "self-check-advice") == "advice-gp"
    assert any(r["resourceType"] == "CommunicationRequest" for r in careplan["contained"])


#: the file each call keeps in var/ → (HTTP statuses it prints, in order; check of the answers so far)
CALLS = {
    "discovery.json": ([200], check_discovery),
    "cards.json": ([200], check_cards),
    "feedback.json": ([200, 200], check_feedback),
    "careplan.json": ([200], check_careplan),
    "self-check.json": ([200], check_self_check),
}


@pytest.fixture(scope="module")
def repo_root_copy(tmp_path_factory) -> Path:
    """A scratch folder standing for the repo root: what the commands use is linked in."""
    folder = tmp_path_factory.mktemp("readme-root")
    for name in (".venv", "examples"):
        (folder / name).symlink_to(ROOT / name)
    return folder


def readme_env() -> dict[str, str]:
    """The environment of a newcomer's shell: nothing NEKPIJN_* set by this test session."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NEKPIJN_")}


@pytest.fixture(scope="module")
def service(repo_root_copy):
    assert shutil.which("curl") and shutil.which("jq"), "the README's first calls need curl and jq"
    blocks = first_calls()
    port = free_port()
    start = on_port(blocks[0], port)
    assert "nekpijn-cds serve" in start and f"--port {port}" in start
    log = repo_root_copy / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", start], cwd=repo_root_copy, env=readme_env(),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90  # generous: a loaded 2-core machine
        while True:
            assert proc.poll() is None, f"the service did not start: {log.read_text()[-2000:]}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"no /health in 90 s: {log.read_text()[-2000:]}"
            time.sleep(0.3)
        yield port, blocks[1:], log
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """End the README's service and the shell that started it (their own process group)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def test_first_calls_run_as_written(service, repo_root_copy):
    port, blocks, log = service
    kept = [re.findall(r"-o var/([\w.-]+\.json)", block) for block in blocks]
    assert [files[0] for files in kept] == list(CALLS), "the first calls changed: update CALLS"
    answers: dict[str, dict] = {}
    for block, files in zip(blocks, kept):
        command = on_port(block, port)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=repo_root_copy, env=readme_env(),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{files[0]}: exit {done.returncode}\n{done.stderr[-2000:]}"
        statuses, check = CALLS[files[0]]
        assert status_lines(done.stdout) == statuses, f"{files[0]}: {done.stdout[:2000]}"
        assert done.stdout.strip().splitlines()[len(statuses):], f"{files[0]}: jq showed nothing"
        for name in files:
            answers[name] = json.loads((repo_root_copy / "var" / name).read_text(encoding="utf-8"))
        check(answers)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "eyJ" not in text, "a token in the service log"
    assert "b-abnormal-duration" not in text and "v2-orders-profile-b-dizziness" not in text, \
        "a patient identifier in the service log"
