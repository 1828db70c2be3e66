"""Redaction: what tenet writes anywhere (terminal, JSON, MLflow, model metadata) without secrets or paths.

One module decides what is secret and what is a machine path, and every output uses it:

- URIs lose their user:password and the values of secret query and fragment parameters
  (`token`, `access_token`, `sig`, `X-Amz-Signature`, …): `display_uri`;
- a value whose key looks like a credential (`hub_token`, `api_key`, `password`,
  `authorization`, …) becomes `<redacted>`: `is_secret_key`, `redact_value`;
- an absolute local path becomes a label that names the file without saying where it lives:
  a Hugging Face cache snapshot is `org/name@commit`, a path in the work folder
  `<work>/…`, in tenet's model cache `<tenet-cache>/…`, anything else `<local>/NAME`:
  `local_name`;
- free text keeps its words but loses embedded URIs' secrets, `key = value` pairs with a
  secret key, and strings shaped like well-known tokens (`hf_…`, `ghp_…`, `AKIA…`): `redact_text`.
"""

from __future__ import annotations

import re
from pathlib import Path, PureWindowsPath
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

REDACTED = "<redacted>"
LOCAL = "<local>"
WORK = "<work>"
TENET_CACHE = "<tenet-cache>"

# Words that make a key a credential wherever they appear in it (split on `.`, `_`, `-`).
_SECRET_WORDS = frozenset({"token", "secret", "password", "passwd", "pwd", "authorization", "auth",
                           "credential", "credentials", "apikey", "cookie", "sig", "signature", "sas",
                           "privatekey", "passphrase", "bearer"})
# `key` is a credential next to these words, or alone; `dataset_key`, `sort_key` are not.
_KEY_QUALIFIERS = frozenset({"api", "access", "secret", "private", "account", "signing", "sas", "client",
                             "master", "encryption", "subscription", "storage", "hmac", "ssh"})
# A tokenizer's special tokens and token counts are not credentials.
_TOKEN_KINDS = frozenset({"pad", "eos", "bos", "unk", "sep", "cls", "mask", "special", "chat", "image",
                          "audio", "video", "vision", "start", "end"})
_TOKEN_SUFFIXES = frozenset({"id", "ids", "index", "indices", "type", "types", "count", "length"})
# Query parameters that carry secrets beyond what `is_secret_key` finds.
_SECRET_QUERY = frozenset({"key", "code", "sig"})
_SECRET_QUERY_PREFIXES = ("x-amz-", "x-goog-")

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_TOKEN_SHAPES = re.compile(
    r"\b(?:hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|sk-[A-Za-z0-9_-]{20,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|xox[abpr]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_-]{20,})")
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}")
_ASSIGNMENT = re.compile(r"(?P<key>[A-Za-z_][\w.-]*)(?P<sep>\s*[=:]\s*)"
                         r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,;&]+)")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
# `key: value` in free text is a secret only under these names (a rule `no-password: …` is not).
_COLON_KEYS = frozenset({"authorization", "password", "passwd", "secret", "token", "api_key", "apikey",
                         "x-api-key", "access_token", "client_secret"})


def is_secret_key(name: str) -> bool:
    """Whether a setting, parameter, tag or header of this name holds a credential."""
    words = [w for w in re.split(r"[._\-\s]+", name.lower()) if w]
    for i, word in enumerate(words):
        if word == "token":
            before = words[i - 1] if i else ""
            after = words[i + 1] if i + 1 < len(words) else ""
            if before not in _TOKEN_KINDS and after not in _TOKEN_SUFFIXES:
                return True
        elif word in _SECRET_WORDS:
            return True
        elif word in ("key", "keys"):
            if len(words) == 1 or (i and words[i - 1] in _KEY_QUALIFIERS):
                return True
        elif word.endswith(("token", "secret", "password")) and not word.endswith("tokens"):
            return True  # `hftoken`, `clientsecret`
    return False


