"""Build `PolicyAst` nodes from Lark's parse tree; never validates.

A predicate atom's grammar alias (`matches`, `count`, ...) names a builder in its kind's module
(`compiler/predicates/<kind>.py`), so this Transformer knows the connectives and the items
around predicates, not the kinds.
"""

from __future__ import annotations

from typing import Any

from lark import Token, Transformer, v_args

from tenet.compiler import ast, predicates
from tenet.compiler.diagnostics import Span
from tenet.compiler.literals import split_regex, unquote


def token_span(tok: Token, path: str) -> Span:
    """The span of one token of `path`."""
    return Span(
        file=path,
        line=tok.line or 1,
        col=tok.column or 1,
        end_line=tok.end_line or tok.line or 1,
        end_col=tok.end_column or (tok.column or 1) + 1,
        start=tok.start_pos or 0,
        end=tok.end_pos or 0,
    )


@v_args(meta=True)
class AstBuilder(Transformer):
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
        return ast.Name(text=str(tok), span=token_span(tok, self.path))

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
