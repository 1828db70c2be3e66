"""Model-backed scores (`sentiment`, `similarity`, `classifier`, `judge`) compared with a threshold.

The only kind not decided by the text: its `decide` turns a score value into a truth value,
and the engines ask a scorer for the value (no value means unknown, see `semantics`).
"""

from __future__ import annotations

from tenet.compiler import ast, ir
from tenet.compiler.diagnostics import Diagnostic, Span, error
from tenet.compiler.literals import number, quote, subject, unquote, value
from tenet.compiler.predicates.base import PredicateKind, Resolve

SCORE_RANGES = {"sentiment": (-1.0, 1.0), "similarity": (-1.0, 1.0),
                "classifier": (0.0, 1.0), "judge": (0.0, 1.0)}


def build_cmp(span: Span, children: list) -> ast.ScoreCmp:
    """`score CMP NUMBER -> score_cmp`."""
    score, op, threshold = children
    return ast.ScoreCmp(span=span, score=score, op=str(op), threshold=float(threshold))


def build_bare(span: Span, children: list) -> ast.ScoreBare:
    """`score -> score_bare` (the checks reject it; the formatter still writes it)."""
    return ast.ScoreBare(span=span, score=children[0])


def build_judge(span: Span, children: list) -> ast.Judge:
    """`judge(subject, rubric STRING [, model STRING])`."""
    subject_, rubric, model = children
    return ast.Judge(span=span, subject=subject_, rubric=unquote(rubric), model=unquote(model) if model else None)


def build_classifier(span: Span, children: list) -> ast.Classifier:
    """`classifier(subject, model STRING, label STRING)`."""
    subject_, model, label = children
    return ast.Classifier(span=span, subject=subject_, model=unquote(model), label=unquote(label))


BUILDERS = {
    "score_cmp": build_cmp,
    "score_bare": build_bare,
    "sentiment": lambda span, children: ast.Sentiment(span=span, subject=children[0]),
    "similarity": lambda span, children: ast.Similarity(span=span, subject=children[0], exemplars=children[1]),
    "classifier": build_classifier,
    "judge": build_judge,
}


def lower(pred: ast.ScoreCmp, resolve: Resolve) -> ir.ScorePred:
    """Flatten the score and its threshold into one node; exemplar names are inlined."""
    assert isinstance(pred, ast.ScoreCmp), pred.kind  # ScoreBare never passes the checks
    score = pred.score
    fields: dict = {"span": pred.span, "subject": score.subject, "fn": score.kind, "op": pred.op,
                    "threshold": pred.threshold}
    if isinstance(score, ast.Similarity):
        fields["exemplars"] = resolve(score.exemplars).texts
    elif isinstance(score, ast.Classifier):
        fields.update(model=score.model, label=score.label)
    elif isinstance(score, ast.Judge):
        fields.update(rubric=score.rubric, model=score.model)
    return ir.ScorePred(**fields)


def write(pred: ast.ScoreCmp | ast.ScoreBare) -> str:
    """`sentiment(response) >= 0.2`, or the bare score."""
    if isinstance(pred, ast.ScoreBare):
        return write_score(pred.score)
    return f"{write_score(pred.score)} {pred.op} {number(pred.threshold)}"


def write_score(score: ast.Score) -> str:
    """`similarity(response, exemplars("a"))` and the other score calls."""
    who = subject(score.subject)
    if isinstance(score, ast.Sentiment):
        return f"sentiment({who})"
    if isinstance(score, ast.Similarity):
        return f"similarity({who}, {value(score.exemplars)})"
    if isinstance(score, ast.Classifier):
        return f"classifier({who}, model {quote(score.model)}, label {quote(score.label)})"
    model = f", model {quote(score.model)}" if score.model is not None else ""
    return f"judge({who}, rubric {quote(score.rubric)}{model})"


def compare_score(score: float, op: str, threshold: float) -> bool:
    """Apply a score predicate's comparison."""
    return {">=": score >= threshold, "<=": score <= threshold,
            ">": score > threshold, "<": score < threshold}[op]


def check(pred: ast.ScoreCmp | ast.ScoreBare) -> list[Diagnostic]:
    """A score needs a threshold (E110) inside its function's range (E111)."""
    fn = pred.score.kind
    if isinstance(pred, ast.ScoreBare):
        if fn == "judge":
            return [error("E110", "judge rule without a threshold", pred.span,
                          "compare the judge's score, e.g. judge(response, rubric \"...\") >= 0.7")]
        return [error("E110", f"{fn}(...) needs a threshold", pred.span, f"compare it, e.g. {fn}(...) >= 0.5")]
    low, high = SCORE_RANGES[fn]
    if not low <= pred.threshold <= high:
        return [error("E111", f"threshold {pred.threshold:g} is outside {fn}'s range [{low:g}, {high:g}]",
                      pred.span, f"pick a threshold from {low:g} to {high:g}")]
    return []


KIND = PredicateKind(
    name="score", ast_types=(ast.ScoreCmp, ast.ScoreBare), ir_type=ir.ScorePred, builders=BUILDERS,
    lower=lower, write=write, decide=lambda pred, value_: compare_score(value_, pred.op, pred.threshold),
    check=check,
)
