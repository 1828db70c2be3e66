"""Editor support for `.policy` files: what `tenet lsp` answers, computed without the protocol.

Diagnostics, hover, completion, go-to-definition and formatting work on the text an editor
holds, saved or not, and on character offsets into it; `TextPositions` converts those to the
Language Server Protocol's positions. runtime/lsp_server.py carries the answers over the protocol
(pygls, the `lsp` extra), so this module imports no protocol library. A policy is data: these functions parse and compile it and read
the files it imports, and never run anything it names.
"""

from __future__ import annotations

import bisect
import functools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, get_args

from tenet import STD_DIR
from tenet.compiler import ast, predicates
from tenet.compiler.diagnostics import CompileError, Span, visible
from tenet.compiler.fmt import format_source
from tenet.compiler.literals import unquote, value
from tenet.compiler.load import read_policy_text, real_path
from tenet.compiler.parse import parse, parser
from tenet.compiler.pipeline import compile_policy
from tenet.compiler.settings import GATE_TARGETS, SETTINGS
from tenet.compiler.trainer_allow import ALLOWED, AllowedField, range_text, refusal

BOM = "\ufeff"
MAX_MODULES = 64  # imported files read to find names, per request
MAX_REPAIRS = 20  # rounds of blanking broken items before a document counts as unparsable
MAX_SHOWN = 2000  # characters of a `let` value a hover shows

# The Language Server Protocol's line ends; tenet's spans count "\n" only.
_LSP_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# A line that begins a top-level item (as compiler/parse.py resynchronises after an error).
_ITEM_START = re.compile(r"^(?:override\s+rule|rule|let|import|extends|taxonomy|prompts|training)\b", re.M)
# One line of policy source, as the grammar's terminals split it; a string may be unterminated.
_TOKEN = re.compile(r'(?P<comment>#.*)|(?P<string>"(?:\\.|[^"\\])*"?)|(?P<regex>/(?:\\.|[^/\\])+/[imsx]*)'
                    r"|(?P<word>[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
                    r"|(?P<number>-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)|(?P<other>\S)")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")
_CONNECTIVES = ("and", "or", "not")


# --- positions ------------------------------------------------------------------------


def code_units(text: str, encoding: str) -> int:
    """How many code units `text` takes in the client's position encoding (utf-8, utf-16, utf-32)."""
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)  # astral characters take two


class TextPositions:
    """Character offsets in a text <-> LSP positions: 0-based line and code units into the line."""

    def __init__(self, text: str, encoding: str = "utf-16"):
        self.text = text
        self.encoding = encoding
        breaks = list(_LSP_LINE_BREAK.finditer(text))
        self.starts = [0, *(m.end() for m in breaks)]
        self.ends = [*(m.start() for m in breaks), len(text)]

    def position(self, offset: int) -> tuple[int, int]:
        """The `(line, character)` of an offset; one inside a line break is its line's end."""
        offset = min(max(offset, 0), len(self.text))
        line = bisect.bisect_right(self.starts, offset) - 1
        offset = min(offset, self.ends[line])
        return line, code_units(self.text[self.starts[line]:offset], self.encoding)

    def offset(self, line: int, character: int) -> int:
        """The offset of a position; one past a line's end is that line's end."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        at, units = self.starts[line], 0
        while at < self.ends[line] and units < character:
            units += code_units(self.text[at], self.encoding)
            at += 1
        return at


def span_offsets(text: str, span: Span) -> tuple[int, int]:
    """A span's start and end offsets in `text`, from its 1-based lines and columns."""
    starts = [0, *(m.end() for m in re.finditer("\n", text))]
    start = _line_col_offset(text, starts, span.line, span.col)
    end = _line_col_offset(text, starts, span.end_line, span.end_col)
    return start, max(start, end)


def _line_col_offset(text: str, starts: list[int], line: int, col: int) -> int:
    if line > len(starts):
        return len(text)
    line = max(line, 1)
    line_end = starts[line] - 1 if line < len(starts) else len(text)
    return min(starts[line - 1] + max(col, 1) - 1, line_end)


# --- a document's names -------------------------------------------------------------


