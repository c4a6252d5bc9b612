"""The strict request-body JSON of hook calls and $apply (service/fhir_api/apply_route.py parse_json)."""

from __future__ import annotations

import json

import pytest

from service.fhir_api.apply_route import MAX_JSON_DEPTH, _depth_exceeds, parse_json
from service.fhir_api.outcome import FHIRError


def _nested(depth: int, inner: object = 1) -> object:
    value = inner
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@pytest.mark.parametrize("depth", [0, 1, 2, 5, 50, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_nesting_up_to_the_limit_is_parsed(depth):
    body = _nested(depth)
    assert parse_json(json.dumps(body).encode()) == body


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, MAX_JSON_DEPTH + 5, 5000])
def test_deeper_nesting_is_refused_as_too_costly(depth):
    with pytest.raises(FHIRError) as refused:
        parse_json(json.dumps(_nested(depth), check_circular=False).encode() if depth < 900
                   else ("[" * depth + "]" * depth).encode())
    assert refused.value.status == 400 and refused.value.code == "too-costly"


def test_depth_counts_the_deepest_branch_of_a_wide_body():
    wide = {"a": [{"b": 1}] * 50, "c": [_nested(10)], "d": "x"}  # depth 1 + 1 + 10
    assert not _depth_exceeds(wide, 12)
    assert _depth_exceeds(wide, 11)
    assert not _depth_exceeds("scalar", 0) and _depth_exceeds([], 0) and not _depth_exceeds([], 1)


@pytest.mark.parametrize("raw", [b"{", b"NaN", b'{"a": Infinity}', b"\xff\xfe", b'{"a": 1} x'])
def test_bad_json_is_400_structure(raw):
    with pytest.raises(FHIRError) as refused:
        parse_json(raw)
    assert refused.value.status == 400 and refused.value.code == "structure"
