"""An advisory lock per policy, so two cycles of one policy never interleave on one machine.

Two cycles of the same policy share a work folder, a champion and a registered model; run
at once, both would diff against the same champion, write the same checkpoints and race to
move the alias. The second cycle waits for the first instead; it then finds the first's
champion and cache, and usually has little or nothing left to do. The lock is `flock` on a
file in the work folder: the kernel releases it when its process dies, even by SIGKILL, so
a crashed cycle never leaves a stale lock. Cycles on other machines sharing a remote MLflow
server are not covered (see docs/security.md).

The lock file holds the holder's pid, so it is written to; it is opened without following a
symbolic link and used only when it is a regular file of this user with no other name (hard
link), so a link planted in a shared work folder cannot make tenet truncate another file.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from tenet.compiler.errors import TenetError


class LockError(TenetError):
    """A lock file that is not a plain file of this user: tenet will not write to it."""


@contextmanager
def exclusive(path: str | Path, on_wait: Callable[[str], None] = lambda holder: None) -> Iterator[None]:
    """Hold an exclusive lock on `path`, calling `on_wait(holder pid)` first if it is taken.

    Raises:
        LockError: When `path` is a symbolic link, not a regular file, has more than one
            name, or belongs to another user.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(open_lock_file(path), "r+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            on_wait(handle.read(64).strip() or "?")
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


def open_lock_file(path: Path) -> int:
    """Open (or create, mode 0600) a lock file to read and write; only a plain file of this user will do."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockError(f"lock file {path} is a symbolic link; tenet does not follow links for its "
                            "locks: remove it and run again") from None
        raise
    info = os.fstat(fd)
    problem = _problem(info)
    if problem is not None:
        os.close(fd)
        raise LockError(f"lock file {path} {problem}; tenet writes its pid there, so it uses only a plain "
                        "file of its own: remove it and run again")
    os.set_blocking(fd, True)
    return fd


def _problem(info: os.stat_result) -> str | None:
    """Why an opened lock file must not be written to, or None."""
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_nlink != 1:
        return f"has {info.st_nlink} names (hard links)"
    if info.st_uid != os.geteuid():
        return f"belongs to another user (uid {info.st_uid})"
    return None
