"""`nekpijn-cds dev-token`: a local dev issuer whose tokens the service accepts when told to trust it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.cds_hooks.discovery import PREFETCH_KEYS
from service.cli import main
from service.config import Settings
from service.dev_token_cli import DEV_ISS

BASE = "http://127.0.0.1:8080"
SERVICE_URL = f"{BASE}/cds-services/nekpijn-behandelprofiel"
DISCOVERY_URL = f"{BASE}/cds-services"


def dev_token(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["dev-token", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def issued(tmp_path, monkeypatch, capsys):
    """A first run in an empty working directory (the default --dir var/dev-issuer)."""
    monkeypatch.chdir(tmp_path)
    for name in ("NEKPIJN_BASE_URL", "NEKPIJN_TRUSTED_ISSUERS_FILE", "NEKPIJN_MAX_TOKEN_LIFETIME"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = dev_token(capsys, "--url", SERVICE_URL)
    assert code == 0, err
    return tmp_path, out, err


def printed_issuers_file(err: str) -> Path:
    """The NEKPIJN_TRUSTED_ISSUERS_FILE value stderr tells the user to set."""
    lines = [line.strip() for line in err.splitlines() if "NEKPIJN_TRUSTED_ISSUERS_FILE=" in line]
    assert len(lines) == 1, err
    return Path(lines[0].split("NEKPIJN_TRUSTED_ISSUERS_FILE=", 1)[1])


def patient_view(hook_instance: str) -> dict:
    """A patient-view call with every prefetch key answered (a patient with no neck-pain data)."""
    prefetch = {key: {"resourceType": "Bundle", "type": "searchset", "total": 0} for key in PREFETCH_KEYS["patient-view"]}
    prefetch["patient"] = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}
    return {"hook": "patient-view", "hookInstance": hook_instance,
            "context": {"userId": "Practitioner/1", "patientId": "p1"}, "prefetch": prefetch}


def service(tmp_path: Path, issuers_file: Path) -> TestClient:
    settings = Settings(auth="jwt", trusted_issuers_file=issuers_file,
                        database_url=f"sqlite:///{tmp_path / 'store.db'}")
    return TestClient(create_app(settings), base_url=BASE)


def test_stdout_is_only_the_token_with_the_claims_asked_for(issued):
    folder, out, err = issued
    token = out.strip()
    assert out == token + "\n" and token.count(".") == 2
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "ES384" and header["kid"]
    assert claims["iss"] == DEV_ISS and claims["aud"] == SERVICE_URL and claims["jti"]
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert token not in err


def test_issuer_files_created_private_key_0600(issued):
    folder, _, err = issued
    issuer_dir = folder / "var" / "dev-issuer"
    assert stat.S_IMODE((issuer_dir / "private-key.pem").stat().st_mode) == 0o600
    jwks = json.loads((issuer_dir / "jwks.json").read_text())
    assert [k["kid"] for k in jwks["keys"]] == [jwt.get_unverified_header(issued[1].strip())["kid"]]
    assert all("d" not in k for k in jwks["keys"])  # public keys only
    assert printed_issuers_file(err) == Path("var/dev-issuer/trusted-issuers.json")
    entries = json.loads((issuer_dir / "trusted-issuers.json").read_text())
    assert entries == [{"iss": DEV_ISS, "jwks_file": "jwks.json"}]


def test_token_accepted_by_a_service_trusting_the_printed_file(issued):
    folder, out, err = issued
    client = service(folder, folder / printed_issuers_file(err))
    body = patient_view("d1577c69-dfbe-44ad-ba6d-3e05e953b2ea")
    response = client.post("/cds-services/nekpijn-behandelprofiel", json=body,
                           headers={"Authorization": f"Bearer {out.strip()}"})
    assert response.status_code == 200, response.text
    assert "cards" in response.json()
    # the same service refuses the call without the token, and the token a second time (jti)
    assert client.post("/cds-services/nekpijn-behandelprofiel", json=body).status_code == 401
    again = client.post("/cds-services/nekpijn-behandelprofiel", json=body,
                        headers={"Authorization": f"Bearer {out.strip()}"})
    assert again.status_code == 401 and "replayed" in again.text


def test_token_for_another_url_is_refused(issued, capsys):
    folder, _, err = issued
    code, discovery_token, _ = dev_token(capsys, "--url", DISCOVERY_URL)
    assert code == 0
    client = service(folder, folder / printed_issuers_file(err))
    wrong = client.post("/cds-services/nekpijn-behandelprofiel", json={"hook": "patient-view"},
                        headers={"Authorization": f"Bearer {discovery_token.strip()}"})
    assert wrong.status_code == 401 and "audience mismatch" in wrong.text
    # ... it was never recorded as seen (audience is checked before jti), so it still works where it belongs
    right = client.get("/cds-services", headers={"Authorization": f"Bearer {discovery_token.strip()}"})
    assert right.status_code == 200 and right.json()["services"]


def test_second_run_reuses_the_key(issued, capsys):
    folder, first, _ = issued
    first = first.strip()
    issuer_dir = folder / "var" / "dev-issuer"
    key_before = (issuer_dir / "private-key.pem").read_bytes()
    jwks_before = (issuer_dir / "jwks.json").read_text()
    code, second, _ = dev_token(capsys, "--url", SERVICE_URL)
    second = second.strip()
    assert code == 0
    assert (issuer_dir / "private-key.pem").read_bytes() == key_before
    assert (issuer_dir / "jwks.json").read_text() == jwks_before
    assert jwt.get_unverified_header(second)["kid"] == jwt.get_unverified_header(first)["kid"]
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in (first, second)]
    assert claims[0]["jti"] != claims[1]["jti"]
    # a service started on the first run's files accepts the second run's token
    client = service(folder, issuer_dir / "trusted-issuers.json")
    response = client.get("/cds-services", headers={"Authorization": f"Bearer {second}"})
    assert response.status_code == 401 and "audience mismatch" in response.text  # for SERVICE_URL, not discovery
    ok = client.post("/cds-services/nekpijn-behandelprofiel", headers={"Authorization": f"Bearer {second}"},
                     json=patient_view("3c0a4b2e-0000-4000-8000-000000000001"))
    assert ok.status_code == 200, ok.text


def test_public_jwks_rewritten_from_the_kept_key(issued, capsys):
    folder, first, _ = issued
    first = first.strip()
    jwks = folder / "var" / "dev-issuer" / "jwks.json"
    jwks.unlink()
    assert dev_token(capsys, "--url", SERVICE_URL)[0] == 0
    assert json.loads(jwks.read_text())["keys"][0]["kid"] == jwt.get_unverified_header(first)["kid"]


def test_lifetime_within_the_configured_maximum(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEKPIJN_MAX_TOKEN_LIFETIME", "120")
    code, out, _ = dev_token(capsys, "--url", SERVICE_URL)
    claims = jwt.decode(out.strip(), options={"verify_signature": False})
    assert code == 0 and claims["exp"] - claims["iat"] == 120
    code, out, err = dev_token(capsys, "--url", SERVICE_URL, "--lifetime", "121")
    assert code == 2 and out == "" and "NEKPIJN_MAX_TOKEN_LIFETIME" in err


@pytest.mark.parametrize(("env", "url", "message"), [
    ({"NEKPIJN_BASE_URL": "https://cds.example.org"}, SERVICE_URL, "production"),
    ({}, "https://cds.example.org/cds-services/nekpijn-behandelprofiel", "not a local address"),
    ({}, "not-a-url", "absolute http(s) URL"),
])
def test_refuses_what_looks_like_production(tmp_path, monkeypatch, capsys, env, url, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEKPIJN_BASE_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = dev_token(capsys, "--url", url)
    assert code == 2 and out == "" and message in err
    assert not (tmp_path / "var").exists()  # nothing created


def test_loose_private_key_mode_refused(issued, capsys):
    folder, _, _ = issued
    key = folder / "var" / "dev-issuer" / "private-key.pem"
    key.chmod(0o644)
    code, out, err = dev_token(capsys, "--url", SERVICE_URL)
    assert code == 2 and out == "" and "chmod 600" in err
