"""Blocking work off the event loop: store writes, CPU-heavy parsing and validation.

Every request of a uvicorn worker shares one event loop: a synchronous
database write or a long validation on it stalls every other request of
that worker (`GET /health`, hook calls), also the ones that have nothing to
do with it. Routes therefore ``await`` these helpers instead:

* :func:`run_blocking` — a blocking call (a store write, a store read) in
  the thread pool Starlette uses (anyio's default limiter, 40 threads)::

      from service.store.offload import run_blocking
      await run_blocking(store.record_feedback, **item)

* :func:`run_public` — CPU-heavy work of the *public*, unauthenticated
  endpoints (the self-check's ``$apply`` and submissions) in a small pool of
  its own (:data:`PUBLIC_THREADS`), so that anonymous callers can neither
  take the threads that authenticated calls need (token verification, store
  writes) nor run more than that many validations at once. More than
  :data:`PUBLIC_QUEUE` public jobs waiting: :class:`PublicBusy` (the route
  answers 503 with ``Retry-After``).

Threads do not escape the GIL: a CPU-bound thread and the event loop
alternate (every 5 ms, ``sys.getswitchinterval()``), so a request in flight
on the loop is slowed, not stalled; the public pool's size bounds by how much.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread

P = ParamSpec("P")
R = TypeVar("R")

#: public CPU jobs (validation, evaluation) running at once, per process
PUBLIC_THREADS = 1
#: public jobs allowed to wait for a thread; beyond it the request is refused (503)
PUBLIC_QUEUE = 32


class PublicBusy(Exception):
    """Too many public jobs waiting already: answer 503 with Retry-After."""

    retry_after = 1


async def run_blocking(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` in a worker thread; its result (or exception)."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


class _PublicPool:
    """One limiter per event loop (tests start several loops in one process)."""

    def __init__(self) -> None:
        self._limiters: dict[int, anyio.CapacityLimiter] = {}
        self.waiting = 0

    def limiter(self) -> anyio.CapacityLimiter:
        import asyncio

        key = id(asyncio.get_running_loop())
        limiter = self._limiters.get(key)
        if limiter is None:
            if len(self._limiters) > 8:  # loops of finished tests
                self._limiters.clear()
            limiter = self._limiters[key] = anyio.CapacityLimiter(PUBLIC_THREADS)
        return limiter


_public = _PublicPool()


async def run_public(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` in the public endpoints' own small thread pool; PublicBusy when it is full."""
    limiter = _public.limiter()
    if _public.waiting >= PUBLIC_THREADS + PUBLIC_QUEUE:  # `waiting`: the running jobs and those queued
        raise PublicBusy()
    _public.waiting += 1
    try:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=limiter)
    finally:
        _public.waiting -= 1