def display_uri(uri: str) -> str:
    """The URI without user:password and without the values of secret query or fragment parameters."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return REDACTED
    if not parts.scheme:
        return uri
    # Rebuilt by hand: `geturl()` would turn `sqlite:////abs/path` into `sqlite://abs/path`.
    head = uri[:len(parts.scheme) + 1]
    text = head + ("//" + parts.netloc.rpartition("@")[2] if uri[len(head):].startswith("//") else "")
    text += parts.path
    if "?" in uri.split("#", 1)[0]:
        text += "?" + _redact_query(parts.query)
    if "#" in uri:
        text += "#" + _redact_query(parts.fragment)
    return text


def _redact_query(query: str) -> str:
    """`a=1&token=x` → `a=1&token=<redacted>`; the other parameters are kept as written."""
    if "=" not in query:
        return query
    kept = []
    for part in re.split(r"([&;])", query):
        name, sep, value = part.partition("=")
        kept.append(f"{name}={REDACTED}" if sep and value and _is_secret_query(unquote(name)) else part)
    return "".join(kept)


def _is_secret_query(name: str) -> bool:
    lowered = name.lower()
    return (is_secret_key(lowered) or lowered in _SECRET_QUERY or lowered.startswith(_SECRET_QUERY_PREFIXES))


def is_local_path(text: str) -> bool:
    """Whether a value is an absolute local path (POSIX, Windows, `~/…` or a `file:` URI)."""
    return (text.startswith(("/", "~/", "file:")) or text == "~" or bool(_DRIVE.match(text))
            or text.startswith("\\\\"))


def local_name(path: str | Path, work_dir: str | Path | None = None) -> str:
    """A stable label for a local path that names it without revealing where it lives.

    Args:
        path: An absolute path, `~/…`, or a `file:` URI.
        work_dir: The cycle's work folder; paths inside it keep their place in it.

    Returns:
        `org/name@commit` for a Hugging Face cache snapshot (or a file in one),
        `<work>/REL` inside the work folder, `<tenet-cache>/REL` inside tenet's cache,
        else `<local>/NAME`.
    """
    text = str(path)
    if text.startswith("file:"):
        text = unquote(urlsplit(text).path) or text
    if _DRIVE.match(text) or text.startswith("\\\\"):
        return f"{LOCAL}/{PureWindowsPath(text).name}"
    folder = Path(text).expanduser()
    hub = _hub_label(folder)
    if hub is not None:
        return hub
    roots = [(WORK, work_dir), (TENET_CACHE, _tenet_cache())]
    for label, root in roots:
        if root is not None:
            inside = _relative(folder, Path(root))
            if inside is not None:
                return f"{label}/{inside}" if inside != "." else label
    return f"{LOCAL}/{folder.name}" if folder.name else LOCAL


def _hub_label(path: Path) -> str | None:
    """`org/name@commit` for a Hub cache snapshot folder or a file inside one."""
    from tenet.runtime.hub import snapshot_of

    for candidate in (path, *path.parents):
        found = snapshot_of(candidate)
        if found is not None:
            rest = path.relative_to(candidate).as_posix()
            return f"{found.repo_id}@{found.commit}" + ("" if rest == "." else f"/{rest}")
    return None


def _tenet_cache() -> Path | None:
    from tenet.runtime.models import cache_dir

    return cache_dir()


def _relative(path: Path, root: Path) -> str | None:
    """`path` relative to `root` (both made absolute and symlink-free), or None when outside."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        return None


def redact_text(text: str) -> str:
    """Free text with URI secrets, secret `key = value` pairs and token-shaped strings replaced."""
    text = _URI.sub(lambda m: display_uri(m.group(0)), text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _ASSIGNMENT.sub(_redact_assignment, text)
    return _TOKEN_SHAPES.sub(REDACTED, text)


def _redact_assignment(match: re.Match[str]) -> str:
    """`key = value` with a secret key, or `key: value` with a key that is a credential's name alone."""
    key = match.group("key")
    secret = key.lower() in _COLON_KEYS if ":" in match.group("sep") else is_secret_key(key)
    if not secret or match.group("value") in (REDACTED, "Bearer", "Basic", "Token"):
        return match.group(0)
    return f"{match.group('key')}{match.group('sep')}{REDACTED}"


def redact_value(key: str, value: Any, work_dir: str | Path | None = None) -> Any:
    """A value as it may be written out under `key`: secrets redacted, local paths labelled.

    Dicts and lists are redacted item by item (dict keys decide for their values); numbers,
    booleans and None pass unchanged unless `key` itself is secret.
    """
    if is_secret_key(key):
        return value if value in (None, "", False) else REDACTED
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v, work_dir) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(key, v, work_dir) for v in value]
    if not isinstance(value, str):
        return value
    if is_local_path(value):
        return local_name(value, work_dir)
    if _SCHEME.match(value) and "://" in value:
        return display_uri(value)
    return redact_text(value)


def redact_mapping(values: Mapping[str, Any], work_dir: str | Path | None = None) -> dict[str, Any]:
    """Every value of a mapping (params, tags) redacted by its key."""
    return {key: redact_value(key, value, work_dir) for key, value in values.items()}


def redacted_stage(stage: Any, work_dir: str | Path | None = None) -> Any:
    """A plan stage as it may be shown or logged: secret `trainer.*` values redacted, local paths labelled."""
    from tenet.compiler.plan import TrainStage

    if not isinstance(stage, TrainStage):
        return stage
    settings = tuple((key, _redact_setting(key, value, work_dir)) for key, value in stage.hyperparameters)
    base = local_name(stage.base_model, work_dir) if is_local_path(stage.base_model) else stage.base_model
    return stage.model_copy(update={"hyperparameters": settings, "base_model": base})


def _redact_setting(key: str, value: Any, work_dir: str | Path | None) -> Any:
    """One plan setting redacted, keeping its type (a tuple stays a tuple) for `describe_stage`."""
    if is_secret_key(key):
        return value if value in (None, "", False) else REDACTED
    if isinstance(value, str):
        return redact_value(key, value, work_dir)
    if isinstance(value, tuple):
        return tuple(_redact_setting(key, item, work_dir) for item in value)
    return value
