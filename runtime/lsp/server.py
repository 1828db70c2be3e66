"""The `tenet lsp` server: the package's answers carried over the Language Server Protocol (pygls).

Documents sync as full text. An open document is compiled when it opens and on every change,
and every open document again when one is saved (it may be imported). A handler that fails
logs its traceback to the editor (window/logMessage) and answers nothing, so no document can
stop the server. Needs the `lsp` extra; `tenet lsp` says so when it is missing.
"""

from __future__ import annotations

import functools
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, TypeVar

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path
from pygls.workspace import TextDocument

from tenet.compiler import __version__
from tenet.compiler.diagnostics import Span
from tenet.compiler.load import read_policy_text
from tenet.runtime.lsp import completion as completing
from tenet.runtime.lsp import document as analysis
from tenet.runtime.lsp import hover as hovering
from tenet.runtime.lsp.document import EditorDiagnostic, TextPositions

Handler = TypeVar("Handler", bound=Callable[..., Any])
Answer = TypeVar("Answer")

SEVERITIES = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning,
              "note": lsp.DiagnosticSeverity.Information}
COMPLETION_KINDS = {
    "keyword": lsp.CompletionItemKind.Keyword, "variable": lsp.CompletionItemKind.Variable,
    "reference": lsp.CompletionItemKind.Reference, "property": lsp.CompletionItemKind.Property,
    "field": lsp.CompletionItemKind.Field, "value": lsp.CompletionItemKind.EnumMember,
    "file": lsp.CompletionItemKind.File,
}
TRIGGER_CHARACTERS = [".", "(", '"', "/"]


def serve() -> None:
    """Answer an editor on stdin and stdout until it disconnects."""
    server = build_server()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol's stream
    server.start_io(stdin, stdout)


def build_server() -> LanguageServer:
    """A server with tenet's features registered (and so advertised in `initialize`)."""
    server = LanguageServer("tenet", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Full)
    server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)(did_open)
    server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)(did_save)
    server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)(did_close)
    server.feature(lsp.TEXT_DOCUMENT_HOVER)(hover)
    server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                   lsp.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS))(completion)
    server.feature(lsp.TEXT_DOCUMENT_DEFINITION)(definition)
    server.feature(lsp.TEXT_DOCUMENT_FORMATTING)(formatting)
    return server


def guarded(handler: Handler) -> Handler:
    """Run `handler`; when it raises, log the traceback to the editor and answer None."""

    @functools.wraps(handler)
    def run(ls: LanguageServer, params: Any) -> Any:
        try:
            return handler(ls, params)
        except Exception:  # noqa: BLE001 - one document must never stop the server
            message = f"tenet lsp: {handler.__name__} failed\n{traceback.format_exc()}"
            ls.window_log_message(lsp.LogMessageParams(type=lsp.MessageType.Error, message=message))
            return None

    return run  # type: ignore[return-value]


# --- documents and positions ----------------------------------------------------------


def _document(ls: LanguageServer, uri: str) -> tuple[TextDocument, Path, TextPositions]:
    """The open document, the file it compiles as, and its positions in the client's encoding."""
    document = ls.workspace.get_text_document(uri)
    return document, _path_of(document), TextPositions(document.source, _encoding(ls))


def _at_cursor(ls: LanguageServer, params: lsp.TextDocumentPositionParams,
               feature: Callable[[str, int, Path], Answer]) -> tuple[TextDocument, Path, TextPositions, Answer]:
    """A feature's answer at the request's cursor, with the document, its path and positions."""
    document, path, positions = _document(ls, params.text_document.uri)
    return document, path, positions, feature(document.source, _offset(positions, params.position), path)


def _path_of(document: TextDocument) -> Path:
    """The document's file; an untitled buffer compiles as if it were in the working directory."""
    if document.uri.startswith("file:") and document.path:
        return Path(document.path)
    return Path.cwd() / "untitled.policy"


def _encoding(ls: LanguageServer) -> str:
    """The position encoding agreed in `initialize` (utf-16 unless the client offered another)."""
    encoding = ls.workspace.position_encoding
    return str(getattr(encoding, "value", encoding) or "utf-16")


