"""Hover for `.policy` documents: what a word means, from the policy, the settings and the grammar."""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import Callable, Mapping, get_args

from tenet import STD_DIR
from tenet.compiler import ast, predicates
from tenet.compiler.diagnostics import visible
from tenet.compiler.literals import value
from tenet.compiler.parse import parser
from tenet.compiler.settings import SETTINGS
from tenet.compiler.trainer_allow import ALLOWED, AllowedField, range_text, refusal
from tenet.runtime.lsp.document import Declaration, Outline, line_at, line_tokens, outline, token_at

MAX_SHOWN = 2000  # characters of a `let` value a hover shows

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")
_CONNECTIVES = ("and", "or", "not")


def hover(text: str, offset: int, path: Path) -> tuple[str, int, int] | None:
    """Markdown about the word at `offset` and the word's offsets, or None where there is nothing to say."""
    line_start, line = line_at(text, offset)
    tokens = line_tokens(line)
    index = token_at(tokens, offset - line_start)
    if index is None or tokens[index].kind != "word":
        return None
    token = tokens[index]
    before = tokens[index - 1].text if index > 0 else ""
    after = tokens[index + 1].text if index + 1 < len(tokens) else ""
    doc = _word_doc(token.text, before, after, lambda: outline(text, path), path)
    return (doc, line_start + token.start, line_start + token.end) if doc else None


def _word_doc(word: str, before: str, after: str, names: Callable[[], Outline], path: Path) -> str | None:
    section, _, name = word.partition(".")
    if name and section in ALLOWED:
        return field_doc(section, name)
    known = names()
    if before == "rule" and word in known.rules:
        return rule_doc(known.rules[word], path)
    if word in known.lets:
        return let_doc(known.lets[word], path)
    if word in known.rules:
        return rule_doc(known.rules[word], path)
    if word in SETTINGS and after == "=":
        return setting_doc(word)
    return predicate_docs().get(word)


def rule_doc(declared: Declaration, here: Path) -> str:
    """A rule's id, severity, description, reasons and tags."""
    rule = declared.node
    assert isinstance(rule, ast.Rule)
    lines = [f"**rule `{rule.id.text}`** ({rule.severity}){' override' if rule.override else ''}"
             + _from(declared, here)]
    if rule.description:
        lines += ["", _escaped(rule.description)]
    for because in rule.becauses:
        lines += ["", f"*because* {_escaped(because)}"]
    if rule.tags:
        lines += ["", "tags: " + ", ".join(f"`{tag.text}`" for tag in rule.tags)]
    return "\n".join(lines)


def let_doc(declared: Declaration, here: Path) -> str:
    """A `let`'s value as the formatter writes it."""
    let = declared.node
    assert isinstance(let, ast.Let)
    written = visible(f"let {let.name.text} = {value(let.value)}")
    if len(written) > MAX_SHOWN:
        written = written[:MAX_SHOWN] + " …"
    return f"**let `{let.name.text}`**{_from(declared, here)}\n\n{_fenced(written)}"


def setting_doc(name: str) -> str:
    """A `training:` setting's type, default, bounds or choices and meaning."""
    spec = SETTINGS[name]
    default = ", ".join(spec.default) if isinstance(spec.default, tuple) else spec.default
    default = str(default).lower() if isinstance(default, bool) else default
    facts = [spec.type, f"default `{default}`"]
    if spec.low is not None:
        facts.append(f"{spec.low:g} – {spec.high:g}")
    if spec.choices:
        facts.append(", ".join(f"`{choice}`" for choice in spec.choices))
    return f"**`{name}`** setting ({'; '.join(facts)})\n\n{spec.help}"


def field_doc(section: str, name: str) -> str:
    """A `trainer.*` or `lora.*` field's meaning and tenet's bounds, or why a policy cannot set it."""
    spec = ALLOWED[section].get(name)
    if spec is None:
        refused = refusal(section, name)
        assert refused is not None
        return f"**`{section}.{name}`** cannot be set by a policy: {refused.message}\n\n{refused.hint}"
    return f"**`{section}.{name}`** ({field_values(spec)})\n\n{spec.help}"


def field_values(spec: AllowedField) -> str:
    """The values tenet allows for a field: a range, names, `none`, module names."""
    parts = [range_text(spec)] if spec.low is not None else []
    if isinstance(spec.choices, Mapping):  # names per method: all of them
        names = sorted({name for by_method in spec.choices.values() for name in by_method})
    else:
        names = list(spec.choices)
    if names:
        parts.append(", ".join(f"`{name}`" for name in names))
    if spec.module_names:
        parts.append("plain module names")
    if spec.none:
        parts.append("`none`")
    if spec.methods:
        parts.append("methods: " + ", ".join(spec.methods))
    return "; ".join(parts) or "`true` or `false`"


@functools.lru_cache(maxsize=1)
def predicate_docs() -> dict[str, str]:
    """Hover text for each word of a predicate, from the grammar's aliases and the predicate registry."""
    by_alias = {alias: kind for kind in predicates.kinds() for alias in kind.builders}
    words = keyword_terminals()
    docs: dict[str, list[str]] = {}
    for rule in parser().rules:
        kind = by_alias.get(rule.alias or "")
        if kind is None:
            continue
        doc = _alias_doc(str(rule.alias), kind)
        for symbol in rule.expansion:
            word = words.get(symbol.name)
            if word and word not in _CONNECTIVES and doc not in docs.setdefault(word, []):
                docs[word].append(doc)
    return {word: "\n\n---\n\n".join(texts) for word, texts in docs.items()}


@functools.lru_cache(maxsize=1)
def keyword_terminals() -> dict[str, str]:
    """The grammar's keywords: terminal name -> the word."""
    return {t.name: t.pattern.value for t in parser().terminals
            if t.pattern.type == "str" and t.pattern.value.isalpha()}


def _alias_doc(alias: str, kind: predicates.PredicateKind) -> str:
    """A score function's own docstring, else the first paragraph of its kind module's docstring."""
    scores = {cls.model_fields["kind"].default: cls for cls in get_args(get_args(ast.Score)[0])}
    if alias in scores:
        return f"**{alias}** score: {_first_paragraph(scores[alias].__doc__)}"
    module = next((m for name, m in list(sys.modules.items())
                   if name.startswith("tenet.compiler.predicates.") and getattr(m, "KIND", None) is kind),
                  None)
    doc = module.__doc__ if module is not None and module.__doc__ else kind.ast_types[0].__doc__
    return f"**{kind.name}** predicate: {_first_paragraph(doc)}"


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _from(declared: Declaration, here: Path) -> str:
    if declared.path == str(here):
        return ""
    where = Path(declared.path)
    shown = f"std/{where.relative_to(STD_DIR).as_posix()}" if where.is_relative_to(STD_DIR) else str(where)
    return f" — from {_escaped(shown)}"


def _escaped(text: str) -> str:
    """Policy text as markdown that shows it literally: no links, images or markup."""
    return _MARKDOWN.sub(r"\\\1", visible(text))


def _fenced(code: str) -> str:
    """A fenced code block longer than any run of backticks in `code`."""
    fence = "`" * max(3, max((len(run) for run in re.findall("`+", code)), default=0) + 1)
    return f"{fence}tenet\n{code}\n{fence}"
