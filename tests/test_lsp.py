"""`tenet lsp`: the language server driven over stdio with real JSON-RPC messages, and its pure parts."""

from __future__ import annotations

import itertools
import json
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tenet import STD_DIR
from tenet.compiler.diagnostics import Span
from tenet.compiler.fmt import format_source
from tenet.compiler.settings import SETTINGS
from tenet.compiler.trainer_allow import TRAINER_FIELDS
from tenet.runtime.lsp.completion import completions
from tenet.runtime.lsp.document import TextPositions, document_diagnostics, span_offsets
from tenet.runtime.lsp.hover import hover, keyword_terminals
from helpers import REPO, run_cli

TIMEOUT = 15.0  # seconds to wait for any one answer

POLICY = '''dsl 1
policy demo version "1"

import "std/safety.policy"

let greetings = words("hello", "hi")

rule greet (high):
  "Greet people who greet you."
  when prompt mentions greetings
  require response mentions greetings

prompts:
  template "{greeting}, can you help me with my order?"
    slot greeting = "Hello", "Hi", "Good morning", "Hey", "Greetings", "Good evening"

training:
  epochs = 2
  gate rule greet >= 0.9
'''


class LspClient:
    """A language client over a `tenet lsp` subprocess's stdin and stdout."""

    def __init__(self, cwd: Path):
        self.process = subprocess.Popen([sys.executable, "-m", "tenet.runtime.cli", "lsp"], cwd=cwd,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.notifications: list[dict[str, Any]] = []
        self.next_id = 0
        self.initialized: dict[str, Any] = {}  # the answer to `initialize`
        self.stderr: list[bytes] = []  # drained as it comes, so a chatty server never blocks on the pipe
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr or ()), daemon=True).start()

    def _read(self) -> None:
        """Put each framed message from the server's stdout on the queue, until it closes."""
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = None
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if line == b"" or length is None:
                return
            self.messages.put(json.loads(stream.read(length)))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: dict[str, Any]) -> Any:
        """Send a request and return its result, keeping the notifications that arrive meanwhile."""
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        for message in self._incoming():
            if message.get("id") == self.next_id and "method" not in message:
                assert "error" not in message, message["error"]
                return message.get("result")
            self.notifications.append(message)
        raise AssertionError(f"no answer to {method}; the server's stderr: {b''.join(self.stderr)!r}")

    def diagnostics(self, uri: str, version: int) -> list[dict[str, Any]]:
        """The diagnostics published for `uri` at `version`."""
        for message in itertools.chain(list(self.notifications), self._incoming()):
            params = message.get("params") or {}
            if (message.get("method") == "textDocument/publishDiagnostics" and params.get("uri") == uri
                    and params.get("version") == version):
                return params["diagnostics"]
            if message not in self.notifications:
                self.notifications.append(message)
        raise AssertionError(f"no diagnostics for {uri} version {version}")

    def _incoming(self) -> Iterator[dict[str, Any]]:
        deadline = time.monotonic() + TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                yield self.messages.get(timeout=left)
            except queue.Empty:
                return

    def close(self) -> None:
        """Shut the server down as an editor does, killing it if it does not exit."""
        try:
            self.request("shutdown", {})
            self.notify("exit", {})
            self.process.wait(timeout=5)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LspClient]:
    """One server for the module's protocol tests (each test opens its own documents)."""
    pytest.importorskip("pygls", reason="`tenet lsp` needs the `lsp` extra (pip install 'tenet[lsp]')")
    folder = tmp_path_factory.mktemp("lsp")
    lsp = LspClient(folder)
    try:
        lsp.initialized = lsp.request("initialize", {"processId": None, "rootUri": folder.as_uri(),
                                                     "capabilities": {}})
        lsp.notify("initialized", {})
        yield lsp
    finally:
        lsp.close()


