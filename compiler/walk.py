"""Helpers to walk predicate trees and compare them by content (spans ignored)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterator

from pydantic import BaseModel

from tenet.compiler import ast, ir


_AST_CONNECTIVES = ((ast.And, ast.Or), ast.Not)
_IR_CONNECTIVES = ((ir.AndPred, ir.OrPred), ir.NotPred)


def ast_atoms(pred: ast.Pred) -> Iterator[ast.Pred]:
    """Yield the non-connective nodes of an AST predicate, left to right."""
    return _atoms(pred, *_AST_CONNECTIVES)


def ir_atoms(pred: ir.PredIR) -> Iterator[ir.PredIR]:
    """Yield the non-connective nodes of an IR predicate, left to right."""
    return _atoms(pred, *_IR_CONNECTIVES)


def _atoms(pred: Any, binary: tuple[type, type], negation: type) -> Iterator[Any]:
    """The atoms below `pred`, whose `binary` nodes have `left`/`right` and `negation` an `operand`."""
    if isinstance(pred, binary):
        yield from _atoms(pred.left, binary, negation)
        yield from _atoms(pred.right, binary, negation)
    elif isinstance(pred, negation):
        yield from _atoms(pred.operand, binary, negation)
    else:
        yield pred


def conjuncts(pred: ir.PredIR) -> list[ir.PredIR]:
    """Flatten nested `and` into its operands."""
    if isinstance(pred, ir.AndPred):
        return conjuncts(pred.left) + conjuncts(pred.right)
    return [pred]


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
