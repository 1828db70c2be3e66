"""Canonical layout for `.policy` files: the printer behind `tenet fmt`.

The formatter prints the AST, not the source text, so layout, clause order, parentheses, string
escapes and number spellings all come out one way, and re-parsing the output gives the same AST
(spans aside). Comments are not in the AST; each is re-attached by position to the output line
printing the construct it was written next to:

* a comment alone on its line goes just above the next construct's line (at its indentation),
  or above the construct it sits inside when it interrupts a multi-line construct;
* a comment after code stays at the end of the line printing that code (when one output line
  collects several, as a multi-line predicate joined into one line does, they all move above
  it so none is lost);
* comments after the last construct stay at the end of the file.

A blank line after a comment is kept (one, however many there were), so a detached header
comment stays detached. Everything else about the source layout is discarded.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from lark import Token

from tenet.compiler import ast, predicates
from tenet.compiler.diagnostics import Span
# `number`, `quote`, `regex` and `subject` are re-exported: tools write literals through `fmt`.
from tenet.compiler.literals import number, quote, regex, strings, subject, value  # noqa: F401
from tenet.compiler.parse import Comment, parse_with_comments
from tenet.compiler.walk import fold

INDENT = "  "

# Binding strength of the connectives; atoms bind tightest of all.
_OR, _AND, _NOT, _ATOM = 0, 1, 2, 3
# The lexer's whitespace (common.WS); a blank line is two newlines inside one run of it.
_WS_RUN = re.compile(r"[ \t\f\r\n]*")


def format_source(text: str, path: str) -> str:
    """Return `text` in canonical layout, comments kept.

    Args:
        text: Policy source.
        path: The file name used in diagnostics.

    Returns:
        The formatted source, ending with exactly one newline.

    Raises:
        CompileError: When the source has syntax errors.
    """
    parsed = parse_with_comments(text, path)
    lines = _Printer(parsed.tokens).policy(parsed.policy)
    end_comments = _attach_comments(lines, parsed.comments, text)
    return _render(lines, end_comments, text)


# --- output lines -------------------------------------------------------------------


@dataclass
class _Line:
    """One output line and the source ranges it prints, for placing comments.

    Attributes:
        depth: Indentation level.
        text: The line without indentation or comment.
        anchors: `(start, end)` source offsets of each construct printed on this line; the
            start is the construct's first token, so comments sort against it.
        blank_before: Whether an empty line separates this line from the previous one.
        leading: Comments printed on their own lines just above.
        trailing: Comments printed at the end of the line.
    """

    depth: int
    text: str
    anchors: list[tuple[int, int]]
    blank_before: bool = False
    leading: list[Comment] = field(default_factory=list)
    trailing: list[Comment] = field(default_factory=list)


class _Tokens:
    """The significant tokens of the source, searchable by offset.

    The AST keeps spans for most constructs but not for every keyword (`because`, `tags`, a
    `when` before a parenthesised predicate), so line anchors are found among the tokens.
    """

    def __init__(self, tokens: tuple[Token, ...]):
        self.tokens = tokens
        self.starts = [tok.start_pos for tok in self.tokens]

    def at(self, index: int) -> Token:
        """Return the token at `index` in the stream."""
        return self.tokens[index]

    def kind_at(self, index: int) -> str | None:
        """The type of the token at `index`, or None past the end."""
        return self.tokens[index].type if index < len(self.tokens) else None

    def index_from(self, pos: int) -> int:
        """Index of the first token starting at or after `pos`."""
        return bisect.bisect_left(self.starts, pos)

    def next_of(self, pos: int, kind: str) -> Token:
        """The first token of type `kind` starting at or after `pos`."""
        index = self.index_from(pos)
        while self.tokens[index].type != kind:
            index += 1
        return self.tokens[index]

    def last_of(self, pos: int, kind: str) -> Token:
        """The last token of type `kind` starting at or before `pos`."""
        index = bisect.bisect_right(self.starts, pos) - 1
        while self.tokens[index].type != kind:
            index -= 1
        return self.tokens[index]

    def indices_of(self, start: int, end: int, kind: str) -> list[int]:
        """Indices of the tokens of type `kind` starting within `[start, end)`."""
        first, last = self.index_from(start), self.index_from(end)
        return [i for i in range(first, last) if self.tokens[i].type == kind]

    def past_close_parens(self, end: int) -> int:
        """Extend `end` over the `)` tokens right after it.

        A predicate's span stops before the parentheses around it, but those still belong to
        the clause: no clause or item starts with `)`.
        """
        index = self.index_from(end)
        while index < len(self.tokens) and self.tokens[index].type == "RPAR":
            end = self.tokens[index].end_pos
            index += 1
        return end


# --- predicates -----------------------------------------------------------------------


def predicate(pred: ast.Pred, context: int = _OR) -> str:
    """Write a predicate with the fewest parentheses that keep its tree.

    Args:
        pred: The predicate.
        context: How tightly the surrounding operator binds; a weaker-binding `pred` is
            parenthesised.

    Returns:
        The predicate's source text.
    """
    # Each kind writes its own atoms (`compiler/predicates/<kind>.py`).
    return _grouped(fold(pred, lambda atom: (predicates.of(atom).write(atom), _ATOM), _WRITTEN), context)


def _grouped(written: tuple[str, int], context: int) -> str:
    """A written operand, parenthesised when it binds more weakly than the operator around it."""
    text, strength = written
    return f"({text})" if strength < context else text


# Each connective as `(text, strength)`. `or` and `and` group to the left, so only a right
# operand of equal strength needs parentheses.
_WRITTEN = {
    "or": lambda pred, left, right: (f"{_grouped(left(), _OR)} or {_grouped(right(), _AND)}", _OR),
    "and": lambda pred, left, right: (f"{_grouped(left(), _AND)} and {_grouped(right(), _NOT)}", _AND),
    "not": lambda pred, operand: (f"not {_grouped(operand(), _NOT)}", _NOT),
}


# --- items ----------------------------------------------------------------------------


class _Printer:
    """Turns the AST into output lines, anchoring each line to its source tokens."""

    def __init__(self, tokens: tuple[Token, ...]):
        self.tokens = _Tokens(tokens)

    def policy(self, policy: ast.PolicyAst) -> list[_Line]:
        """Lines of the whole file: the header, then each item after a blank line."""
        lines = self.header(policy)
        for item in policy.items:
            item_lines = self.item(item)
            item_lines[0].blank_before = True
            lines.extend(item_lines)
        return lines

    def header(self, policy: ast.PolicyAst) -> list[_Line]:
        """`dsl N`, `policy ID version "V"` and the optional description."""
        # The header is always the first six or seven tokens: dsl N policy ID version "V" ["D"].
        tok = self.tokens.at
        lines = [
            _Line(0, f"dsl {number(policy.dsl_version)}", [(tok(0).start_pos, tok(1).end_pos)]),
            _Line(0, f"policy {policy.policy_id.text} version {quote(policy.version)}",
                  [(tok(2).start_pos, tok(5).end_pos)]),
        ]
        if policy.description is not None:
            lines.append(_Line(1, quote(policy.description), [(tok(6).start_pos, tok(6).end_pos)]))
        return lines

    def item(self, item: ast.Item) -> list[_Line]:
        """Lines of one top-level item."""
        if isinstance(item, ast.Rule):
            return self.rule(item)
        if isinstance(item, ast.Prompts):
            return self.prompts(item)
        if isinstance(item, ast.Training):
            return self.training(item)
        return [_Line(0, _simple_item(item), [_range(item.span)])]

    # rules

    def rule(self, rule: ast.Rule) -> list[_Line]:
        """The rule header, then its clauses in canonical order."""
        override = "override " if rule.override else ""
        colon = self.tokens.next_of(rule.span.start, "COLON")
        lines = [_Line(0, f"{override}rule {rule.id.text} ({rule.severity}):",
                       [(rule.span.start, colon.end_pos)])]
        if rule.description is not None:
            desc = self.tokens.at(self.tokens.index_from(colon.end_pos))
            lines.append(_Line(1, quote(rule.description), [(desc.start_pos, desc.end_pos)]))
        lines += [self.condition("when", "WHEN", pred) for pred in rule.whens]
        lines += [self.condition("unless", "UNLESS", pred) for pred in rule.unlesses]
        lines += [self.verdict(verdict) for verdict in rule.verdicts]
        lines += self.becauses(rule)
        lines += self.tags(rule)
        for example in rule.examples:
            lines += self.example(example)
        return lines

    def condition(self, keyword: str, kind: str, pred: ast.Pred) -> _Line:
        """A `when` or `unless` clause, anchored at its keyword (the span starts after it)."""
        start = self.tokens.last_of(pred.span.start, kind).start_pos
        end = self.tokens.past_close_parens(pred.span.end)
        return _Line(1, f"{keyword} {predicate(pred)}", [(start, end)])

    def verdict(self, verdict: ast.Verdict) -> _Line:
        """`require|forbid|prefer|avoid PRED`."""
        end = self.tokens.past_close_parens(verdict.span.end)
        return _Line(1, f"{verdict.verdict} {predicate(verdict.pred)}", [(verdict.span.start, end)])

    def becauses(self, rule: ast.Rule) -> list[_Line]:
        """`because "..."` lines; the AST keeps only their text, so anchor on the keywords."""
        indices = self.tokens.indices_of(rule.span.start, rule.span.end, "BECAUSE")
        return [
            _Line(1, f"because {quote(text)}",
                  [(self.tokens.at(i).start_pos, self.tokens.at(i + 1).end_pos)])
            for i, text in zip(indices, rule.becauses)
        ]

    def tags(self, rule: ast.Rule) -> list[_Line]:
        """One `tags` line for all of a rule's tags clauses (the AST merges them anyway)."""
        if not rule.tags:
            return []
        anchors = []
        for index in self.tokens.indices_of(rule.span.start, rule.span.end, "TAGS"):
            last = index + 1
            while self.tokens.kind_at(last + 1) == "COMMA":
                last += 2
            anchors.append((self.tokens.at(index).start_pos, self.tokens.at(last).end_pos))
        return [_Line(1, "tags " + ", ".join(tag.text for tag in rule.tags), anchors)]

    def example(self, example: ast.Example) -> list[_Line]:
        """`example:` and its items, roles padded so the texts line up."""
        colon = self.tokens.next_of(example.span.start, "COLON")
        width = max(len(item.role) for item in example.items)
        lines = [_Line(1, "example:", [(example.span.start, colon.end_pos)])]
        lines += [_Line(2, f"{item.role.ljust(width)} {quote(item.text)}", [_range(item.span)])
                  for item in example.items]
        return lines

    # blocks

    def prompts(self, prompts: ast.Prompts) -> list[_Line]:
        """`prompts:`, each source on its own line and each template slot below it."""
        colon = self.tokens.next_of(prompts.span.start, "COLON")
        lines = [_Line(0, "prompts:", [(prompts.span.start, colon.end_pos)])]
        for source in prompts.sources:
            lines += self.prompt_source(source)
        return lines

    def prompt_source(self, source: ast.PromptSource) -> list[_Line]:
        """One prompt source; a template's line ends at its text, its slots follow."""
        if isinstance(source, ast.Template):
            text = self.tokens.next_of(source.span.start, "STRING")
            lines = [_Line(1, f"template {quote(source.text)}", [(source.span.start, text.end_pos)])]
            lines += [_Line(2, f"slot {slot.name.text} = {strings(slot.values)}", [_range(slot.span)])
                      for slot in source.slots]
            return lines
        if isinstance(source, ast.PromptFile):
            # `column "prompt"` is the default, so the canonical form leaves it out.
            column = f" column {quote(source.column)}" if source.column != "prompt" else ""
            return [_Line(1, f"file {quote(source.path)}{column}", [_range(source.span)])]
        return [_Line(1, f"prompt {quote(source.text)}", [_range(source.span)])]

    def training(self, training: ast.Training) -> list[_Line]:
        """`training:`, its settings, then its gates."""
        colon = self.tokens.next_of(training.span.start, "COLON")
        lines = [_Line(0, "training:", [(training.span.start, colon.end_pos)])]
        lines += [_Line(1, f"{setting.key.text} = {_setting_value(setting)}", [_range(setting.span)])
                  for setting in training.settings]
        lines += [_Line(1, _gate(gate), [_range(gate.span)]) for gate in training.gates]
        return lines


