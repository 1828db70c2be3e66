"""JSONL blocks read with Arrow's JSON reader, where it gives exactly what Python's `json` would.

`tenet.runtime.data` reads a JSONL file in blocks of whole lines. `arrow_block` parses one
block with `pyarrow.json` (multi-threaded C++) and returns it only when the result is the one
the line-by-line reader would build: one object per non-blank line, valid UTF-8, no repeated
keys, no byte-order mark, plain-text prompt and response columns and no message column.
Anything else (a malformed line, a lone surrogate, a number where text should be) returns
None, and the block is read line by line, where every such row becomes a bad row.
"""

from __future__ import annotations

import io
from typing import Iterator

import numpy as np
import pyarrow as pa

BLOCK_BYTES = 8 << 20  # bytes of whole lines parsed at a time
_WHITESPACE = b" \t\r\x0b\x0c"  # what bytes.strip() removes, besides the newline
_BOM = b"\xef\xbb\xbf"


def arrow_block(block: bytes, text_columns: tuple[str, str], messages: str) -> pa.Table | None:
    """The block's rows as an Arrow table, or None when only the line-by-line reader reads it right.

    Args:
        block: Whole lines of a JSONL file (the first one without its byte-order mark).
        text_columns: The prompt and response column names, which must hold strings.
        messages: The message-list column name, which must be absent.
    """
    if _BOM in block:
        return None  # a mark inside the file makes its line malformed, as `json.loads` says
    import pyarrow.json as pajson

    try:
        # One chunk: the reader splits no faster on threads, and the batch needs no combining.
        options = pajson.ReadOptions(block_size=max(len(block) + 1, 1 << 20), use_threads=False)
        table = pajson.read_json(io.BytesIO(block), read_options=options)
        table.validate(full=True)  # string columns must be valid UTF-8
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError, ValueError):
        return None
    names = table.column_names
    if messages in names or not all(n in names and pa.types.is_string(table.schema.field(n).type)
                                    for n in text_columns):
        return None
    if table.num_rows != object_lines(block):
        return None  # two objects on one line, or an object over several lines
    return table


def object_lines(block: bytes) -> int:
    """The number of lines that are not blank (only whitespace), as the line-by-line reader counts rows."""
    if not block:
        return 0
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], ends + 1))
    starts = starts[starts < len(data)]  # no line after a final newline
    first = data[starts]
    maybe_blank = np.isin(first, np.frombuffer(_WHITESPACE + b"\n", dtype=np.uint8))
    blank = 0
    for start in starts[maybe_blank]:  # rare: a line that starts with whitespace
        end = block.find(b"\n", start)
        if not block[start:end if end >= 0 else len(block)].strip():
            blank += 1
    return len(starts) - blank


def whole_lines(handle, max_record: int, block_bytes: int = BLOCK_BYTES, first: bool = True) -> Iterator[bytes | None]:
    """Yield blocks of whole lines from a binary file, and None in place of a line over `max_record` bytes.

    Such a line (counted without its newline) is skipped unread, in reads of at most
    `max_record` bytes; the byte-order mark some editors write is dropped from the file's first
    line (`first`: the handle is at the start of the file).
    """
    size = min(block_bytes, max_record)  # no line within one read can then be over the limit
    carry, skipping = b"", False
    while chunk := handle.read(size):
        if first:
            chunk, first = chunk.removeprefix(_BOM), False
        if skipping:
            at = chunk.find(b"\n")
            if at < 0:
                continue
            chunk, skipping = chunk[at + 1:], False
            yield None
        data = carry + chunk
        if data.find(b"\n") > max_record:  # the carried line ended past the limit
            at = data.find(b"\n")
            yield None
            data = data[at + 1:]
        cut = data.rfind(b"\n")
        if cut >= 0:
            yield data[:cut + 1]
        carry = data[cut + 1:]
        if len(carry) > max_record:
            carry, skipping = b"", True
    if skipping:
        yield None
    elif carry:
        yield carry
