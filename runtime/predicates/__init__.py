"""The runtime half of each predicate kind: its column kernel and its perturb edit.

`tenet.compiler.predicates` is the registry of kinds (parse, lower, reference semantics, spans,
format); it must stay importable without pyarrow or the runtime, so what needs them lives
here, one module per kind under the same name (`runtime/predicates/count.py` for `count`):

* `column(pred, cols, score)`: the kind over a whole batch (`kernels.Columns`), a boolean
  Arrow array that must equal the reference semantics row by row (null = unknown);
* `span_pattern(pred)`: an RE2 `(body, inline flags)` locating exactly what the reference
  `finder` locates, or None to locate in Python;
* `edit(pred, text, want, rng, for_chosen)`: the response changed so the atom evaluates to
  `want`, or None (`tenet.runtime.synthesize.perturb_ops` verifies it).

Kinds are looked up by the compiler kind's `name`; `tests/test_predicates.py` holds both
registries to the same kinds.
"""

from __future__ import annotations

from typing import Any

from tenet.compiler import predicates
from tenet.runtime.predicates.base import RuntimeKind

__all__ = ["RuntimeKind", "kinds", "of", "register", "unregister"]


_BY_NAME: dict[str, RuntimeKind] = {}
_loaded = False


def register(kind: RuntimeKind) -> RuntimeKind:
    """Add the runtime half of a kind already registered with `tenet.compiler.predicates`."""
    _load_builtins()
    if kind.name in _BY_NAME:
        raise ValueError(f"predicate kind `{kind.name}` already has a runtime half")
    _BY_NAME[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a runtime half added with `register`."""
    del _BY_NAME[name]


def kinds() -> tuple[RuntimeKind, ...]:
    """Every registered runtime half."""
    _load_builtins()
    return tuple(_BY_NAME.values())


def of(pred: Any) -> RuntimeKind:
    """The runtime half of an IR atom's kind.

    Raises:
        TypeError: When the node is no registered kind's, or its kind has no runtime half.
    """
    _load_builtins()
    name = predicates.of(pred).name
    if name not in _BY_NAME:
        raise TypeError(f"predicate kind `{name}` has no runtime half (runtime/predicates/{name}.py)")
    return _BY_NAME[name]


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from tenet.runtime.predicates import count, is_json, keywords, pii, refusal, regex, score, text

    for module in (regex, keywords, text, count, is_json, pii, refusal, score):
        _BY_NAME[module.KIND.name] = module.KIND
