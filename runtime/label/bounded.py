"""Run Python-`re` searches under a time bound, in a forked worker that can be killed.

Python's `re` cannot be interrupted, and a pattern with catastrophic backtracking can run
for hours on one row. The fallback engine therefore searches in a child process: if a chunk
of rows overruns its budget, the child is killed, the chunk is split in half and retried,
and a single row that still overruns comes back as None ("no verdict") so the labeler can
abstain on it and report the rule. RE2 never needs this: it runs in linear time.
"""

from __future__ import annotations

import multiprocessing
import re
from typing import Sequence

ROW_BUDGET_S = 0.002      # 2 ms a row on average: far above a sane regex on a sane row
MIN_CHUNK_BUDGET_S = 0.5  # covers forking the worker
MAX_SPLITS = 32           # after this many killed chunks the rest of the batch gives up


def _worker(conn, pattern: str, flags: int, texts: Sequence[str]) -> None:
    compiled = re.compile(pattern, flags)
    conn.send_bytes(bytes(compiled.search(t) is not None for t in texts))
    conn.close()


def _run_chunk(pattern: str, flags: int, texts: Sequence[str], budget: float) -> list[bool] | None:
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_worker, args=(sender, pattern, flags, texts), daemon=True)
    process.start()
    sender.close()
    try:
        if receiver.poll(budget):
            data = receiver.recv_bytes()
            process.join()
            return [bool(b) for b in data]
        return None
    except EOFError:  # the worker died (e.g. out of memory): treat like a timeout
        return None
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        receiver.close()


def bounded_search(pattern: re.Pattern[str], texts: Sequence[str], row_budget: float = ROW_BUDGET_S) -> list[bool | None]:
    """Search every text; None marks a row whose search overran its time budget."""
    results: list[bool | None] = [None] * len(texts)
    splits = 0
    stack = [(0, len(texts))]
    while stack:
        start, end = stack.pop()
        if start == end:
            continue
        chunk = texts[start:end]
        budget = max(MIN_CHUNK_BUDGET_S, row_budget * len(chunk))
        found = _run_chunk(pattern.pattern, pattern.flags, chunk, budget) if splits <= MAX_SPLITS else None
        if found is not None:
            results[start:end] = found
        elif end - start > 1 and splits <= MAX_SPLITS:
            splits += 1
            mid = (start + end) // 2
            stack.extend([(mid, end), (start, mid)])
    return results
