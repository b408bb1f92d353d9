"""Watching the inboxes: watchfiles events are a hint; the periodic rescan is the guarantee."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import structlog
from watchfiles import Change, awatch

from opencass.gateway.intake import ignored

log = structlog.get_logger("opencass.watcher")


def _wanted(change: Change, path: str) -> bool:
    name = Path(path).name
    return change in (Change.added, Change.modified) and not ignored(name) and "/inbox/" in path


async def watch_inboxes(
    root: Path, arrived: Callable[[Path], None], stop: asyncio.Event, debounce_ms: int = 50
) -> None:
    """Call ``arrived(path)`` for files that appear in any inbox below ``root`` until ``stop``."""
    root.mkdir(parents=True, exist_ok=True)
    async for changes in awatch(
        root,
        watch_filter=_wanted,
        stop_event=stop,
        debounce=debounce_ms,
        step=20,
        recursive=True,
        ignore_permission_denied=True,
    ):
        for _change, path in sorted(changes, key=lambda c: c[1]):
            p = Path(path)
            if p.is_file():
                arrived(p)
    log.info("watcher_stopped")


async def rescan_every(seconds: float, rescan: Callable[[], object], stop: asyncio.Event) -> None:
    """Run ``rescan()`` (a coroutine function) every ``seconds`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            try:
                await rescan()  # type: ignore[misc]
            except Exception:
                log.exception("rescan_failed")