def _range(span: Span) -> tuple[int, int]:
    return span.start, span.end


def _simple_item(item: ast.Item) -> str:
    """A one-line item: `import`, `extends`, `taxonomy` or `let`."""
    if isinstance(item, ast.Import):
        return f"import {quote(item.path)}"
    if isinstance(item, ast.Extends):
        return f"extends {quote(item.path)}"
    if isinstance(item, ast.Taxonomy):
        return "taxonomy " + ", ".join(tag.text for tag in item.tags)
    if isinstance(item, ast.Let):
        return f"let {item.name.text} = {value(item.value)}"
    raise TypeError(f"not a one-line item: {type(item).__name__}")


def _setting_value(setting: ast.Setting) -> str:
    if setting.value_kind == "string":
        return quote(str(setting.value))
    if setting.value_kind == "number":
        return number(float(setting.value))
    return str(setting.value)


def _gate(gate: ast.Gate) -> str:
    target = f"rule {gate.rule.text}" if gate.rule is not None else gate.target
    return f"gate {target} {gate.op} {number(gate.threshold)}"


# --- comments -------------------------------------------------------------------------


def _attach_comments(lines: list[_Line], comments: tuple[Comment, ...], text: str) -> list[Comment]:
    """Give each comment to an output line; return those that end the file."""
    anchors = sorted((start, end, index) for index, line in enumerate(lines)
                     for start, end in line.anchors)
    starts = [start for start, _, _ in anchors]
    end_of_file: list[Comment] = []
    for comment in comments:
        pos = comment.span.start
        after = bisect.bisect_left(starts, pos)  # the first construct starting after the comment
        before = anchors[after - 1] if after > 0 else None  # the construct it follows or is in
        if before is not None and not _alone_on_line(text, pos):
            lines[before[2]].trailing.append(comment)
        elif before is not None and pos < before[1]:
            lines[before[2]].leading.append(comment)
        elif after < len(anchors):
            lines[anchors[after][2]].leading.append(comment)
        else:
            end_of_file.append(comment)
    for line in lines:
        if len(line.trailing) > 1:
            # One line cannot end with two comments; keep them all, in order, above it.
            line.leading = sorted(line.leading + line.trailing, key=lambda c: c.span.start)
            line.trailing = []
    return end_of_file