def open_policy(client: LspClient, path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.notify("textDocument/didOpen",
                  {"textDocument": {"uri": uri, "languageId": "tenet", "version": 1, "text": text}})
    return uri


def position(text: str, needle: str, skip: int = 0) -> dict[str, int]:
    """The LSP position (utf-16) `skip` characters into the first `needle` of `text`."""
    line, character = TextPositions(text).position(text.index(needle) + skip)
    return {"line": line, "character": character}


def at(uri: str, text: str, needle: str, skip: int = 0) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": position(text, needle, skip)}


# --- over the protocol ------------------------------------------------------------------


def test_initialize_advertises_the_features(client: LspClient) -> None:
    capabilities = client.initialized["capabilities"]
    assert capabilities["hoverProvider"] and capabilities["definitionProvider"]
    assert capabilities["documentFormattingProvider"]
    assert "." in capabilities["completionProvider"]["triggerCharacters"]
    assert capabilities["textDocumentSync"]["change"] == 1  # full text
    assert client.initialized["serverInfo"]["name"] == "tenet"


def test_an_error_is_published_where_it_is_and_cleared_when_fixed(client: LspClient, tmp_path: Path) -> None:
    # The non-ASCII description puts the error's UTF-16 column away from its character column.
    broken = POLICY.replace('"Greet people who greet you."', '"Grüße 😀 zurück."  requir response is json')
    uri = open_policy(client, tmp_path / "demo.policy", broken)
    [found] = [d for d in client.diagnostics(uri, 1) if d["severity"] == 1]
    assert found["code"] == "P001" and found["source"] == "tenet"
    assert found["range"]["start"] == position(broken, "requir")
    assert found["range"]["end"] == position(broken, "requir", len("requir"))
    assert found["range"]["start"]["character"] == 22  # 21 characters before it, the emoji two code units
    assert "did you mean `require`?" in found["message"]

    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": POLICY}]})
    assert [d for d in client.diagnostics(uri, 2) if d["severity"] == 1] == []


def test_hover_shows_a_settings_help(client: LspClient, tmp_path: Path) -> None:
    uri = open_policy(client, tmp_path / "demo.policy", POLICY)
    result = client.request("textDocument/hover", at(uri, POLICY, "epochs", 2))
    assert SETTINGS["epochs"].help in result["contents"]["value"]
    assert result["range"]["start"] == position(POLICY, "epochs")


def test_completion_after_trainer_dot_offers_the_allowed_fields(client: LspClient, tmp_path: Path) -> None:
    text = POLICY.replace("  epochs = 2\n", "  epochs = 2\n  trainer.\n")
    uri = open_policy(client, tmp_path / "demo.policy", text)
    result = client.request("textDocument/completion", at(uri, text, "trainer.", len("trainer.")))
    labels = {item["label"] for item in result["items"]}
    assert labels == set(TRAINER_FIELDS)


def test_definition_of_a_let_name_and_of_a_std_import(client: LspClient, tmp_path: Path) -> None:
    uri = open_policy(client, tmp_path / "demo.policy", POLICY)
    found = client.request("textDocument/definition", at(uri, POLICY, "mentions greetings", 10))
    assert found["uri"] == uri
    assert found["range"]["start"] == position(POLICY, "greetings =")

    found = client.request("textDocument/definition", at(uri, POLICY, "std/safety", 3))
    assert found["uri"] == (STD_DIR / "safety.policy").resolve().as_uri()


def test_formatting_returns_fmts_output_as_one_edit(client: LspClient, tmp_path: Path) -> None:
    messy = POLICY.replace("  epochs = 2", "      epochs   =   2").replace("(high)", "( high )")
    uri = open_policy(client, tmp_path / "demo.policy", messy)
    options = {"tabSize": 2, "insertSpaces": True}
    [edit] = client.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": options})
    assert edit["newText"] == format_source(messy, str(tmp_path / "demo.policy"))
    line, character = TextPositions(messy).position(len(messy))
    assert edit["range"] == {"start": {"line": 0, "character": 0},
                             "end": {"line": line, "character": character}}

    broken = messy.replace("rule greet", "rule greet greet")
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": broken}]})
    assert client.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": options}) == []


def test_a_failing_handler_is_logged_and_the_server_keeps_answering(client: LspClient,
                                                                    tmp_path: Path) -> None:
    missing = (tmp_path / "never-opened.policy").as_uri()  # not open and not on disk: reading it fails
    assert client.request("textDocument/hover", {"textDocument": {"uri": missing},
                                                 "position": {"line": 0, "character": 0}}) is None
    logged = [m["params"]["message"] for m in client.notifications if m.get("method") == "window/logMessage"]
    assert any("hover failed" in message for message in logged)

    uri = open_policy(client, tmp_path / "demo.policy", POLICY)
    assert client.request("textDocument/hover", at(uri, POLICY, "epochs")) is not None


def test_closing_a_document_clears_its_diagnostics(client: LspClient, tmp_path: Path) -> None:
    broken = POLICY.replace("(high)", "(hgh)")
    uri = open_policy(client, tmp_path / "demo.policy", broken)
    assert client.diagnostics(uri, 1)
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri, None) == []


