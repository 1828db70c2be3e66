"""The predicate registry: every kind is complete, and a new kind plugs in through it alone.

The toy kind `response has an even number of words` is registered for one test and goes
through every stage the registry owns: parse (its grammar alternative is added with lark's
`%extend`, as a new line in `policy.lark` would), lower, label (reference and column engine,
alone and under a connective), format and perturb.
"""

from __future__ import annotations

import random
import re
from typing import Literal, get_args

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from lark import Lark

from tenet.compiler import ast, fmt, ir, predicates, semantics
from tenet.compiler.build_ast import AstBuilder
from tenet.compiler.diagnostics import Span
from tenet.compiler.lower import lower_pred
from tenet.compiler.predicates.base import PredicateKind
from tenet.compiler.predicates.count import count_units
from helpers import REPO
from tenet.runtime import predicates as runtime_predicates
from tenet.runtime.data import read_batches
from tenet.runtime.label import kernels
from tenet.runtime.label.engine import Labeler
from tenet.runtime.synthesize import perturb_ops
from tenet.runtime.textedit.restructure import shorten

SPAN = Span(file="toy.policy", line=1, col=1, end_line=1, end_col=1, start=0, end=0)


def _union_types(union) -> set[type]:
    return set(get_args(get_args(union)[0]))


# --- every kind is complete ------------------------------------------------------------------


def test_every_kind_has_a_runtime_half_and_back():
    assert [k.name for k in predicates.kinds()] == [k.name for k in runtime_predicates.kinds()]


def test_every_kind_is_in_the_node_unions_and_only_connectives_are_not():
    ast_types = {t for k in predicates.kinds() for t in k.ast_types}
    ir_types = {k.ir_type for k in predicates.kinds()}
    assert _union_types(ast.Pred) - ast_types == {ast.And, ast.Or, ast.Not}
    assert _union_types(ir.PredIR) - ir_types == {ir.AndPred, ir.OrPred, ir.NotPred}
    assert set(ir.TEXT_KINDS) == {k.name for k in predicates.kinds() if k.is_text}


def test_every_builder_names_a_grammar_alias_or_rule():
    grammar = (REPO / "compiler" / "policy.lark").read_text(encoding="utf-8")
    names = set(re.findall(r"->\s*(\w+)", grammar)) | set(re.findall(r"^[!?]?(\w+):", grammar, re.M))
    aliases = {alias for k in predicates.kinds() for alias in k.builders}
    assert aliases <= names, aliases - names


def test_each_kind_is_either_text_or_model_backed():
    for kind in predicates.kinds():
        assert (kind.holds is None) != (kind.decide is None), kind.name


def test_registering_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        predicates.register(predicates.kinds()[0])


# --- a toy kind, end to end ------------------------------------------------------------------


class EvenWords(ast.Node):
    """`S has an even number of words`."""

    kind: Literal["even_words"] = "even_words"
    subject: ast.Subject


class EvenWordsPred(ir.IrNode):
    """The word count is even."""

    kind: Literal["even_words"] = "even_words"
    subject: ast.Subject


def _column(pred: EvenWordsPred, cols: kernels.Columns, score=None) -> pa.Array:
    n = pc.count_substring_regex(cols.array(pred.subject), semantics.WORD_PATTERN)
    return pc.equal(pc.bit_wise_and(n, 1), 0)


def _edit(pred: EvenWordsPred, text: str, want: bool, rng: random.Random, for_chosen: bool) -> str | None:
    # Only cuts, like the built-in length edits: drop whole sentences until the parity flips.
    return shorten(text, lambda t: (count_units(t, "words") % 2 == 0) is want)


TOY = PredicateKind(
    name="even_words", ast_types=(EvenWords,), ir_type=EvenWordsPred,
    builders={"even_words": lambda span, children: EvenWords(span=span, subject=children[0])},
    lower=lambda pred, resolve: EvenWordsPred(span=pred.span, subject=pred.subject),
    write=lambda pred: f"{fmt.subject(pred.subject)} has an even number of words",
    holds=lambda pred, text: count_units(text, "words") % 2 == 0,
)
TOY_RUNTIME = runtime_predicates.RuntimeKind(name="even_words", column=_column, edit=_edit)
TOY_GRAMMAR = '\n%extend atom: subject "has" "an" "even" "number" "of" "words" -> even_words\n'


@pytest.fixture
def toy():
    """The toy kind, registered for one test."""
    predicates.register(TOY)
    runtime_predicates.register(TOY_RUNTIME)
    yield
    runtime_predicates.unregister(TOY.name)
    predicates.unregister(TOY.name)


def _parse_pred(text: str):
    grammar = (REPO / "compiler" / "policy.lark").read_text(encoding="utf-8") + TOY_GRAMMAR
    parser = Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=True,
                  start="pred")
    return AstBuilder("toy.policy").transform(parser.parse(text))


def test_a_toy_kind_parses_lowers_labels_formats_and_perturbs(toy):
    toy_ast = _parse_pred("response has an even number of words")
    assert isinstance(toy_ast, EvenWords) and toy_ast.subject == "response"
    assert fmt.predicate(toy_ast) == "response has an even number of words"
    toy_ir = lower_pred(toy_ast, policy=None)  # nothing to resolve: no `let` names
    assert toy_ir == EvenWordsPred(span=toy_ast.span, subject="response")

    # The node unions are closed (a real kind joins `ast.Pred` and `ir.PredIR`), so the toy
    # goes under a connective and into a rule without validation.
    check = ir.AndPred.model_construct(span=SPAN, left=toy_ir, right=ir.NotPred.model_construct(
        span=SPAN, operand=ir.JsonPred(span=SPAN, subject="response")))
    texts = ["One two.", "One two three.", "Alpha beta. Gamma delta. Epsilon.", '{"a": 1}']
    samples = [semantics.Sample("q", t) for t in texts]
    assert [semantics.evaluate(check, s) for s in samples] == [True, False, False, False]
    rule = ir.RuleIR.model_construct(id="toy", module="toy", span=SPAN, severity="high", verdict="require",
                                     check=check, when=None, unless=(), shadowed_by=(), runtime_only=False)
    votes = Labeler([rule], spans=False).votes(next(read_batches([{"prompt": "q", "response": t}
                                                                  for t in texts])))
    assert votes[:, 0].tolist() == [semantics.rule_vote(rule, s) for s in samples] == [1, 0, 0, 0]

    assert perturb_ops.make(toy_ir, samples[2], True, random.Random(0)) == "Alpha beta. Gamma delta."
    assert perturb_ops.make(toy_ir, samples[0], False, random.Random(0)) is None  # no cut flips it
