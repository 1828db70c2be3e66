"""Parse `.policy` text into a `PolicyAst` with Lark (LALR, positions on).

The Transformer only builds nodes. Syntax errors become diagnostics with "expected one of"
(the terminals that really fit there) and a hint: the fix for a common slip
(compiler/syntax_hints.py), else a close keyword. After an error the failing top-level item
is blanked out and the rest re-parsed, so one run reports every broken item, not just the first.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from tenet.compiler import ast, predicates
from tenet.compiler.diagnostics import CompileError, Diagnostic, Span, error
from tenet.compiler.literals import unquote  # re-exported: tests and tools read literals through parse
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
        return _ToAst(path).transform(tree)
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
    policy = _ToAst(path).transform(tree)
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
        span = _token_span(tok, path)
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


def _token_span(tok: Token, path: str) -> Span:
    return Span(
        file=path,
        line=tok.line or 1,
        col=tok.column or 1,
        end_line=tok.end_line or tok.line or 1,
        end_col=tok.end_column or (tok.column or 1) + 1,
        start=tok.start_pos or 0,
        end=tok.end_pos or 0,
    )


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


# --- tree → AST ---------------------------------------------------------------


def split_regex(token: str) -> tuple[str, str]:
    """Split `/pattern/flags` into pattern (with `\\/` unescaped) and flags."""
    cut = token.rfind("/")
    return token[1:cut].replace("\\/", "/"), token[cut + 1 :]


_QUANTITY = {"at most": "at_most", "at least": "at_least", "exactly": "exactly",
             "more than": "more_than", "fewer than": "fewer_than"}
_UNIT = {"word": "words", "sentence": "sentences", "line": "lines", "bullet": "bullets",
         "character": "characters"}


@v_args(meta=True)
class _ToAst(Transformer):
    """Build AST nodes from the Lark tree; never validates."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span(file=self.path, line=1, col=1, end_line=1, end_col=1, start=0, end=0)
        return Span(
            file=self.path,
            line=meta.line,
            col=meta.column,
            end_line=meta.end_line,
            end_col=meta.end_column,
            start=meta.start_pos,
            end=meta.end_pos,
        )

    def _name(self, tok: Token) -> ast.Name:
        return ast.Name(text=str(tok), span=_token_span(tok, self.path))

    def __default__(self, data, children, meta):
        # A predicate atom's alias (`matches`, `count`, ...) names a builder in its kind's module.
        build = predicates.builder(str(data))
        if build is None:
            return super().__default__(data, children, meta)
        return build(self._span(meta), children)

    # header and items
    def start(self, meta, children):
        (dsl, policy), *items = children
        policy_id, version, description = policy
        return ast.PolicyAst(
            span=self._span(meta), path=self.path, dsl_version=dsl, policy_id=policy_id,
            version=version, description=description, items=tuple(items),
        )

    def header(self, meta, children):
        return children[0], children[1]

    def dsl_decl(self, meta, children):
        return float(children[0])

    def policy_decl(self, meta, children):
        ident, version, description = children
        return self._name(ident), unquote(version), unquote(description) if description else None

    def import_decl(self, meta, children):
        return ast.Import(span=self._span(meta), path=unquote(children[0]))

    def extends_decl(self, meta, children):
        return ast.Extends(span=self._span(meta), path=unquote(children[0]))

    def taxonomy_decl(self, meta, children):
        return ast.Taxonomy(span=self._span(meta), tags=tuple(self._name(t) for t in children))

    # values
    def let_decl(self, meta, children):
        return ast.Let(span=self._span(meta), name=self._name(children[0]), value=children[1])

    def exact(self, meta, children):
        return True

    def words(self, meta, children):
        exact, *terms = children
        return ast.WordsLit(span=self._span(meta), terms=tuple(unquote(t) for t in terms),
                            exact=bool(exact))

    def exemplars(self, meta, children):
        return ast.ExemplarsLit(span=self._span(meta), texts=tuple(unquote(t) for t in children))

    def regex(self, meta, children):
        pattern, flags = split_regex(str(children[0]))
        return ast.RegexLit(span=self._span(meta), pattern=pattern, flags=flags)

    def name_ref(self, meta, children):
        return self._name(children[0])

    def string_term(self, meta, children):
        return ast.StringTerm(span=self._span(meta), text=unquote(children[0]))

    # rules
    def override(self, meta, children):
        return True

    def severity(self, meta, children):
        return str(children[0])

    def verdict(self, meta, children):
        return str(children[0])

    def rule_decl(self, meta, children):
        override, ident, severity, description, *clauses = children
        fields: dict[str, list] = {"whens": [], "unlesses": [], "verdicts": [], "becauses": [],
                                   "tags": [], "examples": []}
        for kind, value in clauses:
            if kind == "tags":
                fields["tags"].extend(value)
            else:
                fields[kind].append(value)
        return ast.Rule(
            span=self._span(meta), id=self._name(ident), severity=severity,
            override=bool(override), description=unquote(description) if description else None,
            **{k: tuple(v) for k, v in fields.items()},
        )

    def when_clause(self, meta, children):
        return "whens", children[0]

    def unless_clause(self, meta, children):
        return "unlesses", children[0]

    def verdict_clause(self, meta, children):
        return "verdicts", ast.Verdict(span=self._span(meta), verdict=children[0], pred=children[1])

    def because_clause(self, meta, children):
        return "becauses", unquote(children[0])

    def tags_clause(self, meta, children):
        return "tags", [self._name(t) for t in children]

    def example_block(self, meta, children):
        return "examples", ast.Example(span=self._span(meta), items=tuple(children))

    def example_role(self, meta, children):
        return str(children[0])

    def example_item(self, meta, children):
        return ast.ExampleItem(span=self._span(meta), role=children[0], text=unquote(children[1]))

    # predicates
    def or_pred(self, meta, children):
        return ast.Or(span=self._span(meta), left=children[0], right=children[1])

    def and_pred(self, meta, children):
        return ast.And(span=self._span(meta), left=children[0], right=children[1])

    def not_pred(self, meta, children):
        return ast.Not(span=self._span(meta), operand=children[0])

    def subject(self, meta, children):
        return "_".join(str(c) for c in children)

    def quantity(self, meta, children):
        return _QUANTITY[" ".join(str(c) for c in children)]

    def unit(self, meta, children):
        word = str(children[0])
        return _UNIT.get(word, word), _token_span(children[0], self.path)

    def pii(self, meta, children):
        return "_".join(str(c) for c in children)

    # prompts
    def prompts_decl(self, meta, children):
        return ast.Prompts(span=self._span(meta), sources=tuple(children))

    def template(self, meta, children):
        text, *slots = children
        return ast.Template(span=self._span(meta), text=unquote(text), slots=tuple(slots))

    def slot(self, meta, children):
        name, *values = children
        return ast.Slot(span=self._span(meta), name=self._name(name),
                        values=tuple(unquote(v) for v in values))

    def prompt_file(self, meta, children):
        path, column = children
        return ast.PromptFile(span=self._span(meta), path=unquote(path),
                              column=unquote(column) if column else "prompt")

    def literal_prompt(self, meta, children):
        return ast.LiteralPrompt(span=self._span(meta), text=unquote(children[0]))

    # training
    def training_decl(self, meta, children):
        settings = tuple(c for c in children if isinstance(c, ast.Setting))
        gates = tuple(c for c in children if isinstance(c, ast.Gate))
        return ast.Training(span=self._span(meta), settings=settings, gates=gates)

    def setting(self, meta, children):
        key, (value, value_kind) = children
        return ast.Setting(span=self._span(meta), key=self._name(key), value=value,
                           value_kind=value_kind)

    def string_value(self, meta, children):
        return unquote(children[0]), "string"

    def number_value(self, meta, children):
        return float(children[0]), "number"

    def name_value(self, meta, children):
        return str(children[0]), "name"

    def gate_target(self, meta, children):
        if len(children) == 2:
            return "rule", self._name(children[1])
        return str(children[0]), None

    def gate(self, meta, children):
        (target, rule), op, threshold = children
        return ast.Gate(span=self._span(meta), target=target, rule=rule, op=str(op),
                        threshold=float(threshold))
