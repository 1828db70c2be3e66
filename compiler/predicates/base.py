"""What a predicate kind is: the `PredicateKind` record and the text helpers kinds share.

This module imports nothing else from `tenet.compiler.predicates`, so the kinds, `semantics` and the
checks can all import it without cycles.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from tenet.compiler.diagnostics import Diagnostic, Span
from tenet.compiler.literals import subject

WS = " \\t\\n\\r\\f\\v"
STRIP_CHARS = " \t\n\r\f\v"  # the only characters "outer whitespace" means, in every engine
_FLAG_BITS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}

# A location in a text: `(start, end)` character offsets, or None where the atom did not match.
Finder = Callable[[str], "tuple[int, int] | None"]
# Builds an AST node from a grammar alias's children (the Transformer callback, minus `meta`).
Builder = Callable[[Span, list], Any]
# Replaces a `let` reference (`ast.Name`) by its value; other nodes come back unchanged.
Resolve = Callable[[Any], Any]


@dataclass(frozen=True)
class PredicateKind:
    """Everything the compiler knows about one predicate kind, except its grammar rule.

    Attributes:
        name: The IR node's `kind` tag (`regex`, `count`, ...).
        ast_types: The AST node classes that lower to this kind.
        ir_type: The IR node class.
        builders: Grammar alias (or a rule of the kind's own vocabulary, like count's `unit`) ->
            builds the AST node (or the value); the parser's Transformer calls these.
        lower: `(ast node, resolve) -> ir node`.
        write: AST node -> its canonical source text (`tenet fmt`).
        holds: The reference semantics on the subject's text; None for a model-backed kind,
            whose truth comes from a score at run time.
        decide: For a model-backed kind, whether a known score value makes it hold.
        finder: Builds the function locating a match (provenance, `explain`, edits); None
            when the kind has no location in the text.
        check: The kind's own shape checks on an AST node (bounds, empty texts), run by
            `passes/check_rules.py`; None when it has none.
    """

    name: str
    ast_types: tuple[type, ...]
    ir_type: type
    builders: Mapping[str, Builder]
    lower: Callable[[Any, Resolve], Any]
    write: Callable[[Any], str]
    holds: Callable[[Any, str], bool] | None = None
    decide: Callable[[Any, float], bool] | None = None
    finder: Callable[[Any], Finder] | None = None
    check: Callable[[Any], list[Diagnostic]] | None = None

    @property
    def is_text(self) -> bool:
        """Decided by the text alone (not by a model score)."""
        return self.holds is not None


def subject_only(name: str, ast_type: type, ir_type: type, alias: str, words: str,
                 **semantics: Any) -> PredicateKind:
    """A kind whose only operand is its subject (`S is json`, `S is a refusal`).

    Args:
        name: The IR node's `kind` tag.
        ast_type: The AST node class (`span`, `subject`).
        ir_type: The IR node class (`span`, `subject`); lowering has nothing to resolve.
        alias: The grammar alias whose only child is the subject.
        words: What follows the subject in source (`is json`).
        semantics: `holds` and `finder`, as in `PredicateKind`.
    """
    return PredicateKind(
        name=name, ast_types=(ast_type,), ir_type=ir_type,
        builders={alias: lambda span, children: ast_type(span=span, subject=children[0])},
        lower=lambda pred, resolve: ir_type(span=pred.span, subject=pred.subject),
        write=lambda pred: f"{subject(pred.subject)} {words}", **semantics,
    )


@functools.lru_cache(maxsize=4096)
def compile_user_regex(pattern: str, flags: str) -> re.Pattern[str]:
    """Compile a policy regex with its flags, in ASCII mode."""
    bits = re.ASCII
    for flag in flags:
        bits |= _FLAG_BITS[flag]
    return re.compile(pattern, bits)


@functools.lru_cache(maxsize=4096)
def compiled(pattern: str) -> re.Pattern[str]:
    """Compile a built-in pattern in ASCII mode (as RE2 reads it)."""
    return re.compile(pattern, re.ASCII)


def searches(pattern_of: Callable[[Any], re.Pattern[str]]) -> Callable[[Any, str], bool]:
    """The `holds` of a kind that is a regex search: a match anywhere."""
    return lambda pred, text: pattern_of(pred).search(text) is not None


def locates(pattern_of: Callable[[Any], re.Pattern[str]], group: int | str = 0) -> Callable[[Any], Finder]:
    """The `finder` of a kind that is a regex search: the span of `group` in the first match."""

    def finder(pred: Any) -> Finder:
        search = pattern_of(pred).search

        def find(text: str) -> tuple[int, int] | None:
            m = search(text)
            return m.span(group) if m else None

        return find

    return finder
