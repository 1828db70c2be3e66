"""Errors of how tenet was used: `UsageError`, and one clear line for operating-system failures.

Every command can hit an OS failure while writing outputs, checkpoints or the MLflow store, often
deep inside a library that wraps the `OSError` in its own exception. `describe_failure`
finds the OS problem in the exception chain and says what happened, where, and what to do;
`tenet.runtime.cli.main` prints it instead of a traceback.
"""

from __future__ import annotations

import errno
import re

from tenet.compiler.errors import TenetError


class UsageError(TenetError):
    """A problem with how tenet was called or with a file it was given (exit 2)."""


# errno -> (what happened, what to do)
_OS_MESSAGES: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on device", "free some space or write somewhere else (--out, --work-dir)"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write somewhere else (--out, --work-dir)"),
    errno.EROFS: ("read-only file system", "write somewhere writable (--out, --work-dir)"),
    errno.EACCES: ("permission denied", "check the file's permissions, or write somewhere else"),
    errno.EPERM: ("operation not permitted", "check the file's permissions, or write somewhere else"),
    errno.ENOENT: ("no such file or directory", "check the path"),
    errno.ENOTDIR: ("a parent of the path is a file, not a directory", "check the path"),
    errno.EISDIR: ("is a directory", "give a file path"),
    errno.ENAMETOOLONG: ("file name too long", "use a shorter path"),
    errno.EMFILE: ("too many open files", "raise the limit (`ulimit -n`) or use fewer workers"),
    errno.EIO: ("input/output error", "the disk or network file system failed; check it and retry"),
}
# Libraries that report an OS error only in words (pyarrow, SQLite under MLflow).
_TEXT_ERRNOS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"no space left on device|database or disk is full", re.I), errno.ENOSPC),
    (re.compile(r"disk quota exceeded", re.I), errno.EDQUOT),
    (re.compile(r"read-only file system|readonly database", re.I), errno.EROFS),
    (re.compile(r"permission denied", re.I), errno.EACCES),
)
_ERRNO_IN_TEXT = re.compile(r"\[errno (\d+)\]", re.I)


def describe_os_error(exc: OSError) -> str:
    """`what happened: the file; what to do` for an OSError, in one line."""
    code = exc.errno if exc.errno is not None else _errno_from_text(str(exc))
    what, todo = _OS_MESSAGES.get(code, (exc.strerror or str(exc) or type(exc).__name__, ""))
    where = exc.filename or exc.filename2
    text = f"{what}: {where}" if where else what
    return f"{text}; {todo}" if todo else text


def describe_failure(exc: BaseException) -> str | None:
    """One line for an exception caused by an OS problem anywhere in its chain, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and _known(current):
            return describe_os_error(current)
        code = _errno_from_text(str(current))
        if code in _OS_MESSAGES:
            # A library's own exception that only names the OS error in its message.
            return describe_os_error(OSError(code, _OS_MESSAGES[code][0]))
        current = current.__cause__ or current.__context__
    return None


def _known(exc: OSError) -> bool:
    code = exc.errno if exc.errno is not None else _errno_from_text(str(exc))
    return code in _OS_MESSAGES


def _errno_from_text(text: str) -> int | None:
    match = _ERRNO_IN_TEXT.search(text)
    if match:
        return int(match.group(1))
    for pattern, code in _TEXT_ERRNOS:
        if pattern.search(text):
            return code
    return None