def _alone_on_line(text: str, pos: int) -> bool:
    line_start = text.rfind("\n", 0, pos) + 1
    return not text[line_start:pos].strip(" \t\f\r")


def _blank_line_after(text: str, end: int) -> bool:
    return _WS_RUN.match(text, end).group().count("\n") >= 2  # type: ignore[union-attr]


def _blank_line_before(text: str, start: int) -> bool:
    stripped = text[:start].rstrip(" \t\f\r\n")
    return text[len(stripped):start].count("\n") >= 2


# --- rendering ------------------------------------------------------------------------


def _render(lines: list[_Line], end_of_file: list[Comment], text: str) -> str:
    """Join the lines, their comments and the final comments into the output text."""
    out: list[str] = []
    for line in lines:
        if line.blank_before:
            out.append("")
        pad = INDENT * line.depth
        for comment in line.leading:
            out.append(pad + _comment_text(comment))
            if _blank_line_after(text, comment.span.end):
                out.append("")
        trailing = f"  {_comment_text(line.trailing[0])}" if line.trailing else ""
        out.append(pad + line.text + trailing)
    if end_of_file and _blank_line_before(text, end_of_file[0].span.start):
        out.append("")
    for index, comment in enumerate(end_of_file):
        out.append(_comment_text(comment))
        if index + 1 < len(end_of_file) and _blank_line_after(text, comment.span.end):
            out.append("")
    return "\n".join(out) + "\n"


def _comment_text(comment: Comment) -> str:
    # Trailing spaces (and the \r of CRLF files) are never meaningful.
    return comment.text.rstrip()
