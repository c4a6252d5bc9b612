"""The fast R4 acceptor (service/fhir_api/r4_check.py) never changes the models' verdict.

`accepts(x)` must imply that the fhir.resources R4B models accept `x`; then
`fhir_problem` (fast check first, models for the rest) gives exactly the models' answer.
Checked on the resources of every reference case, the draft orders, the benchmark's
$apply Parameters, and thousands of seeded mutations of them (wrong JSON types, bad
dates / codes / ids, unknown and doubled choice elements, removed required elements,
lists for single values and back, empty values, nested resources).
"""

from __future__ import annotations

import copy
import random

import pytest

from apply_support import TODAY, apply_parameters, cases, data_dictionary
from hooks_support import resources_of
from service.apply.operation import ApplyInputError, _validate_parameters, parse_apply
from service.fhir_api.invalid_data import fhir_problem, model_problem
from service.fhir_api.r4_check import accepts
from tools.case_bundles import build_draft_orders

VALUES = [
    None, True, False, 0, 1, -1, 7, 2**31, -2**31 - 1, 1.5, 1e20, "", " ", "x", "x  y", " x", "x ", "a\u00a0b",
    "a\tb", "a\x00b", "2026", "2026-02", "2026-02-30", "2026-13-01", "2026-1-01", "0000-01-01", "2026-01-01",
    "2026-01-01T10:00:00", "2026-01-01T10:00Z", "2026-01-01T10:00:00Z", "2026-01-01T10:00:00.123+01:00",
    "2026-01-01T24:00:00Z", "2026-01-01T10:00:00+15:00", "Patient/x", "http://x", "urn:uuid:1", "final", "a" * 70,
    [], [1], ["x"], [None], [{}], {}, {"x": 1}, {"reference": "Patient/1"}, {"reference": 5},
    {"coding": [{"system": "http://x", "code": "y"}]}, {"value": 1, "unit": "x"}, {"start": "2026-01-01"},
    {"url": "http://x", "valueString": "y"}, {"url": "http://x"}, {"resourceType": "Basic", "code": {"text": "x"}},
    {"resourceType": "Bogus"}, {"resourceType": "Patient", "id": "p", "birthDate": "1990-13-45"},
]
EXTRA_KEYS = ["bogus", "valueString", "valueBoolean", "valueDecimal", "valueQuantity", "_status", "_value",
              "extension", "modifierExtension", "id", "status", "resourceType", "fhir_comments", "contained",
              "effectivePeriod", "onsetAge", "text", "meta", "system", "display", "item", "answer"]


def _sample_resources() -> list[dict]:
    out = []
    for case in cases():
        out += resources_of(case, TODAY)
        out += build_draft_orders(case, data_dictionary())
    return out


def _paths(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, path + (i,))


def _set(root, path, value):
    node = root
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def mutate(resource: dict, rng: random.Random) -> dict:
    out = copy.deepcopy(resource)
    for _ in range(rng.choice((1, 1, 2))):
        paths = list(_paths(out))
        path, node = rng.choice(paths)
        op = rng.randrange(6)
        if op == 0 and path:
            _set(out, path, copy.deepcopy(rng.choice(VALUES)))
        elif op == 1 and path and isinstance(path[-1], str):
            parent = out
            for part in path[:-1]:
                parent = parent[part]
            del parent[path[-1]]
        elif op == 2 and isinstance(node, dict):
            node[rng.choice(EXTRA_KEYS)] = copy.deepcopy(rng.choice(VALUES))
        elif op == 3 and path:
            _set(out, path, [node] if not isinstance(node, list) else (node[0] if node else None))
        elif op == 4 and path and isinstance(node, str) and node:
            i = rng.randrange(len(node))
            _set(out, path, node[:i] + rng.choice(" x-:T\n\u00a0") + node[i + 1:])
        elif op == 5 and path and isinstance(node, (int, float)) and not isinstance(node, bool):
            _set(out, path, rng.choice((str(node), -node, node + 0.5, 0, True)))
    return out


def test_every_reference_resource_is_accepted_fast():
    """The models run only for odd input: every resource of the reference cases passes the fast check."""
    resources = _sample_resources()
    assert len(resources) > 100
    refused = [f"{r['resourceType']}/{r.get('id')}" for r in resources if not accepts(r)]
    assert not refused
    assert accepts(apply_parameters(cases()[0]))


@pytest.mark.parametrize("seed", range(4))
def test_fast_acceptance_implies_the_models_accept(seed):
    rng = random.Random(seed)
    resources = _sample_resources()
    accepted = refused_by_models = 0
    for _ in range(1500):
        mutant = mutate(rng.choice(resources), rng)
        verdict = model_problem(mutant)
        if accepts(mutant):
            accepted += 1
            assert verdict is None, (mutant, verdict)
        if verdict is not None:
            refused_by_models += 1
        assert fhir_problem(mutant) == verdict
    # the mutations reach both sides: valid mutants accepted fast, and many invalid ones
    assert accepted > 200 and refused_by_models > 500, (accepted, refused_by_models)


def _models_verdict(body):
    try:
        _validate_parameters(body)
    except ApplyInputError as exc:
        return exc.message
    return None


@pytest.mark.parametrize("seed", range(2))
def test_parameters_fast_acceptance_implies_the_models_accept(seed):
    """The same for whole $apply Parameters (the envelope, the Bundle and its entries)."""
    rng = random.Random(100 + seed)
    bodies = [apply_parameters(c) for c in cases()[:8]]
    accepted = 0
    for _ in range(150):
        mutant = mutate(rng.choice(bodies), rng)
        if accepts(mutant):
            accepted += 1
            assert _models_verdict(mutant) is None, mutant
    assert accepted > 20


