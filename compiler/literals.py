"""Literal spellings shared by the parser, the formatter and the predicate kinds.

`unquote` reads a STRING token and `split_regex` a REGEX token; `quote`, `number`, `regex` and `value` write literals back so
that `unquote` and the parser read them as they were. Kinds format their atoms with these, so
they live apart from `fmt` (which imports the kinds).
"""

from __future__ import annotations

import math
import re

from tenet.compiler import ast

_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_SUBJECTS = {"any_prompt": "any prompt", "any_response": "any response"}


def unquote(token: str) -> str:
    """Decode a double-quoted string literal (\\n, \\t, \\", \\\\, \\uXXXX; other escapes kept)."""
    body = token[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and body[i + 1:i + 2] == "u" and _HEX4.fullmatch(body[i + 2:i + 6]):
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
            continue
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def split_regex(token: str) -> tuple[str, str]:
    """Split `/pattern/flags` into pattern (with `\\/` unescaped) and flags."""
    cut = token.rfind("/")
    return token[1:cut].replace("\\/", "/"), token[cut + 1 :]



def quote(text: str) -> str:
    """Write a string literal that `unquote` reads back as `text`."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def number(value: float) -> str:
    """Write a NUMBER that reads back as `value`: `80`, `0.05`, `1e-05`."""
    if math.isinf(value):
        # The grammar has no infinity, but an overflowing literal such as 1e999 parses to one.
        return "-1e999" if value < 0 else "1e999"
    text = repr(value)  # the shortest text that round-trips, in NUMBER's syntax
    return text[:-2] if text.endswith(".0") else text


def regex(node: ast.RegexLit) -> str:
    """Write `/pattern/flags`, escaping `/` as the parser unescaped it."""
    return "/" + node.pattern.replace("/", "\\/") + "/" + node.flags


def strings(texts: tuple[str, ...]) -> str:
    """Write comma-separated string literals."""
    return ", ".join(quote(text) for text in texts)


def value(node: ast.WordsLit | ast.ExemplarsLit | ast.RegexLit | ast.StringTerm | ast.Name) -> str:
    """Write a `let` value or a reference to one."""
    if isinstance(node, ast.WordsLit):
        return ("exact " if node.exact else "") + f"words({strings(node.terms)})"
    if isinstance(node, ast.ExemplarsLit):
        return f"exemplars({strings(node.texts)})"
    if isinstance(node, ast.RegexLit):
        return regex(node)
    if isinstance(node, ast.StringTerm):
        return quote(node.text)
    return node.text


def subject(name: str) -> str:
    """Write a subject: `response`, `any prompt`."""
    return _SUBJECTS.get(name, name)
