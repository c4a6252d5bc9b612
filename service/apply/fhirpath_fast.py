"""FHIRPath compiled to Python closures, for the subset the PlanDefinitions use.

fhirpathpy interprets its syntax tree on every call; a `where()` over the
case Parameters costs ~10 µs per item, so one $apply took ~35 ms. This
module compiles the same syntax tree (fhirpathpy's parser) once into plain
Python closures. Supported: literals, `%variables`, `$this`, member access
(choice elements such as `value` resolved by prefix), `=` `!=` `<` `>` `<=`
`>=`, `in`, `contains`, `and`, `or`, `|`, and the functions where, exists,
empty, not, iif, startsWith, intersect, count, length — with FHIRPath's collection
and three-valued-logic semantics (`and` / `or` short-circuit, as the spec allows).

Anything else falls back to fhirpathpy: at compile time for unsupported
syntax, at run time (Fallback) for cases whose semantics differ by type
(e.g. a non-Boolean in a Boolean context). tests/test_fhirpath_fast.py checks
that both give the same result for every expression of every PlanDefinition.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import fhirpathpy
from fhirpathpy.models import models
from fhirpathpy.parser import parse

R4 = models["r4"]
Closure = Callable[[list, dict], list]


class Unsupported(Exception):
    """The expression uses FHIRPath this compiler does not implement."""


class Fallback(Exception):
    """At run time: let fhirpathpy evaluate this call (type-dependent semantics)."""


# -- value semantics ----------------------------------------------------------------

def _eq1(a: Any, b: Any) -> bool:
    # Numbers and Booleans compare as Python values (1 = true is true), as in
    # fhirpathpy, the reference engine; the FHIRPath spec would say false.
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
            raise Fallback()
        return False
    return a == b


def _truth(collection: list) -> bool | None:
    """Boolean value of a collection: None when empty; Fallback unless a single Boolean."""
    if not collection:
        return None
    if len(collection) == 1 and type(collection[0]) is bool:  # (bool has no subclasses)
        return collection[0]
    raise Fallback()


def _member(items: list, name: str) -> list:
    out: list = []
    size = len(name)
    for item in items:
        if type(item) is not dict and not isinstance(item, dict):
            continue
        if name in item:
            value = item[name]
        else:  # a choice element: `value` → valueCode, valueBoolean, ... (a loop: no generator per item)
            value = None
            for key in item:
                if key.startswith(name) and key[size:size + 1].isupper():
                    value = item[key]
                    break
            if value is None:
                continue
        if isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


def _dedupe(items: list) -> list:
    out: list = []
    for item in items:
        if not any(_eq1(item, seen) for seen in out):
            out.append(item)
    return out


# -- compiler ---------------------------------------------------------------------

def _children(node: dict) -> list[dict]:
    return node.get("children") or []


def _op(node: dict) -> str:
    return (node.get("terminalNodeText") or [""])[0]


def _compile(node: dict) -> Closure:
    kind = node["type"]
    kids = _children(node)
    if kind in ("TermExpression", "InvocationTerm", "LiteralTerm", "ExternalConstantTerm") and len(kids) == 1:
        return _compile(kids[0])
    if kind == "ParenthesizedTerm":
        return _compile(kids[0])
    if kind in ("StringLiteral", "NumberLiteral", "BooleanLiteral"):
        return _constant([_literal(node)])
    if kind == "ExternalConstant":
        name = kids[0]["text"]

        def constant(focus, env):
            value = env[name]
            return value if isinstance(value, list) else [value]  # a resource is a collection of one
        return constant
    if kind == "ThisInvocation":
        return lambda focus, env: focus
    if kind == "MemberInvocation":
        name = kids[0]["text"]
        return lambda focus, env: _member(focus, name)
    if kind == "InvocationExpression":
        indexed = _indexed_where(kids[0], kids[1])
        if indexed is not None:
            return indexed
        left, right = _compile(kids[0]), kids[1]
        if right["type"] == "MemberInvocation":
            name = _children(right)[0]["text"]
            return lambda focus, env: _member(left(focus, env), name)
        if right["type"] == "FunctionInvocation":
            fn = _function(_children(right)[0])
            return lambda focus, env: fn(left(focus, env), env)
        raise Unsupported(right["type"])
    if kind == "FunctionInvocation":
        fn = _function(kids[0])
        return lambda focus, env: fn(focus, env)
    if kind in ("EqualityExpression", "InequalityExpression", "MembershipExpression",
                "AndExpression", "OrExpression", "UnionExpression"):
        return _binary(_op(node), _compile(kids[0]), _compile(kids[1]))
    raise Unsupported(kind)


def _constant(value: list) -> Closure:
    """A closure that always returns `value` (folded at compile time)."""
    def constant(focus, env):
        return value
    constant.value = value  # type: ignore[attr-defined]
    return constant


INDEX_KEY = "__nekpijn_fhirpath_index__"  # per-evaluation cache kept in the environment
PRIMITIVES = (str, bool, int, float)


def _member_value(item, name: str):
    """The value of a member (a choice element resolved by prefix), or None."""
    if not isinstance(item, dict):
        return None
    if name in item:
        return item[name]
    size = len(name)
    for key in item:
        if key.startswith(name) and key[size:size + 1].isupper():
            return item[key]
    return None


def _env_path(node: dict) -> bool:
    """True for `%var`, `%var.member`, `%var.member.member`: a value of the environment alone."""
    while node["type"] == "InvocationExpression":
        kids = _children(node)
        if kids[1]["type"] != "MemberInvocation":
            return False
        node = kids[0]
    while node["type"] == "TermExpression" and len(_children(node)) == 1:
        node = _children(node)[0]
    return node["type"] == "ExternalConstantTerm"


def _indexed_where(left_node: dict, right: dict) -> Closure | None:
    """`%case.parameter.where(name = 'x')`: group the items by `name` once per
    evaluation (the environment is the same for every variable and condition).

    Also `where(name = 'x' and value = true ...)`: the index gives the candidates (an item
    for which `and` is true has name 'x'), the whole criterion then filters them."""
    if right["type"] != "FunctionInvocation" or not _env_path(left_node):
        return None
    functn = _children(right)[0]
    kids = _children(functn)
    if kids[0]["text"] != "where" or len(kids) < 2 or len(_children(kids[1])) != 1:
        return None
    crit = _children(kids[1])[0]
    whole = None  # the per-item predicate of an `and` criterion
    if crit["type"] == "AndExpression" and _op(crit) == "and":
        whole = _predicate(crit)
        if whole is None:
            return None
        while crit["type"] == "AndExpression" and _op(crit) == "and":
            crit = _children(crit)[0]  # the first conjunct: `name = 'x'`
    if crit["type"] != "EqualityExpression" or _op(crit) != "=":
        return None
    a, b = _children(crit)
    try:
        name, literal = _member_name(a), _literal(b)
    except Unsupported:
        return None
    if type(literal) not in PRIMITIVES:
        return None
    left = _compile(left_node)
    key = (left_node.get("text"), name)

    def indexed(focus, env):
        cache = env.setdefault(INDEX_KEY, {})
        found = cache.get(key)
        if found is None:
            # dict keys compare like _eq1 for these types (1 == True, 'a' != True)
            index, objects = {}, False
            for item in left(focus, env):
                # (the common case inline: a parameter that has the member itself)
                value = item[name] if type(item) is dict and name in item else _member_value(item, name)
                if value is None:
                    continue
                if type(value) is dict:
                    # an object (the valueCoding of `order-code`) never equals a string or a Boolean
                    # (_member_equals): left out of the index, which then answers those literals only
                    objects = True
                    continue
                if type(value) not in PRIMITIVES:  # lists, ...: keep the general semantics
                    index = False
                    break
                index.setdefault(value, []).append(item)
            found = cache[key] = (index, objects)
        index, objects = found
        if index is False or (objects and type(literal) not in (str, bool)):
            items = [item for item in left(focus, env) if _member_equals(item, name, literal) is True]
        else:
            items = index.get(literal, ())
        return [item for item in items if whole(item) is True] if whole is not None else list(items)
    return indexed


def _binary(op: str, left: Closure, right: Closure) -> Closure:
    if op in ("=", "!="):
        negate = op == "!="
        folded = getattr(right, "value", None)
        if folded is not None and len(folded) == 1 and type(folded[0]) in PRIMITIVES:
            literal = folded[0]

            def equality_literal(focus, env):  # `%x = 'code'`: no zip/all per call
                a = left(focus, env)
                if not a:
                    return []
                if len(a) != 1:
                    return [negate]  # sizes differ: not equal
                x = a[0]
                return [(x == literal if type(x) is type(literal) else _eq1(x, literal)) != negate]
            return equality_literal

        def equality(focus, env):
            a, b = left(focus, env), right(focus, env)
            if not a or not b:
                return []
            same = len(a) == len(b) and all(_eq1(x, y) for x, y in zip(a, b))
            return [same != negate]
        return equality
    if op in ("<", ">", "<=", ">="):
        def compare(focus, env):
            a, b = left(focus, env), right(focus, env)
            if not a or not b:
                return []
            if len(a) != 1 or len(b) != 1:
                raise Fallback()
            x, y = a[0], b[0]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y))
            if not numeric and not (isinstance(x, str) and isinstance(y, str)):
                raise Fallback()
            return [{"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]]
        return compare
    if op == "in":
        folded = getattr(right, "value", None)
        if folded is not None and folded and all(type(v) is str for v in folded):
            strings = frozenset(folded)

            def member_in_strings(focus, env):  # `x in ('a' | 'b')`: a set lookup
                a = left(focus, env)
                if not a:
                    return []
                if len(a) != 1 or type(a[0]) is not str:
                    raise Fallback()
                return [a[0] in strings]
            return member_in_strings

        def member_in(focus, env):
            a, b = left(focus, env), right(focus, env)
            if not a:
                return []
            if len(a) != 1:
                raise Fallback()
            return [any(_eq1(a[0], y) for y in b)]
        return member_in
    if op == "contains":
        folded = getattr(right, "value", None)
        if folded is not None and len(folded) == 1 and type(folded[0]) is str:
            wanted = folded[0]

            def contains_string(focus, env):  # `%present contains 'x'`
                a = left(focus, env)
                if all(type(x) is str for x in a):
                    return [wanted in a]
                return [any(_eq1(x, wanted) for x in a)]
            return contains_string

        def member_contains(focus, env):
            a, b = left(focus, env), right(focus, env)
            if not b:
                return []
            if len(b) != 1:
                raise Fallback()
            return [any(_eq1(x, b[0]) for x in a)]
        return member_contains
    if op == "and":
        def conj(focus, env):
            a = _truth(left(focus, env))
            if a is False:  # short-circuit: false and anything is false
                return [False]
            b = _truth(right(focus, env))
            if b is False:
                return [False]
            return [True] if a is True and b is True else []
        return conj
    if op == "or":
        def disj(focus, env):
            a = _truth(left(focus, env))
            if a is True:  # short-circuit: true or anything is true
                return [True]
            b = _truth(right(focus, env))
            if b is True:
                return [True]
            return [False] if a is False and b is False else []
        return disj
    if op == "|":
        if hasattr(left, "value") and hasattr(right, "value"):
            return _constant(_dedupe(left.value + right.value))
        return lambda focus, env: _dedupe(left(focus, env) + right(focus, env))
    raise Unsupported(f"operator {op}")


def _literal(node: dict):
    """The value of a literal term, or raise Unsupported."""
    while node["type"] in ("TermExpression", "LiteralTerm") and len(_children(node)) == 1:
        node = _children(node)[0]
    if node["type"] == "StringLiteral" and "\\" not in node["text"]:
        return node["text"][1:-1]
    if node["type"] == "BooleanLiteral":
        return node["text"] == "true"
    if node["type"] == "NumberLiteral":
        return float(node["text"]) if "." in node["text"] else int(node["text"])
    raise Unsupported("not a literal")


def _member_name(node: dict) -> str:
    while node["type"] in ("TermExpression", "InvocationTerm") and len(_children(node)) == 1:
        node = _children(node)[0]
    if node["type"] == "MemberInvocation":
        return _children(node)[0]["text"]
    raise Unsupported("not a member")


def _predicate(node: dict):
    """A per-item predicate (True / False / None for empty) for `member = literal`
    combined with and/or; None when the criterion has another shape."""
    kind = node["type"]
    try:
        if kind == "EqualityExpression" and _op(node) == "=":
            left, right = _children(node)
            try:
                name, value = _member_name(left), _literal(right)
            except Unsupported:
                name, value = _member_name(right), _literal(left)
            return lambda item: _member_equals(item, name, value)
        if kind in ("AndExpression", "OrExpression"):
            a, b = (_predicate(c) for c in _children(node))
            if a is None or b is None:
                return None
            if _op(node) == "and":
                return lambda item: _and(a(item), b(item))
            if _op(node) == "or":
                return lambda item: _or(a(item), b(item))
    except Unsupported:
        return None
    return None


def _member_equals(item, name: str, literal) -> bool | None:
    """`member = literal` for one item: None when the member is absent."""
    value = _member_value(item, name)
    if value is None:
        return None
    if isinstance(value, list):
        if not value:
            return None
        if len(value) != 1:
            return False
        value = value[0]
    if type(value) is type(literal):
        return value == literal
    if isinstance(value, dict) and type(literal) in (str, bool):
        # a complex value (the valueCoding of `order-code`) never equals a string or Boolean,
        # as in fhirpathpy; without this every order's `where(value = true)` fell back (~8 ms)
        return False
    return _eq1(value, literal)


def _and(a, b):
    if a is False or b is False:
        return False
    return True if a is True and b is True else None


def _or(a, b):
    if a is True or b is True:
        return True
    return False if a is False and b is False else None


def _function(functn: dict) -> Callable[[list, dict], list]:
    kids = _children(functn)
    name = kids[0]["text"]
    params = [_compile(p) for p in _children(kids[1])] if len(kids) > 1 else []
    if name == "where" and len(params) == 1:
        predicate = _predicate(_children(kids[1])[0])
        if predicate is not None:  # the common `where(name = 'x' and value = true)`: no closures per item
            return lambda focus, env: [item for item in focus if predicate(item) is True]
        crit = params[0]
        return lambda focus, env: [item for item in focus if _truth(crit([item], env)) is True]
    if name == "exists" and len(params) <= 1:
        if params:
            crit = params[0]
            return lambda focus, env: [any(_truth(crit([item], env)) is True for item in focus)]
        return lambda focus, env: [bool(focus)]
    if name == "empty" and not params:
        return lambda focus, env: [not focus]
    if name == "count" and not params:
        return lambda focus, env: [len(focus)]
    if name == "length" and not params:
        def length(focus, env):
            if not focus:
                return []
            if len(focus) != 1 or not isinstance(focus[0], str):
                raise Fallback()
            return [len(focus[0])]
        return length
    if name == "not" and not params:
        def negation(focus, env):
            value = _truth(focus)
            return [] if value is None else [not value]
        return negation
    if name == "iif" and len(params) in (2, 3):
        cond, then = params[0], params[1]
        other = params[2] if len(params) == 3 else (lambda focus, env: [])

        def iif(focus, env):
            return then(focus, env) if _truth(cond(focus, env)) is True else other(focus, env)
        return iif
    if name == "startsWith" and len(params) == 1:
        prefix = params[0]

        def starts_with(focus, env):
            p = prefix(focus, env)
            if not focus or not p:
                return []
            if len(focus) != 1 or not isinstance(focus[0], str) or not isinstance(p[0], str):
                raise Fallback()
            return [focus[0].startswith(p[0])]
        return starts_with
    if name == "intersect" and len(params) == 1:
        other = params[0]
        folded = getattr(other, "value", None)
        if folded and all(type(v) is str for v in folded):
            strings = frozenset(folded)

            def intersect_strings(focus, env):  # `%present.intersect('a' | 'b')`: set lookups
                out: dict[str, None] = {}
                for x in focus:
                    if type(x) is str:
                        if x in strings:
                            out[x] = None  # (dict keys: deduplicated, in order, as _dedupe)
                    elif isinstance(x, (dict, list)):
                        raise Fallback()  # as _eq1
                return list(out)
            return intersect_strings

        def intersect(focus, env):
            right = other(focus, env)
            return _dedupe([x for x in focus if any(_eq1(x, y) for y in right)])
        return intersect
    raise Unsupported(f"function {name}")


class LazyEnvironment(dict):
    """The environment of one evaluation, its variables computed on first use.

    A PlanDefinition's variables (``plan-variable``) are pure functions of ``%case`` and of
    the variables before them; a condition or dynamic value that names one (``%grade``)
    looks it up here, and the first look-up computes it. A variable that no reached condition
    names is never computed: the treatment plan's conditions use 22 of its 32 variables on
    the benchmark case (issue 17: `applicable` ~12 % less CPU; docs/performance.md).

    fhirpathpy reads the dict as it stands, so before it evaluates anything here (a run-time
    fallback, ``NEKPIJN_FHIRPATH=reference``) :meth:`materialize` computes every variable,
    in declaration order, as an eager environment would hold them.
    """

    def __init__(self, case: Any, variables: list[tuple[str, Callable[[Any, dict], list]]]):
        super().__init__(case=case)
        self._case = case
        self._variables = variables
        self._pending = dict(variables)
        self._materialized = False

    def __missing__(self, name: str) -> list:
        fn = self._pending.pop(name, None)  # popped first: a variable naming itself fails, as before
        if fn is None:
            raise KeyError(name)
        value = self[name] = fn(self._case, self)
        return value

    def materialize(self) -> None:
        """Every variable computed (in declaration order); a nested call is a no-op."""
        if self._materialized:
            return
        self._materialized = True  # a variable fhirpathpy evaluates below sees those before it
        for name, _ in self._variables:
            if name not in self:
                self.__missing__(name)


class Expression:
    """One FHIRPath expression, compiled once; call with (resource, env)."""

    def __init__(self, text: str):
        self.text = text
        self._reference: Callable[[Any, dict], list] | None = None
        self.fast: Closure | None = None
        tree = parse(text)  # validates the syntax (fhirpathpy.compile parses with the same parser)
        if os.environ.get("NEKPIJN_FHIRPATH") != "reference":
            try:
                self.fast = _compile(tree["children"][0])
            except Unsupported:
                self.fast = None
        if self.fast is None:
            self._reference = fhirpathpy.compile(text, model=R4)

    @property
    def reference(self) -> Callable[[Any, dict], list]:
        """fhirpathpy's evaluator of the expression, compiled on first use.

        With the compiled closure it is needed only for run-time fallbacks;
        compiling it for all 92 expressions at start-up parsed each one twice
        (~0.2 s of the service's start-up).
        """
        if self._reference is None:
            self._reference = fhirpathpy.compile(self.text, model=R4)
        return self._reference

    def __call__(self, resource: Any, env: dict) -> list:
        if self.fast is not None:
            try:
                return self.fast([resource], env)
            except Fallback:
                pass
        if type(env) is LazyEnvironment:
            env.materialize()  # fhirpathpy reads the variables as the dict holds them
        return self.reference(resource, env)
