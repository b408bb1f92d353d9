"""How opencass starts worker processes: one fork server per process, preloaded.

Every process pool of opencass (the gateway's intake workers, the parallel reader of
``opencass validate``, the report and invoice renderers) is made on ``worker_context()``, or
on ``pool_context()``, which forks directly while its process runs no other thread.  The fork
server imports ``PRELOAD`` once, when it starts; a worker forked from it begins
with the codecs, the assessment and the store (numpy, lxml, the model) already loaded, where
it would otherwise import them itself: 0.4-0.9 s for every new pool and every replaced worker.
(Forking the gateway itself is unsafe once it runs threads; the fork server is a
single-threaded process started for this.)
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["PRELOAD", "fewer_collections", "pool_context", "worker_context"]

PRELOAD = ["__main__", "opencass.gateway.assess"]


def worker_context() -> Any:
    """The ``forkserver`` context, its server preloaded with ``PRELOAD``.  (A preload applies
    when the server starts, at the first pool of the process: it is set before every use, so
    whichever pool comes first starts it preloaded.)"""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def pool_context() -> Any:
    """For a short-lived pool: plain ``fork`` while this process runs no other thread (nothing
    to import or copy), else ``worker_context()``."""
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return worker_context()


_GC = threading.Lock()
_gc_users: list[tuple[int, int, int]] = []  # the thresholds before the first user, per user


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often for a while: a close, or a renderer's job, makes millions of
    small objects that live to its end, and CPython's default (a young collection every 700
    allocations, each older generation every 10 of the one below) cost a 1M-AWB close about a
    tenth of its time and an airline's reports a fifth of theirs; what exists when it starts
    is frozen (``gc.freeze``: never traversed again, nor its pages touched in a forked child).
    Both make few reference cycles.  Users in threads of one process share it: the last one
    to end restores the thresholds."""
    with _GC:
        _gc_users.append(gc.get_threshold() if not _gc_users else _gc_users[0])
        gc.set_threshold(50_000, 20, 100)
        gc.freeze()
    try:
        yield
    finally:
        with _GC:
            before = _gc_users.pop()
            if not _gc_users:
                gc.unfreeze()
                gc.set_threshold(*before)
