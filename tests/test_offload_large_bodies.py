"""Large bodies and the authenticated `$apply` work run off the event loop (issue 14, finding 1):
a 5 MB hook call or `$apply` must not stall the requests that share the worker."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from apply_support import NOW, apply_parameters, cases
from service.app import create_app
from service.config import Settings
from service.fhir_api import apply_route


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:  # a worker thread has no running loop
        return False


@pytest.fixture()
def parsed_on_loop(monkeypatch):
    """For each parse_json call: whether it ran on the event loop."""
    seen: list[bool] = []
    parse = apply_route.parse_json

    def recording_parse(raw):
        seen.append(_on_event_loop())
        return parse(raw)

    monkeypatch.setattr(apply_route, "parse_json", recording_parse)
    return seen


def _client(tmp_path):
    return TestClient(create_app(settings=Settings(auth="off", database_url=f"sqlite:///{tmp_path / 's.db'}"),
                                 clock=lambda: NOW), raise_server_exceptions=False)


def test_a_large_body_is_parsed_in_a_worker_thread(tmp_path, parsed_on_loop):
    params = apply_parameters(next(c for c in cases() if c["id"] == "d-trauma"))
    small = json.dumps(params)
    # the same request with a large, harmless padding extension text: above LARGE_BODY_BYTES
    padded = json.loads(small)
    padded["parameter"].append({"name": "padding", "valueString": "x" * (apply_route.LARGE_BODY_BYTES + 10)})
    with _client(tmp_path) as client:
        for body in (small, json.dumps(padded)):
            client.post("/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply", content=body,
                        headers={"Content-Type": "application/fhir+json"})
    # a small body is parsed at once (a thread hop costs more); a large one in a worker thread
    assert parsed_on_loop == [True, False]


def test_authenticated_apply_evaluates_off_the_event_loop(tmp_path, monkeypatch):
    from service.apply.engine import Engine

    where: list[bool] = []
    original = Engine.apply

    def recording(self, *args, **kwargs):
        where.append(_on_event_loop())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "apply", recording)
    params = apply_parameters(next(c for c in cases() if c["id"] == "d-trauma"))
    with _client(tmp_path) as client:
        response = client.post("/fhir/PlanDefinition/nekpijn-behandelprofiel/$apply", content=json.dumps(params),
                               headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    assert where == [False]


def test_a_large_hook_call_is_screened_and_evaluated_off_the_event_loop(tmp_path, monkeypatch):
    """A hook call above LARGE_BODY_BYTES (here: the 24-resource case padded with a harmless
    request extension) is parsed, screened and evaluated in worker threads; the usual one on the loop."""
    from bench.service import case_resources, hook_body
    from service.apply.engine import Engine
    from service.cds_hooks import routes

    where: dict[str, list[bool]] = {"screen": [], "apply": []}
    screen, apply = routes.screen, Engine.apply

    def recording_screen(*args, **kwargs):
        where["screen"].append(_on_event_loop())
        return screen(*args, **kwargs)

    def recording_apply(self, *args, **kwargs):
        where["apply"].append(_on_event_loop())
        return apply(self, *args, **kwargs)

    monkeypatch.setattr(routes, "screen", recording_screen)
    monkeypatch.setattr(Engine, "apply", recording_apply)
    small = hook_body("patient-view", case_resources())
    padded = {**small, "extension": {"example.org/padding": "x" * (apply_route.LARGE_BODY_BYTES + 10)}}
    with _client(tmp_path) as client:
        for body in (small, padded):
            response = client.post("/cds-services/nekpijn-behandelprofiel", content=json.dumps(body),
                                   headers={"Content-Type": "application/json"})
            assert response.status_code == 200, response.text
            assert response.json()["cards"]
    assert where == {"screen": [True, False], "apply": [True, False]}
