"""A fast acceptor of valid FHIR resources: the R4B models' verdict without running them.

`invalid_data.fhir_problem` asks the fhir.resources R4B models (pydantic) whether a
resource is valid; that costs about 0.35 ms per resource, 8–20 ms for the 24 resources
of a typical call. `accepts(resource)` walks the JSON once against tables compiled (once
per element type, on first use) from the same models' field definitions: element names,
list or single, required elements, choice groups (`value[x]`: at most one, or exactly one
when required), nested types, and the primitive formats — checked more strictly than the
models do (e.g. a dateTime must be a real calendar date with seconds and a time zone).
Each type's table is turned into one checker function (a closure) on first use.

It answers True only when the models are certain to accept the resource. Anything it is
not sure of — an element or primitive kind it has no check for (`_value` primitive
extensions, contained resources, XHTML narratives, ...), an empty value, a partial time —
gives False, and the models then decide and word the problem as before. So the fast check
never changes a verdict, only who gives it; tests/test_r4_check.py checks that on
thousands of mutated resources (fast accepts ⇒ the models accept) and that it accepts
every resource of the reference cases (so the models run only for odd input).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

# -- primitives: each check is at least as strict as fhir_core's type ----------------------

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_URI = re.compile(r"\S+")
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
# a dateTime with a time: seconds and a time zone required (the models accept less)
_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-](0\d|1[0-3]):[0-5]\d|[+-]14:00)")
_INT32 = (-2**31, 2**31 - 1)


def _is_date(value: object, _accepted: object = None) -> bool:
    if type(value) is not str:
        return False
    m = _DATE.fullmatch(value)
    if m is None:
        return False
    year, month, day = m.groups()
    if int(year) < 1:
        return False
    try:
        date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return False
    return True


def _is_datetime(value: object, _accepted: object = None) -> bool:
    if type(value) is not str:
        return False
    if "T" not in value:
        return _is_date(value)
    return _is_instant(value)


def _is_instant(value: object, _accepted: object = None) -> bool:
    if type(value) is not str:
        return False
    m = _DATETIME.fullmatch(value)
    if m is None or int(m.group(1)) < 1:
        return False
    try:
        date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return False
    return True


_STRING = re.compile(r"[ \r\n\t\S]+")
# Fast paths before the regular expressions, exact (tests/test_r4_check.py checks every code
# point): a str.isprintable() string has no whitespace but " " (every other whitespace
# character is a control or separator, not printable), so for it `\S+`, `[^\s]+( [^\s]+)*`
# and `[ \r\n\t\S]+` come down to where its spaces are; the regex decides the rest.
# `str.strip() != ""` is `not str.isspace()` for a non-empty string (both Py_UNICODE_ISSPACE).
# Every check takes (and ignores) a second argument: the checkers call primitives and nested
# types alike, fn(value, accepted).


def _is_string(value: object, _accepted: object = None) -> bool:
    return type(value) is str and 0 < len(value) <= 1_048_576 and not value.isspace() \
        and (value.isprintable() or _STRING.fullmatch(value) is not None)


def _is_code(value: object, _accepted: object = None) -> bool:
    if type(value) is not str or not value:
        return False
    if value.isprintable():
        return value[0] != " " and value[-1] != " " and "  " not in value
    return _CODE.fullmatch(value) is not None


def _is_uri(value: object, _accepted: object = None) -> bool:
    if type(value) is not str or not value:
        return False
    if value.isprintable():
        return " " not in value
    return _URI.fullmatch(value) is not None


def _is_id(value: object, _accepted: object = None) -> bool:
    return type(value) is str and _ID.fullmatch(value) is not None


def _is_integer(value: object, _accepted: object = None) -> bool:
    return type(value) is int and _INT32[0] <= value <= _INT32[1]


#: fhir_core primitive type (the marker class name in the model's annotation) -> check
PRIMITIVES: dict[str, typing.Callable[..., bool]] = {
    "Id": _is_id,
    "String": _is_string,
    "Markdown": _is_string,
    "Code": _is_code,
    "Uri": _is_uri,
    "Canonical": _is_uri,
    "Boolean": lambda v, _accepted=None: type(v) is bool,
    "Integer": _is_integer,
    "UnsignedInt": lambda v, _accepted=None: _is_integer(v) and v >= 0,
    "PositiveInt": lambda v, _accepted=None: _is_integer(v) and v >= 1,
    "Decimal": lambda v, _accepted=None: _is_integer(v) or (type(v) is float and abs(v) < 1e15),
    "Date": _is_date,
    "DateTime": _is_datetime,
    "Instant": _is_instant,
}


# -- tables compiled from the models -----------------------------------------------------

ANY_RESOURCE = "*"  # Element.complex of an element that holds a resource of any type


@dataclass(frozen=True)
class Element:
    many: bool
    primitive: typing.Callable[[object], bool] | None  # None: a complex type (`complex`)
    complex: str | None  # the element type's model name, compiled on first use
    choice: str | None  # the choice group (`value` for valueQuantity, ...)


@dataclass(frozen=True)
class Table:
    resource: bool  # a resource type (not a data type or backbone element)
    elements: dict[str, Element]
    required: frozenset[str]  # elements that must be present
    required_choices: tuple[str, ...]  # choice groups of which one element must be present


class _NoCheck(Exception):
    """An element type the fast check has no table for: the models decide."""


def _optional(annotation):
    """X of Optional[X] (X itself otherwise)."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(args) != 1:
        raise _NoCheck(str(annotation))
    return args[0]


