"""Blocking work off the event loop: store writes, CPU-heavy parsing and validation.

Every request of a uvicorn worker shares one event loop: a synchronous
database write or a long validation on it stalls every other request of
that worker (`GET /health`, hook calls), also the ones that have nothing to
do with it. Routes therefore ``await`` these helpers instead:

* :func:`run_blocking` — a blocking call (a store write, a store read, a
  JWT check with its replay-cache insert) in a thread pool of
  :data:`BLOCKING_THREADS` threads, through the event loop's
  ``run_in_executor`` (anyio's ``to_thread.run_sync`` cost ~50 µs of CPU per
  call more: its limiter, cancel scope and backend look-ups; measured in
  docs/performance.md). As anyio does, the job runs in a copy of the
  caller's context variables, and a cancelled caller waits for the job to
  end before the cancellation goes on (a write is never left running
  unobserved)::

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

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread

P = ParamSpec("P")
R = TypeVar("R")

#: threads for run_blocking, per process (as many as anyio's default limiter, which Starlette's sync routes use)
BLOCKING_THREADS = 40
#: public CPU jobs (validation, evaluation) running at once, per process
PUBLIC_THREADS = 1
#: public jobs allowed to wait for a thread; beyond it the request is refused (503)
PUBLIC_QUEUE = 32


class PublicBusy(Exception):
    """Too many public jobs waiting already: answer 503 with Retry-After."""

    retry_after = 1


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _blocking_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix="nekpijn-blocking")
    return _pool


async def run_blocking(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` in a worker thread; its result (or exception)."""
    call = functools.partial(fn, *args, **kwargs)
    job = asyncio.get_running_loop().run_in_executor(_blocking_pool(), contextvars.copy_context().run, call)
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        while not job.done():  # the job goes on in its thread: wait for its end, then pass the cancellation on
            try:
                await asyncio.shield(job)
            except asyncio.CancelledError:
                pass
            except Exception:  # noqa: BLE001 - the caller was cancelled; its job's failure is not its answer
                break
        raise


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
