"""Process-pool workers of the renderers (reports, invoices): fonts loaded once, and death with
the process that made the pool — a killed close must leave no renderer behind.

A ``forkserver`` worker's parent is the fork server, not the close, so a watcher thread checks
the close's process and exits the worker when it is gone.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def init_renderer(owner: int) -> None:
    """Pool initializer: register the PDF fonts and die with ``owner`` (a process id)."""
    from opencass.documents.pdf import register_fonts

    register_fonts()
    threading.Thread(target=die_with, args=(owner,), daemon=True, name="die-with").start()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def die_with(pid: int) -> None:
    """Exit this process (status 70) once process ``pid`` is gone (run it in a thread)."""
    while _alive(pid):
        time.sleep(0.5)
    os._exit(70)