def _unwrap(annotation) -> tuple[bool, object]:
    """(is a list, the item type) of an Optional[...] / Optional[List[Optional[...]]] annotation
    (a null in a list of primitives is not accepted here: it pairs with a `_value` extension)."""
    item = _optional(annotation)
    if typing.get_origin(item) is list:
        return True, _optional(typing.get_args(item)[0])
    return False, item


def _element(field) -> Element:
    many, item = _unwrap(field.annotation)
    extra = field.json_schema_extra or {}
    choice = extra.get("one_of_many")
    if item is bool:
        return Element(many, PRIMITIVES["Boolean"], None, choice)
    if typing.get_origin(item) is typing.Annotated:
        markers = typing.get_args(item)[1:]
        check = PRIMITIVES.get(type(markers[0]).__name__) if len(markers) == 1 else None
        if check is None:
            raise _NoCheck(str(item))
        return Element(many, check, None, choice)
    name = getattr(item, "__name__", "")
    if getattr(item, "__module__", None) == "abc" and name == "ResourceType":
        return Element(many, None, ANY_RESOURCE, choice)  # contained, Bundle.entry.resource, Parameters
    if getattr(item, "__module__", None) == "abc" and name.endswith("Type") and name != "FHIRPrimitiveExtensionType":
        return Element(many, None, name[:-len("Type")], choice)
    raise _NoCheck(str(item))


def _compile(model) -> Table:
    elements: dict[str, Element] = {}
    required, choices = set(), {}
    for field in model.model_fields.values():
        extra = field.json_schema_extra or {}
        if not extra.get("element_property"):
            continue  # fhir_comments, `_value` primitive extensions: never accepted here
        if field.is_required() or extra.get("element_required"):
            required.add(field.alias)
        try:
            element = _element(field)
        except _NoCheck:
            continue  # not in the table: a resource that has it goes to the models
        elements[field.alias] = element
        if element.choice:
            choices[element.choice] = choices.get(element.choice, False) or bool(extra.get("one_of_many_required"))
    from fhir.resources.R4B.resource import Resource
    return Table(issubclass(model, Resource), elements, frozenset(required),
                 tuple(group for group, needed in choices.items() if needed))


_TABLES: dict[str, Table] = {}


def table(type_name: str) -> Table | None:
    """The compiled table of a resource or element type (None: the models have no such type).

    Only types the models have are kept: a resourceType from the input that is no FHIR type
    is looked up again next time, so that bodies full of made-up names cannot grow the cache."""
    found = _TABLES.get(type_name)
    if found is None:
        from fhir.resources.R4B import get_fhir_model_class  # imported on first use: ~0.15 s
        try:
            model = get_fhir_model_class(type_name)
        except (KeyError, ValueError):
            return None
        found = _TABLES[type_name] = _compile(model)
    return found


# -- the walk: one checker function per type, compiled from its table once ---------------
# The hot loop of every call (~270 objects, ~1 000 elements for 24 resources). Each type's
# checker is a closure over its own dict: element name -> the function that checks the
# element's value, called as fn(value, accepted) — a primitive check, the nested type's
# checker (resolved on first use, then put in the dict), or for a list a loop over one of
# those. So one dict lookup and one call per element, and no table or Element attribute
# lookups in the loop; the choice-group bookkeeping only in types that have choice groups.
# tests/test_r4_check.py checks the verdicts against the generic walk over the tables that
# this replaced (and against the models).

