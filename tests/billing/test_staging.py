"""Close documents are built in staging directories: a cleanup running beside a close (another
close of another period, in this process or another) never removes a directory in use.

Defect (seen in CI): several preliminary closes the scheduler ran at once each cleaned up the
staging root while another had just made its directory and not yet locked it, and removed it.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from opencass.billing.closing import _new_staging, remove_abandoned_staging


def test_cleanups_beside_new_staging_directories_remove_none_in_use(tmp_path: Path) -> None:
    errors: list[str] = []

    def work() -> None:
        for _ in range(150):
            try:
                remove_abandoned_staging(tmp_path)
                staging, lock = _new_staging(tmp_path)
                (staging / "doc").write_bytes(b"x")
                os.close(lock)
            except Exception as e:  # a directory removed under its writer
                errors.append(repr(e))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_abandoned_directories_are_removed(tmp_path: Path) -> None:
    staging, lock = _new_staging(tmp_path)
    assert remove_abandoned_staging(tmp_path) == []  # in use
    os.close(lock)  # its writer is gone
    assert remove_abandoned_staging(tmp_path) == [staging]
    made = tmp_path / ".new-0123"  # a writer died between making and locking
    made.mkdir()
    assert remove_abandoned_staging(tmp_path) == []  # maybe being made right now
    old = time.time() - 7200
    os.utime(made, (old, old))
    assert remove_abandoned_staging(tmp_path) == [made]