@dataclass(frozen=True)
class Declaration:
    """A `let` or rule as declared, with the file that declares it and that file's text."""

    node: ast.Let | ast.Rule
    path: str
    text: str

    @property
    def name(self) -> ast.Name:
        """The declared name (a `let`'s name, a rule's id)."""
        return self.node.name if isinstance(self.node, ast.Let) else self.node.id


@dataclass
class Outline:
    """The names a document can use, its own first, then its imports', and its import statements."""

    lets: dict[str, Declaration] = field(default_factory=dict)
    rules: dict[str, Declaration] = field(default_factory=dict)
    imports: list[tuple[Span, Path | None]] = field(default_factory=list)


def tolerant_parse(text: str, path: str) -> ast.PolicyAst | None:
    """Parse `text`, blanking each top-level item with a syntax error; None when the header is broken.

    Blanking keeps every offset, so the spans of the items that parse point into `text`.
    """
    current = text
    for _ in range(MAX_REPAIRS):
        try:
            return parse(current, path)
        except CompileError as exc:
            repaired = _blank_items(current, [d.span.start for d in exc.diagnostics if d.span])
        except RecursionError:
            return None
        if repaired is None or repaired == current:
            return None
        current = repaired
    return None


def _blank_items(text: str, offsets: list[int]) -> str | None:
    """`text` with each top-level item holding one of `offsets` replaced by spaces (newlines kept)."""
    starts = [m.start() for m in _ITEM_START.finditer(text)]
    for offset in offsets:
        offset = min(offset, max(len(text) - 1, 0))  # an error at the end of file is in the last item
        index = bisect.bisect_right(starts, offset) - 1
        if index < 0:
            return None  # in the header: nothing sensible to keep
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        text = text[:starts[index]] + re.sub(r"[^\n]", " ", text[starts[index]:end]) + text[end:]
    return text


def resolve_import(written: str, base: Path, root: Path) -> Path | None:
    """The file an import names, resolved as the compiler does; None when not allowed or absent."""
    if "\x00" in written or written.startswith("/") or (len(written) > 1 and written[1] == ":"):
        return None
    if written.startswith("std/"):
        candidate, allowed = STD_DIR / written[len("std/"):], STD_DIR
    else:
        candidate, allowed = base / written, root
    real, inside = real_path(candidate), real_path(allowed)
    if real is None or inside is None or not real.is_relative_to(inside) or not real.is_file():
        return None
    return real


def outline(text: str, path: Path) -> Outline:
    """The `let`s and rules of a document and of everything it imports, read from disk."""
    found = Outline()
    tree = tolerant_parse(text, str(path))
    if tree is None:
        return found
    root = real_path(path.parent) or path.parent.absolute()
    _declare(found, tree, str(path), text)
    found.imports = [(item.span, resolve_import(item.path, path.parent, root)) for item in _imports(tree)]
    pending = [target for _, target in found.imports]  # None: an import that names no readable file
    seen = {real_path(path)}
    while pending and len(seen) <= MAX_MODULES:
        target = pending.pop(0)
        if target is None or target in seen:
            continue
        seen.add(target)
        module_text, _ = read_policy_text(target)
        module = tolerant_parse(module_text, str(target)) if module_text is not None else None
        if module is None:
            continue
        _declare(found, module, str(target), module_text)
        pending += [resolve_import(item.path, target.parent, root) for item in _imports(module)]
    return found


def _imports(tree: ast.PolicyAst) -> list[ast.Import | ast.Extends]:
    return [item for item in tree.items if isinstance(item, (ast.Import, ast.Extends))]


def _declare(found: Outline, tree: ast.PolicyAst, path: str, text: str) -> None:
    """Add the `let`s and rules of one module that no module read before declares."""
    for item in tree.items:
        if isinstance(item, ast.Let):
            found.lets.setdefault(item.name.text, Declaration(item, path, text))
        elif isinstance(item, ast.Rule):
            found.rules.setdefault(item.id.text, Declaration(item, path, text))


# --- tokens under the cursor ----------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """A token of one line: its kind (word, string, regex, number, comment, other) and columns."""

    kind: str
    text: str
    start: int
    end: int


def line_tokens(line: str) -> list[Token]:
    """The tokens of one line of policy source."""
    return [Token(m.lastgroup or "other", m.group(), m.start(), m.end()) for m in _TOKEN.finditer(line)]


