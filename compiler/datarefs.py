"""Data sets named by Hugging Face Hub id: `hf://org/name[@revision][?split=S&column=C]`.

The same reference works wherever tenet reads rows from a file: a prompt source
(`file "hf://acme/prompts?split=train" column "question"`), the data of `tenet label`,
and `tenet pairs --feedback`. The prefix keeps it apart from a relative path, and the
`@revision` form is the one `HfFileSystem` uses (`hf://datasets/org/name@rev`); that
`datasets/` part is accepted and may be left out. Pure parsing: the runtime reads the rows
(runtime/data/).
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import parse_qsl

PREFIX = "hf://"
DEFAULT_SPLIT = "train"
QUERY_KEYS = ("split", "column")
EXAMPLE = "hf://org/name?split=train&column=text"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_NAME = re.compile(r"^[\w.-]+$")


class DatasetRef(NamedTuple):
    """A Hub data set, one split of it, and optionally the one column that holds the text."""

    repo_id: str
    revision: str | None = None
    split: str = DEFAULT_SPLIT
    column: str | None = None

    def __str__(self) -> str:
        query = f"?split={self.split}" + (f"&column={self.column}" if self.column else "")
        return f"{PREFIX}{self.repo_id}{'@' + self.revision if self.revision else ''}{query}"


def is_dataset_ref(text: object) -> bool:
    """True when `text` is a string that names a Hub data set (starts with `hf://`)."""
    return isinstance(text, str) and text.startswith(PREFIX)


def parse_dataset_ref(text: str) -> DatasetRef:
    """Parse `hf://org/name[@revision][?split=S&column=C]`.

    Raises:
        ValueError: With a message that shows the expected form.
    """
    body, _, query = text[len(PREFIX):].partition("?")
    body = body.removeprefix("datasets/")
    repo_id, at, revision = body.partition("@")
    if not _REPO_ID.match(repo_id) or (at and not revision):
        raise ValueError(f"{text!r} does not name a Hub data set; write e.g. {EXAMPLE}")
    fields: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in QUERY_KEYS:
            raise ValueError(f"{text!r}: unknown option {key!r}; the options are {', '.join(QUERY_KEYS)}")
        if not value:
            raise ValueError(f"{text!r}: {key} is empty")
        if key == "split" and not _NAME.match(value):
            raise ValueError(f"{text!r}: the split {value!r} is not a split name (e.g. train)")
        fields[key] = value
    return DatasetRef(repo_id, revision or None, fields.get("split", DEFAULT_SPLIT), fields.get("column"))
