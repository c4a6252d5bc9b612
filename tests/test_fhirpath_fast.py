"""The compiled FHIRPath closures give exactly what fhirpathpy gives."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from apply_support import TODAY, case_bundle, cases
from case_strategies import random_case
from service.apply.case import case_parameters
from service.apply.engine import Engine
from service.apply.fhirpath_fast import INDEX_KEY, Expression, LazyEnvironment
from service.knowledge import KnowledgeBase

ENGINE = Engine(KnowledgeBase.load())
ORDERS = [
    [{"name": "order-intervention", "valueCode": "int-electrotherapy"}, {"name": "order-intervention", "valueCode": "int-tens"}],
    [{"name": "order-intervention", "valueCode": "int-imaging-mri"}],
    [{"name": "order-category", "valueCode": "363679005"}],
    [{"name": "order-intervention", "valueCode": "int-semi-rigid-collar"}],
    [{"name": "order-intervention", "valueCode": "int-high-cervical-manipulation"},
     {"name": "order-intervention", "valueCode": "int-cervical-manipulation"}],
    # v2: CPT radiology codes (order-code valueCoding), in and out of 70010-79999
    [{"name": "order-code", "valueCoding": {"system": "http://www.ama-assn.org/go/cpt", "code": "72141"}}],
    [{"name": "order-code", "valueCoding": {"system": "http://www.ama-assn.org/go/cpt", "code": "7214"}},
     {"name": "order-intervention", "valueCode": "int-cervical-manipulation"}],
    [],
]


def expressions(plan):
    def walk(actions):
        for a in actions:
            yield from a.conditions
            yield from (fn for _, fn in a.dynamic)
            yield from walk(a.children)
    yield from walk(plan.actions)


def compare(case_params: dict) -> None:
    """Every variable and expression of every plan: fast == fhirpathpy."""
    for plan in ENGINE.plans.plans.values():
        fast_env, ref_env = {"case": case_params}, {"case": case_params}
        for name, fn in plan.variables:
            assert fn.fast is not None, f"{fn.text} is not compiled"
            fast_env[name] = fn(case_params, fast_env)
            ref_env[name] = fn.reference(case_params, ref_env)
            assert fast_env[name] == ref_env[name], f"{plan.id} %{name}: {fast_env[name]} != {ref_env[name]}"
        for fn in expressions(plan):
            assert fn.fast is not None, f"{fn.text} is not compiled"
            assert fn(case_params, fast_env) == fn.reference(case_params, ref_env), fn.text


def _applied(actions) -> list:
    return [(a.path, a.dynamic, _applied(a.children)) for a in actions]


def compare_lazy(case_params: dict) -> None:
    """`applicable` (variables computed on first use) == the walk over the full environment:
    the same actions, in the same order, with the same dynamic values."""
    for plan in ENGINE.plans.plans.values():
        eager = plan._walk(plan.actions, case_params, plan.environment(case_params), ())
        assert _applied(plan.applicable(case_params)) == _applied(eager), plan.id


def params_for(case: dict, extra: list[dict]) -> dict:
    bundle = case_bundle(case, TODAY)
    result = ENGINE.evaluate([e["resource"] for e in bundle["entry"]], f"Patient/{case['id']}", TODAY)
    return case_parameters(result, ENGINE.free_text, extra)


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
@pytest.mark.parametrize("order", range(len(ORDERS)))
def test_reference_cases(case, order):
    params = params_for(case, ORDERS[order])
    compare(params)
    compare_lazy(params)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=random_case())
def test_random_cases(case):
    params = params_for(case, ORDERS[len(case["answers"]) % len(ORDERS)])
    compare(params)
    compare_lazy(params)


# -- semantics at the edges ---------------------------------------------------------

EDGE = [
    "%e and true", "%e and false", "%e or true", "%e or false", "%t and %e", "%f and %e", "%e.not()",
    "%e = 1", "%e != 1", "%e in ('a' | 'b')", "%s contains %e", "%e < 3", "%n >= 42", "%n < 42",
    "1 = true", "%b = true", "%b = 1", "'a' = 'a'", "%s = ('a' | 'b')", "('a' | 'a' | 'b').count()",
    "iif(%e, 'x', 'y')", "iif(%t, 'x')", "iif(%f, 'x')", "%s.intersect('b' | 'z')", "%s.where($this.startsWith('a')).exists()",
    "%s.exists()", "%e.exists()", "%e.empty()", "%s.empty()", "%p.parameter.where(name = 'v').count()",
    "%p.parameter.where(name = 'v' and value = true).exists()", "%p.parameter.where(name = 'w' or value = true).name",
    "%p.parameter.value", "%p.parameter.where(value = 3).name", "%p.parameter.where(value = true).name",
    "%s contains 'b'", "'b' in %s",
    # unsupported syntax: compiled by fhirpathpy only
    "%s.select($this + 'x')", "%s.first()", "today() > @2020-01-01",
]
ENV = {"e": [], "t": [True], "f": [False], "s": ["a", "b", "c"], "n": [41], "b": [1],
       "p": {"resourceType": "Parameters", "parameter": [
           {"name": "v", "valueBoolean": True}, {"name": "w", "valueInteger": 3}, {"name": "v", "valueBoolean": False},
           {"name": "x", "valueCode": "c"}, {"name": "y", "valueInteger": 1}]}}


@pytest.mark.parametrize("text", EDGE)
def test_edge_semantics_match_fhirpathpy(text):
    expr = Expression(text)
    env = dict(ENV)
    assert expr({}, dict(env)) == expr.reference({}, dict(env))


@pytest.mark.parametrize("text", ["%n and true", "%s.where(name = 'v' and 'x').exists()"])
def test_non_boolean_in_boolean_context_fails_like_fhirpathpy(text):
    """A knowledge error, not data: both engines refuse it (the fast one defers to fhirpathpy)."""
    expr = Expression(text)
    with pytest.raises(Exception) as fast:
        expr({}, dict(ENV))
    with pytest.raises(Exception) as reference:
        expr.reference({}, dict(ENV))
    assert str(fast.value) == str(reference.value)


def test_unsupported_syntax_is_not_compiled():
    assert Expression("%s.select($this + 'x')").fast is None
    assert Expression("%t and %e").fast is not None


def test_index_is_per_evaluation():
    expr = Expression("%case.parameter.where(name = 'x').value")
    env1 = {"case": {"resourceType": "Parameters", "parameter": [{"name": "x", "valueCode": "1"}]}}
    env2 = {"case": {"resourceType": "Parameters", "parameter": [{"name": "x", "valueCode": "2"}]}}
    assert expr({}, env1) == ["1"] and expr({}, env2) == ["2"]
    assert INDEX_KEY in env1 and INDEX_KEY in env2


@pytest.mark.parametrize("literal", ["'a'", "'1'", "1", "0", "1.0", "1.5", "true", "false"])
@pytest.mark.parametrize("op", ["=", "!="])
def test_equality_with_a_literal_matches_fhirpathpy(literal, op):
    """`%x = <literal>` (the compiled literal comparison, issue 17) for collections of every
    kind: empty, one or more items, strings, numbers, Booleans (1 = true), a choice member."""
    expr = Expression(f"%x {op} {literal}")
    member = Expression(f"%p.parameter.value {op} {literal}")
    for value in ([], ["a"], ["1"], [1], [0], [1.0], [1.5], [True], [False], ["a", "a"], [1, 2], ["b"]):
        env = {"x": value}
        try:
            expected = expr.reference({}, dict(env))
        except Exception as exc:  # fhirpathpy refuses: so must the fast path (it defers)
            with pytest.raises(type(exc)):
                expr({}, dict(env))
            continue
        assert expr({}, dict(env)) == expected, (value, literal, op)
    for params in ([{"name": "v", "valueString": "a"}], [{"name": "v", "valueInteger": 1}],
                   [{"name": "v", "valueBoolean": True}], [{"name": "v", "valueDecimal": 1.5}], []):
        env = {"p": {"resourceType": "Parameters", "parameter": params}}
        assert member({}, dict(env)) == member.reference({}, dict(env)), (params, literal, op)


@pytest.mark.parametrize("text", ["%q.parameter.where(value = true).name", "%q.parameter.where(value = 'c').name",
                                  "%q.parameter.where(value = false).name", "%q.parameter.where(name = 'o').count()",
                                  "%q.parameter.where(value = 3).name", "%q.parameter.where(value = 'x' and name = 'v').name"])
def test_index_with_object_values_matches_fhirpathpy(text):
    """A `where(value = ...)` over parameters some of which hold an object (order-code's
    valueCoding): the index answers string and Boolean literals, others scan, as fhirpathpy."""
    env = {"q": {"resourceType": "Parameters", "parameter": [
        {"name": "o", "valueCoding": {"system": "http://x", "code": "c"}}, {"name": "v", "valueBoolean": True},
        {"name": "w", "valueCode": "c"}, {"name": "o", "valueCoding": {"code": "x"}}, {"name": "y", "valueBoolean": False},
        {"name": "z", "valueCode": "x"}]}}
    expr = Expression(text)
    try:
        expected = expr.reference({}, dict(env))
    except Exception as exc:
        with pytest.raises(type(exc)):
            expr({}, dict(env))
        return
    assert expr({}, dict(env)) == expected


@pytest.mark.parametrize("focus", [[], ["a"], ["b", "a", "b"], ["z"], [1, "a"], [True], ["a", 1.5, "c", "a"]])
def test_intersect_with_strings_matches_fhirpathpy(focus):
    expr = Expression("%x.intersect('a' | 'c' | 'q')")
    env = {"x": focus}
    assert expr({}, dict(env)) == expr.reference({}, dict(env)), focus


# -- variables computed on first use ---------------------------------------------------

def _counting(variables):
    """The variables with a call counter each: name -> calls."""
    calls = {name: 0 for name, _ in variables}

    def counted(name, fn):
        def call(resource, env):
            calls[name] += 1
            return fn(resource, env)
        return call
    return [(name, counted(name, fn)) for name, fn in variables], calls


def test_a_variable_is_computed_once_and_only_when_named():
    variables, calls = _counting([("a", Expression("%case.parameter.where(name = 'x').value")),
                                  ("b", Expression("%a.exists()")),
                                  ("unused", Expression("%case.parameter.where(name = 'y').value"))])
    env = LazyEnvironment({"resourceType": "Parameters", "parameter": [{"name": "x", "valueCode": "1"}]}, variables)
    condition = Expression("%b and %a = '1'")
    assert condition({}, env) == [True] and condition({}, env) == [True]
    assert calls == {"a": 1, "b": 1, "unused": 0}
    with pytest.raises(KeyError):
        Expression("%nowhere.exists()")({}, env)


def test_fhirpathpy_sees_every_variable_of_a_lazy_environment():
    """A fallback to fhirpathpy (here: syntax only it runs) first computes all variables."""
    variables = [("s", Expression("%case.parameter.where(name = 'x').value")),
                 ("n", Expression("%s.count()"))]
    env = LazyEnvironment({"resourceType": "Parameters", "parameter": [{"name": "x", "valueCode": "c"}]}, variables)
    fallback = Expression("%s.select($this + 'x') | %n.select($this + 1)")
    assert fallback.fast is None
    assert fallback({}, env) == ["cx", 2]
    assert env["s"] == ["c"] and env["n"] == [1]


def test_plans_skip_variables_no_reached_condition_names():
    """On a reference case, fewer variables are computed than the plan declares (the point of
    computing them lazily), and the actions are those of the full environment (compare_lazy)."""
    plan = ENGINE.plan("nekpijn-behandelprofiel")
    params = params_for(cases()[0], [])
    variables, calls = _counting(plan.variables)
    plan._walk(plan.actions, params, LazyEnvironment(params, variables), ())
    assert 0 < sum(1 for n in calls.values() if n) < len(plan.variables)
    assert all(n <= 1 for n in calls.values())
