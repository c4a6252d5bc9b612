"""The request floor (issue 17): orjson in and out (service/jsonio.py) with the standard
library's behaviour, the discovery answer built once, a hook call's writes in one transaction."""

from __future__ import annotations

import json
import math

import pytest
from starlette.responses import JSONResponse

from service import jsonio
from service.cds_hooks import discovery as discovery_module


def stdlib_loads(raw):
    def refuse(name):
        raise ValueError(name)

    return json.loads(raw, parse_constant=refuse)


BODIES = [
    b'{"hook": "patient-view", "context": {"patientId": "p\\u00e9"}, "n": [1, 2.5, -0.0, 1e-7, 12345678901234]}',
    '{"tekst": "Nekpijn — ernstig, ünïcode \\ud83d\\ude00", "leeg": {}, "lijst": [[], [null, true, false]]}'.encode(),
    b'{"a": 1, "a": 2}',  # duplicate keys: the last one wins, as in json.loads
    b'{"big": 123456789012345678901234567890}',  # beyond 64 bits: orjson would read a float, the stdlib the int
    b'{"small": -9300000000000000000, "max": 18446744073709551615}',  # just outside / inside orjson's range
    b"[" * 2000 + b"]" * 2000,  # deeper than orjson's limit: the stdlib decides
]


@pytest.mark.parametrize("raw", BODIES)
def test_loads_reads_what_the_standard_library_reads(raw):
    try:
        expected = stdlib_loads(raw)
    except RecursionError:
        with pytest.raises(RecursionError):
            jsonio.loads(raw)
        return
    ours = jsonio.loads(raw)
    assert ours == expected
    assert json.dumps(ours) == json.dumps(expected), "the same types (an int stays an int)"


@pytest.mark.parametrize("raw", [b"[NaN]", b'{"x": Infinity}', b"[-Infinity]", b"{", b'{"a": 1,}', b"\xff\xfe",
                                 b'"\\ud800"x', b""])
def test_loads_refuses_what_the_standard_library_refuses(raw):
    with pytest.raises(ValueError) as ours:
        jsonio.loads(raw)
    with pytest.raises(ValueError) as theirs:
        stdlib_loads(raw)
    assert type(ours.value) is type(theirs.value) or isinstance(ours.value, json.JSONDecodeError)


ANSWERS = [
    {"cards": [{"summary": "Behandelprofiel B — nekpijn", "detail": "**vet** <b>\u2028", "n": 0.1, "big": 2**70,
                "none": None, "list": [1, 2, (3, 4)]}]},
    {"tekst": "ünïcode 😀", "f": 1e16, "g": 1.5e-7, "neg": -0.0},
]


def test_dumps_writes_the_bytes_starlette_wrote():
    value = ANSWERS[0]
    assert jsonio.dumps(value) == JSONResponse(value).body
    assert jsonio.JSONAnswer(value).body == JSONResponse(value).body


def test_dumps_floats_are_the_same_numbers():
    """orjson writes 1.5e-7 where json.dumps writes 1.5e-07: the same value."""
    value = ANSWERS[1]
    assert json.loads(jsonio.dumps(value)) == json.loads(JSONResponse(value).body)
    assert jsonio.dumps(value).decode().replace("e-7", "e-07") == JSONResponse(value).body.decode()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_dumps_refuses_nan_as_before(bad):
    with pytest.raises(ValueError):
        JSONResponse({"x": [1, {"y": bad}]})
    with pytest.raises(ValueError):
        jsonio.dumps({"x": [1, {"y": bad}]})


def test_dumps_of_non_string_keys_as_before():
    assert jsonio.dumps({1: "a"}) == JSONResponse({1: "a"}).body


def test_discovery_is_serialised_once_per_engine(monkeypatch):
    from service.apply.engine import Engine
    from service.knowledge import KnowledgeBase

    engine = Engine(KnowledgeBase.load())
    calls = []
    real = discovery_module.discovery
    monkeypatch.setattr(discovery_module, "discovery", lambda e: calls.append(e) or real(e))
    first = discovery_module.discovery_answer(engine)
    second = discovery_module.discovery_answer(engine)
    assert first is second and len(calls) == 1
    assert json.loads(first) == real(engine)


def test_discovery_answer_over_http():
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings

    settings = Settings.from_env({"NEKPIJN_AUTH": "off", "NEKPIJN_DATABASE_URL": "sqlite://"})
    app = create_app(settings=settings)
    with TestClient(app) as client:
        r1, r2 = client.get("/cds-services"), client.get("/cds-services")
    assert r1.status_code == r2.status_code == 200
    assert r1.headers["content-type"] == "application/json"
    assert r1.headers["x-content-type-options"] == "nosniff"
    assert r1.content == r2.content
    assert r1.json() == discovery_module.discovery(app.state.engine)


@pytest.mark.parametrize("digits", [17, 18, 19, 20, 40])
@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, lambda b: b.decode()])
def test_long_digit_runs_are_read_by_the_standard_library(digits, wrap):
    """The digit-run check (translate + substring search) sees a run of 19 or more digits
    wherever it is, in every input kind loads takes: the integer is then exact."""
    for number in ("9" * digits, "-" + "9" * digits, "1" + "0" * (digits - 1)):
        raw = f'{{"x": "a0", "n": [1, {number}], "y": 0.5}}'.encode()
        ours = jsonio.loads(wrap(raw))
        assert ours == stdlib_loads(raw) and type(ours["n"][1]) is int and ours["n"][1] == int(number)


def test_the_digit_run_check_finds_what_the_regular_expression_finds():
    """Differential: the translate + search check against re [0-9]{19,} on random byte strings."""
    import random
    import re

    rng = random.Random(17)
    pattern = re.compile(rb"[0-9]{19,}")
    alphabet = b"0123456789" * 6 + b"/:;.-e \x00\xff\xb0"
    for _ in range(3000):
        raw = bytes(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        assert (jsonio._LONG_DIGITS in raw.translate(jsonio._DIGITS_AS_ZERO)) == bool(pattern.search(raw)), raw
