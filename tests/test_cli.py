"""CLI: help output, configuration errors and a real ``serve`` start-up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from test_knowledge_loader import INTAKE_URL, write_artifacts

from service.cli import build_parser, main
from service.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_serve(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "nekpijn-cds" in out and "serve" in out


def test_serve_help_shows_defaults(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--host" in out and "--port" in out and "8080" in out


def test_serve_defaults_come_from_settings() -> None:
    args = build_parser(Settings(host="0.0.0.0", port=9999)).parse_args(["serve"])
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 9999)


def test_no_command_prints_help(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out


def test_invalid_env_is_a_clean_error(monkeypatch, capsys) -> None:
    monkeypatch.setenv("NEKPIJN_PORT", "eighty")
    assert main(["serve"]) == 2
    assert "NEKPIJN_PORT" in capsys.readouterr().err


def test_console_script_help() -> None:
    script = Path(sys.executable).with_name("nekpijn-cds")
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    result = subprocess.run([str(script), "serve", "--help"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0 and "--port" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_starts_a_working_server(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "NEKPIJN_KNOWLEDGE_DIR": str(write_artifacts(tmp_path / "fhir"))}
    log = (tmp_path / "server.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, health = time.monotonic() + 15, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        server_log = (tmp_path / "server.log").read_text()
        assert health is not None, f"server did not come up:\n{server_log}"
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert health.json()["artifacts"] == 7
        read = httpx.get(f"{base}/fhir/Questionnaire/nekpijn-intake", timeout=5)
        assert read.json()["url"] == INTAKE_URL
        assert read.headers["content-type"] == "application/fhir+json; charset=utf-8"
        httpx.get(f"{base}/fhir/Questionnaire", params={"name": "patient-jansen"}, timeout=5)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "server.log").read_text()
    assert "GET /fhir/Questionnaire/nekpijn-intake 200" in output
    assert "GET /fhir/Questionnaire 200" in output
    assert "jansen" not in output  # the query string is never logged


def test_settings_from_env() -> None:
    assert Settings.from_env({}) == Settings()
    settings = Settings.from_env({
        "NEKPIJN_HOST": "0.0.0.0", "NEKPIJN_PORT": "9000",
        "NEKPIJN_KNOWLEDGE_DIR": "/srv/kb", "NEKPIJN_BASE_URL": "https://cds.example.org/",
    })
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.knowledge_dir == Path("/srv/kb")
    assert settings.base_url == "https://cds.example.org"


def _serve(tmp_path: Path, env: dict) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    with (tmp_path / "server.log").open("w+") as log:  # the child keeps its own copy of the fd
        proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
                                cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(f"{base}/health", timeout=1)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not come up:\n{(tmp_path / 'server.log').read_text()}")


@pytest.mark.parametrize("trusted, forged_accepted", [("", False), ("127.0.0.1", True)])
def test_forwarded_headers_are_trusted_only_from_configured_proxies(tmp_path: Path, trusted, forged_accepted):
    """A local client's X-Forwarded-Proto must not move the expected `aud` (issue 14)."""
    from hooks_support import Signer

    signer = Signer.create(tmp_path)
    env = {"NEKPIJN_AUTH": "jwt", "NEKPIJN_TRUSTED_ISSUERS_FILE": str(signer.issuers_file),
           "NEKPIJN_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}", "NEKPIJN_TRUSTED_PROXIES": trusted}
    proc, base = _serve(tmp_path, env)
    try:
        host = base.removeprefix("http://")
        forged = {**signer.headers(f"https://{host}/cds-services"), "X-Forwarded-Proto": "https"}
        honest = signer.headers(f"http://{host}/cds-services")
        assert httpx.get(f"{base}/cds-services", headers=honest, timeout=5).status_code == 200
        assert httpx.get(f"{base}/cds-services", headers=forged, timeout=5).status_code == (200 if forged_accepted else 401)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_proxy_options_default_to_no_forwarded_headers():
    from service.cli import proxy_options

    assert proxy_options(Settings()) == {"proxy_headers": False, "forwarded_allow_ips": ""}
    assert proxy_options(Settings(trusted_proxies=("10.0.0.5",)))["forwarded_allow_ips"] == "10.0.0.5"


def test_evaluate_runs_the_self_check_examples(capsys):
    """The self-check Bundles (a response and its anonymous Patient) evaluate to their advice (issue 13)."""
    for name in ("self-check-red-flag", "self-check-accident"):
        code = main(["evaluate", str(ROOT / "examples" / f"{name}.json"), "--plan", "nekklachten-zelfcheck"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "Advies zelfcheck nekklachten" in out and "Patient/zelfcheck-" in out


def test_evaluate_marks_discouraged_therapy_as_do_not_perform(capsys):
    assert main(["evaluate", str(ROOT / "examples" / "b-abnormal-duration.json")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "Dry needling" in line]
    assert lines and all("NIET UITVOEREN: Dry needling" in line for line in lines)
    assert main(["evaluate", str(ROOT / "examples" / "b-abnormal-duration.json"), "--lang", "en"]) == 0
    assert "DO NOT PERFORM: Dry needling" in capsys.readouterr().out
