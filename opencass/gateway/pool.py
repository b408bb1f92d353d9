"""The gateway's worker processes: a process pool that survives the death of a worker.

A worker killed by the kernel (the out-of-memory killer) or by an operator breaks a
``ProcessPoolExecutor`` for good: every later submission raises ``BrokenProcessPool``.  This
executor hands work to the current pool and, when it finds that pool broken, replaces it with a
new one (once, however many callers notice at the same time) and submits again.  The file
being assessed when the worker died gets ``BrokenProcessPool`` and is retried by intake, up to
its attempt limit.  ``healthy`` is False from a breakage until a new pool has taken work; the
daemon stops feeding the systemd watchdog while it is False.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import structlog

__all__ = ["BrokenProcessPool", "WorkerPool"]

log = structlog.get_logger("opencass.gateway.pool")
T = TypeVar("T")


class WorkerPool(Executor):
    """A process pool replaced by a fresh one when a worker dies (see the module docstring)."""

    def __init__(self, make: Callable[[], ProcessPoolExecutor]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._current = make()
        self._broken: ProcessPoolExecutor | None = None
        self.rebuilds = 0

    @property
    def healthy(self) -> bool:
        """False while the pool is known broken and no new one has taken work yet."""
        return self._broken is None

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        executor = self._current
        try:
            future = executor.submit(fn, *args, **kwargs)
        except BrokenProcessPool:
            executor = self._replace(executor)
            future = executor.submit(fn, *args, **kwargs)
        future.add_done_callback(lambda f: self._saw(f, executor))
        return future

    def _saw(self, future: Future[Any], executor: ProcessPoolExecutor) -> None:
        if not future.cancelled() and isinstance(future.exception(), BrokenProcessPool):
            with self._lock:
                if self._current is executor:
                    self._broken = executor

    def _replace(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        with self._lock:
            if self._current is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._current = self._make()
                self._broken = None
                self.rebuilds += 1
                log.warning("worker_pool_rebuilt", rebuilds=self.rebuilds)
            return self._current

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._current.shutdown(wait=wait, cancel_futures=cancel_futures)
