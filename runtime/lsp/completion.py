"""Completion for `.policy` documents: names, keywords, settings, fields, severities, rule ids, paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tenet import STD_DIR
from tenet.compiler import ast
from tenet.compiler.diagnostics import visible
from tenet.compiler.settings import GATE_TARGETS, SETTINGS
from tenet.compiler.trainer_allow import ALLOWED
from tenet.runtime.lsp.document import ITEM_START, Declaration, Outline, line_at, line_tokens, outline
from tenet.runtime.lsp.hover import keyword_terminals


@dataclass(frozen=True)
class Completion:
    """A completion item: its text, a kind for the editor's icon, a one-line detail, what it replaces."""

    label: str
    kind: str  # keyword, variable, reference, property, field, value or file
    detail: str
    start: int  # the offset where the text it replaces begins (it ends at the cursor)


def completions(text: str, offset: int, path: Path) -> list[Completion]:
    """What may be typed at `offset`: names, keywords, settings, fields, severities, rule ids, paths."""
    line_start, line = line_at(text, offset)
    prefix = line[:offset - line_start]
    tokens = line_tokens(prefix)
    last = tokens[-1] if tokens else None
    if last is not None and last.end == len(prefix) and last.kind in ("string", "regex", "comment"):
        return _import_paths(prefix, offset, path) if last.kind == "string" else []
    start = offset - len(re.search(r"[A-Za-z0-9_-]*$", prefix).group())
    block = _block_of(text, line_start)
    items = _in_context(prefix, block, lambda: outline(text, path), path)
    return [Completion(label, kind, detail, start) for label, kind, detail in items]


def _in_context(prefix: str, block: str | None, names: Callable[[], Outline],
                path: Path) -> list[tuple[str, str, str]]:
    """`(label, kind, detail)` of what fits after `prefix`, in a top-level item of kind `block`."""
    if match := re.search(r"(?:^|\s)(trainer|lora)\.[A-Za-z0-9_]*$", prefix):
        return [(name, "field", spec.help) for name, spec in ALLOWED[match.group(1)].items()]
    if re.search(r"\bgate\s+rule\s+[A-Za-z0-9_-]*$", prefix):
        return [(rule_id, "reference", _rule_detail(d)) for rule_id, d in names().rules.items()]
    if re.search(r"\boverride\s+rule\s+[A-Za-z0-9_-]*$", prefix):
        return [(rule_id, "reference", _rule_detail(d)) for rule_id, d in names().rules.items()
                if d.path != str(path)]
    if re.search(r"\bgate\s+[a-z]*$", prefix):
        return [(target, "value", "gate target") for target in GATE_TARGETS]
    if re.search(r"\brule\s+[A-Za-z][A-Za-z0-9_-]*\s*\(\s*[a-z]*$", prefix):
        return [(severity, "value", "severity") for severity in ast.SEVERITIES]
    if block == "training" and (match := re.fullmatch(r"\s*([a-z_]+)\s*=\s*[A-Za-z0-9_-]*", prefix)):
        return _setting_values(match.group(1))
    if block == "training" and re.fullmatch(r"\s+[A-Za-z_]*", prefix):
        return [*((name, "property", spec.help) for name, spec in SETTINGS.items()),
                *((f"{section}.", "property", f"a field of the {section} config") for section in ALLOWED),
                ("gate", "keyword", "a promotion gate")]
    lets = [(name, "variable", "let") for name in names().lets]
    return [*lets, *((word, "keyword", "keyword") for word in sorted(set(keyword_terminals().values())))]


def _setting_values(name: str) -> list[tuple[str, str, str]]:
    spec = SETTINGS.get(name)
    if spec is None:
        return []
    if spec.type == "bool":
        return [("true", "value", name), ("false", "value", name)]
    return [(choice, "value", name) for choice in spec.choices]


def _rule_detail(declared: Declaration) -> str:
    rule = declared.node
    assert isinstance(rule, ast.Rule)
    return visible(f"({rule.severity}) {rule.description or ''}".strip())


def _block_of(text: str, line_start: int) -> str | None:
    """The first word of the top-level item the line at `line_start` is inside, if any."""
    last = None
    for last in ITEM_START.finditer(text, 0, line_start):
        pass
    return last.group().split()[-1] if last else None


def _import_paths(prefix: str, offset: int, path: Path) -> list[Completion]:
    """Policy files for an `import "…` or `extends "…` being typed: the std library, then neighbours."""
    match = re.fullmatch(r'\s*(?:import|extends)\s+"([^"]*)', prefix)
    if match is None:
        return []
    start = offset - len(match.group(1))
    found = [Completion(f"std/{p.name}", "file", "standard library", start)
             for p in sorted(STD_DIR.glob("*.policy"))]
    folder = path.parent
    if folder.is_dir():
        found += [Completion(p.name, "file", "policy", start) for p in sorted(folder.glob("*.policy"))
                  if p.name != path.name]
    return found