def test_parse_apply_refuses_like_the_models():
    """An invalid subject Patient kept in `data` (the policy refuses it) is refused with the models' message."""
    body = apply_parameters(cases()[0])
    patient = next(e["resource"] for e in body["parameter"][1]["resource"]["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    patient["birthDate"] = "1990-13-45"
    with pytest.raises(ApplyInputError) as fast:
        parse_apply(body)
    assert fast.value.status == 400 and "birthDate" in fast.value.message
    assert fast.value.message == _models_verdict(body)
    # a resource marked as already accepted is not walked again (screen_apply_body checked it)
    assert parse_apply(body, accepted={id(patient)}).subject == f"Patient/{cases()[0]['id']}"


def test_a_required_element_of_a_type_without_check_still_counts():
    """Narrative.div (XHTML) has no fast check, but a Narrative without it is not accepted."""
    patient = {"resourceType": "Patient", "id": "p", "birthDate": "1990-01-01"}
    assert accepts(patient)
    without_div = {**patient, "text": {"status": "generated"}}
    assert not accepts(without_div) and model_problem(without_div) is not None
    with_div = {**patient, "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}}
    assert not accepts(with_div) and fhir_problem(with_div) == model_problem(with_div)


def test_made_up_resource_types_do_not_grow_the_table_cache():
    from service.fhir_api import r4_check
    accepts({"resourceType": "Patient", "id": "p"})
    size = len(r4_check._TABLES)
    for i in range(200):
        assert not accepts({"resourceType": f"Bogus{'x' * (i % 50)}Type{chr(65 + i % 26)}", "id": "b"})
    assert len(r4_check._TABLES) == size


# -- the generic walk over the tables that the compiled checkers replaced (issue 17): the
# reference of the differential test below (same tables, same verdicts on every input)

def _reference_complex(value, element, accepted):
    from service.fhir_api import r4_check
    if element.complex is r4_check.ANY_RESOURCE:
        return _reference_resource(value, accepted)
    if type(value) is not dict or not value:
        return False
    spec = r4_check.table(element.complex)
    return spec is not None and not spec.resource and _reference_object(value, spec, accepted)


def _reference_resource(value, accepted):
    from service.fhir_api import r4_check
    if type(value) is not dict:
        return False
    if id(value) in accepted:
        return True
    rtype = value.get("resourceType")
    if type(rtype) is not str or not rtype.isalpha():
        return False
    spec = r4_check.table(rtype)
    return spec is not None and spec.resource and _reference_object(value, spec, accepted)


def _reference_object(value, spec, accepted):
    chosen = []
    for key, item in value.items():
        element = spec.elements.get(key)
        if element is None:
            if key == "resourceType" and spec.resource:
                continue
            return False
        items = item if element.many else [item]
        if element.many and (type(item) is not list or not item):
            return False
        for one in items:
            ok = element.primitive(one) if element.primitive is not None else _reference_complex(one, element, accepted)
            if not ok:
                return False
        if element.choice is not None:
            if element.choice in chosen:
                return False
            chosen.append(element.choice)
    return value.keys() >= spec.required and all(group in chosen for group in spec.required_choices)


def reference_accepts(resource, accepted=()):
    try:
        return _reference_resource(resource, accepted)
    except RecursionError:
        return False


@pytest.mark.parametrize("seed", range(3))
def test_compiled_checkers_give_the_generic_walks_verdict(seed):
    """Differential: the per-type compiled checkers and the generic walk over the same tables
    agree on every mutant (resources, draft orders and whole $apply Parameters), both ways."""
    rng = random.Random(1000 + seed)
    resources = _sample_resources() + [apply_parameters(c) for c in cases()[:4]]
    both = {True: 0, False: 0}
    for _ in range(3000):
        mutant = mutate(rng.choice(resources), rng)
        verdict = reference_accepts(mutant)
        assert accepts(mutant) is verdict, mutant
        both[verdict] += 1
        # an already-accepted resource (by id) is not walked again, in both
        assert accepts(mutant, {id(mutant)}) is reference_accepts(mutant, {id(mutant)}) is (type(mutant) is dict)
    assert both[True] > 500 and both[False] > 500, both


def test_the_primitive_fast_paths_equal_the_regular_expressions():
    """The str.isprintable()/isspace() fast paths of string, code and uri decide exactly as the
    regular expressions (and strip() != "") did: every code point alone, between letters and
    next to a space, and strings of spaces."""
    import re
    import sys

    from service.fhir_api import r4_check

    string = re.compile(r"[ \r\n\t\S]+")
    code = re.compile(r"[^\s]+( [^\s]+)*")
    uri = re.compile(r"\S+")
    samples = ["", " ", "  ", "a", "a b", "a  b", " a", "a ", "http://x y", "\t", "a\nb"]
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)  # (lone surrogates too: json.loads reads "\ud800")
        samples += [c, f"a{c}b", f"{c} ", f" {c}"] if cp < 0x3100 or cp % 97 == 0 else [c]
    for s in samples:
        assert r4_check._is_string(s) == (len(s) <= 1_048_576 and s.strip() != "" and string.fullmatch(s) is not None), s
        assert r4_check._is_code(s) == (code.fullmatch(s) is not None), repr(s)
        assert r4_check._is_uri(s) == (uri.fullmatch(s) is not None), repr(s)
    for not_str in (None, 1, 1.5, True, [], {}, b"x"):
        assert not (r4_check._is_string(not_str) or r4_check._is_code(not_str) or r4_check._is_uri(not_str))