def _range(positions: TextPositions, start: int, end: int) -> lsp.Range:
    (start_line, start_char), (end_line, end_char) = positions.position(start), positions.position(end)
    return lsp.Range(start=lsp.Position(line=start_line, character=start_char),
                     end=lsp.Position(line=end_line, character=end_char))


def _offset(positions: TextPositions, position: lsp.Position) -> int:
    return positions.offset(position.line, position.character)


def _uri(path: Path, document: TextDocument, own_path: Path) -> str:
    """The URI of `path`: the document's own URI when it is the document (it may be unsaved)."""
    return document.uri if path == own_path else str(from_fs_path(str(path.absolute())))


# --- diagnostics -------------------------------------------------------------------------


@guarded
def publish(ls: LanguageServer, uri: str) -> None:
    """Compile one open document and publish its diagnostics."""
    document, path, positions = _document(ls, uri)
    found = analysis.document_diagnostics(document.source, path)
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
        uri=uri, version=document.version,
        diagnostics=[_diagnostic(d, positions) for d in found]))


def _diagnostic(found: EditorDiagnostic, positions: TextPositions) -> lsp.Diagnostic:
    related = None
    if found.elsewhere is not None and (location := _location(found.elsewhere, positions.encoding)):
        related = [lsp.DiagnosticRelatedInformation(location=location, message=found.message.split("\n")[0])]
    return lsp.Diagnostic(range=_range(positions, found.start, found.end),
                          severity=SEVERITIES[found.severity], code=found.code, source="tenet",
                          message=found.message, related_information=related)


def _location(span: Span, encoding: str) -> lsp.Location | None:
    """Where a span in another file is, reading that file to place it."""
    text, _ = read_policy_text(Path(span.file))
    if text is None:
        return None
    start, end = analysis.span_offsets(text, span)
    uri = str(from_fs_path(str(Path(span.file).absolute())))
    return lsp.Location(uri=uri, range=_range(TextPositions(text, encoding), start, end))


@guarded
def did_open(ls: LanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
    """Check a document as it opens."""
    publish(ls, params.text_document.uri)


@guarded
def did_change(ls: LanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
    """Check the unsaved text on every change."""
    publish(ls, params.text_document.uri)


@guarded
def did_save(ls: LanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
    """Check every open document: the saved one may be imported by the others."""
    for uri in list(ls.workspace.text_documents):
        publish(ls, uri)


@guarded
def did_close(ls: LanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
    """Clear a closed document's diagnostics."""
    cleared = lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
    ls.text_document_publish_diagnostics(cleared)


# --- requests ---------------------------------------------------------------------------


@guarded
def hover(ls: LanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
    """Docs for the rule, `let`, setting, field or predicate word under the cursor."""
    document, path, positions, found = _at_cursor(ls, params, hovering.hover)
    if found is None:
        return None
    text, start, end = found
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
                     range=_range(positions, start, end))


@guarded
def completion(ls: LanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList | None:
    """Keywords, names, settings, fields, severities and rule ids that fit at the cursor."""
    document, path, positions = _document(ls, params.text_document.uri)
    offset = _offset(positions, params.position)
    items = [lsp.CompletionItem(label=item.label, kind=COMPLETION_KINDS[item.kind], detail=item.detail,
                                text_edit=lsp.TextEdit(range=_range(positions, item.start, offset),
                                                       new_text=item.label))
             for item in completing.completions(document.source, offset, path)]
    return lsp.CompletionList(is_incomplete=False, items=items)


@guarded
def definition(ls: LanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    """The declaration of the `let` name or rule id under the cursor, or the file an import names."""
    document, path, positions, target = _at_cursor(ls, params, analysis.definition)
    if target is None:
        return None
    where = TextPositions(target.text, positions.encoding)
    return lsp.Location(uri=_uri(target.path, document, path), range=_range(where, target.start, target.end))


@guarded
def formatting(ls: LanguageServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
    """The whole document in `tenet fmt`'s layout, as one edit; none when it does not parse."""
    document, path, positions = _document(ls, params.text_document.uri)
    text = analysis.formatted(document.source, path)
    if text is None or text == document.source:
        return []
    return [lsp.TextEdit(range=_range(positions, 0, len(document.source)), new_text=text)]
