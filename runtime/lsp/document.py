"""A `.policy` document as an editor holds it: positions, names, tokens, diagnostics, definitions.

Everything works on the text an editor holds, saved or not, and on character offsets into it;
`TextPositions` converts those to the Language Server Protocol's positions. A policy is data:
these functions parse and compile it and read the files it imports, and never run anything
it names.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from tenet import STD_DIR
from tenet.compiler import ast
from tenet.compiler.diagnostics import CompileError, Span, visible
from tenet.compiler.fmt import format_source
from tenet.compiler.literals import unquote
from tenet.compiler.load import read_policy_text, real_path
from tenet.compiler.parse import parse
from tenet.compiler.pipeline import compile_policy

BOM = "\ufeff"
MAX_MODULES = 64  # imported files read to find names, per request
MAX_REPAIRS = 20  # rounds of blanking broken items before a document counts as unparsable

# The Language Server Protocol's line ends; tenet's spans count "\n" only.
_LSP_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# A line that begins a top-level item (as compiler/parse.py resynchronises after an error).
ITEM_START = re.compile(r"^(?:override\s+rule|rule|let|import|extends|taxonomy|prompts|training)\b", re.M)
# One line of policy source, as the grammar's terminals split it; a string may be unterminated.
_TOKEN = re.compile(r'(?P<comment>#.*)|(?P<string>"(?:\\.|[^"\\])*"?)|(?P<regex>/(?:\\.|[^/\\])+/[imsx]*)'
                    r"|(?P<word>[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
                    r"|(?P<number>-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)|(?P<other>\S)")


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
    starts = [m.start() for m in ITEM_START.finditer(text)]
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


def token_at(tokens: list[Token], column: int) -> int | None:
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
    index = token_at(tokens, offset - line_start)
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
