"""Parse `.policy` text into a `PolicyAst` with Lark (LALR, positions on).

The Transformer (compiler/build_ast.py) only builds nodes. Syntax errors become diagnostics with "expected one of"
(the terminals that really fit there) and a hint: the fix for a common slip
(compiler/syntax_hints.py), else a close keyword. After an error the failing top-level item
is blanked out and the rest re-parsed, so one run reports every broken item, not just the first.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from tenet.compiler import ast
from tenet.compiler.build_ast import AstBuilder, token_span
from tenet.compiler.diagnostics import CompileError, Diagnostic, Span, error
from tenet.compiler.syntax_hints import header_hint, stumble_hint

MAX_PARSE_ERRORS = 20
# Lines that begin a new top-level item; used to resynchronise after a syntax error.
_ITEM_START = re.compile(
    r"^(?:override\s+rule|rule|let|import|extends|taxonomy|prompts|training)\b", re.M
)


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """Return the shared LALR parser for `policy.lark`."""
    return Lark.open(
        "policy.lark",
        rel_to=__file__,
        parser="lalr",
        # The basic lexer sees every keyword and ID at each position, so a misspelt keyword
        # such as `requires` is one unknown name (with a suggestion), not `require` + `s`.
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=True,
    )


def parse(text: str, path: str) -> ast.PolicyAst:
    """Parse policy source into an AST.

    Args:
        text: The policy source.
        path: The file name used in spans and messages.

    Returns:
        The policy AST.

    Raises:
        CompileError: With one diagnostic per syntax error found.
    """
    diagnostics: list[Diagnostic] = []
    current = text
    while len(diagnostics) < MAX_PARSE_ERRORS:
        try:
            tree = parser().parse(current)
        except UnexpectedInput as exc:
            diagnostics.append(_syntax_diagnostic(exc, current, path))
            if _in_header(exc):
                break  # no header to resume after: every later item would report it again
            blanked = _blank_failing_item(current, exc)
            if blanked is None:
                break
            current = blanked
            continue
        if diagnostics:
            break
        return AstBuilder(path).transform(tree)
    raise CompileError(diagnostics, {path: text})


# --- comments and tokens (for `tenet fmt`) -------------------------------------------
# `parse` drops comments (the grammar %ignores them) and keeps no tokens; a tool that rewrites
# source needs both. The same cached parser runs interactively to hand back its token stream,
# and comments are read from the gaps between tokens: a gap holds only whitespace and comments,
# so no `#` inside a string or regex can be mistaken for one. `parse` itself is unchanged.

_COMMENT = re.compile(r"#[^\n]*")  # the COMMENT terminal of policy.lark


@dataclass(frozen=True)
class Comment:
    """A `# ...` comment as written, with its source span."""

    text: str
    span: Span


@dataclass(frozen=True)
class ParsedSource:
    """A parse that keeps what `parse` drops.

    Attributes:
        policy: The AST, identical to what `parse` returns.
        comments: Every comment, first to last.
        tokens: The significant tokens (no whitespace, no comments), first to last.
    """

    policy: ast.PolicyAst
    comments: tuple[Comment, ...]
    tokens: tuple[Token, ...]


def parse_with_comments(text: str, path: str) -> ParsedSource:
    """Parse policy source, keeping its comments and tokens.

    Args:
        text: The policy source.
        path: The file name used in spans and messages.

    Returns:
        The AST with the comments and tokens of the source.

    Raises:
        CompileError: With one diagnostic per syntax error found, exactly as `parse` raises.
    """
    interactive = parser().parse_interactive(text)
    try:
        tokens = tuple(interactive.iter_parse())
        tree = interactive.feed_eof(tokens[-1] if tokens else None)
    except UnexpectedInput:
        parse(text, path)  # fails the same way, with error recovery and every diagnostic
        raise
    policy = AstBuilder(path).transform(tree)
    return ParsedSource(policy=policy, comments=_comments(text, tokens, path), tokens=tokens)


def _comments(text: str, tokens: tuple[Token, ...], path: str) -> tuple[Comment, ...]:
    """The comments in the gaps before, between and after `tokens`."""
    bounds = [0] + [b for tok in tokens for b in (tok.start_pos, tok.end_pos)] + [len(text)]
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    found = []
    for gap_start, gap_end in zip(bounds[::2], bounds[1::2]):
        for match in _COMMENT.finditer(text, gap_start, gap_end):
            line = bisect.bisect_right(line_starts, match.start())
            col = match.start() - line_starts[line - 1] + 1
            span = Span(file=path, line=line, col=col, end_line=line, end_col=col + len(match.group()),
                        start=match.start(), end=match.end())
            found.append(Comment(text=match.group(), span=span))
    return tuple(found)


# --- syntax errors ------------------------------------------------------------


def _syntax_diagnostic(exc: UnexpectedInput, text: str, path: str) -> Diagnostic:
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        exc = UnexpectedEOF(exc.expected)  # type: ignore[arg-type]
    if isinstance(exc, UnexpectedEOF):
        end = len(text)
        line = text.count("\n", 0, end) + 1
        col = end - (text.rfind("\n", 0, end) + 1) + 1
        span = Span(file=path, line=line, col=col, end_line=line, end_col=col + 1, start=end, end=end)
        expected = _describe_expected(set(exc.expected))
        hint = header_hint(set(exc.expected), "") or (f"expected {expected}" if expected else None)
        return error("P003", "unexpected end of file", span, hint)
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        span = token_span(tok, path)
        expected_names = _acceptable(exc)
        hint = stumble_hint(tok, expected_names, text) or _keyword_suggestion(str(tok), expected_names)
        if hint is None and "ID" in expected_names and tok.type != "ID" and str(tok).isalpha():
            hint = f"`{tok}` is a word of the policy language and cannot be used as a name; pick another"
        expected = _describe_expected(expected_names)
        message = f"unexpected {_describe_token(tok)}"
        if expected:
            message += f"; expected {expected}"
        return error("P001", message, span, hint or _hint_for(expected_names))
    assert isinstance(exc, UnexpectedCharacters)
    char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
    span = Span(
        file=path,
        line=exc.line,
        col=exc.column,
        end_line=exc.line,
        end_col=exc.column + 1,
        start=exc.pos_in_stream,
        end=exc.pos_in_stream + 1,
    )
    hint = None
    if char == "'":
        hint = 'strings use double quotes: "like this"'
    elif char == '"':
        hint = 'a string must close on the same line; write a newline as \\n'
    elif char == "/":
        hint = "a regex is written /pattern/flags on one line"
    return error("P002", f"unexpected character {char!r}", span, hint)


def _in_header(exc: UnexpectedInput) -> bool:
    """True when the error is in the `dsl`/`policy` header lines."""
    return bool({"DSL", "POLICY"} & set(getattr(exc, "expected", None) or ()))


def _acceptable(exc: UnexpectedToken) -> set[str]:
    """The terminals the parser could really take where it failed.

    LALR merges lookaheads, so `exc.expected` can list terminals (a `)` after `response`) that
    only fit another context; trying each one on a copy of the parser keeps those that fit.
    """
    interactive = getattr(exc, "interactive_parser", None)
    if interactive is None:
        return set(exc.expected)
    return set(interactive.accepts()) or set(exc.expected)


def _terminal_text(name: str) -> str:
    for term in parser().terminals:
        if term.name == name:
            if term.pattern.type == "str":
                return f"`{term.pattern.value}`"
            return {
                "ID": "a name",
                "STRING": 'a "string"',
                "REGEX": "a /regex/",
                "NUMBER": "a number",
                "CMP": "a comparison (>=, <=, >, <)",
                "DOTTED_ID": "a `trainer.` or `lora.` field",
            }.get(name, name)
    return name


def _describe_expected(names: set[str]) -> str:
    texts = sorted({_terminal_text(n) for n in names if n != "$END"})
    if not texts:
        return ""
    if len(texts) > 12:
        texts = texts[:12] + ["…"]
    return "one of " + ", ".join(texts) if len(texts) > 1 else texts[0]


def _describe_token(tok: Token) -> str:
    if tok.type in ("ID",):
        return f"name `{tok}`"
    if tok.type == "STRING":
        return f"string {tok}"
    return f"`{tok}`"


def _keyword_suggestion(word: str, expected: set[str]) -> str | None:
    import difflib

    keywords = [
        t.pattern.value
        for t in parser().terminals
        if t.name in expected and t.pattern.type == "str" and t.pattern.value.isalpha()
    ]
    if word.lower() != word and word.lower() in keywords:
        return f"write `{word.lower()}`: the words of the policy language are lower case"
    close = difflib.get_close_matches(word, keywords, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def _hint_for(expected: set[str]) -> str | None:
    if expected == {"COLON"}:
        return "a rule header ends with a colon: rule my-rule (high):"
    if expected == {"LPAR"}:
        return "give the rule a severity: (critical), (high), (medium) or (low)"
    return None


def _blank_failing_item(text: str, exc: UnexpectedInput) -> str | None:
    """Replace the top-level item holding the error with spaces (keeping newlines)."""
    pos = getattr(exc, "pos_in_stream", None)
    if pos is None and isinstance(exc, UnexpectedToken):
        pos = exc.token.start_pos
    if pos is None or isinstance(exc, UnexpectedEOF):
        return None
    starts = [m.start() for m in _ITEM_START.finditer(text)]
    begin = max((s for s in starts if s <= pos), default=None)
    if begin is None:
        return None  # the header itself is broken: nothing sensible to resume from
    end = min((s for s in starts if s > pos), default=len(text))
    blank = re.sub(r"[^\n]", " ", text[begin:end])
    return text[:begin] + blank + text[end:]
