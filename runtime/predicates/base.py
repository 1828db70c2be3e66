"""The runtime half of a predicate kind: its column kernel, span pattern and perturb edit.

Kind modules (`runtime/predicates/<kind>.py`) build a `RuntimeKind`; the package registers
them (`tenet.runtime.predicates`), as `tenet.compiler.predicates.base` does for the compiler.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import pyarrow as pa

if TYPE_CHECKING:
    from tenet.runtime.label.kernels import Columns, ScoreBatch


@dataclass(frozen=True)
class RuntimeKind:
    """What the runtime does with one predicate kind.

    Attributes:
        name: The compiler kind's name.
        column: The column kernel.
        span_pattern: The RE2 span pattern, or None when Python locates every match.
        edit: The perturb edit, or None when no edit of the response can change the kind
            (model scores).
    """

    name: str
    column: Callable[[Any, "Columns", "ScoreBatch | None"], pa.Array]
    span_pattern: Callable[[Any], "tuple[str, str] | None"] | None = None
    edit: Callable[[Any, str, bool, random.Random, bool], "str | None"] | None = None