Checker = typing.Callable[[object, Collection[int]], bool]


def _never(value: object, accepted: Collection[int]) -> bool:
    return False


#: type name -> checker of a value of that (non-resource) element type
_COMPLEX: dict[str, Checker] = {}
#: resource type name -> checker of a resource of that type (the dict already known)
_RESOURCES: dict[str, Checker] = {}


def _complex_checker(type_name: str) -> Checker:
    found = _COMPLEX.get(type_name)
    if found is None:
        spec = table(type_name)
        # not a model, or a resource type where an element type is expected: never accepted
        found = _never if spec is None or spec.resource else _compile_checker(spec, complex_type=True)
        _COMPLEX[type_name] = found  # (type names from the models, not from the input)
    return found


def _resource_checker(rtype: str) -> Checker | None:
    found = _RESOURCES.get(rtype)
    if found is None:
        spec = table(rtype)
        if spec is None:
            return None  # not cached: a made-up resourceType from the input (see table())
        found = _RESOURCES[rtype] = _compile_checker(spec, complex_type=False) if spec.resource else _never
    return found


def _many(check: Checker) -> Checker:
    """A list element: a non-empty list, every item accepted by `check`."""
    def many(value: object, accepted: Collection[int]) -> bool:
        if type(value) is not list or not value:
            return False
        for one in value:
            if not check(one, accepted):
                return False
        return True
    return many


def _lazy(checks: dict, key: str, many: bool, type_name: str) -> Checker:
    """The nested type's checker, compiled on first use (types nest recursively: Extension,
    Identifier <-> Reference), then put in `checks` in place of this stub."""
    def first_use(value: object, accepted: Collection[int]) -> bool:
        check = _resource if type_name is ANY_RESOURCE else _complex_checker(type_name)
        checks[key] = _many(check) if many else check
        return checks[key](value, accepted)
    return first_use


def _compile_checker(spec: Table, complex_type: bool) -> Checker:
    checks: dict[str, Checker] = {}
    for key, element in spec.elements.items():
        if element.primitive is not None:
            checks[key] = _many(element.primitive) if element.many else element.primitive
        else:
            checks[key] = _lazy(checks, key, element.many, element.complex)
    if spec.resource:
        checks["resourceType"] = lambda value, accepted: True  # (the type this checker was looked up by)
    groups = {key: element.choice for key, element in spec.elements.items() if element.choice is not None}
    required = spec.required
    required_choices = spec.required_choices
    get = checks.get

    def check(value: object, accepted: Collection[int]) -> bool:
        """Whether the models surely accept `value` as an instance of `spec`'s type."""
        if complex_type and (type(value) is not dict or not value):
            return False
        for key, item in value.items():
            fn = get(key)
            if fn is None or not fn(item, accepted):
                return False
        if required and not value.keys() >= required:
            return False
        return not groups or _choices_fit(value, groups, required_choices)

    return check


def _choices_fit(value: dict, groups: dict[str, str], required_choices: tuple[str, ...]) -> bool:
    """At most one element of each choice group, and one of each required group."""
    chosen: list[str] = []
    for key in value:
        choice = groups.get(key)
        if choice is not None:
            if choice in chosen:
                return False  # two elements of one choice group
            chosen.append(choice)
    for group in required_choices:
        if group not in chosen:
            return False
    return True


def _resource(value: object, accepted: Collection[int]) -> bool:
    if type(value) is not dict:
        return False
    if id(value) in accepted:
        return True
    rtype = value.get("resourceType")
    if type(rtype) is not str or not rtype.isalpha():
        return False
    check = _RESOURCES.get(rtype) or _resource_checker(rtype)
    return check is not None and check(value, accepted)


def accepts(resource: object, accepted: Collection[int] = ()) -> bool:
    """True only when the R4B models are certain to accept `resource` (see the module docstring).

    `accepted`: id() of resource objects already accepted (e.g. the entries of a Bundle
    checked one by one before the Parameters that holds it); they are not walked again."""
    try:
        return _resource(resource, accepted)
    except RecursionError:
        return False
