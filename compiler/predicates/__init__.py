"""The predicate registry: one module per predicate kind, found here by node type.

Each kind module (`regex.py`, `keywords.py`, `text.py`, `count.py`, `is_json.py`, `pii.py`,
`refusal.py`, `score.py`) exports `KIND`, a `PredicateKind` holding everything the compiler
knows about it: the parser callbacks that build its AST node, lowering to IR, the reference
semantics (`holds` on the subject text, or `decide` on a model score), where a match lies, and
how it is written back as source. The boolean connectives (`and`, `or`, `not`) are generic and
not kinds.

What is not here, and why:

* The grammar rule stays in `policy.lark`: the grammar is one file (lark's separation of code
  and grammar); its alias names the kind's builder.
* The node classes stay in `ast.py` and `ir.py`: pydantic's discriminated unions (`ast.Pred`,
  `ir.PredIR`) list every node class, and the artifact's schema comes from them.
* The column kernel and the perturb edit live in `runtime/predicates/<kind>.py`, a runtime
  half under the same name: they need pyarrow and the runtime's edit helpers, and the compiler
  must import neither (`tests/test_purity.py`). `tenet.runtime.predicates` looks kinds up by the
  same `name`, and a test holds the two registries to the same set of kinds.

The built-in kinds load on first use; a kind module imports only modules below the passes
(`regex` asks `compiler/regex_engine.py` which engine runs a pattern).
"""

from __future__ import annotations

from typing import Any

from tenet.compiler.predicates.base import Builder, PredicateKind

__all__ = ["PredicateKind", "builder", "kinds", "of", "register", "unregister"]

_BY_NAME: dict[str, PredicateKind] = {}
_BY_TYPE: dict[type, PredicateKind] = {}
_BY_ALIAS: dict[str, Builder] = {}
_loaded = False


def register(kind: PredicateKind) -> PredicateKind:
    """Add a kind; its name, node types and grammar aliases must all be new."""
    _load_builtins()
    return _add(kind)


def unregister(name: str) -> None:
    """Remove a kind added with `register` (tests register toy kinds for one test)."""
    kind = _BY_NAME.pop(name)
    for node_type in (*kind.ast_types, kind.ir_type):
        del _BY_TYPE[node_type]
    for alias in kind.builders:
        del _BY_ALIAS[alias]


def kinds() -> tuple[PredicateKind, ...]:
    """Every registered kind, built-ins first."""
    _load_builtins()
    return tuple(_BY_NAME.values())


def of(node: Any) -> PredicateKind:
    """The kind of an AST or IR predicate node (not a connective).

    Raises:
        TypeError: When no kind handles the node's type.
    """
    _load_builtins()
    kind = _BY_TYPE.get(type(node))
    if kind is None:
        raise TypeError(f"not a predicate atom: {type(node).__name__}")
    return kind


def builder(alias: str) -> Builder | None:
    """The AST builder for a grammar alias, or None when no kind claims it."""
    _load_builtins()
    return _BY_ALIAS.get(alias)


def _add(kind: PredicateKind) -> PredicateKind:
    types = (*kind.ast_types, kind.ir_type)
    clashes = ([kind.name] if kind.name in _BY_NAME else []) + [t.__name__ for t in types if t in _BY_TYPE] \
        + [a for a in kind.builders if a in _BY_ALIAS]
    if clashes:
        raise ValueError(f"predicate kind `{kind.name}` is already registered: {', '.join(clashes)}")
    _BY_NAME[kind.name] = kind
    _BY_TYPE.update(dict.fromkeys(types, kind))
    _BY_ALIAS.update(kind.builders)
    return kind


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from tenet.compiler.predicates import count, is_json, keywords, pii, refusal, regex, score, text

    for module in (regex, keywords, text, count, is_json, pii, refusal, score):
        _add(module.KIND)
