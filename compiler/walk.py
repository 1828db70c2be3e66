"""Walk predicate trees (one fold over and/or/not) and compare them by content (spans ignored)."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, Callable, Iterator, Mapping, TypeVar

from pydantic import BaseModel

from tenet.compiler import ast, ir

CONNECTIVES = ("and", "or", "not")  # the boolean nodes' `kind`, the same in the AST and the IR
T = TypeVar("T")


def fold(pred: Any, atom: Callable[[Any], T], connectives: Mapping[str, Callable[..., T]]) -> T:
    """Fold an AST or IR predicate by each node's key: `connectives[node.kind]` for and/or/not, else `atom`.

    A connective's handler gets the node, then one function per operand (`left` and `right`, or
    the `not`'s operand) that folds that operand when called; so a handler decides whether and
    when an operand is folded (Kleene logic skips the right side once the left decides). A
    connective with no handler is folded as an atom.
    """
    handler = connectives.get(pred.kind) if pred.kind in CONNECTIVES else None
    if handler is None:
        return atom(pred)
    operands = (pred.operand,) if pred.kind == "not" else (pred.left, pred.right)
    return handler(pred, *(functools.partial(fold, operand, atom, connectives) for operand in operands))


def _joined(node: Any, left: Callable[[], list], right: Callable[[], list]) -> list:
    return left() + right()


_ATOMS = {"and": _joined, "or": _joined, "not": lambda node, operand: operand()}


def atoms(pred: Any) -> list[Any]:
    """The non-connective nodes of an AST or IR predicate, left to right."""
    return fold(pred, lambda atom: [atom], _ATOMS)


def _negated(node: Any, operand: Callable[[], list[tuple[Any, bool]]]) -> list[tuple[Any, bool]]:
    return [(atom, not positive) for atom, positive in operand()]


def signed_atoms(pred: Any) -> list[tuple[Any, bool]]:
    """The atoms of a predicate, left to right, each with False when an odd number of `not`s negate it."""
    return fold(pred, lambda atom: [(atom, True)], {"and": _joined, "or": _joined, "not": _negated})


def conjuncts(pred: ir.PredIR) -> list[ir.PredIR]:
    """Flatten nested `and` into its operands."""
    return fold(pred, lambda operand: [operand], {"and": _joined})


def disjuncts(pred: ir.PredIR) -> list[ir.PredIR]:
    """Flatten nested `or` into its operands."""
    return fold(pred, lambda operand: [operand], {"or": _joined})


def rule_preds(rule: ast.Rule) -> Iterator[ast.Pred]:
    """Every predicate a rule holds: when, unless and verdict."""
    yield from rule.whens
    yield from rule.unlesses
    for verdict in rule.verdicts:
        yield verdict.pred


def strip_spans(value: Any) -> Any:
    """Drop every `span` key from a JSON-like structure."""
    if isinstance(value, dict):
        return {k: strip_spans(v) for k, v in value.items() if k not in ("span", "unit_span")}
    if isinstance(value, list):
        return [strip_spans(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Deterministic JSON of models or plain data, spans removed."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, (list, tuple)):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    return json.dumps(strip_spans(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(value: Any) -> str:
    """sha256 of `canonical_json(value)`."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def same(a: Any, b: Any) -> bool:
    """Structural equality ignoring spans."""
    return canonical_json(a) == canonical_json(b)