def line_at(text: str, offset: int) -> tuple[int, str]:
    """The start offset and the text (no line break) of the line holding `offset`."""
    start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    ends = [at for at in (text.find("\n", offset), text.find("\r", offset)) if at != -1]
    return start, text[start:min(ends, default=len(text))]


def _token_at(tokens: list[Token], column: int) -> int | None:
    """The index of the token at `column`; a word just before the cursor counts."""
    for index, token in enumerate(tokens):
        if token.start <= column < token.end or (token.end == column and token.kind == "word"):
            return index
    return None


# --- diagnostics ------------------------------------------------------------------------


@dataclass(frozen=True)
class EditorDiagnostic:
    """A diagnostic placed in the open document, with where it really is when in another file."""

    start: int
    end: int
    severity: str  # error, warning or note
    code: str
    message: str
    elsewhere: Span | None = None


def document_diagnostics(text: str, path: Path) -> list[EditorDiagnostic]:
    """Compile the document's text as `tenet check` compiles its file, and place each diagnostic in it.

    A diagnostic in an imported file is shown on the import statement that brings that file in
    (the first import when the chain is longer), its message naming the file.
    """
    source = text.removeprefix(BOM)
    shift = len(text) - len(source)
    result = compile_policy(path, text=source)
    imports = functools.cache(lambda: outline(source, path).imports)
    placed = []
    for diagnostic in result.diagnostics:
        message = diagnostic.message + (f"\nhint: {diagnostic.hint}" if diagnostic.hint else "")
        span = diagnostic.span
        if span is None or span.file == str(path):
            start, end = span_offsets(source, span) if span is not None else (0, 0)
            elsewhere = None
        else:
            statement = _import_of(span.file, imports())
            start, end = span_offsets(source, statement) if statement is not None else (0, 0)
            elsewhere, message = span, f"{span.file}:{span.line}:{span.col}: {message}"
        placed.append(EditorDiagnostic(start + shift, end + shift, diagnostic.severity.value,
                                       diagnostic.code, visible(message), elsewhere))
    return placed


def _import_of(file: str, imports: list[tuple[Span, Path | None]]) -> Span | None:
    """The import statement that brings `file` in, else the first import, else None."""
    real = real_path(Path(file))
    for span, target in imports:
        if target is not None and target == real:
            return span
    return imports[0][0] if imports else None


# --- hover --------------------------------------------------------------------------------


def hover(text: str, offset: int, path: Path) -> tuple[str, int, int] | None:
    """Markdown about the word at `offset` and the word's offsets, or None where there is nothing to say."""
    line_start, line = line_at(text, offset)
    tokens = line_tokens(line)
    index = _token_at(tokens, offset - line_start)
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


# --- completion ---------------------------------------------------------------------------


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
    for last in _ITEM_START.finditer(text, 0, line_start):
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


# --- definition and formatting ----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where something is declared: a file, offsets into it, and its text (to place the offsets)."""

    path: Path
    start: int
    end: int
    text: str


def definition(text: str, offset: int, path: Path) -> Target | None:
    """Where the `let` name, rule id or import path at `offset` is declared."""
    line_start, line = line_at(text, offset)
    tokens = line_tokens(line)
    index = _token_at(tokens, offset - line_start)
    if index is None:
        return None
    token = tokens[index]
    if token.kind == "string" and index == 1 and tokens[0].text in ("import", "extends"):
        root = real_path(path.parent) or path.parent.absolute()
        target = resolve_import(unquote(token.text), path.parent, root) if token.text.endswith('"') else None
        return Target(target, 0, 0, "") if target is not None else None
    if token.kind != "word":
        return None
    names = outline(text, path)
    before = tokens[index - 1].text if index > 0 else ""
    found = names.rules.get(token.text) if before == "rule" else (
        names.lets.get(token.text) or names.rules.get(token.text))
    if found is None:
        return None
    return Target(Path(found.path), found.name.span.start, found.name.span.end, found.text)


def formatted(text: str, path: Path) -> str | None:
    """The document in `tenet fmt`'s layout, or None when it does not parse."""
    try:
        return format_source(text, str(path))
    except (CompileError, RecursionError):
        return None
