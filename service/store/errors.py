"""The one exception of the store, and the translation of driver errors into it."""

from __future__ import annotations

import functools
import sqlite3
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy import exc as sa_exc


class _NoError(Exception):
    """Stands for the psycopg errors while psycopg is not imported (none can occur then)."""


def _psycopg_errors() -> tuple[type[BaseException], type[BaseException]]:
    """(psycopg.Error, psycopg.OperationalError) once psycopg is imported, else placeholders.

    psycopg is imported by SQLAlchemy for ``postgresql://`` URLs only; importing it
    here for its exception classes cost every start-up ~0.2 s, also with SQLite.
    """
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return _NoError, _NoError
    return psycopg.Error, psycopg.OperationalError


def _driver_errors() -> tuple[type[BaseException], ...]:
    """What may escape SQLAlchemy unwrapped (e.g. from a connect-event listener)."""
    return (sa_exc.SQLAlchemyError, sqlite3.Error, _psycopg_errors()[0], OSError)


P = ParamSpec("P")
R = TypeVar("R")


class StoreUnavailable(Exception):
    """The database could not be used (unreachable, locked, broken schema, ...).

    The message names the operation and the kind of failure only: never SQL,
    parameters or row values (they may hold patient-related data). Driver
    exceptions are not chained, so a logged traceback cannot leak them either.
    """

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(f"store {operation} failed: {reason}")
        self.operation = operation
        self.reason = reason


def _reason(exc: BaseException) -> str:
    """A short, data-free description of a database failure."""
    orig = getattr(exc, "orig", None) or exc
    reason = type(orig).__name__
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        reason += f" (SQLSTATE {sqlstate})"
    # connection-level failures ("connection refused", "database is locked")
    # carry no row data in their first line and are what an operator needs
    connection_level = (sa_exc.OperationalError, sa_exc.InterfaceError, sqlite3.OperationalError,
                        _psycopg_errors()[1])
    if isinstance(exc, connection_level) and not sqlstate:
        first_line = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
        if first_line:
            reason += f": {first_line[:200]}"
    elif isinstance(exc, sa_exc.TimeoutError):
        reason += ": no free database connection in the pool"
    elif isinstance(exc, OSError):
        reason += f": {exc.strerror or ''}".rstrip(": ")
    return reason


def guarded(operation: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: turn any SQLAlchemy/driver/OS error into :class:`StoreUnavailable`."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except StoreUnavailable:
                raise
            except _driver_errors() as exc:  # evaluated only when something was raised
                raise StoreUnavailable(operation, _reason(exc)) from None

        return wrapper

    return decorate
