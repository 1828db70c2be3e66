"""Check the models a policy names: an embedded model, a Hub id, or a folder inside the policy root.

A policy is untrusted input, so a model it names cannot be a path outside its folder: not
absolute, not `~`, no `..` segment, no URL, and no symbolic link that leads out. A model
elsewhere on the machine is the operator's choice, made with `--base-model`.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Iterator

from pydantic import BaseModel

from tenet.compiler import ast
from tenet.compiler.diagnostics import Diagnostic, Span, error
from tenet.compiler.link import LinkedPolicy
from tenet.compiler.passes.check_training import revision_problem
from tenet.compiler.settings import EMBEDDED_MODELS

# `org/name` or `org/name@revision`, as runtime/hub.py reads them.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@.+)?$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
HINT = "name an embedded model, a Hub id (org/name) or a folder inside the policy's folder"
ELSEWHERE = {"base_model": "; pass a model from elsewhere with --base-model",
             "score": "; to use a model from elsewhere, widen the policy root with --root"}


def check_model_refs(policy: LinkedPolicy) -> list[Diagnostic]:
    """Report model references that could reach outside the policy root."""
    root = Path(policy.root)
    return [diagnostic for name, span, where in model_refs(policy)
            for diagnostic in _check_ref(name, span, root, HINT + ELSEWHERE[where])]


def model_refs(policy: LinkedPolicy) -> Iterator[tuple[str, Span, str]]:
    """Every model a policy names, its span and kind: `base_model`, or a classifier or judge `score`."""
    for setting in policy.settings:
        if setting.key.text == "base_model":
            yield str(setting.value), setting.span, "base_model"
    for node in [*(r.rule for r in policy.rules), *policy.lets]:
        for score in _scores(node):
            if score.model is not None:
                yield score.model, score.span, "score"


def _scores(node: object) -> Iterator[ast.Classifier | ast.Judge]:
    """Classifier and judge calls anywhere below `node`."""
    if isinstance(node, (ast.Classifier, ast.Judge)):
        yield node
    if isinstance(node, BaseModel):
        for field in type(node).model_fields:
            yield from _scores(getattr(node, field))
    elif isinstance(node, (tuple, list)):
        for item in node:
            yield from _scores(item)


def _check_ref(name: str, span: Span, root: Path, hint: str) -> list[Diagnostic]:
    if name in EMBEDDED_MODELS or name.startswith("embedded:"):
        return []  # unknown embedded names are the runtime's clear error; they name no path
    problem = _path_problem(name) or _pin_problem(name)
    if problem:
        return [error("E174", f"model {name!r} {problem}", span, hint)]
    local = root / name
    try:
        real = local.resolve()
    except (OSError, RuntimeError):  # a symbolic-link loop
        return [error("E174", f"model {name!r} cannot be resolved (a symbolic-link loop?)", span, hint)]
    if local.exists() and not real.is_relative_to(root.resolve()):
        return [error("E174", f"model {name!r} leads outside the policy's folder", span, hint)]
    return []


def _pin_problem(name: str) -> str | None:
    """Why the revision a Hub id pins (`org/name@REV`) is not a git ref, or None."""
    if not HUB_ID.match(name) or "@" not in name:
        return None
    problem = revision_problem(name.split("@", 1)[1])
    return f"pins a revision that {problem[problem.index(' is ') + 1:]}" if problem else None


def _path_problem(name: str) -> str | None:
    """Why a model name cannot be a policy's, or None."""
    if not name.strip() or "\x00" in name:
        return "is empty or holds a NUL character"
    if name.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:[\\/]", name):
        return "is an absolute path"
    if _SCHEME.match(name) and not HUB_ID.match(name):
        return "is a URL"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "climbs out of the policy's folder with `..`"
    return None