def test_without_the_extra_tenet_lsp_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.delitem(sys.modules, "tenet.runtime.lsp.server", raising=False)
    monkeypatch.setitem(sys.modules, "pygls", None)  # `import pygls` now fails as if not installed
    monkeypatch.setitem(sys.modules, "pygls.lsp.server", None)
    code, _, err = run_cli(["lsp"])
    assert code == 2
    assert "tenet[lsp]" in err


# --- the parts under the protocol ---------------------------------------------------------


def test_positions_count_utf16_code_units_and_every_lsp_line_break() -> None:
    text = "a😀b\r\nc\rd\n"
    assert TextPositions(text).position(text.index("b")) == (0, 3)
    assert TextPositions(text, "utf-8").position(text.index("b")) == (0, 5)
    assert TextPositions(text, "utf-32").position(text.index("b")) == (0, 2)
    assert TextPositions(text).position(text.index("d")) == (2, 0)
    assert TextPositions(text).offset(0, 3) == text.index("b")
    assert TextPositions(text).offset(9, 0) == len(text)


def test_a_diagnostic_in_an_imported_file_is_shown_on_its_import(tmp_path: Path) -> None:
    base = 'dsl 1\npolicy base version "1"\nlet x = words("a")\nlet x = words("b")\n'
    (tmp_path / "base.policy").write_text(base, encoding="utf-8")
    text = 'dsl 1\npolicy child version "1"\n\nimport "base.policy"\n'
    [found] = [d for d in document_diagnostics(text, tmp_path / "child.policy") if d.code == "E103"]
    assert text[found.start:found.end] == 'import "base.policy"'
    assert found.elsewhere is not None and found.elsewhere.line == 4
    assert found.message.startswith(f"{tmp_path / 'base.policy'}:4:5: ")


def test_a_span_becomes_offsets_from_its_lines_and_columns() -> None:
    text = 'dsl 1\npolicy p version "1"\n\nrule r (high):\n  forbid response iz json\n'
    [found] = document_diagnostics(text, Path("p.policy"))
    assert (found.code, found.start, found.end) == ("P001", text.index("iz"), text.index("iz") + 2)
    span = Span(file="x", line=2, col=2, end_line=2, end_col=9, start=0, end=0)
    assert span_offsets("ab\ncd", span) == (4, 5)  # an end past its line stops at the line's end


def test_hover_explains_rules_lets_predicates_and_trainer_fields(tmp_path: Path) -> None:
    path = tmp_path / "demo.policy"
    text = POLICY.replace("  epochs = 2\n", "  epochs = 2\n  trainer.push_to_hub = true\n")

    def shown(needle: str, skip: int = 1) -> str:
        found = hover(text, text.index(needle) + skip, path)
        assert found is not None, needle
        return found[0]

    assert "Greet people who greet you\\." in shown("greet >=") and "(high)" in shown("greet >=")
    assert 'let greetings = words("hello", "hi")' in shown("greetings\n")
    assert "as a whole word or phrase" in shown("mentions")
    assert "uploads to a remote service" in shown("push_to_hub")
    imported = hover(text + "  gate rule s1-violent-crimes >= 0.9\n", len(text) + 13, path)
    assert imported is not None and "from std/safety\\.policy" in imported[0]
    assert "violence against people" in imported[0]
    assert hover(text, text.index("Greet people"), path) is None  # inside a string


