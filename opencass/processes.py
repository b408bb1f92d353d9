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

import multiprocessing
import threading
from typing import Any

__all__ = ["PRELOAD", "pool_context", "worker_context"]

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
