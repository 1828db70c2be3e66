"""An advisory lock per policy, so two cycles of one policy never interleave on one machine.

Two cycles of the same policy share a work folder, a champion and a registered model; run
at once, both would diff against the same champion, write the same checkpoints and race to
move the alias. The second cycle waits for the first instead; it then finds the first's
champion and cache, and usually has little or nothing left to do. The lock is `flock` on a
file in the work folder: the kernel releases it when its process dies, even by SIGKILL, so
a crashed cycle never leaves a stale lock. Cycles on other machines sharing a remote MLflow
server are not covered (see docs/security.md).
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


@contextmanager
def exclusive(path: str | Path, on_wait: Callable[[str], None] = lambda holder: None) -> Iterator[None]:
    """Hold an exclusive lock on `path`, calling `on_wait(holder pid)` first if it is taken."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            on_wait(handle.read().strip() or "?")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