def test_completion_knows_gates_severities_and_training_settings(tmp_path: Path) -> None:
    path = tmp_path / "demo.policy"

    def labels(text: str) -> set[str]:
        return {item.label for item in completions(text, len(text), path)}

    assert "greet" in labels(POLICY + "  gate rule ")
    assert labels(POLICY.split("rule greet")[0] + "rule r (") == {"critical", "high", "medium", "low"}
    assert set(SETTINGS) <= labels(POLICY + "  ")
    assert labels(POLICY + '  method = ') == set(SETTINGS["method"].choices)
    assert labels(POLICY + "# a comment ") == set()


# --- the TextMate grammar -------------------------------------------------------------------

TM_GRAMMAR = Path(__file__).resolve().parent.parent / "docs" / "editors" / "tenet.tmLanguage.json"


def tm_patterns(node: Any) -> Iterator[tuple[str, str]]:
    """Every `(key, regex)` of a TextMate grammar: its `match`, `begin` and `end` patterns."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("match", "begin", "end"):
                yield key, value
            else:
                yield from tm_patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from tm_patterns(item)


def tm_scope(grammar: dict[str, Any], scope: str) -> re.Pattern[str]:
    """The pattern of the repository entry or keyword group named `scope`."""
    for entry in [*grammar["repository"].values(), *grammar["repository"]["keyword"]["patterns"]]:
        if entry.get("name") == scope:
            return re.compile(entry["match"])
    raise KeyError(scope)


def test_the_textmate_grammar_is_json_whose_patterns_python_compiles() -> None:
    grammar = json.loads(TM_GRAMMAR.read_text(encoding="utf-8"))
    assert grammar["scopeName"] == "source.tenet" and grammar["fileTypes"] == ["policy"]
    patterns = list(tm_patterns(grammar))
    assert len(patterns) > 15
    for _, pattern in patterns:
        re.compile(pattern)  # Oniguruma reads more than Python, so a pattern both read is portable


def test_the_textmate_grammar_highlights_every_keyword_of_the_language() -> None:
    grammar = json.loads(TM_GRAMMAR.read_text(encoding="utf-8"))
    keyword_patterns = [re.compile(entry["match"]) for entry in grammar["repository"]["keyword"]["patterns"]]
    missing = [word for word in sorted(set(keyword_terminals().values()))
               if not any(pattern.fullmatch(word) for pattern in keyword_patterns)]
    assert missing == [], "policy.lark has keywords the TextMate grammar does not highlight"


def test_the_textmate_grammar_reads_regexes_escapes_and_numbers() -> None:
    grammar = json.loads(TM_GRAMMAR.read_text(encoding="utf-8"))
    regex = tm_scope(grammar, "string.regexp.tenet")
    assert regex.search(r'when prompt matches /a\/b [0-9]+/i # x').group() == r"/a\/b [0-9]+/i"
    escape = re.compile(grammar["repository"]["string"]["patterns"][0]["match"])
    assert [m.group() for m in escape.finditer(r'say \"hi\" \u00e9\n')] == [r"\"", r"\"", r"\u00e9", r"\n"]
    number = tm_scope(grammar, "constant.numeric.tenet")
    assert [m.group() for m in number.finditer("gate rule s1-violent >= 0.99 and -1 and 1e-05")] == [
        "0.99", "-1", "1e-05"]


# --- the pre-commit hooks -------------------------------------------------------------------


def test_the_pre_commit_hooks_run_tenet_commands_on_many_policies() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML reads .pre-commit-hooks.yaml")
    from tenet.runtime.cli import build_parser

    hooks = {hook["id"]: hook for hook in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"tenet-check", "tenet-fmt"}
    for hook in hooks.values():
        assert hook["language"] == "python" and re.search(hook["files"], "a/b.policy")
        assert not re.search(hook["files"], "b.policy.json")
        program, *argv = hook["entry"].split()
        assert program == "tenet"
        build_parser().parse_args([*argv, "a.policy", "b.policy"])  # pre-commit passes every changed file
