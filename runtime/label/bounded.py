"""Run Python-`re` searches under a time bound, in a forked worker that can be killed.

Python's `re` cannot be interrupted from another thread, and a pattern with catastrophic
backtracking can run for hours on one row. The fallback engine therefore searches in a
child process that writes each row's answer, and how far it got, into shared memory. A
watchdog kills the child when one row overruns `row_timeout`; that row comes back None
("no verdict", so the labeler abstains and reports the rule) and a fresh child carries on
with the next row. Two limits keep a hostile pattern from costing more than seconds: the
rows that do finish share an average budget per row, and after `max_stuck` rows without a
verdict the rest of the call gives up. RE2 never needs this: it runs in linear time.
"""

from __future__ import annotations

import mmap
import multiprocessing
import re
import struct
import time
from typing import Sequence

ROW_BUDGET_S = 0.002      # 2 ms a row on average: far above a sane regex on a sane row
MIN_CALL_BUDGET_S = 0.5   # covers forking the worker
ROW_TIMEOUT_S = 0.25      # one row may search this long; a sane regex takes microseconds
MAX_STUCK_ROWS = 32       # rows without a verdict after which a pattern is given up (~8 s)
POLL_S = 0.01             # how often the watchdog looks at the worker's progress
STARTUP_LIMIT_S = 5.0     # forking a large process can be slow; a row's clock starts after it

# Shared memory: [worker started][rows finished][one answer byte per row].
_INT = struct.Struct("<q")
_STARTED, _FINISHED, _ANSWERS = 0, _INT.size, 2 * _INT.size
_UNKNOWN = 255  # the answer byte of a row not searched (yet)


def bounded_search(pattern: re.Pattern[str], texts: Sequence[str], row_budget: float | None = None, *,
                   row_timeout: float | None = None, max_stuck: int | None = None) -> list[bool | None]:
    """Search every text; None marks a row with no verdict (overran, or given up).

    Args:
        pattern: The compiled policy regex.
        texts: One subject text per row.
        row_budget: Average seconds a finished row may take (the call's budget is this times
            the rows, at least `MIN_CALL_BUDGET_S`); rows left when it runs out get None.
            Default `ROW_BUDGET_S`.
        row_timeout: Seconds one row may search before its worker is killed (`ROW_TIMEOUT_S`).
        max_stuck: Rows without a verdict after which the remaining rows get None unsearched
            (`MAX_STUCK_ROWS`).
    """
    if not texts:
        return []
    # Read at call time, so a test (or a caller with other needs) can change the module's limits.
    row_budget = ROW_BUDGET_S if row_budget is None else row_budget
    row_timeout = ROW_TIMEOUT_S if row_timeout is None else row_timeout
    max_stuck = MAX_STUCK_ROWS if max_stuck is None else max_stuck
    shared = mmap.mmap(-1, _ANSWERS + len(texts))
    try:
        shared[_ANSWERS:] = bytes([_UNKNOWN]) * len(texts)
        budget = max(MIN_CALL_BUDGET_S, row_budget * len(texts))
        _search_all(pattern, texts, shared, budget, row_timeout, max_stuck)
        answers = shared[_ANSWERS:]
    finally:
        shared.close()
    return [None if b == _UNKNOWN else bool(b) for b in answers]


def _search_all(pattern: re.Pattern[str], texts: Sequence[str], shared: mmap.mmap, budget: float,
                row_timeout: float, max_stuck: int) -> None:
    """Start workers until every row is answered or a limit is reached."""
    deadline = time.monotonic() + budget
    start, stuck = 0, 0
    while start < len(texts) and stuck < max_stuck:
        reached = _run_worker(pattern, texts, start, shared, row_timeout, deadline)
        if reached >= len(texts) or time.monotonic() >= deadline:
            return
        stuck += 1
        # The row that overran is paid for by `max_stuck`, not by the finished rows' budget.
        deadline += row_timeout
        start = reached + 1


def _run_worker(pattern: re.Pattern[str], texts: Sequence[str], start: int, shared: mmap.mmap,
                row_timeout: float, deadline: float) -> int:
    """Search rows from `start` in a child; return how many rows were finished when it ended."""
    _INT.pack_into(shared, _STARTED, 0)
    _INT.pack_into(shared, _FINISHED, start)
    context = multiprocessing.get_context("fork")
    process = context.Process(target=_worker, args=(pattern, texts, start, shared), daemon=True)
    launched, seen, since = time.monotonic(), start, None
    process.start()
    try:
        while True:
            process.join(POLL_S)
            reached = _INT.unpack_from(shared, _FINISHED)[0]
            if process.exitcode is not None:  # finished, or died (e.g. out of memory) on a row
                return reached
            now = time.monotonic()
            if not _INT.unpack_from(shared, _STARTED)[0]:
                if now - launched > STARTUP_LIMIT_S or now > deadline:
                    return reached
            elif since is None or reached != seen:
                seen, since = reached, now
            elif now - since > row_timeout or now > deadline:
                return reached
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        process.close()


def _worker(pattern: re.Pattern[str], texts: Sequence[str], start: int, shared: mmap.mmap) -> None:
    _INT.pack_into(shared, _STARTED, 1)
    search = pattern.search
    for i in range(start, len(texts)):
        shared[_ANSWERS + i] = search(texts[i]) is not None
        _INT.pack_into(shared, _FINISHED, i + 1)
